"""Mixed element types in the memory model and the body format: uint8, int8 and int32 tensors take
exactly their own size in the plan, the body and the region (planned == measured in the simulator),
and the TA refuses a tensor whose size or type disagrees with its record or its op's signature."""
from __future__ import annotations

import struct

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from lower_harness import library, lower
from onnx_tee.passes import lower_model
from onnx_tee.passes.lower import format as fmt
from onnx_tee.passes.lower.hostlib import Region
from test_interp_indexing import find_tensor, tensor_field, with_dtype

RNG = np.random.default_rng(5)


def mixed_model() -> onnx.ModelProto:
    """A float32 Conv chain beside uint8 and int8 tensors of odd byte sizes that only shape-only
    copies touch (the ops that take any type)."""
    n = helper.make_node
    nodes = [n("Conv", ["x", "W1"], ["c1"], pads=[1, 1, 1, 1]), n("Relu", ["c1"], ["r1"]),
             n("Conv", ["r1", "W2"], ["c2"], pads=[1, 1, 1, 1]), n("Relu", ["c2"], ["r2"]),
             n("Conv", ["r2", "W3"], ["y"], pads=[1, 1, 1, 1]),
             n("Reshape", ["q", "shape"], ["q2"]), n("Flatten", ["q2"], ["qf"]),
             n("Unsqueeze", ["k", "axes"], ["k1"]), n("Identity", ["k1"], ["kk"])]
    inits = [numpy_helper.from_array(RNG.standard_normal((16, 3, 3, 3)).astype(np.float32), "W1"),
             numpy_helper.from_array(RNG.standard_normal((64, 16, 3, 3)).astype(np.float32), "W2"),
             numpy_helper.from_array(RNG.standard_normal((4, 64, 3, 3)).astype(np.float32), "W3"),
             numpy_helper.from_array(np.array([1, 105], np.int64), "shape"),
             numpy_helper.from_array(np.array([0], np.int64), "axes")]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 20, 20]),
              helper.make_tensor_value_info("q", TensorProto.UINT8, [1, 3, 5, 7]),
              helper.make_tensor_value_info("k", TensorProto.INT8, [5, 3])]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 20, 20]),
               helper.make_tensor_value_info("qf", TensorProto.UINT8, [1, 105]),
               helper.make_tensor_value_info("kk", TensorProto.INT8, [1, 5, 3])]
    graph = helper.make_graph(nodes, "mixed", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model, full_check=True)
    return model


def test_mixed_types_lower_and_run_with_planned_memory():
    """Several partitions (the budget splits the Conv chain); every partition's measured high-water
    mark equals its plan (the uint8 and int8 model inputs are carried into the second); the copies
    are exact."""
    lowered = lower_model(mixed_model(), 320 * 1024, label="mixed")   # raises on a parity or memory mismatch
    sim = lowered.report["simulation"]
    assert len(sim["partitions"]) >= 2
    assert all(p["measured"] == p["planned"] for p in sim["partitions"])
    errors = sim["max_rel_error"]
    assert errors["qf"] == errors["kk"] == 0.0 and errors["y"] < 1e-5, errors


def test_body_records_size_each_tensor_by_its_type():
    lowered = lower(mixed_model())
    seen = {}
    for body in lowered.bodies:
        for k in range(fmt.parse_header(body)["tensor_count"]):
            dtype, rank = body[tensor_field(body, k, "dtype")], body[tensor_field(body, k, "rank")]
            nbytes = struct.unpack_from("<I", body, tensor_field(body, k, "nbytes"))[0]
            dims = struct.unpack_from(f"<{rank}I", body, tensor_field(body, k, "dims"))
            assert nbytes == int(np.prod(dims)) * fmt.DTYPES[dtype].itemsize
            seen[dtype] = seen.get(dtype, 0) + 1
    assert seen.get(fmt.DTYPE_UINT8) == 3 and seen.get(fmt.DTYPE_INT8) == 3, seen   # q, q2, qf; k, k1, kk


@pytest.fixture(scope="module")
def copies():
    """One partition of uint8 copies: q -> Reshape -> Flatten -> qf."""
    model = mixed_model()
    graph = model.graph
    keep = [node for node in graph.node if node.output[0] in ("q2", "qf")]
    del graph.node[:]
    graph.node.extend(keep)
    for name in ("x", "k"):
        graph.input.remove(next(v for v in graph.input if v.name == name))
    for name in ("y", "kk"):
        graph.output.remove(next(v for v in graph.output if v.name == name))
    for name in ("W1", "W2", "W3", "axes"):
        graph.initializer.remove(next(t for t in graph.initializer if t.name == name))
    return lower(model)


def run_copies(lowered, body: bytes) -> tuple[str, np.ndarray | None]:
    plan = lowered.result.plan
    part = plan.partitions[0]
    region = Region(library(), plan.region_bytes)
    q = RNG.integers(0, 256, (1, 3, 5, 7)).astype(np.uint8)
    region.write(part.tensor_offsets["q"], q)
    status = region.run_body(body, part.body_offset, 0, 1).status
    assert region.guards_intact(), "a write outside the region"
    out = region.read(part.tensor_offsets["qf"], (1, 105), np.uint8) if status == "RT_OK" else None
    if out is not None:
        np.testing.assert_array_equal(out, q.reshape(1, 105))
    return status, out


def with_nbytes(body: bytes, k: int, nbytes: int) -> bytes:
    data = bytearray(body)
    struct.pack_into("<I", data, tensor_field(body, k, "nbytes"), nbytes)
    return bytes(data)


def test_a_size_or_type_that_disagrees_is_refused(copies):
    body = copies.bodies[0]
    assert run_copies(copies, body)[0] == "RT_OK"
    output = find_tensor(body, flags=fmt.TFLAG_MODEL_OUTPUT)
    assert run_copies(copies, with_nbytes(body, output, 4 * 105))[0] == "RT_ERR_TENSOR_SIZE"   # sized as float32
    assert run_copies(copies, with_dtype(body, output, fmt.DTYPE_INT8))[0] == "RT_ERR_TENSOR_DTYPE"  # copy changes type
    assert run_copies(copies, with_dtype(body, output, 4))[0] == "RT_ERR_TENSOR_DTYPE"   # uint16: not a body type


def test_a_float_op_on_an_int8_tensor_is_refused_by_name():
    """The support check names the tensor whose type the op does not take, before anything is written."""
    model = mixed_model()
    model.graph.node.append(helper.make_node("Relu", ["kk"], ["bad"]))
    model.graph.output.append(helper.make_tensor_value_info("bad", TensorProto.INT8, [1, 5, 3]))
    with pytest.raises(Exception, match=r"tensor 'kk' is int8; the interpreter takes float32 there"):
        lower(model)
