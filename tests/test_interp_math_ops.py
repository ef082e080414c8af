"""The elementwise math ops through the whole target: lowered (passes/target/ops/math.py) into a body,
prepared and run by the C interpreter, against onnxruntime; then a small model using several of them
through `lower_model` (compaction, partitioning, sealing, the TA simulator) with measured == planned
memory, and the same through the CLI."""
from __future__ import annotations


import numpy as np
import pytest
from onnx import numpy_helper

from lower_harness import feeds_for, lower, lower_through_the_cli, relative_errors
from test_interp_ops import build, f32, node, w

X4 = [("x", [2, 6, 5, 7])]
POSITIVE = [node("Abs", ["x"], ["a"])]  # Log/Sqrt/Pow of a non-negative tensor (in place after Abs)
CASES = {
    "pow_tensor": (POSITIVE + [node("Pow", ["a", "E"])], X4, [w("E", [6, 1, 7])]),
    "pow_square": ([node("Pow", ["x", "E"])], X4, [f32("E", 2.0)]),
    "pow_sqrt_const": (POSITIVE + [node("Pow", ["a", "E"])], X4, [f32("E", [0.5])]),
    "pow_general_const": (POSITIVE + [node("Pow", ["a", "E"])], X4, [f32("E", -1.3)]),
    "pow_negative_base": ([node("Pow", ["x", "E"])], X4, [f32("E", [[[3.0]], [[-2.0]], [[1.0]], [[4.0]], [[5.0]],
                                                                      [[-1.0]]])]),
    "pow_runtime_exponent": ([node("Abs", ["x"], ["a"]), node("Sigmoid", ["x"], ["s"]), node("Pow", ["a", "s"])],
                             X4, []),
    "sqrt": (POSITIVE + [node("Sqrt", ["a"])], X4, []),
    "reciprocal": ([node("Reciprocal", ["x"])], X4, []),
    "exp": ([node("Exp", ["x"])], X4, []),
    "log": (POSITIVE + [node("Log", ["a"])], X4, []),
    "neg_abs": ([node("Neg", ["x"], ["n"]), node("Abs", ["n"])], X4, []),
    "floor": ([node("Floor", ["x"])], X4, []),
    "ceil": ([node("Ceil", ["x"])], X4, []),
    "round": ([node("Mul", ["x", "K"], ["m"]), node("Round", ["m"])], X4, [f32("K", 2.5)]),
    "erf": ([node("Erf", ["x"])], X4, []),
    "gelu": ([node("Gelu", ["x"])], X4, []),
    "gelu_tanh": ([node("Gelu", ["x"], approximate="tanh")], X4, []),
    "softplus": ([node("Softplus", ["x"])], X4, []),
    "softsign": ([node("Softsign", ["x"])], X4, []),
    "elu": ([node("Elu", ["x"], alpha=0.5)], X4, []),
    "selu": ([node("Selu", ["x"])], X4, []),
    "selu_attrs": ([node("Selu", ["x"], alpha=1.2, gamma=0.9)], X4, []),
    "celu": ([node("Celu", ["x"], alpha=2.0)], X4, []),
    "prelu_channel": ([node("PRelu", ["x", "S"])], X4, [w("S", [6, 1, 1])]),
    "prelu_scalar": ([node("PRelu", ["x", "S"])], X4, [f32("S", [0.25])]),
    "mish": ([node("Mish", ["x"])], X4, []),
    "thresholded_relu": ([node("ThresholdedRelu", ["x"], alpha=0.3)], X4, []),
    "max_broadcast": ([node("Max", ["x", "W"])], X4, [w("W", [6, 1, 1])]),
    "min_three": ([node("Min", ["W", "x", "V"])], X4, [w("W", [6, 1, 1]), w("V", [7])]),
    "max_one": ([node("Max", ["x"])], X4, []),
    "max_in_place_chain": ([node("Relu", ["x"], ["a"]), node("Neg", ["x"], ["b"]), node("Exp", ["x"], ["c"]),
                            node("Max", ["a", "b", "c"], ["m"]), node("Min", ["m", "x"], ["n"]),
                            node("Softsign", ["n"])], X4, []),
    "conv_gelu_fused": ([node("Conv", ["x", "CW", "CB"], ["c"], pads=[1, 1, 1, 1]), node("Gelu", ["c"])], X4,
                        [w("CW", [4, 6, 3, 3]), w("CB", [4])]),
    "conv_elu_fused": ([node("Conv", ["x", "CW"], ["c"]), node("Elu", ["c"])], X4, [w("CW", [8, 6, 1, 1])]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_math_op_matches_onnxruntime(case):
    lowered = lower(build(*CASES[case], opset=20))
    errors, results = relative_errors(lowered, feeds_for(lowered))
    assert max(errors.values()) < 1e-5, errors
    assert results[0].ops_run == len(lowered.model.graph.node)
    for run, planned in zip(results, lowered.result.plan.partitions):
        assert run.max_region_end <= planned.total


def test_legacy_max_without_broadcasting():
    lowered = lower(build([node("Max", ["x", "W", "V"])], X4, [w("W", [2, 6, 5, 7]), w("V", [2, 6, 5, 7])], 6))
    errors, _ = relative_errors(lowered, feeds_for(lowered))
    assert max(errors.values()) < 1e-6, errors


def small_model():
    """Conv, then several of the new ops: Gelu fused into the Conv, PRelu per channel, Pow with a
    constant exponent, Erf, Max of two branches, Softplus, Mish, Round, Selu, a Gemm head."""
    rng = np.random.default_rng(3)

    def init(name, shape, scale=0.3):
        return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)
    inits = [init("W1", [8, 3, 3, 3]), init("B1", [8]), init("S", [8, 1, 1]), f32("E", 2.0), f32("H", 0.5),
             init("W2", [8, 8, 1, 1]), init("G", [8 * 6 * 6, 10]), f32("K", 4.0)]
    nodes = [node("Conv", ["x", "W1", "B1"], ["c1"], pads=[1, 1, 1, 1], strides=[2, 2]),
             node("Gelu", ["c1"], ["g"]),
             node("PRelu", ["g", "S"], ["p"]),
             node("Pow", ["p", "E"], ["sq"]),
             node("Erf", ["p"], ["e"]),
             node("Max", ["sq", "e"], ["m"]),
             node("Conv", ["m", "W2"], ["c2"]),
             node("Mish", ["c2"], ["mi"]),
             node("Softplus", ["mi"], ["sp"]),
             node("Pow", ["sp", "H"], ["rt"]),
             node("Mul", ["rt", "K"], ["k"]),
             node("Round", ["k"], ["r"]),
             node("Selu", ["r"], ["se"]),
             node("Flatten", ["se"], ["f"]),
             node("Gemm", ["f", "G"], ["y"])]
    return build(nodes, [("x", [1, 3, 12, 12])], inits, opset=20)


def test_small_model_through_lower_model_matches_onnxruntime_with_planned_memory():
    from onnx_tee.passes import lower_model
    lowered = lower_model(small_model(), 1 << 20, label="math_ops")  # raises on a parity or memory mismatch
    sim = lowered.report["simulation"]
    assert sim["partitions"] and all(p["measured"] == p["planned"] for p in sim["partitions"])
    assert max(sim["max_rel_error"].values()) <= 1e-5
    ops = {n.op_type for n in lowered.model.graph.node}
    assert {"Gelu", "PRelu", "Pow", "Erf", "Max", "Mish", "Softplus", "Round", "Selu"} <= ops


def test_small_model_through_the_cli_in_several_partitions(tmp_path):
    """A budget that forces several partitions: the CLI lowers, checks in the simulator and runs it."""
    lower_through_the_cli(small_model(), "96KiB", tmp_path)


def _one_op_body(code: str, ints=(), floats=(), x_shape=(4, 8), y_shape=None, extra=(), y_offset=None,
                 x_dtype=None, y_dtype=None):
    """A body with one op over a region tensor x (offset 0), optional weight inputs `extra` (int32 where
    the array is integer), output y; x and y float32 unless `x_dtype` / `y_dtype` say otherwise."""
    from onnx_tee.passes.lower import format as fmt
    y_shape = x_shape if y_shape is None else y_shape
    tensors = [fmt.Tensor(tuple(x_shape), fmt.LOC_REGION, 0, dtype=x_dtype or fmt.DTYPE_FLOAT32)]
    weights = {}
    for value in extra:
        dtype = fmt.DTYPE_INT32 if value.dtype.kind in "iub" else fmt.DTYPE_FLOAT32
        tensors.append(fmt.Tensor(tuple(value.shape), fmt.LOC_WEIGHT, dtype=dtype))
        weights[len(tensors) - 1] = value
    tensors.append(fmt.Tensor(tuple(y_shape), fmt.LOC_REGION, 256 if y_offset is None else y_offset,
                              dtype=y_dtype or fmt.DTYPE_FLOAT32))
    op = fmt.Op(fmt.OP_CODES[code], list(range(len(tensors) - 1)), [len(tensors) - 1], list(ints), list(floats))
    return fmt.serialize(fmt.Body(0, 1, tensors, [op], weights, region_size=8192, scratch_offset=512,
                                  scratch_size=64))


def _run_body(data: bytes, x: np.ndarray):
    from lower_harness import library
    from onnx_tee.passes.lower.hostlib import Region
    region = Region(library(), 8192)
    region.write(0, x)
    return region.run_body(data, 1024, 0, 1), region


@pytest.mark.parametrize("code,ints,floats,kw,status", [
    ("ROUND", [3], [], {}, "RT_ERR_OP_ATTRIBUTE"),
    ("ROUND", [-1], [], {}, "RT_ERR_OP_ATTRIBUTE"),
    ("ROUND", [0, 1], [], {}, "RT_ERR_OP_RESERVED"),
    ("GELU", [2], [], {}, "RT_ERR_OP_ATTRIBUTE"),
    ("ELU", [1], [0.0, 1.0], {}, "RT_ERR_OP_ATTRIBUTE"),       # Celu alpha 0
    ("ELU", [1], [1.0, 2.0], {}, "RT_ERR_OP_ATTRIBUTE"),       # Celu with a gamma
    ("ELU", [2], [1.0, 1.0], {}, "RT_ERR_OP_ATTRIBUTE"),
    ("ELU", [0], [1.0, 1.0, 3.0], {}, "RT_ERR_OP_RESERVED"),
    ("SQRT", [], [1.0], {}, "RT_ERR_OP_RESERVED"),
    ("THRESHOLDED_RELU", [1], [0.5], {}, "RT_ERR_OP_RESERVED"),
    ("EXP", [], [], {"y_shape": (8, 4)}, "RT_ERR_OP_SHAPE"),
    ("PRELU", [], [], {"extra": [np.ones((2, 8), np.float32)]}, "RT_ERR_OP_SHAPE"),
    ("PRELU", [], [], {"extra": [np.ones((4, 1, 8), np.float32)], "y_shape": (4, 4, 8), "y_offset": 6144},
     "RT_ERR_OP_SHAPE"),
    ("POW", [], [], {"extra": [np.ones((3,), np.float32)]}, "RT_ERR_OP_SHAPE"),
    ("MAX", [], [], {"extra": [np.ones((1, 8), np.float32)], "y_shape": (4, 4)}, "RT_ERR_OP_SHAPE"),
    ("MIN", [], [], {"extra": [np.ones((8,), np.float32)], "y_offset": 64}, "RT_ERR_TENSOR_OVERLAP"),
])
def test_bad_math_op_records_are_refused(code, ints, floats, kw, status):
    result, _ = _run_body(_one_op_body(code, ints, floats, **kw), np.ones((4, 8), np.float32))
    assert result.status == status


@pytest.mark.parametrize("code,ints,floats,extra,ref", [
    ("SQRT", [], [], [], lambda x: np.sqrt(np.abs(x))),
    ("ROUND", [2], [], [], lambda x: np.rint(np.abs(x) * 4)),
    ("ELU", [1], [0.5, 1.0], [], lambda x: np.where(np.abs(x) > 0, np.abs(x), 0)),
    ("PRELU", [], [], [np.full((8,), 0.25, np.float32)], lambda x: np.abs(x)),
    ("POW", [], [], [np.full((1, 8), 2.0, np.float32)], lambda x: x * x),
    ("MAX", [], [], [np.zeros((8,), np.float32)], lambda x: np.abs(x)),
])
def test_math_ops_run_in_place(code, ints, floats, extra, ref):
    """y on x's own bytes (the plan's in-place case): allowed by the op's flags, and correct."""
    x = np.abs(np.random.default_rng(4).standard_normal((4, 8)).astype(np.float32))
    if code == "ROUND":
        x = (x * 4).astype(np.float32)
    result, region = _run_body(_one_op_body(code, ints, floats, extra=extra, y_offset=0), x)
    assert result.status == "RT_OK"
    want = ref(x / 4 if code == "ROUND" else x)
    np.testing.assert_allclose(region.read(0, (4, 8)), want, rtol=1e-7)
