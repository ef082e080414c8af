"""The 1x1 convolution with transposed weights (kern_conv_wt_act, kernels/pointwise_wt.c) against the
kernel it stands in for (kern_conv_act on the ONNX-order weights, the same checkout) and against
onnxruntime.

Both compute every output as the same ordered sum in the same micro-kernels, so they agree bit for bit
where the harness build does not contract multiply-adds (its default); with FMA (-march=native, -mfma)
gcc contracts the GEMM's full, masked and exact-width column tiles differently, and an output may come
from another tile on each path: within 1e-6 of the largest output then.  Cases: every geometry
kern_conv_wt_ok accepts (1 < h_out w_out <= 64, not a multiple of 32), output channels across the
GEMM's column blocks (KERN_NC = 128) and edges, K across its depth blocks, batches, with and without
bias, each fusable activation kind; and the geometries it refuses.
"""
from __future__ import annotations

import ctypes

import numpy as np
import pytest
from hypothesis import assume, strategies as st
from onnx import helper

import kernel_harness as kh
from differential import checks_by_name, differential_tests
from conftest import ort_session
from test_kernels_differential import OPSET, RTOL, _model

ACTIVATIONS = [None, ("Relu", {}), ("HardSwish", {}), ("Sigmoid", {}), ("Clip", {}), ("QuickGelu", {"alpha": 1.0}),
               ("Tanh", {})]
FMA_BUILD = any(flag in kh.CFLAGS for flag in ("-march=native", "-mfma"))


def _array(data, shape, lo=-2.0, hi=2.0) -> np.ndarray:
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    return np.asarray(np.random.default_rng(seed).uniform(lo, hi, size=shape), dtype=np.float32)


def _act_node(act):
    if act is None:
        return None, []
    op, attrs = act
    domain = "com.microsoft" if op == "QuickGelu" else ""
    node = helper.make_node(op, ["c"] + (["lo", "hi"] if op == "Clip" else []), ["y"], domain=domain, **attrs)
    return node, ([np.float32(-1.5), np.float32(2.5)] if op == "Clip" else [])


def _draw_case(data):
    """A 1x1 Conv over a map kern_conv_wt_ok accepts, its inputs and a drawn activation."""
    h = data.draw(st.integers(1, 64), label="h")
    w = data.draw(st.integers(1, 64 // h), label="w")
    assume(1 < h * w and h * w % 32 != 0)
    cin = data.draw(st.sampled_from([1, 3, 16, 47, 129, 300, 400]), label="c_in")
    cout = data.draw(st.sampled_from([1, 5, 16, 33, 128, 200, 400, 1152]), label="c_out")
    batch = data.draw(st.integers(1, 2), label="batch")
    x = _array(data, (batch, cin, h, w))
    wt = _array(data, (cout, cin, 1, 1))
    b = _array(data, (cout,)) if data.draw(st.booleans(), label="bias") else None
    node = helper.make_node("Conv", ["x", "w"] + (["b"] if b is not None else []), ["c"], kernel_shape=[1, 1])
    act = data.draw(st.sampled_from(ACTIVATIONS), label="activation")
    return node, [x, wt, b], act


def check_same_as_onnx_layout(data):
    """kern_conv_wt_act on W^T == kern_conv_act on W (bit for bit without FMA contraction)."""
    node, inputs, act = _draw_case(data)
    act_node, act_inputs = _act_node(act)
    new = kh.run_conv_wt(node, inputs, OPSET, act_node, act_inputs)
    if act_node is None:
        old = kh.run_node(node, inputs, OPSET)[0]
    else:
        old = kh.run_conv_activation(node, act_node, inputs, act_inputs, OPSET)
    assert new.shape == old.shape
    if FMA_BUILD:
        sums = kh.run_node(node, inputs, OPSET)[0].astype(np.float64)
        assert np.abs(new.astype(np.float64) - old).max() <= 1.5e-6 * np.abs(sums).max()
    else:
        assert np.array_equal(new, old), f"max |new - old| = {np.abs(new.astype(np.float64) - old).max():.3g}"


def check_onnxruntime(data):
    """kern_conv_wt_act against onnxruntime's Conv."""
    node, (x, wt, b), _ = _draw_case(data)
    inputs = {"x": x, **({"b": b} if b is not None else {})}
    want = ort_session(_model(node, inputs, {"w": wt}, OPSET)).run(None, inputs)[0]
    got = kh.run_conv_wt(node, [x, wt, b], OPSET)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-3)


CHECKS = checks_by_name(check_same_as_onnx_layout, check_onnxruntime)
test_kernel_matches, test_kernel_matches_many = differential_tests(CHECKS, 25, 300)


@pytest.mark.parametrize("cin,cout,hw", [(400, 400, 7), (1152, 192, 7), (320, 1280, 7), (192, 1152, 7),
                                         (672, 160, 7), (16, 8, 5), (300, 129, 3)])
def test_model_layers(cin, cout, hw):
    """The layers the path was made for (RegNet-X-400MF's stage 4, EfficientNet-B0's 7x7 stages)."""
    rng = np.random.default_rng(cin * cout)
    x = rng.standard_normal((1, cin, hw, hw), np.float32)
    w = rng.standard_normal((cout, cin, 1, 1), np.float32)
    b = rng.standard_normal(cout, np.float32)
    node = helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[1, 1])
    new, old = kh.run_conv_wt(node, [x, w, b], OPSET), kh.run_node(node, [x, w, b], OPSET)[0]
    if FMA_BUILD:
        np.testing.assert_allclose(new, old, rtol=0, atol=1e-6 * np.abs(old).max())
    else:
        assert np.array_equal(new, old)


