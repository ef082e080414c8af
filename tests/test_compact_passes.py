"""Each compaction pass on a small graph: the Before/After of its docstring, its preconditions,
and onnxruntime outputs unchanged."""
from __future__ import annotations

import numpy as np
import pytest
import onnx
from onnx import helper, numpy_helper

from onnx_tee.passes import (ConstantsToInitializers, DeduplicateInitializers, FoldBatchNorm, FoldConstants,
                    Pass, PassError, PassResult, Pipeline, RemoveDeadNodes, RemoveIdentityOps,
                    RemoveUnusedInitializers, functional)
from conftest import assert_same_outputs, make_model


def ops(model):
    return [n.op_type for n in model.graph.node]


def init_names(model):
    return {t.name for t in model.graph.initializer}


def as_ir3(model):
    """The same model in IR 3 / opset 9 style: every initializer also listed as a graph input."""
    model.ir_version = 3
    for tensor in model.graph.initializer:
        model.graph.input.append(helper.make_tensor_value_info(tensor.name, tensor.data_type, list(tensor.dims)))
    return model


def test_constants_become_initializers_and_ir3_lists_them_as_inputs():
    value = numpy_helper.from_array(np.arange(4, dtype=np.float32))
    nodes = [helper.make_node("Constant", [], ["c"], value=value), helper.make_node("Add", ["x", "c"], ["y"])]
    model = as_ir3(make_model(nodes, [("x", [4])], [("y", [4])], opset=9))
    result = functional(ConstantsToInitializers())(model)
    assert result.modified and ops(result.model) == ["Add"]
    assert init_names(result.model) == {"c"} and "c" in {i.name for i in result.model.graph.input}
    onnx.checker.check_model(result.model, full_check=True)
    assert_same_outputs(model, result.model, rtol=0, atol=0)
    assert ops(model) == ["Constant", "Add"]  # the pass worked on a copy


def test_constant_list_attributes_become_typed_initializers():
    nodes = [helper.make_node("Constant", [], ["d"], value_floats=[1.0, 2.0, 3.0, 4.0]),
             helper.make_node("Constant", [], ["shape"], value_ints=[2, 2]),
             helper.make_node("Mul", ["x", "d"], ["m"]), helper.make_node("Reshape", ["m", "shape"], ["y"])]
    model = make_model(nodes, [("x", [4])], [("y", [2, 2])], opset=13)
    result = functional(ConstantsToInitializers())(model).model
    assert ops(result) == ["Mul", "Reshape"]
    assert {t.name: t.data_type for t in result.graph.initializer} == {"d": onnx.TensorProto.FLOAT,
                                                                       "shape": onnx.TensorProto.INT64}
    assert_same_outputs(model, result, rtol=0, atol=0)


def test_fold_constants_folds_shape_chains_once_the_input_shape_is_static():
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "zero"], ["n1"]),
             helper.make_node("Concat", ["n1", "minus_one"], ["target"], axis=0),
             helper.make_node("ConstantOfShape", ["wshape"], ["w"],
                              value=numpy_helper.from_array(np.array([0.5], np.float32))),
             helper.make_node("Reshape", ["x", "target"], ["flat"]),
             helper.make_node("MatMul", ["flat", "w"], ["y"])]
    inits = [numpy_helper.from_array(np.array(0, np.int64), "zero"),
             numpy_helper.from_array(np.array([-1], np.int64), "minus_one"),
             numpy_helper.from_array(np.array([12, 5], np.int64), "wshape")]
    model = make_model(nodes, [("x", [2, 3, 4])], [("y", [2, 5])], inits)
    folded = functional(FoldConstants())(model).model
    assert ops(folded) == ["Reshape", "MatMul"]
    w = numpy_helper.to_array(next(t for t in folded.graph.initializer if t.name == "w"))
    np.testing.assert_array_equal(w, np.full((12, 5), 0.5, np.float32))
    assert_same_outputs(model, folded, rtol=0, atol=0)


