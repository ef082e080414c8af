"""The conformance and differential kernel suites again, on other builds of the kernels:
- under AddressSanitizer + UndefinedBehaviorSanitizer (any out-of-bounds access, misaligned access,
  signed overflow or bad shift aborts the run);
- with AVX2 and with the host's full ISA, which select the wider GEMM micro-kernels
  (kernels/internal.h: 3 x 32 with AVX2, 8 x 32 with AVX-512)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
SANITIZE = "-g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"


def _libasan() -> str | None:
    if shutil.which("gcc") is None:
        return None
    path = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True, text=True).stdout.strip()
    return path if os.path.isabs(path) and os.path.exists(path) else None


def _host_supports(flag: str) -> bool:
    probe = subprocess.run(["gcc", flag, "-dM", "-E", "-x", "c", "/dev/null"], capture_output=True, text=True)
    return probe.returncode == 0 and "__AVX2__" in probe.stdout and \
        "avx2" in Path("/proc/cpuinfo").read_text(errors="ignore")


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["sanitizers", "avx2", "native"])
def test_kernel_suites_on_other_builds(variant):
    env = dict(os.environ)
    if variant == "sanitizers":
        libasan = _libasan()
        if libasan is None:
            pytest.skip("gcc's libasan is not installed")
        env.update(LD_PRELOAD=libasan, ASAN_OPTIONS="detect_leaks=0:abort_on_error=1",
                   UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1", ONNX_TEE_KERNEL_CFLAGS=SANITIZE)
    else:
        flags = "-mavx2 -mfma" if variant == "avx2" else "-march=native"
        if shutil.which("gcc") is None or not _host_supports(flags.split()[0]):
            pytest.skip(f"host cannot run {flags} code")
        env.update(ONNX_TEE_KERNEL_CFLAGS=flags)
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x",
                             str(TESTS / "test_kernels_node_conformance.py"),
                             str(TESTS / "test_kernels_differential.py"),
                             str(TESTS / "test_kernels_differential_logical.py"), str(TESTS / "test_kernels_quant.py")],
                            cwd=TESTS.parent, env=env, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
