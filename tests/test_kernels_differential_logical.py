"""Differential tests of ArgMax/ArgMin (kernels/arg_reduce.c), the comparisons, logic ops and Where
(kernels/logical.c) against onnxruntime (one thread), as tests/test_kernels_differential.py does for the
others: hypothesis draws a single-node model (random shapes, numpy broadcasting, attributes, operand
types) and its inputs; the kernels (kernel_harness.run_node: int64 and bool held as int32, exactly as the
TA does) must give onnxruntime's values and types exactly.  A few fixed examples per op by default, many
fresh ones under `pytest -m slow`.

Ties matter for ArgMax/ArgMin (select_last_index) and equality for the comparisons, so half the inputs
are drawn from a coarse grid; NaNs are mixed in where onnxruntime defines the result (comparisons: false;
ArgMax: a NaN never replaces the running best).
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from differential import checks_by_name, differential_tests
from test_kernels_differential import _array, _broadcast_operands, _node, _shape, check

INT_TYPES = (np.int32, np.int64)
COMPARISONS = ("Equal", "Greater", "GreaterOrEqual", "Less", "LessOrEqual")


def _values(data, shape, dtype=np.float32) -> np.ndarray:
    """Floats (continuous, or on a grid of halves so that ties and equalities occur) or small integers."""
    seed = data.draw(st.integers(0, 2**32 - 1), label="values")
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "i":
        return rng.integers(-4, 5, size=shape).astype(dtype)
    x = rng.uniform(-3, 3, size=shape)
    return np.asarray(np.round(x * 2) / 2 if data.draw(st.booleans()) else x, np.float32)


def _booleans(data, shape) -> np.ndarray:
    seed = data.draw(st.integers(0, 2**32 - 1), label="booleans")
    return np.random.default_rng(seed).integers(0, 2, size=shape).astype(np.bool_)


def _with_nan(data, x: np.ndarray) -> np.ndarray:
    if x.dtype == np.float32 and x.size and data.draw(st.integers(0, 3)) == 0:
        x = x.copy()
        x.reshape(-1)[data.draw(st.integers(0, x.size - 1))] = np.nan
    return x


def check_arg_reduce(data):
    op = data.draw(st.sampled_from(["ArgMax", "ArgMin"]))
    shape = _shape(data, 1, 5, 6)
    attrs = dict(axis=data.draw(st.integers(-len(shape), len(shape) - 1)), keepdims=data.draw(st.integers(0, 1)),
                 select_last_index=data.draw(st.integers(0, 1)))
    x = _with_nan(data, _values(data, shape))
    check(_node(op, ["x"], **attrs), {"x": x}, opset=13, rtol=0, atol=0)


def check_arg_reduce_long(data):
    """Long axes and wide inner extents: the one-row scan and the 64-column blocks with remainders."""
    op = data.draw(st.sampled_from(["ArgMax", "ArgMin"]))
    shape = (data.draw(st.integers(1, 3)), data.draw(st.integers(50, 300)), data.draw(st.integers(1, 150)))
    axis = data.draw(st.sampled_from([1, 2]))
    check(_node(op, ["x"], axis=axis, select_last_index=data.draw(st.integers(0, 1))), {"x": _values(data, shape)},
          opset=13, rtol=0, atol=0)


def check_compare(data):
    op = data.draw(st.sampled_from(COMPARISONS))
    dtype = data.draw(st.sampled_from([np.float32, np.float32, *INT_TYPES]))
    a_shape, b_shape = _broadcast_operands(data, 2, 5)
    inputs = {"a": _with_nan(data, _values(data, a_shape, dtype)), "b": _values(data, b_shape, dtype)}
    check(_node(op, ["a", "b"]), inputs, opset=16, rtol=0, atol=0)


def check_logic(data):
    op = data.draw(st.sampled_from(["And", "Or", "Xor", "Not"]))
    if op == "Not":
        check(_node(op, ["a"]), {"a": _booleans(data, _shape(data, 0, 5))}, rtol=0, atol=0)
        return
    a_shape, b_shape = _broadcast_operands(data, 2, 5)
    check(_node(op, ["a", "b"]), {"a": _booleans(data, a_shape), "b": _booleans(data, b_shape)}, rtol=0, atol=0)


def check_where(data):
    dtype = data.draw(st.sampled_from([np.float32, np.float32, *INT_TYPES]))
    c_shape, x_shape, z_shape = _broadcast_operands(data, 3, 5)
    inputs = {"c": _booleans(data, c_shape), "x": _values(data, x_shape, dtype), "z": _values(data, z_shape, dtype)}
    check(_node("Where", ["c", "x", "z"]), inputs, opset=16, rtol=0, atol=0)


def check_where_of_a_comparison(data):
    """The leaky-ReLU idiom Where(Greater(x, 0), x, 0.1 x) in two kernel calls, against onnxruntime."""
    x = _array(data, _shape(data, 1, 4, 6), -3, 3)
    check(_node("Greater", ["x", "zero"], ["g"]), {"x": x}, {"zero": np.float32(0)}, opset=16, rtol=0, atol=0)
    g = x > 0
    check(_node("Where", ["g", "x", "s"]), {"g": g, "x": x, "s": np.float32(0.1) * x}, opset=16, rtol=0, atol=0)


CHECKS = checks_by_name(check_arg_reduce, check_arg_reduce_long, check_compare, check_logic, check_where,
                        check_where_of_a_comparison)
test_kernel_matches_onnxruntime, test_kernel_matches_onnxruntime_many = differential_tests(CHECKS, 30, 400)


def test_arg_reduce_nan_and_ties_follow_onnxruntime():
    """NaN first (it stays), NaN later (never wins), all equal (first / last index), infinities."""
    x = np.array([[1, np.nan, 3, 3], [np.nan, 2, np.nan, 0], [5, 5, -np.inf, np.inf], [2, 2, 2, 2]], np.float32)
    for op in ("ArgMax", "ArgMin"):
        for last in (0, 1):
            check(_node(op, ["x"], axis=1, keepdims=0, select_last_index=last), {"x": x}, opset=13, rtol=0, atol=0)
            check(_node(op, ["x"], axis=0, select_last_index=last), {"x": x.T.copy()}, opset=13, rtol=0, atol=0)
