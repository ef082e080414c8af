"""`python cli.py partition`: output directory, manifest, chart, and clear errors (exit 2)."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import onnx
import pytest

from onnx_tee import cli
from conftest import make_model, random_inputs
from onnx_tee.passes.partition.chain import run_chain


def tiny_model(path, dynamic: bool = False):
    w = onnx.numpy_helper.from_array(np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32), "w")
    nodes = [onnx.helper.make_node("MatMul", ["x", "w"], ["h"]), onnx.helper.make_node("Relu", ["h"], ["y"])]
    model = make_model(nodes, [("x", ["batch" if dynamic else 1, 64])], [("y", None)], [w])
    onnx.save(model, path)
    return model


def test_writes_partitions_manifest_and_chart(tmp_path, capsys):
    out = tmp_path / "parts"
    assert cli.main(["partition", "squeezenet", "--budget", "6MiB", "-o", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["budget"] == 6 * 2**20 and manifest["inputs"] and manifest["outputs"]
    assert len(manifest["partitions"]) >= 2
    for entry in manifest["partitions"]:
        data = (out / entry["onnx"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert entry["memory"]["total"] + entry["memory"]["reserve"] <= manifest["budget"]
        assert set(entry["inputs"]) <= set(entry["layout"]["tensor_offsets"])
        onnx.checker.check_model(onnx.load(out / entry["onnx"]), full_check=True)
    assert (out / "memory.png").stat().st_size > 0
    assert "partitions" in capsys.readouterr().out
    # the files chain back to the model the manifest describes
    first = onnx.load(out / manifest["partitions"][0]["onnx"])
    feeds = random_inputs(first)
    outputs = run_chain([out / e["onnx"] for e in manifest["partitions"]], feeds, manifest["outputs"])
    assert all(np.isfinite(v).all() for v in outputs.values())
    # running again over our own output is allowed
    assert cli.main(["partition", "squeezenet", "--budget", "8MiB", "-o", str(out)]) == 0


def test_refuses_a_foreign_directory_unless_forced(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    model = tmp_path / "tiny.onnx"
    tiny_model(model)
    assert cli.main(["partition", str(model), "--budget", "1MiB", "-o", str(out)]) == 2
    assert "--force" in capsys.readouterr().err and (out / "notes.txt").exists()
    assert cli.main(["partition", str(model), "--budget", "1MiB", "-o", str(out), "--force"]) == 0
    assert not (out / "notes.txt").exists() and (out / "manifest.json").exists()


@pytest.mark.parametrize("argv,message", [
    (["--budget", "lots"], "is not a size"),
    (["--budget", "70KiB"], "smallest budget that works is"),
])
def test_bad_budgets(tmp_path, capsys, argv, message):
    model = tmp_path / "tiny.onnx"
    tiny_model(model)
    out = tmp_path / "out"
    assert cli.main(["partition", str(model), *argv, "-o", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob(".out*"))


def test_dynamic_input_names_the_input(tmp_path, capsys):
    model = tmp_path / "dyn.onnx"
    reference = tiny_model(model, dynamic=True)
    out = tmp_path / "out"
    assert cli.main(["partition", str(model), "--budget", "1MiB", "-o", str(out)]) == 2
    assert "--input-shape x:" in capsys.readouterr().err
    assert cli.main(["partition", str(model), "--budget", "1MiB", "--input-shape", "x:1,64", "-o", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    x = np.random.default_rng(1).standard_normal((1, 64)).astype(np.float32)
    got = run_chain([out / e["onnx"] for e in manifest["partitions"]], {"x": x}, ["y"])
    np.testing.assert_allclose(got["y"], np.maximum(x @ onnx.numpy_helper.to_array(reference.graph.initializer[0]), 0),
                               rtol=1e-5, atol=1e-6)
