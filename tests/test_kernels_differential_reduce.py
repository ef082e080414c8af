"""Differential tests of the reduction and normalization kernels (kernels/reduce.c) and of batched
MatMul against onnxruntime (one thread), as in test_kernels_differential.py: hypothesis draws a
single-node model and its inputs; a few fixed examples per op by default, many fresh ones under
`pytest -m slow`.

Tolerances: reductions 1e-5 relative (+1e-5 absolute for sums that cancel towards 0); the kernels
sum in float32 over 8 lanes, onnxruntime in its own order, so each side is within about
(n / 8 + 3) * 2^-24 * sum|x| of the exact sum."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import strategies as st

from differential import checks_by_name, differential_tests
from kernel_harness import run_node
from test_kernels_differential import _array, _node, check

REDUCES = ["ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
           "ReduceLogSumExp", "ReduceSumSquare"]


def check_reduce(data):
    op = data.draw(st.sampled_from(REDUCES))
    rank = data.draw(st.integers(1, 5))
    shape = tuple(data.draw(st.integers(1, 7 if rank < 4 else 4)) for _ in range(rank))
    opset = data.draw(st.sampled_from([13, 18]))
    axes = data.draw(st.lists(st.integers(-rank, rank - 1), max_size=rank, unique_by=lambda a: a % rank))
    keepdims = data.draw(st.integers(0, 1))
    noop = data.draw(st.integers(0, 1)) if opset == 18 else 0
    x = _array(data, shape, 0.5, 1.5) * np.where(_array(data, shape) > 0, 1, -1).astype(np.float32) \
        if op == "ReduceProd" else _array(data, shape, -3, 3)
    attrs = dict(keepdims=keepdims)
    constants, names = {}, ["x"]
    if opset >= 18 or (op == "ReduceSum" and opset >= 13):
        if axes:
            constants["axes"] = np.array(axes, np.int64)
            names.append("axes")
        if opset >= 18:
            attrs["noop_with_empty_axes"] = noop
    elif axes:
        attrs["axes"] = axes
    check(_node(op, names, **attrs), {"x": x}, constants, opset=opset, rtol=1e-5, atol=1e-5)


def check_reduce_large(data):
    """Long runs and rows: the 8-lane contiguous path and row blocks of 64 with remainders."""
    op = data.draw(st.sampled_from(REDUCES))
    shape = (data.draw(st.integers(1, 3)), data.draw(st.integers(60, 300)), data.draw(st.integers(1, 70)))
    axes = data.draw(st.sampled_from([[1], [2], [0, 2], [1, 2]]))
    x = _array(data, shape, 0.9, 1.1) if op == "ReduceProd" else _array(data, shape, -3, 3)
    check(_node(op, ["x", "axes"], keepdims=1), {"x": x}, {"axes": np.array(axes, np.int64)}, opset=18,
          rtol=1e-4 if op == "ReduceProd" else 1e-5, atol=1e-4)


def check_log_softmax(data):
    shape = tuple(data.draw(st.lists(st.integers(1, 6), min_size=1, max_size=4)))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    opset = data.draw(st.sampled_from([11, 13]))
    check(_node("LogSoftmax", ["x"], axis=axis), {"x": _array(data, shape, -30, 30)}, opset=opset, rtol=1e-5,
          atol=1e-5)


def _norm_reference(op, x, scale, bias, axis=-1, groups=1, opset=18):
    """float64 reference of LayerNormalization / InstanceNormalization / GroupNormalization."""
    x = x.astype(np.float64)
    if op == "LayerNormalization":
        axes = tuple(range(axis % x.ndim, x.ndim))
        mu, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
        y = (x - mu) / np.sqrt(var + EPS[0]) * scale
        return y + bias if bias is not None else y
    n, c = x.shape[:2]
    groups = c if op == "InstanceNormalization" else groups
    g = x.reshape(n, groups, -1)
    y = ((g - g.mean(-1, keepdims=True)) / np.sqrt(g.var(-1, keepdims=True) + EPS[0])).reshape(x.shape)
    if op == "GroupNormalization" and opset < 21:
        scale, bias = np.repeat(scale, c // groups), np.repeat(bias, c // groups)
    shape = (1, c) + (1,) * (x.ndim - 2)
    return y * scale.reshape(shape) + bias.reshape(shape)


EPS = [1e-5]


def check_norm(node, inputs, constants, opset, reference):
    """Close to the float64 reference (1e-4 relative, 1e-5 absolute), and to onnxruntime up to
    onnxruntime's own error: it takes the variance as E[x^2] - E[x]^2, which cancels when the mean
    dominates (e.g. a group of two close values), so the kernels are held to |ours - ort| <=
    tolerance + 2 |ort - exact|."""
    from conftest import ort_session
    from kernel_harness import run_node
    from test_kernels_differential import _model
    want = ort_session(_model(node, inputs, constants, opset)).run(None, inputs)[0]
    values = {**inputs, **constants}
    got = run_node(node, [values[i] for i in node.input], opset)[0]
    np.testing.assert_allclose(got, reference, rtol=1e-4, atol=1e-5)
    assert np.all(np.abs(got - want) <= 1e-5 + 1e-4 * np.abs(want) + 2 * np.abs(want - reference)), \
        np.max(np.abs(got - want))


def check_layer_norm(data):
    shape = tuple(data.draw(st.lists(st.integers(1, 9), min_size=1, max_size=4)))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    suffix = shape[axis:]
    inputs = {"x": _array(data, shape, -4, 4) + np.float32(data.draw(st.sampled_from([0.0, 10.0])))}
    constants = {"s": _array(data, suffix)}
    if data.draw(st.booleans()):
        constants["b"] = _array(data, suffix)
    eps = EPS[0] = data.draw(st.sampled_from([1e-5, 1e-3]))
    ref = _norm_reference("LayerNormalization", inputs["x"], constants["s"], constants.get("b"), axis=axis)
    check_norm(_node("LayerNormalization", ["x", *constants], axis=axis, epsilon=eps), inputs, constants, 17, ref)


def check_instance_group_norm(data):
    op = data.draw(st.sampled_from(["InstanceNormalization", "GroupNormalization"]))
    groups = data.draw(st.integers(1, 4))
    c = groups * data.draw(st.integers(1, 3))
    spatial = data.draw(st.lists(st.integers(1, 6), min_size=op == "InstanceNormalization", max_size=2))
    shape = (data.draw(st.integers(1, 2)), c, *spatial)  # onnxruntime: InstanceNormalization needs rank >= 3
    opset = 21 if op == "GroupNormalization" and data.draw(st.booleans()) else 18
    params = groups if op == "GroupNormalization" and opset < 21 else c
    constants = {"s": _array(data, (params,)), "b": _array(data, (params,))}
    attrs = dict(epsilon=data.draw(st.sampled_from([1e-5, 1e-2])))
    EPS[0] = attrs["epsilon"]
    if op == "GroupNormalization":
        attrs["num_groups"] = groups
    inputs = {"x": _array(data, shape, -3, 3)}
    ref = _norm_reference(op, inputs["x"], constants["s"], constants["b"], groups=groups, opset=opset)
    check_norm(_node(op, ["x", "s", "b"], **attrs), inputs, constants, opset, ref)


def check_batched_matmul(data):
    """Attention-shaped products: [B,H,S,D] x [B,H,D,S], weights [D,E] right of a rank > 2 operand,
    broadcast batch dims."""
    b, h, s, d = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 4)), data.draw(st.integers(1, 20)), \
        data.draw(st.integers(1, 20))
    form = data.draw(st.sampled_from(["scores", "weights", "broadcast"]))
    if form == "scores":
        a, bb = (b, h, s, d), (b, h, d, s)
    elif form == "weights":
        a, bb = (b, h, s, d), (d, data.draw(st.integers(1, 40)))
    else:
        a, bb = (b, 1, s, d), (h, d, s)
    inputs = {"a": _array(data, a), "b": _array(data, bb)}
    check(_node("MatMul", ["a", "b"]), inputs)


CHECKS = checks_by_name(
    check_reduce, check_reduce_large, check_log_softmax, check_layer_norm, check_instance_group_norm,
    check_batched_matmul)
test_kernel_matches_onnxruntime, test_kernel_matches_onnxruntime_many = differential_tests(CHECKS, 25, 300)


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("shape, axis", [((2, 18385), -1), ((1, 18385, 3), 1)])
def test_softmax_over_a_long_axis_stays_near_the_exact_result(op, shape, axis):
    """An OCR head's 18,385 classes: summed in one float, the exponentials drifted 5.7e-5 of the largest
    probability from float64's; in 8 lanes each lane sums n / 8 of them (onnxruntime: 3.5e-6)."""
    x = (np.random.default_rng(0).standard_normal(shape) * 4).astype(np.float32)
    (got,) = run_node(_node(op, ["x"], axis=axis), [x], 13)
    x64 = x.astype(np.float64)
    shifted = x64 - x64.max(axis, keepdims=True)
    log_sum = np.log(np.exp(shifted).sum(axis, keepdims=True))
    exact = np.exp(shifted - log_sum) if op == "Softmax" else shifted - log_sum
    scale = np.abs(exact).max() if op == "Softmax" else 1.0
    assert np.abs(got - exact).max() / scale < 1.5e-5