@pytest.mark.parametrize("hw,k,group,pads", [((8, 8), 1, 1, 0), ((4, 8), 1, 1, 0), ((1, 1), 1, 1, 0),
                                             ((9, 9), 1, 1, 0), ((7, 7), 1, 2, 0), ((7, 7), 3, 1, 1),
                                             ((5, 5), 1, 1, 1)])
def test_refuses_other_geometries(hw, k, group, pads):
    """Geometries kern_conv_wt_ok refuses (P a multiple of 32, one pixel, P > 64, grouped, not 1x1,
    padded) get KERN_EINVAL, and nothing is written."""
    h, w = hw
    cin, cout = 4 * group, 6 * group
    g = kh.ConvGeom(1, cin, h, w, cout, h + 2 * pads - k + 1, w + 2 * pads - k + 1, k, k, 1, 1, 1, 1,
                    pads, pads, pads, pads, group)
    assert not kh.kernels().kern_conv_wt_ok(ctypes.byref(g))
    x = np.ones((1, cin, h, w), np.float32)
    wt = np.ones((cout, cin // group, k, k), np.float32)
    y = np.full((1, cout, g.h_out, g.w_out), 7.0, np.float32)
    scratch = np.zeros(1 << 16, np.float32)
    status = kh.kernels().kern_conv_wt_act(ctypes.byref(g), None, kh._ptr(x), kh._ptr(wt), None, kh._ptr(y),
                                           kh._ptr(scratch), scratch.nbytes)
    assert kh.STATUS[status] == "KERN_EINVAL"
    assert (y == 7.0).all()


def test_scratch_short_by_one_float_is_refused():
    g = kh.ConvGeom(1, 8, 7, 7, 40, 7, 7, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1)
    need = kh.kernels().kern_scratch_bytes_conv(ctypes.byref(g))
    assert need == 49 * 40 * 4
    x, wt = np.ones((1, 8, 7, 7), np.float32), np.ones((8, 40), np.float32)
    y, scratch = np.zeros((1, 40, 7, 7), np.float32), np.zeros(need // 4, np.float32)
    status = kh.kernels().kern_conv_wt_act(ctypes.byref(g), None, kh._ptr(x), kh._ptr(wt), None, kh._ptr(y),
                                           kh._ptr(scratch), need - 4)
    assert kh.STATUS[status] == "KERN_ESCRATCH"

