"""The support check: every op or attribute the interpreter cannot run is listed with its node, and
`lower` stops before writing anything (exit 2)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from onnx_tee import models
from conftest import make_model
from onnx_tee.passes.analysis.shapes import infer_static_shapes
from onnx_tee.passes.errors import UnsupportedModelError
from onnx_tee.passes import target

ROOT = Path(__file__).resolve().parents[1]


def unsupported_model() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal([4, 3, 3, 3]).astype(np.float32), "W"),
             numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales"),
             numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "pads")]
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"], name="conv_ok", pads=[1, 1, 1, 1]),
             helper.make_node("Shrink", ["c"], ["e"], name="shrink_1"),
             helper.make_node("Resize", ["e", "", "scales"], ["r"], name="resize_antialias", mode="cubic",
                              antialias=1),
             helper.make_node("Pad", ["r", "pads"], ["p"], name="pad_wrap", mode="wrap"),
             helper.make_node("Relu", ["p"], ["y"], name="relu_ok")]
    return make_model(nodes, [("x", [1, 3, 8, 8])], [("y", None)], inits, opset=19)


def test_every_unsupported_node_is_listed():
    model = unsupported_model()
    found = target.problems(model, infer_static_shapes(model))
    assert len(found) == 3, found
    assert "'shrink_1' (Shrink)" in found[0] and "not supported" in found[0]
    assert "'resize_antialias' (Resize)" in found[1] and "antialias=1" in found[1]
    assert "'pad_wrap' (Pad)" in found[2] and "mode=wrap" in found[2]
    with pytest.raises(UnsupportedModelError, match="3 node"):
        target.check_supported(model, infer_static_shapes(model))


def test_non_float_tensors_and_runtime_parameters_are_reported():
    nodes = [helper.make_node("Shape", ["x"], ["s"], name="shape_of_x"),
             helper.make_node("Reshape", ["x", "s"], ["y"], name="reshape_dynamic")]
    model = make_model(nodes, [("x", [2, 3])], [("y", None)])
    found = target.problems(model, infer_static_shapes(model))
    assert any("'shape_of_x' (Shape)" in line for line in found), found


def test_used_secondary_outputs_are_reported():
    nodes = [helper.make_node("MaxPool", ["x"], ["y", "idx"], name="pool_with_indices", kernel_shape=[2, 2]),
             helper.make_node("Cast", ["idx"], ["z"], to=onnx.TensorProto.FLOAT, name="cast")]
    model = make_model(nodes, [("x", [1, 1, 4, 4])], [("y", None), ("z", None)])
    found = target.problems(model, infer_static_shapes(model))
    assert any("pool_with_indices" in line and "idx" in line for line in found), found


@pytest.mark.parametrize("name", ["squeezenet", "shufflenet", "inception_v1"])
def test_zoo_models_are_supported_after_compaction(name):
    from onnx_tee.passes.compact import compaction_pipeline
    model = compaction_pipeline()(models.load(name)).model
    assert target.problems(model, infer_static_shapes(model)) == []


def test_lower_fails_before_writing_anything(tmp_path):
    path = tmp_path / "bad.onnx"
    onnx.save(unsupported_model(), str(path))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(ROOT / "cli.py"), "lower", str(path), "-o", str(out)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    for node in ("shrink_1", "resize_antialias", "pad_wrap"):
        assert node in proc.stderr
    assert not out.exists()
