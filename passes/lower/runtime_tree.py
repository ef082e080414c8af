"""Where the C runtime's sources are, and where their host builds go.

In a source checkout the sources are `runtime_ta/` beside `passes/`; an installed wheel carries them
as `onnx_tee/runtime_ta/` beside `onnx_tee/passes/` — the same relative place, so one rule finds both.
Builds go to `$ONNX_TEE_BUILD` when set, else to `build/` of a source checkout, else to the user's
cache (`$XDG_CACHE_HOME/onnx-tee/build`, by default `~/.cache/onnx-tee/build`): an installed package's
directory may be read-only and is no place for object files.
"""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[2]
RUNTIME_DIR = PACKAGE_ROOT / "runtime_ta"


def is_source_checkout() -> bool:
    """True when running from the repository (pyproject.toml beside the runtime sources)."""
    return (PACKAGE_ROOT / "pyproject.toml").is_file()


def build_dir() -> Path:
    """The directory host builds of the runtime (interpreter library, simulator) go to."""
    if os.environ.get("ONNX_TEE_BUILD"):
        return Path(os.environ["ONNX_TEE_BUILD"])
    if is_source_checkout():
        return PACKAGE_ROOT / "build"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "onnx-tee" / "build"
