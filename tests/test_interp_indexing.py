"""Indexing and data-layout ops lowered to bodies and run in the C interpreter, against onnxruntime:
Gather (token embedding on int64 ids, any axis, constant / negative / scalar indices), GatherElements,
DepthToSpace / SpaceToDepth, Expand / Tile on activations, Resize cubic, and 1-D convolutions and pools
(a Conv1d audio classifier); then the int32 type rules and the run-time index check (also run under
ASan + UBSan by test_interp_sanitized.py)."""
from __future__ import annotations

import functools
import struct

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import i64, make_model, node, run_ort, weight
from lower_harness import feeds_for, library, lower, relative_errors, run
from onnx_tee.passes import target
from onnx_tee.passes.errors import UnsupportedModelError, UserError
from onnx_tee.passes.lower import format as fmt
from onnx_tee.passes.lower.hostlib import Region

RNG = np.random.default_rng(11)
w = functools.partial(weight, RNG)


def int_model(nodes, inputs, outputs, inits=(), opset=17) -> onnx.ModelProto:
    """`inputs`: (name, shape, TensorProto type); outputs float32 with inferred shapes."""
    graph = helper.make_graph(list(nodes), "t", [helper.make_tensor_value_info(n, t, s) for n, s, t in inputs],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in outputs],
                              initializer=list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    for out in model.graph.output:
        out.CopyFrom(next(v for v in inferred.graph.output if v.name == out.name))
    onnx.checker.check_model(model, full_check=True)
    return model


def text_classifier(vocab: int = 100, seq: int = 12, dim: int = 16, classes: int = 4) -> onnx.ModelProto:
    """int64 token ids -> Gather(embedding) -> MatMul -> Relu -> Transpose -> GlobalAveragePool -> Gemm."""
    nodes = [node("Gather", ["E", "ids"], ["emb"]), node("MatMul", ["emb", "W"], ["h"]), node("Relu", ["h"], ["r"]),
             node("Transpose", ["r"], ["t"], perm=[0, 2, 1]), node("GlobalAveragePool", ["t"], ["p"]),
             node("Flatten", ["p"], ["f"]), node("Gemm", ["f", "C", "b"], ["logits"], transB=1)]
    return int_model(nodes, [("ids", [1, seq], TensorProto.INT64)], ["logits"],
                     [w("E", [vocab, dim]), w("W", [dim, 32]), w("C", [classes, 32]), w("b", [classes])])


def check_against_ort(model, feeds=None, rtol=1e-5):
    lowered = lower(model)
    feeds = feeds if feeds is not None else feeds_for(lowered)
    errors, results = relative_errors(lowered, feeds)
    assert max(errors.values()) < rtol, errors
    return lowered, results


X4 = [("x", [2, 8, 6, 4])]
FLOAT_CASES = {
    "gather_axis1_const": ([node("Gather", ["x", "i"], axis=1)], X4, [i64("i", [[7, 0], [-1, 3]])]),
    "gather_last_axis_negative": ([node("Gather", ["x", "i"], axis=-1)], X4, [i64("i", [-4, 3, 3])]),
    "gather_scalar_class_token": ([node("Gather", ["x", "i"], axis=1)], [("x", [1, 5, 16])], [i64("i", 0)]),
    "gather_of_activation": ([node("Relu", ["x"], ["r"]), node("Gather", ["r", "i"], axis=2)], X4,
                             [i64("i", [5, 0, 5])]),
    "gather_elements": ([node("GatherElements", ["x", "i"], axis=2)], X4,
                        [i64("i", RNG.integers(-6, 6, (2, 8, 3, 4)))]),
    "gather_elements_smaller": ([node("GatherElements", ["x", "i"], axis=0)], X4,
                                [i64("i", RNG.integers(0, 2, (3, 5, 6, 2)))]),
    "depth_to_space_dcr": ([node("DepthToSpace", ["x"], blocksize=2)], X4, []),
    "depth_to_space_crd": ([node("DepthToSpace", ["x"], blocksize=2, mode="CRD")], X4, []),
    "space_to_depth": ([node("Relu", ["x"], ["r"]), node("SpaceToDepth", ["r"], blocksize=2)], X4, []),
    "expand_activation": ([node("Relu", ["x"], ["r"]), node("Expand", ["r", "s"])], [("x", [3, 1, 4])],
                          [i64("s", [2, 1, 5, 1])]),
    "tile_activation": ([node("Relu", ["x"], ["r"]), node("Tile", ["r", "k"])], [("x", [2, 3, 4])],
                        [i64("k", [1, 3, 2])]),
    "resize_cubic": ([node("Resize", ["x", "", "sc"], mode="cubic")], X4,
                     [numpy_helper.from_array(np.array([1, 1, 2, 1.5], np.float32), "sc")]),
    "resize_cubic_exclude_outside": ([node("Resize", ["x", "", "", "sz"], mode="cubic", exclude_outside=1,
                                           cubic_coeff_a=-0.5, coordinate_transformation_mode="align_corners")],
                                     X4, [i64("sz", [2, 8, 3, 9])]),
    "conv1d_pool1d_classifier": ([node("Conv", ["x", "W1", "B1"], ["c1"], pads=[2, 2], strides=[2]),
                                  node("Relu", ["c1"], ["r1"]),
                                  node("MaxPool", ["r1"], ["m1"], kernel_shape=[3], strides=[2], pads=[1, 1]),
                                  node("Conv", ["m1", "W2"], ["c2"], group=4, pads=[1, 1]),
                                  node("AveragePool", ["c2"], ["a2"], kernel_shape=[2], strides=[2]),
                                  node("GlobalAveragePool", ["a2"], ["g"]), node("Flatten", ["g"], ["f"]),
                                  node("Gemm", ["f", "FC"], transB=1)],
                                 [("x", [1, 1, 400])],
                                 [w("W1", [8, 1, 5]), w("B1", [8]), w("W2", [8, 2, 3]), w("FC", [10, 8])]),
}


