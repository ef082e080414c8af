"""`cli.py compact`: writes an equivalent, smaller model and reports every pass."""
from __future__ import annotations

import hashlib

import onnx
from onnx import helper

from onnx_tee import cli
from onnx_tee.models.reference import load_reference
from conftest import assert_same_outputs


def test_compact_writes_an_equivalent_model_and_leaves_the_input_alone(tmp_path, capsys):
    original = load_reference("densenet121", raw=True)
    source = tmp_path / "densenet121.onnx"
    onnx.save(original, str(source))
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    target = tmp_path / "out" / "compacted.onnx"
    assert cli.main(["compact", str(source), "-o", str(target)]) == 0
    text = capsys.readouterr().out
    for name in ("FoldConstants", "FoldBatchNorm", "MergeAffineChains", "RemoveUnusedInitializers", "total"):
        assert name in text
    assert "weight bytes before" in text
    assert hashlib.sha256(source.read_bytes()).hexdigest() == digest
    compacted = onnx.load(str(target))
    assert len(compacted.graph.node) < len(original.graph.node)
    assert_same_outputs(original, compacted, rtol=1e-5, atol=1e-6)


def test_compact_refuses_to_overwrite_its_input(tmp_path, capsys):
    source = tmp_path / "m.onnx"
    onnx.save(load_reference("squeezenet", raw=True), str(source))
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    assert cli.main(["compact", str(source), "-o", str(source)]) == 2
    assert "overwrite" in capsys.readouterr().err
    assert hashlib.sha256(source.read_bytes()).hexdigest() == digest


def test_compact_folds_shape_chains_once_input_shapes_are_given(tmp_path, capsys):
    graph = helper.make_graph([helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Reshape", ["x", "s"], ["y"])],
                              "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["batch", 3])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)])
    source = tmp_path / "dynamic.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(source))
    assert cli.main(["compact", str(source), "-o", str(tmp_path / "a.onnx")]) == 0
    assert [n.op_type for n in onnx.load(str(tmp_path / "a.onnx")).graph.node] == ["Shape", "Reshape"]
    assert cli.main(["compact", str(source), "--input-shape", "x:2,3", "-o", str(tmp_path / "b.onnx")]) == 0
    assert [n.op_type for n in onnx.load(str(tmp_path / "b.onnx")).graph.node] == ["Reshape"]
