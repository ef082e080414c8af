"""Differential tests of the elementwise math kernels against onnxruntime (one thread), as
tests/test_kernels_differential.py does for the others: hypothesis draws shapes, attributes and
inputs, both run the single-node model, outputs must agree to the op's bound (NaN where NaN).

Bounds, in float32 ulps of onnxruntime's result (the kernels themselves are within 0.5 ulp of the
float64 truth for the mathf.c functions, tests/test_kernels_mathf_elementwise.py):
- exact (0): Sqrt, Reciprocal, Abs, Neg, Floor, Ceil, Round, ThresholdedRelu, PRelu, Max, Min, Pow
  with exponent 1 or 2;
- 1 ulp: Pow (onnxruntime's powf is not correctly rounded), Exp, Erf; 2 ulps: Log, Softsign;
  8 ulps: Softplus, Mish (onnxruntime's own error; the kernels are within 0.5 ulp);
- Elu, Selu, Celu: 4 ulps, or 2.4e-7 |alpha gamma| absolute where onnxruntime's exp(x) - 1 in float
  cancels (x near 0; the kernels use an accurate expm1);
- Gelu (both forms): 4 ulps, or 2.4e-7 max(|x|, 1) absolute where onnxruntime's 1 + erf(x / sqrt 2)
  (1 + tanh(...)) cancels to 0 for x below about -5 (the kernels evaluate x erfc(|x| / sqrt 2) / 2);
- Sin, Cos, Tan, Sinh, Cosh, Atanh: 2 ulps; Atan 3; Asin, Acos 5 (onnxruntime's own error, measured up
  to 1.6, 2.8 and 4.5 ulps; the kernels are within 0.51 ulp, tests/test_kernels_mathf_trig.py);
  Asinh, Acosh 1.
The fused path (Conv then an activation in one kern_conv_act call) is checked for the activations
with RT_OPF_ACTIVATION.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

from conftest import ort_session
from differential import checks_by_name, differential_tests
from kernel_harness import run_conv_activation, run_node
from test_kernels_differential import _array, _broadcast_pair, _model, _node

OPSET = 20
EPS32 = float(np.finfo(np.float32).eps)

# op: (input range, ulps, absolute slack as a function of (x, attrs) or None)
UNARY = {
    "Sqrt": ((0.0, 1e4), 0, None),
    "Reciprocal": ((-1e3, 1e3), 0, None),
    "Exp": ((-87.0, 88.0), 1, None),
    "Log": ((1e-30, 1e30), 2, None),
    "Abs": ((-1e3, 1e3), 0, None),
    "Neg": ((-1e3, 1e3), 0, None),
    "Floor": ((-1e3, 1e3), 0, None),
    "Ceil": ((-1e3, 1e3), 0, None),
    "Round": ((-50.0, 50.0), 0, None),
    "Erf": ((-5.0, 5.0), 4, None),   # vectorised float code (vmath.c): 2.7 ulps of float64, onnxruntime 1
    "Softplus": ((-90.0, 90.0), 8, None),
    "Softsign": ((-1e3, 1e3), 2, None),
    "Mish": ((-30.0, 30.0), 8, None),
    "ThresholdedRelu": ((-5.0, 5.0), 0, None),
    "Elu": ((-10.0, 10.0), 4, lambda x, a: 2 * EPS32 * abs(a.get("alpha", 1.0))),
    "Selu": ((-10.0, 10.0), 4, lambda x, a: 2 * EPS32 * abs(a.get("alpha", 1.6733) * a.get("gamma", 1.0507))),
    "Celu": ((-10.0, 10.0), 4, lambda x, a: 2 * EPS32 * abs(a.get("alpha", 1.0))),
    "Gelu": ((-12.0, 12.0), 4, lambda x, a: 2 * EPS32 * np.maximum(np.abs(x), 1.0)),
    "Sin": ((-100.0, 100.0), 2, None),
    "Cos": ((-100.0, 100.0), 2, None),
    "Tan": ((-10.0, 10.0), 2, None),
    "Asin": ((-1.0, 1.0), 5, None),
    "Acos": ((-1.0, 1.0), 5, None),
    "Atan": ((-100.0, 100.0), 3, None),
    "Sinh": ((-80.0, 80.0), 2, None),
    "Cosh": ((-80.0, 80.0), 2, None),
    "Asinh": ((-1e4, 1e4), 1, None),
    "Acosh": ((1.0, 1e4), 1, None),
    "Atanh": ((-1.0, 1.0), 2, None),
}
ACTIVATIONS = ["Gelu", "Softplus", "Softsign", "Elu", "Selu", "Celu", "Mish", "ThresholdedRelu"]


def assert_close(got: np.ndarray, want: np.ndarray, ulps: float, slack=0.0) -> None:
    assert got.shape == want.shape
    nan = np.isnan(want)
    assert np.array_equal(np.isnan(got), nan), "NaN positions differ"
    g, w = got[~nan].astype(np.float64), want[~nan].astype(np.float64)
    slack = np.broadcast_to(np.asarray(slack, np.float64), want.shape)[~nan]
    same_inf = np.isinf(w) & (g == w)
    tol = ulps * np.spacing(np.abs(want[~nan])).astype(np.float64) + slack
    err = np.abs(np.where(same_inf, 0.0, g) - np.where(same_inf, 0.0, w))
    bad = err > tol
    assert not bad.any(), f"{bad.sum()} values off: got {g[bad][:5]}, onnxruntime {w[bad][:5]}"


def run_both(node, inputs: dict[str, np.ndarray], constants: dict[str, np.ndarray] | None = None,
             opset: int = OPSET):
    constants = constants or {}
    want = ort_session(_model(node, inputs, constants, opset)).run(None, inputs)
    values = {**inputs, **constants}
    got = run_node(node, [values[i] if i else None for i in node.input], opset)
    return got[0], want[0]


def _unary_attrs(data, op) -> dict:
    if op in ("Elu", "Celu"):
        return {"alpha": data.draw(st.sampled_from([1.0, 0.5, 2.5]))}
    if op == "Selu":
        return data.draw(st.sampled_from([{}, {"alpha": 1.5, "gamma": 2.0}]))
    if op == "ThresholdedRelu":
        return {"alpha": data.draw(st.sampled_from([1.0, 0.0, -0.5, 2.0]))}
    if op == "Gelu":
        return {"approximate": data.draw(st.sampled_from(["none", "tanh"]))}
    return {}


def check_unary(data):
    op = data.draw(st.sampled_from(sorted(UNARY)))
    (lo, hi), ulps, slack = UNARY[op]
    shape = tuple(data.draw(st.lists(st.integers(1, 6), max_size=4)))
    if op == "Log":  # log-uniform over the range
        x = np.asarray(np.exp(_array(data, shape, np.log(lo), np.log(hi)).astype(np.float64)), np.float32)
    else:
        x = _array(data, shape, lo, hi)
        if op == "Round":  # the halves, where half-to-even matters
            x = np.asarray(np.where(_array(data, shape) > 0, np.round(x * 2) / 2, x), np.float32)
    attrs = _unary_attrs(data, op)
    got, want = run_both(_node(op, ["x"], **attrs), {"x": x})
    assert_close(got, want, ulps, 0.0 if slack is None else slack(x, attrs))


def check_pow(data):
    form = data.draw(st.sampled_from(["tensor", "negative_base", "constant"]))
    if form == "constant":  # a constant exponent: the scalar fast paths (1, 2, 0.5, -1) and the general one
        shape = tuple(data.draw(st.lists(st.integers(1, 6), max_size=4)))
        e = np.array(data.draw(st.sampled_from([2.0, 0.5, 1.0, -1.0, 3.0, 1.7, -0.5])), np.float32)
        e = e.reshape(data.draw(st.sampled_from([(), (1,)])))
        x = _array(data, shape, -10, 10)
        got, want = run_both(_node("Pow", ["x", "e"]), {"x": x}, {"e": e})
        assert_close(got, want, 0 if float(e.reshape(-1)[0]) in (1.0, 2.0) else 1)
        return
    a_shape, b_shape = _broadcast_pair(data, 4)
    if form == "tensor":
        x, e = _array(data, a_shape, 0.0, 10.0), _array(data, b_shape, -5.0, 5.0)
    else:  # negative bases: integer exponents give signed results, the others NaN
        x = _array(data, a_shape, -10.0, 0.0)
        e = _array(data, b_shape, -8.0, 8.0)
        e = np.where(_array(data, b_shape) > -1.5, np.round(e), e).astype(np.float32)
    got, want = run_both(_node("Pow", ["x", "e"]), {"x": x, "e": e})
    assert_close(got, want, 1)


def check_prelu(data):
    shape = tuple(data.draw(st.lists(st.integers(1, 5), min_size=1, max_size=4)))
    # per channel (ONNX's [C, 1, 1] form), a suffix of X's shape, a scalar, or the full shape
    choices = [(1,), shape[-1:], shape]
    if len(shape) >= 3:
        choices.append((shape[1],) + (1,) * (len(shape) - 2))
    slope_shape = data.draw(st.sampled_from(choices))
    inputs = {"x": _array(data, shape, -3, 3), "s": _array(data, slope_shape, -1, 1)}
    got, want = run_both(_node("PRelu", ["x", "s"]), inputs)
    assert_close(got, want, 0)


def check_max_min(data):
    op = data.draw(st.sampled_from(["Max", "Min"]))
    a_shape, b_shape = _broadcast_pair(data)
    inputs = {"a": _array(data, a_shape), "b": _array(data, b_shape)}
    if data.draw(st.booleans()):
        inputs["c"] = _array(data, data.draw(st.sampled_from([a_shape, b_shape, ()])))
    if data.draw(st.booleans()):  # NaN propagates
        inputs["a"].reshape(-1)[0] = np.nan
    got, want = run_both(_node(op, list(inputs)), inputs)
    assert_close(got, want, 0)


CHECKS = checks_by_name(check_unary, check_pow, check_prelu, check_max_min)
test_math_kernel_matches_onnxruntime, test_math_kernel_matches_onnxruntime_many = differential_tests(CHECKS, 40, 400)


@pytest.mark.parametrize("op", sorted(UNARY))
def test_every_unary_op_over_its_whole_range(op):
    """100k points spread over each op's range (plus 0, the extremes and NaN) in one node."""
    (lo, hi), ulps, slack = UNARY[op]
    rng = np.random.default_rng(len(op))
    x = rng.uniform(lo, hi, 100_000)
    if op == "Log":
        x = np.exp(rng.uniform(np.log(lo), np.log(hi), 100_000))
    x = np.concatenate([x, [0.0, lo, hi, np.nan]]).astype(np.float32)
    attrs = {"alpha": 0.7} if op == "Celu" else {}
    got, want = run_both(_node(op, ["x"], **attrs), {"x": x})
    assert_close(got, want, ulps, 0.0 if slack is None else slack(x, attrs))