@pytest.mark.parametrize("case", FLOAT_CASES)
def test_op_matches_onnxruntime(case):
    nodes, inputs, inits = FLOAT_CASES[case]
    model = make_model(nodes, inputs, [("y", None)], inits, opset=19)
    lowered, results = check_against_ort(model)
    assert all(r.max_region_end == p.total for r, p in zip(results, lowered.result.plan.partitions))


def test_a_decoder_step_gathers_the_last_token_of_its_int64_prefix():
    """Gather on int64 data (held as int32, copied bit for bit): a decoder step picks the last token of its
    prefix, then embeds it; GatherElements reads the same ids per position.  Both against onnxruntime."""
    nodes = [node("Gather", ["prefix", "last"], ["token"], axis=1), node("Gather", ["E", "token"], ["emb"]),
             node("GatherElements", ["prefix", "order"], ["reordered"], axis=1),
             node("Gather", ["E", "reordered"], ["embs"]), node("ReduceMean", ["embs"], ["mean"], axes=[1]),
             node("Add", ["emb", "mean"], ["y"])]
    model = int_model(nodes, [("prefix", [1, 5], TensorProto.INT64)], ["y"],
                      [w("E", [40, 8]), i64("last", -1), i64("order", [[4, 0, 3, 1, 2]])])
    lowered = lower(model)
    prefix = RNG.integers(-40, 40, (1, 5)).astype(np.int64)
    got, results = run(lowered, {"prefix": prefix})
    assert [r.status for r in results] == ["RT_OK"] * len(results)
    np.testing.assert_allclose(got["y"], run_ort(model, {"prefix": prefix})["y"], rtol=1e-6, atol=1e-6)


def test_token_embedding_on_int64_ids():
    """The embedding table is the data input, the int64 ids a model input narrowed to int32."""
    model = text_classifier()
    lowered = lower(model)
    assert lowered.result.infos["ids"].dtype == np.int32
    body = lowered.bodies[0]
    h = fmt.parse_header(body)
    dtypes = [body[h["tensor_table_offset"] + k * fmt.TENSOR.size] for k in range(h["tensor_count"])]
    assert dtypes.count(fmt.DTYPE_INT32) == 1 and set(dtypes) == {fmt.DTYPE_FLOAT32, fmt.DTYPE_INT32}
    ids = RNG.integers(-100, 100, (1, 12)).astype(np.int64)        # negative ids count from the end
    got, results = run(lowered, {"ids": ids})
    assert [r.status for r in results] == ["RT_OK"]
    want = run_ort(model, {"ids": ids})["logits"]
    np.testing.assert_allclose(got["logits"], want, rtol=1e-5, atol=1e-5)


