"""Add, Sub and Mul over int32 (kern_binary_i32) lowered and run in the C interpreter against onnxruntime:
numpy broadcasting drawn by hypothesis, values over the whole int32 range (the sums and products wrap
modulo 2^32 as onnxruntime's do), and the pattern older `quantize_dynamic` writes for a convolution's
bias (ddddocr's recognizer): the int32 ConvInteger sum plus the bias quantized at run time with the
input's dynamic scale, then Cast and the scale.  int64 operands (held as int32 in the TA) are refused."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from onnx import TensorProto, helper, numpy_helper

from conftest import run_ort
from lower_harness import lower, run
from onnx_tee.passes.errors import UnsupportedModelError

SETTINGS = settings(max_examples=20, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def run_both(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> tuple[dict, dict]:
    """The interpreter's outputs (every partition RT_OK, planned == measured) and onnxruntime's."""
    lowered = lower(model)
    got, results = run(lowered, feeds)
    assert all(r.status == "RT_OK" for r in results), [r.status for r in results]
    for result, planned in zip(results, lowered.result.plan.partitions):
        assert result.max_region_end == planned.total
    return got, run_ort(model, feeds)


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul"])
@SETTINGS
@given(data=st.data())
def test_int32_arithmetic_broadcasts_and_wraps_as_onnxruntime(op, data):
    full = data.draw(st.lists(st.integers(1, 5), min_size=1, max_size=4), label="shape")
    other = [d if data.draw(st.booleans()) else 1 for d in full][data.draw(st.integers(0, len(full) - 1)):]
    a_shape, b_shape = (full, other) if data.draw(st.booleans()) else (other, full)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    info = np.iinfo(np.int32)
    a = rng.integers(info.min, info.max, a_shape, endpoint=True).astype(np.int32)
    b = rng.integers(info.min, info.max, b_shape, endpoint=True).astype(np.int32)
    y_shape = list(np.broadcast_shapes(a.shape, b.shape))
    graph = helper.make_graph([helper.make_node(op, ["a", "b"], ["y"])], "int32",
                              [helper.make_tensor_value_info("a", TensorProto.INT32, a_shape),
                               helper.make_tensor_value_info("b", TensorProto.INT32, b_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.INT32, y_shape)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    got, want = run_both(model, {"a": a, "b": b})
    assert got["y"].dtype == np.int32
    np.testing.assert_array_equal(got["y"], want["y"])


def test_a_convolution_bias_quantized_at_run_time_is_added_in_int32():
    """y = Cast(ConvInteger(q(x), w) + Cast(Floor(bias / (x_s * w_s) + 0.5) -> int32)) * (x_s * w_s),
    onnxruntime's older dynamic quantization of a Conv with bias: bit-equal to onnxruntime."""
    rng = np.random.default_rng(0)
    w = rng.integers(-127, 127, (6, 3, 3, 3), endpoint=True).astype(np.int8)
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.float32(0.02), "w_s"),
             numpy_helper.from_array(np.int8(0), "w_zp"), numpy_helper.from_array(np.float32(0.5), "half"),
             numpy_helper.from_array(rng.standard_normal(6).astype(np.float32), "bias"),
             numpy_helper.from_array(np.array([1, 6, 1, 1], np.int64), "bias_shape")]
    nodes = [helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "x_s", "x_zp"]),
             helper.make_node("Mul", ["x_s", "w_s"], ["s"]),
             helper.make_node("Div", ["bias", "s"], ["bias_steps"]),
             helper.make_node("Add", ["bias_steps", "half"], ["bias_shifted"]),
             helper.make_node("Floor", ["bias_shifted"], ["bias_rounded"]),
             helper.make_node("Cast", ["bias_rounded"], ["bias_q"], to=TensorProto.INT32),
             helper.make_node("Reshape", ["bias_q", "bias_shape"], ["bias_q4"]),
             helper.make_node("ConvInteger", ["xq", "w", "x_zp", "w_zp"], ["acc"], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["acc", "bias_q4"], ["acc_b"]),
             helper.make_node("Cast", ["acc_b"], ["acc_f"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["acc_f", "s"], ["y"])]
    graph = helper.make_graph(nodes, "conv_bias", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 6, 8, 8])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    x = rng.standard_normal((1, 3, 8, 8)).astype(np.float32)
    got, want = run_both(model, {"x": x})
    np.testing.assert_array_equal(got["y"], want["y"])


def test_int64_arithmetic_is_refused_naming_the_tensor():
    graph = helper.make_graph([helper.make_node("Add", ["a", "b"], ["y"], name="add64")], "int64",
                              [helper.make_tensor_value_info(n, TensorProto.INT64, [4]) for n in ("a", "b")],
                              [helper.make_tensor_value_info("y", TensorProto.INT64, [4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    with pytest.raises(UnsupportedModelError, match="tensor 'a' is int64: Add runs over float32 or int32"):
        lower(model)
