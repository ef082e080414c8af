"""Cast (kernels/cast.c, ops/cast.c) against onnxruntime (one thread).

- The kernel (kernel_harness.run_node: int64 and bool held as int32, as the TA does): hypothesis draws a
  source and a target among float32, int32, int64, int8, uint8 and bool and values that cross every
  edge -- fractions both signs (truncation toward zero), floats beyond the int8 / uint8 / int32 ranges
  (wrapping, INT32_MIN), NaN and +-inf, int32 values that wrap when narrowed, integers beyond 2^24
  (rounding to float32); onnxruntime's values and type exactly (a float beyond int32 cast to int64
  reads INT32_MIN: the TA holds int64 as int32).  The ONNX backend node tests hold no
  Cast between the types the TA holds (they cover float16, double, bfloat16, float8, int4, int2).
- The interpreter: quantize_dynamic's pattern (MatMulInteger -> Cast -> Mul) and a chain through every
  target, lowered and run with planned memory, equal to onnxruntime.
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from hypothesis import strategies as st
from onnx import TensorProto, helper

from conftest import run_ort
from differential import checks_by_name, differential_tests
from kernel_harness import run_node
from lower_harness import lower, run
from test_interp_quant import const, ints, model

TYPES = {TensorProto.FLOAT: np.float32, TensorProto.INT32: np.int32, TensorProto.INT64: np.int64,
         TensorProto.INT8: np.int8, TensorProto.UINT8: np.uint8, TensorProto.BOOL: np.bool_}
FLOAT_EDGES = np.array([0.0, -0.0, 0.5, -0.5, 0.99, -0.99, 127.9, 128.0, -128.9, -129.5, 255.9, 256.0, 300.5, -300.5,
                        2147483520.0, 2147483648.0, -2147483648.0, -2147483904.0, 1e10, -1e10, 3e9, np.nan, np.inf,
                        -np.inf], np.float32)
INT_EDGES = np.array([0, 1, -1, 127, 128, -128, -129, 255, 256, -256, 300, 16777217, -16777217, 2**31 - 1, -2**31],
                     np.int64)


def _source(data, dtype, shape) -> np.ndarray:
    """Random values of `dtype` mixed with its edge values; int64 within int32 (the TA holds int32)."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    n = int(np.prod(shape))
    if dtype == np.float32:
        scale = data.draw(st.sampled_from([2.0, 200.0, 5e4, 3e9]), label="scale")
        x = (rng.standard_normal(n) * scale).astype(np.float32)
        edges = FLOAT_EDGES
    elif dtype == np.bool_:
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    else:
        info = np.iinfo(np.int32 if dtype == np.int64 else dtype)
        x = rng.integers(info.min, info.max, size=n, endpoint=True)
        edges = INT_EDGES[(INT_EDGES >= info.min) & (INT_EDGES <= info.max)]
    pick = rng.random(n) < 0.3
    x[pick] = rng.choice(edges, size=int(pick.sum()))
    return x.astype(dtype).reshape(shape)


def _cast_model(x: np.ndarray, to: int) -> onnx.ModelProto:
    src = helper.np_dtype_to_tensor_dtype(x.dtype)
    graph = helper.make_graph([helper.make_node("Cast", ["x"], ["y"], to=to)], "cast",
                              [helper.make_tensor_value_info("x", src, x.shape)],
                              [helper.make_tensor_value_info("y", to, x.shape)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)], ir_version=10)


def assert_cast_equal(got: np.ndarray, want: np.ndarray) -> None:
    """Equal values and types; an int64 result beyond int32 (onnxruntime's int64 holds a float's trunc)
    reads INT32_MIN, as the TA holds int64 as int32 (passes/target/ops/cast.py)."""
    assert got.dtype == want.dtype and got.shape == want.shape
    beyond = (want < -2**31) | (want >= 2**31) if want.dtype == np.int64 else np.zeros(want.shape, bool)
    np.testing.assert_array_equal(np.where(beyond, -2**31, want), got)


