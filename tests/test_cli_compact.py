"""`cli.py compact`: writes an equivalent, smaller model and reports every pass."""
from __future__ import annotations

import hashlib

import onnx

import cli
from models.reference import load_reference
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