def test_ids_through_copies_and_constant_indices_are_narrowed():
    """ids -> Reshape -> Gather, and an int64 constant shared by an Unsqueeze (axes) and a Gather:
    the Gather gets an int32 copy, the Unsqueeze keeps its int64 axes."""
    nodes = [node("Reshape", ["ids", "shape"], ["flat"]), node("Gather", ["E", "flat"], ["emb"]),
             node("Unsqueeze", ["emb", "zero"], ["u"]), node("Gather", ["u", "zero"], ["y"], axis=1)]
    model = int_model(nodes, [("ids", [2, 3], TensorProto.INT64)], ["y"],
                      [w("E", [10, 4]), i64("shape", [-1]), i64("zero", [0])])
    narrowed, inputs = target.narrow_indices(model)
    assert inputs == {"ids": TensorProto.INT64}
    inits = {t.name: t.data_type for t in narrowed.graph.initializer}
    assert inits["zero"] == TensorProto.INT64 and inits["zero_int32"] == TensorProto.INT32
    lowered = lower(model)
    ids = np.array([[1, 9, 0], [3, -2, 5]], np.int64)
    got, results = run(lowered, {"ids": ids})
    assert [r.status for r in results] == ["RT_OK"]
    np.testing.assert_array_equal(got["y"], run_ort(model, {"ids": ids})["y"])


def test_int64_ids_read_beyond_indices_stay_int64_and_are_held_as_int32():
    """ids read by Gather and by Equal (a padding mask, then Where): not narrowed in the model (Equal
    reads them as integers, not indices), but held as int32 in the TA all the same."""
    nodes = [node("Gather", ["E", "ids"], ["emb"]), node("Equal", ["ids", "pad"], ["is_pad"]),
             node("Unsqueeze", ["is_pad", "ax"], ["mask"]), node("Where", ["mask", "zero", "emb"], ["y"])]
    model = int_model(nodes, [("ids", [2, 5], TensorProto.INT64)], ["y"],
                      [w("E", [10, 4]), i64("pad", 0), i64("ax", [2]), numpy_helper.from_array(np.float32(0), "zero")])
    narrowed, inputs = target.narrow_indices(model)
    assert inputs == {}
    ids = np.array([[3, 0, 9, 0, 1], [0, 0, 2, 7, -1]], np.int64)
    lowered = lower(model)
    got, results = run(lowered, {"ids": ids})
    assert [r.status for r in results] == ["RT_OK"]
    np.testing.assert_array_equal(got["y"], run_ort(model, {"ids": ids})["y"])


def test_int64_read_by_an_op_the_ta_lacks_is_refused_naming_that_op():
    nodes = [node("Gather", ["E", "ids"], ["emb"]), node("CumSum", ["ids", "axis"], ["running"]),
             node("Cast", ["running"], ["f"], to=TensorProto.FLOAT),
             node("Unsqueeze", ["f", "ax"], ["fu"]), node("Mul", ["emb", "fu"], ["y"])]
    model = int_model(nodes, [("ids", [3], TensorProto.INT64)], ["y"],
                      [w("E", [10, 4]), i64("ax", [1]), i64("axis", 0)])
    narrowed, inputs = target.narrow_indices(model)
    assert inputs == {}
    with pytest.raises(UnsupportedModelError,
                       match=r"1 node\(s\) of 1 op type.*\(CumSum\): op CumSum is not supported"):
        target.check_supported(narrowed, target_infos(narrowed))


def target_infos(model):
    from onnx_tee.passes.analysis.shapes import infer_static_shapes
    return infer_static_shapes(model)


def test_constant_indices_outside_int32_are_refused():
    model = make_model([node("Gather", ["x", "i"], axis=0)], [("x", [4, 3])], [("y", None)],
                       [i64("i", [1, 2**40])])
    with pytest.raises(UnsupportedModelError, match="outside int32"):
        target.narrow_indices(model)


def test_host_side_narrowing_refuses_values_outside_int32():
    assert target.to_int32(np.array([-2**31, 2**31 - 1]), "ids").dtype == np.int32
    with pytest.raises(UserError, match=r"ids holds 2147483648, outside int32"):
        target.to_int32(np.array([0, 2**31]), "ids")
    with pytest.raises(UserError, match="takes integers"):
        target.to_int32(np.array([1.5]), "ids")


# ---------------------------------------------------------------- type rules and the run-time index check

@pytest.fixture(scope="module")
def embedding():
    return lower(text_classifier(vocab=50, seq=6))


def tensor_field(body: bytes, k: int, field: str) -> int:
    offsets, pos = {}, 0
    for name, code in fmt.TENSOR_FIELDS:
        offsets[name] = pos
        pos += struct.calcsize("<" + code)
    return fmt.parse_header(body)["tensor_table_offset"] + k * fmt.TENSOR.size + offsets[field]


