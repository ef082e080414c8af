"""The `#ifdef __ARM_NEON` kernel paths against the same kernels built without them
(-DKERN_SCALAR_PATHS), bit for bit, on AArch64 under qemu-aarch64 (tests/aarch64_harness.py).

Depthwise K x K (K in 3, 5, 7) at column strides 1 and 2 (kernels/depthwise.c, dw_span_neon): maps
narrow and wide (the strip and the row-ring paths), widths that leave 1-3 outputs past the last full
vector; each build hashes its output's bytes (benchmarks/c/insn_driver.c `dw`).

    pytest -m aarch64 tests/test_aarch64_neon.py
"""
from __future__ import annotations

import subprocess

import pytest
from hypothesis import given, settings, strategies as st

import aarch64_harness as arm

pytestmark = pytest.mark.aarch64


@pytest.fixture(scope="module")
def drivers(tmp_path_factory):
    out = tmp_path_factory.mktemp("neon")
    return (arm.build_insn_driver(out / "driver-neon"),
            arm.build_insn_driver(out / "driver-scalar-paths", ("-Os", "-DKERN_SCALAR_PATHS")))


def output_hash(driver, k, s, c, h, w) -> str:
    run = subprocess.run([arm.QEMU, "-L", arm.SYSROOT, str(driver), "dw", *map(str, (k, s, c, h, w))],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


def vector_fmla_in(driver, function: str) -> int:
    """Vector fused multiply-adds (`fmla vN.4s`) in `function` of the driver's disassembly."""
    text = subprocess.run(["aarch64-linux-gnu-objdump", "-d", str(driver)], capture_output=True, text=True,
                          check=True).stdout
    body = text.split(f"<{function}>:\n", 1)[1].split("\n\n", 1)[0]
    return sum("fmla" in line and ".4s" in line for line in body.splitlines())


def test_only_the_neon_build_vectorises_the_depthwise_span(drivers):
    """The premise of the NEON path: under the TA's -mstrict-align gcc leaves dw_span scalar."""
    neon, scalar = drivers
    assert vector_fmla_in(scalar, "dw_span_3_1") == 0
    assert vector_fmla_in(neon, "dw_span_3_1") >= 9          # the nine taps of a 3x3 window


@settings(max_examples=24, deadline=None)
@given(k=st.sampled_from([3, 5, 7]), s=st.sampled_from([1, 2]), c=st.integers(1, 3), h=st.integers(7, 40),
       w=st.integers(7, 130))
def test_neon_depthwise_equals_the_scalar_paths_bit_for_bit(drivers, k, s, c, h, w):
    neon, scalar = drivers
    assert output_hash(neon, k, s, c, h, w) == output_hash(scalar, k, s, c, h, w)
