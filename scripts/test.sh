#!/usr/bin/env bash
# Set up a virtual environment (if not already in one) and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${VIRTUAL_ENV:-}" ]; then
  [ -d .venv ] || python3 -m venv .venv
  . .venv/bin/activate
fi
python -m pip install -q --upgrade pip >/dev/null
python -m pip install -q -e '.[test]'
python -m pytest -q -n 2 "$@"
