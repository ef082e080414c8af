"""The real-TEE tests' side of `onnx_tee.passes.optee`: the kit found or the test skipped (locally) / failed (CI).

The building and booting machinery is the library's (`passes/optee/kit.py`, `guest.py`), shared with
`scripts/bench_optee.py`; this module adds what only tests need:

    kit = require_kit()                          # skip locally, fail under CI, when something is missing
    ta = build_ta(8 << 20, kit)
    guest = Guest(tmp_path, kit)                 # one boot, many cases
    guest.case("lenet", CLIENT, guest.add(device_dir), guest.add(x_bin))
    results = guest.boot()
"""
from __future__ import annotations

import json
from pathlib import Path

from onnx_tee.passes.optee.guest import Guest, write_inputs  # noqa: F401  (re-exported for the tests)
from onnx_tee.passes.optee.kit import (CLIENT, build_client, build_guest_tool, build_ta,  # noqa: F401
                                       kit_dir, kit_problem, optee_build_dir)

from conftest import missing

MiB = 1 << 20

# Exit codes of the client (runtime_ta/host/main.c, runtime_ta/README.md).
EXIT = {"ok": 0, "other": 1, "usage": 2, "no_tee": 3, "ta_open": 4, "ta_memory": 5, "model_memory": 6,
        "key": 7, "refused": 8, "run": 9, "protocol": 10, "ta_dead": 11}


def require_kit() -> Path:
    """The kit and the tools the real-TEE tests need; skips (locally) or fails (CI) when one is missing."""
    problem = kit_problem()
    if problem:
        missing(problem)
    return kit_dir()


def record_figures(name: str, figures: dict) -> Path:
    """Keep measured figures (boot time, per-case times) of the last run as JSON in the build dir."""
    path = optee_build_dir() / "figures" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    return path
