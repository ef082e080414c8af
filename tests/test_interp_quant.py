"""The quantized ops lowered to bodies and run in the C interpreter, against onnxruntime on the same
model (quantized outputs within one step, integer sums and the float edges equal), with the measured
high-water mark equal to the plan; then the validator's refusals of records whose types or parameter
shapes do not fit the op (also run under ASan + UBSan by test_interp_sanitized.py)."""
from __future__ import annotations

import struct

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import run_ort
from lower_harness import feeds_for, library, lower, run
from onnx_tee.passes.errors import UnsupportedModelError
from onnx_tee.passes.lower import format as fmt
from onnx_tee.passes.lower.hostlib import Region
from test_interp_indexing import find_tensor, tensor_field, with_dtype

RNG = np.random.default_rng(23)
U8, I8, F32, I32 = TensorProto.UINT8, TensorProto.INT8, TensorProto.FLOAT, TensorProto.INT32


def const(name: str, value, dtype=None) -> TensorProto:
    return numpy_helper.from_array(np.asarray(value, dtype=dtype), name)


def ints(dtype, shape) -> np.ndarray:
    info = np.iinfo(dtype)
    return RNG.integers(info.min, info.max, shape, endpoint=True).astype(dtype)


def model(nodes, inputs, inits, opset=21) -> onnx.ModelProto:
    """`inputs`: (name, ONNX type, shape); the outputs (tensors no node reads) typed by inference."""
    read = {x for n in nodes for x in n.input}
    graph = helper.make_graph(nodes, "q", [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs], [],
                              initializer=inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=10)
    inferred = {v.name: v for v in onnx.shape_inference.infer_shapes(m, strict_mode=True).graph.value_info}
    m.graph.output.extend(inferred[o] for n in nodes for o in n.output if o not in read)
    onnx.checker.check_model(m, full_check=True)
    return m


def qconv_model(x_type=U8, w_dtype=np.int8, depthwise=False, per_channel=True, bias=True, **attrs):
    c_in, c_out = (6, 12) if depthwise else (5, 7)
    w = ints(w_dtype, (c_out, 1 if depthwise else c_in, 3, 3))
    q8 = np.uint8 if x_type == U8 else np.int8
    inits = [const("x_s", 0.02, np.float32), const("x_zp", 7 if x_type == U8 else -3, q8),
             const("w", w), const("w_s", RNG.uniform(0.002, 0.01, c_out if per_channel else None), np.float32),
             const("w_zp", np.zeros(c_out if per_channel else (), w_dtype)), const("y_s", 0.35, np.float32),
             const("y_zp", 120 if x_type == U8 else 5, q8)]
    names = ["x", "x_s", "x_zp", "w", "w_s", "w_zp", "y_s", "y_zp"]
    if bias:
        inits.append(const("b", RNG.integers(-3000, 3000, c_out), np.int32))
        names.append("b")
    node = helper.make_node("QLinearConv", names, ["y"], group=c_in if depthwise else 1, **attrs)
    return model([node], [("x", x_type, [1, c_in, 9, 11])], inits)


def qmatmul_model(per_column=False):
    b = ints(np.int8, (24, 10))
    inits = [const("a_s", 0.05, np.float32), const("a_zp", 100, np.uint8), const("b", b),
             const("b_s", RNG.uniform(0.001, 0.01, 10 if per_column else None), np.float32),
             const("b_zp", np.zeros(10 if per_column else (), np.int8)), const("y_s", 0.2, np.float32),
             const("y_zp", 128, np.uint8)]
    node = helper.make_node("QLinearMatMul", ["a", "a_s", "a_zp", "b", "b_s", "b_zp", "y_s", "y_zp"], ["y"])
    return model([node], [("a", U8, [2, 3, 24])], inits)


def float_edges_model():
    """float32 in, QuantizeLinear (per tensor) -> QLinearConv -> Reshape -> QLinearMatMul ->
    DequantizeLinear, float32 out: a QOperator model's data flow."""
    n = helper.make_node
    w, b = ints(np.int8, (8, 3, 3, 3)), ints(np.int8, (8 * 6 * 6, 5))
    inits = [const("s_in", 0.03, np.float32), const("z_in", 128, np.uint8), const("w", w),
             const("w_s", RNG.uniform(0.002, 0.01, 8), np.float32), const("w_zp", np.zeros(8, np.int8)),
             const("s_c", 0.4, np.float32), const("z_c", 0, np.uint8), const("shape", [1, -1], np.int64),
             const("b", b), const("b_s", 0.004, np.float32), const("b_zp", 0, np.int8),
             const("s_out", 1.5, np.float32), const("z_out", 128, np.uint8)]
    nodes = [n("QuantizeLinear", ["x", "s_in", "z_in"], ["xq"]),
             n("QLinearConv", ["xq", "s_in", "z_in", "w", "w_s", "w_zp", "s_c", "z_c"], ["c"], pads=[1, 1, 1, 1],
               strides=[2, 2]),
             n("Reshape", ["c", "shape"], ["flat"]),
             n("QLinearMatMul", ["flat", "s_c", "z_c", "b", "b_s", "b_zp", "s_out", "z_out"], ["yq"]),
             n("DequantizeLinear", ["yq", "s_out", "z_out"], ["y"])]
    return model(nodes, [("x", F32, [1, 3, 12, 12])], inits)