def test_fold_constants_keeps_dynamic_shapes_random_ops_and_graph_outputs():
    graph = helper.make_graph(
        [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Cast", ["s"], ["sf"], to=1),
         helper.make_node("RandomNormal", [], ["r"], shape=[2]),
         helper.make_node("Neg", ["k"], ["negk"])],
        "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["batch", 2])],
        [helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None) for n in ("sf", "r", "negk")],
        initializer=[numpy_helper.from_array(np.ones(2, np.float32), "k")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    result = functional(FoldConstants())(model)
    assert not result.modified and ops(result.model) == ["Shape", "Cast", "RandomNormal", "Neg"]


def test_remove_identity_and_inference_dropout_rewires_readers_and_graph_outputs():
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Identity", ["r"], ["i"]),
             helper.make_node("Dropout", ["i", "ratio", "train"], ["d"]),
             helper.make_node("Sigmoid", ["d"], ["s"]), helper.make_node("Identity", ["s"], ["y"]),
             helper.make_node("Identity", ["x"], ["x_copy"])]
    inits = [numpy_helper.from_array(np.array(0.5, np.float32), "ratio"),
             numpy_helper.from_array(np.array(False), "train")]
    model = make_model(nodes, [("x", [3])], [("y", [3]), ("x_copy", [3])], inits)
    result = functional(RemoveIdentityOps())(model).model
    # the Identity from graph input to graph output must stay (it names a distinct output)
    assert ops(result) == ["Relu", "Sigmoid", "Identity"]
    assert result.graph.node[1].output[0] == "y" and result.graph.node[1].input[0] == "r"
    onnx.checker.check_model(result, full_check=True)
    assert_same_outputs(model, result, rtol=0, atol=0)


def test_dropout_in_training_mode_or_with_a_used_mask_is_kept():
    nodes = [helper.make_node("Dropout", ["x", "ratio", "train"], ["d"]),
             helper.make_node("Dropout", ["d"], ["e", "mask"]),
             helper.make_node("Cast", ["mask"], ["m"], to=1), helper.make_node("Add", ["e", "m"], ["y"])]
    inits = [numpy_helper.from_array(np.array(0.5, np.float32), "ratio"),
             numpy_helper.from_array(np.array(True), "train")]
    model = make_model(nodes, [("x", [3])], [("y", [3])], inits)
    assert not functional(RemoveIdentityOps())(model).modified


def test_dead_nodes_and_unused_initializers_go_including_ir3_input_entries():
    nodes = [helper.make_node("Add", ["x", "k"], ["y"]), helper.make_node("Mul", ["x", "dead_k"], ["dead"]),
             helper.make_node("Relu", ["dead"], ["dead2"])]
    inits = [numpy_helper.from_array(np.ones(3, np.float32), n) for n in ("k", "dead_k", "never_used")]
    model = as_ir3(make_model(nodes, [("x", [3])], [("y", [3])], inits, opset=9))
    no_dead = functional(RemoveDeadNodes())(model)
    assert no_dead.stats["removed"] == 2 and ops(no_dead.model) == ["Add"]
    clean = functional(RemoveUnusedInitializers())(no_dead.model)
    assert clean.stats == {"removed": 2, "bytes_freed": 24}
    assert init_names(clean.model) == {"k"} and {i.name for i in clean.model.graph.input} == {"x", "k"}
    onnx.checker.check_model(clean.model, full_check=True)
    assert_same_outputs(model, clean.model, rtol=0, atol=0)


def test_identical_initializers_are_shared():
    nodes = [helper.make_node("Add", ["x", "a"], ["s"]), helper.make_node("Mul", ["s", "b"], ["t"]),
             helper.make_node("Sub", ["t", "c"], ["y"])]
    inits = [numpy_helper.from_array(np.array([1, 2, 3], np.float32), "a"),
             numpy_helper.from_array(np.array([1, 2, 3], np.float32), "b"),
             numpy_helper.from_array(np.array([1, 2, 4], np.float32), "c")]
    model = as_ir3(make_model(nodes, [("x", [3])], [("y", [3])], inits, opset=9))
    result = functional(DeduplicateInitializers())(model).model
    assert init_names(result) == {"a", "c"} and [n.input[1] for n in result.graph.node] == ["a", "a", "c"]
    assert {i.name for i in result.graph.input} == {"x", "a", "c"}
    assert_same_outputs(model, result, rtol=0, atol=0)


def test_overridable_initializers_are_not_constants_from_ir4_on():
    # IR >= 4: an initializer listed as a graph input is a default the caller may replace
    nodes = [helper.make_node("Add", ["x", "a"], ["s"]), helper.make_node("Mul", ["s", "b"], ["y"])]
    inits = [numpy_helper.from_array(np.ones(3, np.float32), n) for n in ("a", "b")]
    model = make_model(nodes, [("x", [3]), ("b", [3])], [("y", [3])], inits)
    assert init_names(functional(DeduplicateInitializers())(model).model) == {"a", "b"}