def find_tensor(body: bytes, *, dtype=None, location=None, flags=None) -> int:
    h = fmt.parse_header(body)
    for k in range(h["tensor_count"]):
        if ((dtype is None or body[tensor_field(body, k, "dtype")] == dtype) and
                (location is None or body[tensor_field(body, k, "location")] == location) and
                (flags is None or body[tensor_field(body, k, "flags")] & flags)):
            return k
    raise AssertionError("no such tensor")


def run_body(lowered, body: bytes, ids) -> str:
    plan = lowered.result.plan
    part = plan.partitions[0]
    region = Region(library(), plan.region_bytes)
    region.write(part.tensor_offsets["ids"], np.asarray(ids))
    result = region.run_body(body, part.body_offset, 0, 1)
    assert region.guards_intact(), "a write outside the region"
    return result.status


def with_dtype(body: bytes, k: int, dtype: int) -> bytes:
    data = bytearray(body)
    data[tensor_field(body, k, "dtype")] = dtype
    return bytes(data)


def test_int32_where_a_float_is_expected_is_refused(embedding):
    body = embedding.bodies[0]
    weight = find_tensor(body, dtype=fmt.DTYPE_FLOAT32, location=fmt.LOC_WEIGHT)
    output = find_tensor(body, flags=fmt.TFLAG_MODEL_OUTPUT)
    ids = find_tensor(body, dtype=fmt.DTYPE_INT32)
    ok = np.zeros((1, 6), np.int32)
    assert run_body(embedding, body, ok) == "RT_OK"
    assert run_body(embedding, with_dtype(body, weight, fmt.DTYPE_INT32), ok) == "RT_ERR_TENSOR_DTYPE"
    assert run_body(embedding, with_dtype(body, output, fmt.DTYPE_INT32), ok) == "RT_ERR_TENSOR_DTYPE"
    assert run_body(embedding, with_dtype(body, ids, fmt.DTYPE_FLOAT32), ok) == "RT_ERR_TENSOR_DTYPE"
    assert run_body(embedding, with_dtype(body, ids, 7), ok) == "RT_ERR_TENSOR_DTYPE"   # int64: never in a body


@pytest.mark.parametrize("bad", [50, -51, 2**31 - 1, -2**31, 1000])
def test_an_index_outside_the_table_stops_the_run(embedding, bad):
    ids = np.array([[0, 1, 49, -50, 3, 4]], np.int32)
    assert run_body(embedding, embedding.bodies[0], ids) == "RT_OK"
    ids[0, 4] = bad
    assert run_body(embedding, embedding.bodies[0], ids) == "RT_ERR_INDEX_RANGE"


def test_constant_indices_out_of_range_in_a_tampered_body_stop_the_run():
    lowered = lower(make_model([node("Gather", ["x", "i"], axis=1)], [("x", [2, 5, 3])], [("y", None)],
                               [i64("i", [4, 0])]))
    body = bytearray(lowered.bodies[0])
    k = find_tensor(bytes(body), dtype=fmt.DTYPE_INT32, location=fmt.LOC_WEIGHT)
    offset = struct.unpack_from("<I", body, tensor_field(bytes(body), k, "offset"))[0]
    struct.pack_into("<i", body, offset, 5)
    plan = lowered.result.plan
    region = Region(library(), plan.region_bytes)
    region.write(plan.partitions[0].tensor_offsets["x"], np.zeros((2, 5, 3), np.float32))
    assert region.run_body(bytes(body), plan.partitions[0].body_offset, 0, 1).status == "RT_ERR_INDEX_RANGE"
    assert region.guards_intact()


def test_class_token_pick_from_a_constant_node_survives_compaction():
    """ViT's head reads token 0 with Gather(x, Constant(0-d 0), axis=1) -> rank 2 -> Gemm: moving the
    Constant into an initializer keeps it 0-d, so the graph stays valid and lowers."""
    from onnx_tee.passes.compact import compaction_pipeline

    zero = helper.make_tensor("zero", TensorProto.INT64, [], [0])
    nodes = [node("Constant", [], ["idx"], value=zero), node("Gather", ["x", "idx"], ["cls"], axis=1),
             node("Gemm", ["cls", "H"], transB=1)]
    model = make_model(nodes, [("x", [1, 5, 16])], [("y", [1, 3])], [w("H", [3, 16])])
    compacted = compaction_pipeline()(model).model
    index = next(t for t in compacted.graph.initializer if t.name == "idx")
    assert list(index.dims) == []
    check_against_ort(compacted)
