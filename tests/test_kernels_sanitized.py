"""The conformance and differential kernel tests again, with the kernels built under AddressSanitizer
and UndefinedBehaviorSanitizer: any out-of-bounds read or write, misaligned access, signed overflow
or bad shift in a kernel aborts the run."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


def _libasan() -> str | None:
    if shutil.which("gcc") is None:
        return None
    path = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True, text=True).stdout.strip()
    return path if os.path.isabs(path) and os.path.exists(path) else None


@pytest.mark.slow
def test_kernel_suites_under_sanitizers():
    libasan = _libasan()
    if libasan is None:
        pytest.skip("gcc's libasan is not installed")
    env = dict(os.environ, LD_PRELOAD=libasan, ASAN_OPTIONS="detect_leaks=0:abort_on_error=1",
               UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1",
               ONNX_TEE_KERNEL_CFLAGS="-g -fsanitize=address,undefined -fno-sanitize-recover=all "
                                      "-fno-omit-frame-pointer")
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x",
                             str(TESTS / "test_kernels_node_conformance.py"),
                             str(TESTS / "test_kernels_differential.py")],
                            cwd=TESTS.parent, env=env, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