def check_cast(data):
    src = data.draw(st.sampled_from(sorted(TYPES)), label="from")
    to = data.draw(st.sampled_from(sorted(TYPES)), label="to")
    shape = data.draw(st.lists(st.integers(1, 7), min_size=0, max_size=3), label="shape")
    x = _source(data, TYPES[src], shape)
    m = _cast_model(x, to)
    want = run_ort(m, {"x": x})["y"]
    assert_cast_equal(run_node(m.graph.node[0], [x], 21)[0], want)


CHECKS = checks_by_name(check_cast)
test_kernel_matches_onnxruntime, test_kernel_matches_onnxruntime_many = differential_tests(CHECKS, 60, 600)


@pytest.mark.parametrize("src", sorted(TYPES))
@pytest.mark.parametrize("to", sorted(TYPES))
def test_every_pair_on_its_edges(src, to):
    """Every source and target on every edge value at once (the draws above may miss a pair's edges)."""
    dtype = TYPES[src]
    if dtype == np.float32:
        x = FLOAT_EDGES
    elif dtype == np.bool_:
        x = np.array([True, False, True])
    else:
        info = np.iinfo(np.int32 if dtype == np.int64 else dtype)
        x = INT_EDGES[(INT_EDGES >= info.min) & (INT_EDGES <= info.max)].astype(dtype)
    m = _cast_model(x, to)
    want = run_ort(m, {"x": x})["y"]
    assert_cast_equal(run_node(m.graph.node[0], [x], 21)[0], want)


def test_quantize_dynamic_pattern_runs_in_the_interpreter():
    """acc = MatMulInteger(...); y = Cast(acc, FLOAT) * (a_scale * w_scale) + bias, as quantize_dynamic
    writes it: equal to onnxruntime, planned memory == measured (run's own check)."""
    n = helper.make_node
    inits = [const("w", ints(np.int8, (12, 5))), const("w_zp", 0, np.int8), const("w_s", 0.02, np.float32),
             const("bias", np.linspace(-1, 1, 5), np.float32)]
    nodes = [n("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]),
             n("Mul", ["xs", "w_s"], ["s"]),
             n("MatMulInteger", ["xq", "w", "xz", "w_zp"], ["acc"]),
             n("Cast", ["acc"], ["accf"], to=TensorProto.FLOAT),
             n("Mul", ["accf", "s"], ["prod"]),
             n("Add", ["prod", "bias"], ["y"])]
    lowered = lower(model(nodes, [("x", TensorProto.FLOAT, [3, 12])], inits))
    feeds = {"x": np.random.default_rng(5).standard_normal((3, 12)).astype(np.float32) * 4}
    got, results = run(lowered, feeds)
    assert all(r.status == "RT_OK" for r in results), [r.status for r in results]
    np.testing.assert_array_equal(got["y"], run_ort(lowered.model, feeds)["y"])


def test_a_chain_through_every_target_runs_in_the_interpreter():
    """float -> int32 -> uint8 -> int8 -> float, and float -> bool -> float (held as int32 in the body)."""
    n = helper.make_node
    nodes = [n("Mul", ["x", "k"], ["big"]),
             n("Cast", ["big"], ["i32"], to=TensorProto.INT32),
             n("Cast", ["i32"], ["u8"], to=TensorProto.UINT8),
             n("Cast", ["u8"], ["i8"], to=TensorProto.INT8),
             n("Cast", ["i8"], ["y"], to=TensorProto.FLOAT),
             n("Cast", ["x"], ["flag"], to=TensorProto.BOOL),
             n("Cast", ["flag"], ["z"], to=TensorProto.FLOAT)]
    lowered = lower(model(nodes, [("x", TensorProto.FLOAT, [2, 3, 8])], [const("k", 150.0, np.float32)]))
    x = np.random.default_rng(6).standard_normal((2, 3, 8)).astype(np.float32)
    x.ravel()[:4] = [0.0, -0.0, 0.004, -1.0]
    got, results = run(lowered, {"x": x})
    assert all(r.status == "RT_OK" for r in results), [r.status for r in results]
    want = run_ort(lowered.model, {"x": x})
    for name in ("y", "z"):
        np.testing.assert_array_equal(got[name], want[name])
