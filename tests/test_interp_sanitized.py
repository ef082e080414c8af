"""The loader and runner tests again, against an ASan + UBSan build of the interpreter (any
out-of-bounds access, overflow or undefined behaviour aborts the run)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def asan_runtime() -> str | None:
    if shutil.which("gcc") is None:
        return None
    path = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True, text=True).stdout.strip()
    return path if os.path.isabs(path) and os.path.exists(path) else None


@pytest.mark.slow
@pytest.mark.skipif(asan_runtime() is None, reason="needs gcc's ASan runtime")
def test_loader_and_ops_under_sanitizers():
    env = dict(os.environ, ONNX_TEE_SANITIZE="1", LD_PRELOAD=asan_runtime(),
               ASAN_OPTIONS="detect_leaks=0:abort_on_error=1", UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                           "tests/test_interp_validation.py", "tests/test_interp_ops.py",
                           "tests/test_interp_indexing.py", "tests/test_interp_quant.py",
                           "tests/test_interp_qlinear.py", "tests/test_lower_mixed_dtypes.py",
                           "tests/test_interp_int32_arithmetic.py", "tests/test_interp_grid_sample.py",
                           "tests/test_quant_dynamic_lstm.py::test_a_drawn_dynamic_quantize_lstm_node_runs_as_onnxruntime_runs_it"],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "passed" in proc.stdout
