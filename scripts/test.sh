#!/usr/bin/env bash
# Set up everything the tests need (scripts/setup.sh --test: system packages and .venv), then run pytest.
# Extra arguments go to pytest (e.g. `-m slow` for the long checks).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
.venv/bin/python -m pytest -q -n 2 "$@"