@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("cin,cout,group,size,k,pads", [
    (6, 10, 1, 17, 3, [1, 1, 1, 1]),   # im2col
    (20, 13, 1, 9, 1, [0, 0, 0, 0]),   # 1x1 GEMM in place
    (8, 8, 8, 10, 3, [1, 1, 1, 1]),    # depthwise
])
def test_conv_with_fused_math_activation(act, cin, cout, group, size, k, pads):
    """kern_conv_act with the new activations against onnxruntime running Conv then the activation."""
    rng = np.random.default_rng(cin * cout + size)
    inputs = {"x": rng.standard_normal((1, cin, size, size), np.float32),
              "w": rng.standard_normal((cout, cin // group, k, k), np.float32),
              "b": rng.standard_normal(cout, np.float32)}
    conv = _node("Conv", inputs, outputs=("c",), kernel_shape=[k, k], pads=pads, group=group)
    activation = _node(act, ["c"], **({"alpha": 0.5} if act in ("Elu", "Selu", "Celu", "ThresholdedRelu") else {}))
    graph = helper.make_graph(
        [conv, activation], "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, v.shape) for n, v in inputs.items()],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    want = ort_session(helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])).run(None, inputs)[0]
    got = run_conv_activation(conv, activation, list(inputs.values()), [], OPSET)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)
    # and exactly the two kernels one after the other
    c = run_node(conv, list(inputs.values()), OPSET)[0]
    assert np.array_equal(got, run_node(activation, [c], OPSET)[0])


def _quick_gelu(alpha: float):
    return helper.make_node("QuickGelu", ["x"], ["y"], domain="com.microsoft", alpha=alpha)


def test_quick_gelu_at_alpha_1_is_sigmoid_then_mul_bit_for_bit():
    """KERN_SWISH at alpha 1 (SiLU, what FuseSwish writes) equals the Sigmoid kernel then the Mul kernel
    exactly, over 100k points, the far tails, zeros, infinities and NaN; lengths not a multiple of the
    kernel's block included."""
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.uniform(-120.0, 120.0, 100_000), rng.standard_normal(1_003),
                        [0.0, -0.0, 1e-40, -1e-40, 88.0, -88.0, 104.0, -104.0, np.inf, -np.inf, np.nan]])
    x = x.astype(np.float32)
    s = run_node(_node("Sigmoid", ["x"]), [x], OPSET)[0]
    want = run_node(_node("Mul", ["x", "s"]), [x, s], OPSET)[0]
    for n in (x.size, 1, 63, 64, 65, 130):
        got = run_node(_quick_gelu(1.0), [x[:n]], OPSET)[0]
        np.testing.assert_array_equal(got, want[:n])