def test_fold_batchnorm_needs_a_single_reader_and_never_changes_a_shared_weight():
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.normal(size=(2, 2, 1, 1)).astype(np.float32), "w")
    bn = [numpy_helper.from_array(v.astype(np.float32), n) for v, n in
          ((rng.uniform(0.5, 1, 2), "s"), (rng.normal(size=2), "b"), (rng.normal(size=2), "m"),
           (rng.uniform(0.5, 1, 2), "v"))]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c1"]),
             helper.make_node("BatchNormalization", ["c1", "s", "b", "m", "v"], ["y1"]),
             helper.make_node("Conv", ["x", "w"], ["c2"]),  # same weight, no BN
             helper.make_node("Conv", ["x", "w"], ["c3"]),  # BN whose input is also read elsewhere
             helper.make_node("BatchNormalization", ["c3", "s", "b", "m", "v"], ["y3"]),
             helper.make_node("Relu", ["c3"], ["r3"])]
    model = make_model(nodes, [("x", [1, 2, 3, 3])], [("y1", None), ("c2", None), ("y3", None), ("r3", None)],
                       [w] + bn)
    result = functional(FoldBatchNorm())(model)
    assert result.stats == {"folded": 1}
    assert ops(result.model) == ["Conv", "Conv", "Conv", "BatchNormalization", "Relu"]
    convs = [n for n in result.model.graph.node if n.op_type == "Conv"]
    assert convs[0].input[1] != "w" and convs[1].input[1] == "w" and convs[2].input[1] == "w"
    np.testing.assert_array_equal(
        numpy_helper.to_array(next(t for t in result.model.graph.initializer if t.name == "w")),
        numpy_helper.to_array(w))
    assert_same_outputs(model, result.model, rtol=1e-5, atol=1e-6)


def _relu_model():
    return make_model([helper.make_node("Identity", ["x"], ["t"]), helper.make_node("Relu", ["t"], ["y"])],
                      [("x", [3])], [("y", [3])])


def test_an_in_place_pass_edits_and_returns_its_input_and_functional_leaves_it_alone():
    model = _relu_model()
    result = RemoveIdentityOps()(model)
    assert result.model is model and ops(model) == ["Relu"]
    model = _relu_model()
    result = functional(RemoveIdentityOps())(model)
    assert result.model is not model and ops(model) == ["Identity", "Relu"] and ops(result.model) == ["Relu"]


class _Lies(Pass):
    """Declared functional, edits its input."""
    in_place = False

    def call(self, model):
        del model.graph.node[0]
        copy = onnx.ModelProto()
        copy.CopyFrom(model)
        return PassResult(copy, True)


class _Copies(Pass):
    """Declared in place, returns a copy."""

    def call(self, model):
        copy = onnx.ModelProto()
        copy.CopyFrom(model)
        return PassResult(copy, False)


def test_the_infrastructure_checks_what_a_pass_declares(monkeypatch):
    with pytest.raises(PassError, match="declared in place"):
        _Copies()(_relu_model())
    _Lies()(_relu_model())                                   # the input check is a debug check
    monkeypatch.setenv("ONNX_TEE_DEBUG", "1")
    with pytest.raises(PassError, match="changed its input"):
        _Lies()(_relu_model())
    with pytest.raises(PassError, match="changed its input"):
        Pipeline([_Lies()])(_relu_model())


def test_a_pipeline_copies_once_keeps_no_state_and_returns_its_records():
    pipeline = Pipeline([RemoveIdentityOps(), RemoveDeadNodes()], fixed_point=True)
    model = _relu_model()
    first, second = pipeline(model), pipeline(model)
    assert ops(model) == ["Identity", "Relu"] and ops(first.model) == ops(second.model) == ["Relu"]
    assert [r.name for r in first.stats["records"]] == [r.name for r in second.stats["records"]]
    assert not hasattr(pipeline, "records")
    in_place = Pipeline([RemoveIdentityOps()], in_place=True)
    assert in_place(model).model is model and ops(model) == ["Relu"]
    with pytest.raises(ValueError):
        Pipeline([_Lies()], in_place=True)
