"""MODEL arguments: a path to a file, or a zoo name that no directory of the same name can shadow."""
from __future__ import annotations

import onnx
import pytest
from onnx import TensorProto, helper

from onnx_tee import models
from onnx_tee.passes.errors import UserError


def test_a_directory_named_like_the_default_model_does_not_shadow_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / models.DEFAULT_MODEL).mkdir()
    label, model = models.resolve(None)
    assert label == models.DEFAULT_MODEL and len(model.graph.node) > 10


def test_a_file_without_the_onnx_suffix_is_a_path(tmp_path):
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    path = tmp_path / "relu.model"
    onnx.save(helper.make_model(graph), path)
    label, model = models.resolve(str(path))
    assert label == "relu" and model.graph.node[0].op_type == "Relu"


def test_an_unknown_name_lists_the_zoo():
    with pytest.raises(UserError, match="zoo names"):
        models.resolve("no_such_model")
