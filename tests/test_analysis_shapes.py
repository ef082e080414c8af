"""Static shapes and bytes per tensor, checked against the tensors onnxruntime actually computes."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from onnx_tee import models
from onnx_tee.passes.analysis.shapes import fix_input_shapes, infer_static_shapes, parse_input_shapes
from onnx_tee.passes.errors import UnsupportedModelError, UserError
from conftest import make_model, random_inputs, run_ort


def with_every_tensor_as_output(model: onnx.ModelProto) -> onnx.ModelProto:
    exposed = onnx.ModelProto()
    exposed.CopyFrom(model)
    known = {o.name for o in exposed.graph.output}
    for node in exposed.graph.node:
        for name in node.output:
            if name and name not in known:
                exposed.graph.output.append(helper.make_empty_tensor_value_info(name))
    return exposed


@pytest.mark.parametrize("name", ["squeezenet", "inception_v2"])
def test_inferred_shapes_and_bytes_match_what_onnxruntime_computes(name):
    model = models.load(name)
    infos = infer_static_shapes(model)
    computed = run_ort(with_every_tensor_as_output(model), random_inputs(model))
    assert computed
    for tensor, value in computed.items():
        if tensor in infos:
            assert infos[tensor].shape == value.shape, tensor
            assert infos[tensor].nbytes == value.nbytes, tensor
    read = {i for node in model.graph.node for i in node.input}
    assert all(t in infos for t in computed if t in read)  # every tensor someone reads is sized


def test_shape_chains_resolve_by_data_propagation():
    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "zero1"], ["n1"]),
             helper.make_node("Concat", ["n1", "minus_one"], ["target"], axis=0),
             helper.make_node("Reshape", ["x", "target"], ["y"])]
    inits = [numpy_helper.from_array(np.array(0, np.int64), "zero"),
             numpy_helper.from_array(np.array([0], np.int64), "zero1"),
             numpy_helper.from_array(np.array([-1], np.int64), "minus_one")]
    model = make_model(nodes, [("x", [2, 3, 4])], [("y", None)], inits)
    assert infer_static_shapes(model)["y"].shape == (2, 12)


def test_input_shapes_are_parsed_and_fixed():
    assert parse_input_shapes(["data:1,3,224,224", "a:b:2"]) == {"data": (1, 3, 224, 224), "a:b": (2,)}
    for bad in ["data", "data:", "data:1,x", "data:0,3", ":1,2"]:
        with pytest.raises(UserError, match="--input-shape"):
            parse_input_shapes([bad])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["batch", 3])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["batch", 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(UserError, match=r"input 'x' has a dynamic shape \[batch,3\].*--input-shape x:"):
        fix_input_shapes(model)
    with pytest.raises(UserError, match="names no graph input: z"):
        fix_input_shapes(model, {"z": (1, 3)})
    with pytest.raises(UserError, match="rank 2"):
        fix_input_shapes(model, {"x": (1, 3, 1)})
    fixed = fix_input_shapes(model, {"x": (4, 3)})
    assert infer_static_shapes(fixed)["y"].shape == (4, 3)
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"  # the input is not modified


def test_an_op_without_a_shape_rule_is_named():
    graph = helper.make_graph([helper.make_node("Frobnicate", ["x"], ["t"], domain="com.example", name="frob"),
                               helper.make_node("Relu", ["t"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    with pytest.raises(UnsupportedModelError, match="node 'frob' \\(Frobnicate\\)"):
        infer_static_shapes(model)


def test_a_ruled_op_output_that_is_also_a_graph_output_gets_its_shape_for_its_readers():
    """QuickGelu (com.microsoft, no onnx shape rule) whose output is both a graph output and a Conv's
    input: the rule's shape must reach the Conv, whose output shape depends on it."""
    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    graph = helper.make_graph([helper.make_node("QuickGelu", ["x"], ["t"], domain="com.microsoft", alpha=1.0),
                               helper.make_node("Conv", ["t", "w"], ["y"], kernel_shape=[3, 3], strides=[2, 2])],
                              "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3, 9, 9])],
                              [helper.make_tensor_value_info("t", onnx.TensorProto.FLOAT, None),
                               helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    shapes = infer_static_shapes(model)
    assert shapes["t"].shape == (1, 3, 9, 9) and shapes["y"].shape == (1, 4, 4, 4)
