"""`cli.py inspect`: the figures it prints are those of the analyses, checked independently."""
from __future__ import annotations

import json

import numpy as np
import onnx
from onnx import helper

from onnx_tee import cli
from onnx_tee import models
from onnx_tee.models.reference import load_reference
from onnx_tee.passes.analysis.liveness import GraphBoundary
from onnx_tee.passes.analysis.shapes import infer_static_shapes
from conftest import simulated_peak_bytes


def inspect_json(capsys, *argv) -> dict:
    assert cli.main(["inspect", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_inspect_resnet50_reports_25_6_m_params_and_the_simulated_peak(capsys):
    assert cli.main(["inspect", "resnet50"]) == 0
    text = capsys.readouterr().out
    params_row = next(line for line in text.splitlines() if "params" in line)
    assert "25.6 M" in params_row
    report = inspect_json(capsys, "resnet50")
    assert round(report["params"] / 1e6, 1) == 25.6
    assert report["macs"] == 4_089_184_256
    model = models.load("resnet50")
    boundary = GraphBoundary.of_model(model)
    expected_peak = simulated_peak_bytes(list(model.graph.node), infer_static_shapes(model), boundary.inputs,
                                   boundary.outputs, boundary.weights)
    assert report["peak_activation_bytes"] == expected_peak
    assert report["ops"]["Conv"] == 53 and report["ops"]["BatchNormalization"] == 53
    assert report["largest_tensors"][0]["nbytes"] == 512 * 512 * 9 * 4
    assert report["weight_bytes"] >= 4 * report["params"] - 4 * 1000  # float32 weights (+ int64 shape)


def test_inspect_counts_weights_made_by_constant_subgraphs(tmp_path, capsys):
    raw = load_reference("squeezenet", raw=True)
    assert sum(n.op_type == "ConstantOfShape" for n in raw.graph.node) > 0
    path = tmp_path / "raw.onnx"
    onnx.save(raw, str(path))
    seeded_params = sum(int(np.prod(t.dims)) for t in models.load("squeezenet").graph.initializer)
    assert inspect_json(capsys, str(path))["params"] == inspect_json(capsys, "squeezenet")["params"] == seeded_params


def test_inspect_fixes_dynamic_dims_from_input_shape(tmp_path, capsys):
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Neg", ["r"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["batch", 3])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["batch", 3])])
    path = tmp_path / "dyn.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    report = inspect_json(capsys, str(path), "--input-shape", "x:5,3")
    assert report["inputs"] == {"x": [5, 3]} and report["outputs"] == {"y": [5, 3]}
    assert report["peak_activation_bytes"] == 2 * 5 * 3 * 4  # two of x, r, y live at a time
    assert report["params"] == 0 and report["macs"] == 0
