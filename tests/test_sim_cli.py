"""`keygen` -> `lower --key` -> `run --backend sim --stats`: the user's path, and its refusals."""
from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnx_tee import cli as onnx_tee_cli
from conftest import run_ort


def small_cnn() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    w = lambda name, *shape: numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32) * 0.2, name)
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "w2", "b2"], ["y"], transB=1)]
    graph = helper.make_graph(nodes, "small_cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
                              [w("w1", 8, 3, 3, 3), w("b1", 8), w("w2", 10, 128), w("b2", 10)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


@pytest.fixture(scope="module")
def lowered(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    model = small_cnn()
    onnx.save(model, root / "cnn.onnx")
    assert onnx_tee_cli.main(["keygen", "-o", str(root / "k.key")]) == 0
    assert onnx_tee_cli.main(["lower", str(root / "cnn.onnx"), "--budget", "256KiB", "--key", str(root / "k.key"),
                              "-o", str(root / "out")]) == 0
    x = np.random.default_rng(1).standard_normal((1, 3, 8, 8)).astype(np.float32)
    np.save(root / "x.npy", x)
    return root, model, x


def test_run_in_simulator_with_stats(lowered, capsys):
    root, model, x = lowered
    code = onnx_tee_cli.main(["run", str(root / "out"), "--input", str(root / "x.npy"), "--key", str(root / "k.key"),
                              "--output", str(root / "y.npz"), "--stats", str(root / "stats.json")])
    assert code == 0, capsys.readouterr().err
    y = np.load(root / "y.npz")["y"]
    np.testing.assert_allclose(y, run_ort(model, {"x": x})["y"], rtol=1e-4, atol=1e-5)
    stats = json.loads((root / "stats.json").read_text())
    assert stats["heap_high_water"] <= 256 * 1024
    assert stats["invocations"] > 0 and stats["bytes_in"] > 0 and stats["bytes_out"] == y.nbytes
    for part in stats["partitions"]:
        assert part["touched_bytes"] == part["planned_bytes"]
        assert part["load_seconds"] > 0 and part["compute_seconds"] > 0


def test_tampered_bundle_is_a_clear_error(lowered, tmp_path, capsys):
    root, _, _ = lowered
    bad = tmp_path / "out"
    shutil.copytree(root / "out", bad)
    blob = bad / "device" / "partition_000.blob"
    data = bytearray(blob.read_bytes())
    data[-40] ^= 0x10
    blob.write_bytes(bytes(data))
    code = onnx_tee_cli.main(["run", str(bad), "--input", str(root / "x.npy"), "--key", str(root / "k.key")])
    err = capsys.readouterr().err
    assert code == 2 and "OT_ERR_BLOB_AUTH" in err and len(err.strip().splitlines()) == 1


def test_wrong_key_is_a_clear_error(lowered, tmp_path, capsys):
    root, _, _ = lowered
    assert onnx_tee_cli.main(["keygen", "-o", str(tmp_path / "other.key")]) == 0
    code = onnx_tee_cli.main(["run", str(root / "out"), "--input", str(root / "x.npy"),
                              "--key", str(tmp_path / "other.key")])
    err = capsys.readouterr().err
    assert code == 2 and "OT_ERR_MANIFEST_AUTH" in err