@pytest.mark.parametrize("alpha", [1.0, 1.702, -0.5])
def test_quick_gelu_matches_onnxruntime(alpha):
    """x * sigmoid(alpha x) within 1e-6 relative of the float64 truth (from the float32 alpha x), and against onnxruntime's
    com.microsoft QuickGelu within 2e-6 relative or 5e-6 absolute: onnxruntime's logistic is a rational
    approximation, off the truth by up to 2.2e-6 absolute in the negative tail (measured here)."""
    rng = np.random.default_rng(abs(int(alpha * 1000)))
    x = np.concatenate([rng.uniform(-30.0, 30.0, 50_000), rng.standard_normal(5_000)]).astype(np.float32)
    node = _quick_gelu(alpha)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, x.shape)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET),
                                                    helper.make_opsetid("com.microsoft", 1)])
    want = ort_session(model).run(None, {"x": x})[0]
    got = run_node(node, [x], OPSET)[0]
    z = (np.float32(alpha) * x).astype(np.float64)    # the kernel's float32 product alpha x, then exact
    truth = x.astype(np.float64) / (1.0 + np.exp(-z))
    assert np.all(np.abs(got - truth) <= 1e-6 * np.abs(truth))
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=5e-6)


@pytest.mark.parametrize("cin,cout,group,size,k,pads", [
    (6, 10, 1, 17, 3, [1, 1, 1, 1]),   # im2col
    (20, 13, 1, 9, 1, [0, 0, 0, 0]),   # 1x1 GEMM in place
    (40, 24, 1, 2, 1, [0, 0, 0, 0]),   # 1x1 over a few pixels (narrow GEMM columns)
    (8, 8, 8, 10, 3, [1, 1, 1, 1]),    # depthwise
    (12, 12, 12, 11, 5, [2, 2, 2, 2]), # depthwise 5x5
    (16, 8, 4, 7, 3, [1, 1, 1, 1]),    # grouped
])
def test_conv_with_fused_silu_is_conv_sigmoid_mul_bit_for_bit(cin, cout, group, size, k, pads):
    """kern_conv_act with SiLU (QuickGelu alpha 1) equals the Conv kernel, the Sigmoid kernel and the Mul
    kernel run one after the other, exactly, on every conv path."""
    rng = np.random.default_rng(cin * cout + size + k)
    inputs = {"x": 3 * rng.standard_normal((1, cin, size, size), np.float32),
              "w": rng.standard_normal((cout, cin // group, k, k), np.float32),
              "b": rng.standard_normal(cout, np.float32)}
    conv = _node("Conv", inputs, outputs=("c",), kernel_shape=[k, k], pads=pads, group=group)
    got = run_conv_activation(conv, helper.make_node("QuickGelu", ["c"], ["y"], domain="com.microsoft", alpha=1.0),
                              list(inputs.values()), [], OPSET)
    c = run_node(conv, list(inputs.values()), OPSET)[0]
    s = run_node(_node("Sigmoid", ["c"]), [c], OPSET)[0]
    np.testing.assert_array_equal(got, run_node(_node("Mul", ["c", "s"]), [c, s], OPSET)[0])


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 700), seed=st.integers(0, 2**31), far=st.lists(st.sampled_from(
    [81.0, -81.0, 95.5, -103.0, 200.0, -np.inf, np.inf, np.nan]), min_size=1, max_size=4))
def test_sigmoid_blocks_without_far_lanes_give_the_general_loops_values(n, seed, far):
    """vmath.c's Sigmoid runs a block of 256 whose |x| are all <= 80 without the far-tail scaling: each
    element's value must not depend on which loop its block took.  The same near elements, once with
    far elements (or NaN) spread through their blocks and once without, give identical bits."""
    rng = np.random.default_rng(seed)
    near = (rng.standard_normal(n) * rng.choice([1.0, 10.0, 40.0], n)).clip(-80, 80).astype(np.float32)
    at = np.sort(rng.choice(n + 1, len(far)))
    mixed = np.insert(near, at, np.array(far, np.float32))
    keep = np.ones(mixed.size, bool)
    keep[at + np.arange(len(far))] = False
    node = _node("Sigmoid", ["x"])
    alone, together = run_node(node, [near], OPSET)[0], run_node(node, [mixed], OPSET)[0]
    np.testing.assert_array_equal(together[keep], alone)
