"""The AArch64 freestanding symbol check of the TA (runtime_ta/check_symbols.sh), as CI runs it."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "runtime_ta" / "check_symbols.sh"
CROSS = "aarch64-linux-gnu-"

pytestmark = pytest.mark.skipif(shutil.which(CROSS + "gcc") is None, reason="aarch64-linux-gnu-gcc not installed")


def test_ta_needs_only_gp_api_and_mem_str():
    result = subprocess.run(["bash", str(SCRIPT), CROSS], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    undefined = result.stdout.split("undefined symbols:")[1].splitlines()[0].split()
    assert "TEE_AEDecryptFinal" in undefined and "TEE_Malloc" in undefined


def test_check_catches_libc_and_libm(tmp_path):
    extra = tmp_path / "extra.c"
    extra.write_text("#include <stdlib.h>\nfloat expf(float);\n"
                     "void *grab(float x) { return x > expf(x) ? malloc(4) : 0; }\n")
    result = subprocess.run(["bash", str(SCRIPT), CROSS, str(extra)], capture_output=True, text=True)
    assert result.returncode == 1
    assert "expf" in result.stderr and "malloc" in result.stderr