def dynamic_model():
    """quantize_dynamic's pattern: DynamicQuantizeLinear -> MatMulInteger / ConvInteger (int32 out)."""
    n = helper.make_node
    inits = [const("w", ints(np.uint8, (16, 6))), const("w_zp", 131, np.uint8),
             const("k", ints(np.int8, (4, 1, 3, 3))), const("k_zp", 3, np.int8)]
    nodes = [n("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]),
             n("MatMulInteger", ["xq", "w", "xz", "w_zp"], ["mm"]),
             n("DynamicQuantizeLinear", ["img"], ["iq", "is", "iz"]),
             n("ConvInteger", ["iq", "k", "iz", "k_zp"], ["cv"], pads=[1, 1, 1, 1])]
    return model(nodes, [("x", F32, [3, 16]), ("img", F32, [1, 1, 7, 7])], inits)


CASES = {
    "qlinearconv_u8_per_channel_bias": lambda: qconv_model(pads=[1, 1, 1, 1]),
    "qlinearconv_u8_per_tensor_strided": lambda: qconv_model(per_channel=False, bias=False, strides=[2, 2]),
    "qlinearconv_depthwise": lambda: qconv_model(depthwise=True, pads=[1, 0, 1, 2], dilations=[1, 2]),
    "qlinearconv_pointwise_u8w": lambda: qconv_model(w_dtype=np.uint8, kernel_shape=[3, 3]),
    "qlinearconv_i8": lambda: qconv_model(x_type=I8, pads=[2, 2, 2, 2]),
    "qlinearmatmul": qmatmul_model,
    "qlinearmatmul_per_column": lambda: qmatmul_model(per_column=True),
    "float_edges": float_edges_model,
    "dynamic": dynamic_model,
}


def assert_within_a_step(got: np.ndarray, want: np.ndarray, step: float = 1.0) -> None:
    """Equal, or one quantization step apart on a few elements."""
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    assert diff.max(initial=0) <= step * (1 + 1e-6), f"{diff.max()} > one step ({step})"
    assert (diff == 0).mean() >= 0.99, f"only {(diff == 0).mean():.4f} equal"


@pytest.mark.parametrize("case", sorted(CASES))
def test_op_matches_onnxruntime_with_planned_memory(case):
    lowered = lower(CASES[case]())
    feeds = feeds_for(lowered)
    got, results = run(lowered, feeds)
    assert all(r.status == "RT_OK" for r in results), [r.status for r in results]
    want = run_ort(lowered.model, feeds)
    for name in lowered.outputs:
        assert got[name].dtype == want[name].dtype and got[name].shape == want[name].shape, name
        if name == "y" and case == "float_edges":
            assert_within_a_step(got[name], want[name], step=1.5)     # s_out
        elif got[name].dtype in (np.uint8, np.int8):
            assert_within_a_step(got[name], want[name])
        else:
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    for result, planned in zip(results, lowered.result.plan.partitions):
        assert result.max_region_end == planned.total, (result.max_region_end, planned.total)


def test_quantized_bodies_are_a_quarter_of_the_float_weights():
    """The weights stay int8 in the body: one byte per element (plus the 64-byte alignment)."""
    lowered = lower(qconv_model(pads=[1, 1, 1, 1]))
    body = lowered.bodies[0]
    k = find_tensor(body, dtype=fmt.DTYPE_INT8, location=fmt.LOC_WEIGHT)
    assert struct.unpack_from("<I", body, tensor_field(body, k, "nbytes"))[0] == 7 * 5 * 3 * 3


# ---------------------------------------------------------------- the validator's refusals

@pytest.fixture(scope="module")
def conv_body():
    return lower(qconv_model(pads=[1, 1, 1, 1]))


def run_tampered(lowered, body: bytes) -> str:
    plan = lowered.result.plan
    part = plan.partitions[0]
    region = Region(library(), plan.region_bytes)
    region.write(part.tensor_offsets["x"], ints(np.uint8, (1, 5, 9, 11)))
    status = region.run_body(body, part.body_offset, 0, 1).status
    assert region.guards_intact(), "a write outside the region"
    return status


def weight_index(body: bytes, dims: tuple[int, ...], dtype: int) -> int:
    for k in range(fmt.parse_header(body)["tensor_count"]):
        rank = body[tensor_field(body, k, "rank")]
        if body[tensor_field(body, k, "dtype")] == dtype and \
                struct.unpack_from(f"<{rank}I", body, tensor_field(body, k, "dims")) == dims:
            return k
    raise AssertionError(f"no {dims} tensor of type {dtype}")


def with_dims(body: bytes, k: int, dims: tuple[int, ...], dtype_size: int) -> bytes:
    data = bytearray(body)
    data[tensor_field(body, k, "rank")] = len(dims)
    struct.pack_into(f"<{fmt.MAX_RANK}I", data, tensor_field(body, k, "dims"), *dims, *[0] * (fmt.MAX_RANK - len(dims)))
    struct.pack_into("<I", data, tensor_field(body, k, "nbytes"), int(np.prod(dims)) * dtype_size)
    return bytes(data)


def test_types_that_do_not_fit_the_signature_are_refused(conv_body):
    body = conv_body.bodies[0]
    assert run_tampered(conv_body, body) == "RT_OK"
    x = find_tensor(body, flags=fmt.TFLAG_MODEL_INPUT)
    y = find_tensor(body, flags=fmt.TFLAG_MODEL_OUTPUT)
    bias = find_tensor(body, dtype=fmt.DTYPE_INT32)
    w = find_tensor(body, dtype=fmt.DTYPE_INT8, location=fmt.LOC_WEIGHT)
    assert run_tampered(conv_body, with_dtype(body, x, fmt.DTYPE_INT8)) == "RT_ERR_TENSOR_DTYPE"   # x_zp is uint8
    assert run_tampered(conv_body, with_dtype(body, y, fmt.DTYPE_INT8)) == "RT_ERR_TENSOR_DTYPE"   # y_zp is uint8
    assert run_tampered(conv_body, with_dtype(body, bias, fmt.DTYPE_FLOAT32)) == "RT_ERR_TENSOR_DTYPE"
    assert run_tampered(conv_body, with_dtype(body, w, fmt.DTYPE_UINT8)) == "RT_ERR_TENSOR_DTYPE"   # w_zp is int8


def test_scales_and_zero_points_of_the_wrong_size_are_refused(conv_body):
    body = conv_body.bodies[0]
    w_scale = weight_index(body, (7,), fmt.DTYPE_FLOAT32)
    assert run_tampered(conv_body, with_dims(body, w_scale, (3,), 4)) == "RT_ERR_OP_SHAPE"      # neither 1 nor 7
    assert run_tampered(conv_body, with_dims(body, w_scale, (1,), 4)) == "RT_OK"              # one for all
    assert run_tampered(conv_body, with_dims(body, w_scale, (7, 1), 4)) == "RT_ERR_OP_SHAPE"    # rank 2
    w_zp = weight_index(body, (7,), fmt.DTYPE_INT8)
    assert run_tampered(conv_body, with_dims(body, w_zp, (2,), 1)) == "RT_ERR_OP_SHAPE"


def test_a_non_finite_scale_stops_the_run(conv_body):
    body = bytearray(conv_body.bodies[0])
    k = weight_index(bytes(body), (7,), fmt.DTYPE_FLOAT32)
    offset = struct.unpack_from("<I", body, tensor_field(bytes(body), k, "offset"))[0]
    struct.pack_into("<f", body, offset, float("nan"))
    assert run_tampered(conv_body, bytes(body)) == "RT_ERR_KERNEL"


def test_unsupported_forms_are_refused_by_name():
    blocked = model([helper.make_node("QuantizeLinear", ["x", "s"], ["y"], block_size=2, axis=1)],
                    [("x", F32, [2, 4])], [const("s", np.ones((2, 2), np.float32))])
    with pytest.raises(UnsupportedModelError, match="block_size"):
        lower(blocked)
    per_row = model([helper.make_node("MatMulInteger", ["a", "b", "a_zp"], ["y"])], [("a", U8, [3, 4])],
                    [const("b", ints(np.uint8, (4, 2))), const("a_zp", np.arange(3, dtype=np.uint8))])
    with pytest.raises(UnsupportedModelError, match="per-row"):
        lower(per_row)
    wide = model([helper.make_node("ConvInteger", ["x", "w"], ["y"])], [("x", U8, [1, 4096, 3, 3])],
                 [const("w", ints(np.uint8, (1, 4096, 3, 3)))])
    with pytest.raises(UnsupportedModelError, match="int32 sums could overflow"):
        lower(wide)
