"""Kernel conformance on AArch64 without a board: the kernels compiled for aarch64 Linux with the flags
OP-TEE's dev kit gives a TA, run under qemu-aarch64 user mode (tests/aarch64_harness.py).

The tests below are the host suites themselves, collected again in this module, where an autouse fixture
routes every kernel call to the AArch64 runner: the ONNX backend node tests (tests/kernel_conformance.py),
the differential tests against onnxruntime (tests/test_kernels_differential.py, test_kernels_grid_sample.py,
test_kernels_differential_logical.py for ArgMax/ArgMin, comparisons, logic ops and Where, and
test_kernels_quant.py for the quantized kernels, test_quant_dynamic_lstm.py's kernel tests), the libm-free
math's accuracy (tests/test_kernels_mathf.py, test_kernels_mathf_trig.py), the scratch formulas and the
kernels' own validation.

    pytest -m aarch64 tests/test_aarch64_kernels.py
"""
from __future__ import annotations

import pytest

import aarch64_harness as arm
import test_kernels_differential
import test_kernels_differential_pointwise_wt
import test_kernels_mathf
import test_kernels_mathf_trig
import test_kernels_scratch
import test_kernels_validation
from optee_harness import kit_dir

pytestmark = pytest.mark.aarch64

# collected again here, so that they run against the AArch64 build
from test_kernels_node_conformance import test_every_op_with_a_kernel_has_node_tests, test_node_case  # noqa: E402,F401
from test_kernels_differential import (test_conv_tiling_edges, test_conv_with_fused_activation,  # noqa: E402,F401
                                       test_depthwise_paths, test_gemm_tiling_edges, test_grouped_paths,
                                       test_kernel_matches_onnxruntime,
                                       test_maxpool_paths, test_pointwise_narrow_columns)
from test_kernels_differential_pointwise_wt import (  # noqa: E402,F401
    test_kernel_matches as test_pointwise_wt_matches, test_model_layers as test_pointwise_wt_model_layers,
    test_refuses_other_geometries as test_pointwise_wt_refuses_other_geometries,
    test_scratch_short_by_one_float_is_refused as test_pointwise_wt_short_scratch)
from test_kernels_mathf import errors, test_max_relative_error, test_special_values  # noqa: E402,F401
from test_kernels_grid_sample import (  # noqa: E402,F401
    test_kernel_rejects_bad_arguments as test_grid_sample_rejects_bad_arguments,
    test_nearest_ties_and_far_coordinates_equal_onnxruntime as test_grid_sample_ties_and_far_coordinates,
    test_non_finite_coordinates_read_inside_x as test_grid_sample_non_finite_coordinates)
from test_kernels_mathf_trig import (test_error_against_float64_and_numpy_float32,  # noqa: E402,F401
                                     test_special_values_and_domain_edges)
from test_kernels_differential_logical import (  # noqa: E402,F401
    test_arg_reduce_nan_and_ties_follow_onnxruntime,
    test_kernel_matches_onnxruntime as test_logical_kernel_matches_onnxruntime)
from test_kernels_quant import (test_conv_integer_equals_onnxruntime, test_dequantize_int32,  # noqa: E402,F401
                                test_dynamic_quantize_equals_onnxruntime, test_matmul_integer_equals_onnxruntime,
                                test_non_finite_requantization_scale_is_refused,
                                test_qlinear_conv_is_exact_and_within_a_step_of_onnxruntime,
                                test_qlinear_conv_rows_wider_than_one_span_are_exact,
                                test_qlinear_matmul_is_exact_and_within_a_step_of_onnxruntime,
                                test_quantize_and_dequantize_equal_onnxruntime,
                                test_quantize_saturates_and_sends_nan_to_the_low_end,
                                test_quantized_max_pool_equals_onnxruntime, test_requantization_of_extreme_scales_is_exact)
from test_quant_dynamic_lstm import (  # noqa: E402,F401
    test_the_kernel_alone_runs_a_drawn_node_as_onnxruntime_runs_it,
    test_the_kernel_refuses_what_it_does_not_run_before_touching_a_buffer)
from test_kernels_scratch import (test_conv_scratch_python_equals_c, test_gemm_scratch_python_equals_c,  # noqa: E402,F401
                                  test_pointwise_small_map_scratch_python_equals_c,
                                  test_qconv_scratch_python_equals_c, test_qmatmul_scratch_python_equals_c,
                                  test_tiling_constants_mirror_the_c_header, test_zoo_scratch_is_modest)
from test_kernels_validation import (test_binary_and_movement_reject_bad_shapes,  # noqa: E402,F401
                                     test_conv_rejects_bad_geometry, test_conv_transpose_and_pool_reject_bad_geometry,
                                     test_gemm_and_matmul_reject_bad_shapes, test_quantized_kernels_reject_bad_arguments,
                                     test_zero_sized_tensors_touch_nothing)


@pytest.fixture(scope="module")
def remote():
    runner = arm.build_runner()
    kernels = arm.RemoteKernels(runner)
    yield kernels
    kernels.close()


@pytest.fixture(scope="module", autouse=True)
def on_aarch64(remote):
    """Module-scoped and autouse, so that it is in place before any other module-scoped fixture (the math
    sweeps of test_kernels_mathf are one) calls a kernel."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        arm.install(monkeypatch, remote, test_kernels_differential, test_kernels_differential_pointwise_wt,
                    test_kernels_mathf, test_kernels_mathf_trig, test_kernels_scratch, test_kernels_validation)
        yield remote


def test_every_kernel_entry_point_is_routed(remote):
    import kernel_harness
    assert kernel_harness.kernels() is remote
    for module in (test_kernels_differential, test_kernels_differential_pointwise_wt, test_kernels_mathf,
                   test_kernels_mathf_trig, test_kernels_scratch, test_kernels_validation):
        assert getattr(module, "kernels", kernel_harness.kernels)() is remote, module.__name__


def test_the_runner_is_an_aarch64_executable(remote):
    with open(remote.runner, "rb") as handle:
        header = handle.read(20)
    assert header[:4] == b"\x7fELF" and int.from_bytes(header[18:20], "little") == 183   # EM_AARCH64


def test_calls_reach_the_runner(remote):
    import numpy as np
    from kernel_harness import kernels
    before = remote.calls
    x = np.linspace(-3, 3, 17, dtype=np.float32)
    y = np.empty_like(x)
    kernels().shim_tanhf(x.ctypes.data, y.ctypes.data, x.size)
    assert remote.calls == before + 1
    np.testing.assert_allclose(y, np.tanh(x), rtol=2e-6, atol=1e-7)


def test_flags_are_the_dev_kits():
    """The harness's copy of the TA flags equals the dev kit's, when a kit is at hand."""
    kit = kit_dir()
    flags = arm.kit_platform_cflags(kit) if kit else None
    if flags is None:
        pytest.skip("no optee-kit to compare the TA compiler flags with")
    assert tuple(flags) == arm.TA_PLATFORM_CFLAGS
