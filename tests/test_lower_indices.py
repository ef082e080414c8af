"""A text classifier on int64 token ids through the CLI: `lower` narrows the ids to int32 (the device
manifest keeps int64), `run --backend sim` (plain and sealed I/O) and `--backend ort` match
onnxruntime on the original model, ids outside int32 are refused on the host and ids outside the
vocabulary stop the TA with the run-time index error; and a Conv1d audio classifier end to end."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import run_ort
from onnx_tee.passes.build.lowered import lower_model
from onnx_tee.passes.lower.envelope import MANIFEST_FILE, parse_manifest
from onnx_tee.passes.lower.pipeline import run_in_simulator
from onnx_tee.passes.lower.sim import TAError

ROOT = Path(__file__).resolve().parents[1]
RNG = np.random.default_rng(3)
VOCAB, SEQ = 200, 16


def cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT)


def w(name, shape):
    return numpy_helper.from_array(RNG.standard_normal(shape).astype(np.float32), name)


def text_classifier() -> onnx.ModelProto:
    """Embedding (Gather) + MatMul + Relu, mean over the tokens by Transpose + GlobalAveragePool, a
    class-token style Slice beside it, Concat, Gemm."""
    n = helper.make_node
    nodes = [n("Gather", ["embed.weight", "input_ids"], ["emb"]),
             n("MatMul", ["emb", "proj"], ["h"]), n("Relu", ["h"], ["r"]),
             n("Transpose", ["r"], ["t"], perm=[0, 2, 1]), n("GlobalAveragePool", ["t"], ["pool"]),
             n("Flatten", ["pool"], ["mean"]),
             n("Slice", ["r", "s0", "s1", "s_ax"], ["first"]), n("Flatten", ["first"], ["cls"]),
             n("Concat", ["mean", "cls"], ["feat"], axis=1),
             n("Gemm", ["feat", "head.weight", "head.bias"], ["logits"], transB=1)]
    inits = [w("embed.weight", [VOCAB, 24]), w("proj", [24, 32]), w("head.weight", [5, 64]), w("head.bias", [5]),
             numpy_helper.from_array(np.array([0], np.int64), "s0"),
             numpy_helper.from_array(np.array([1], np.int64), "s1"),
             numpy_helper.from_array(np.array([1], np.int64), "s_ax")]
    graph = helper.make_graph(nodes, "text", [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, SEQ])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 5])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model, full_check=True)
    return model


@pytest.fixture(scope="module")
def lowered(tmp_path_factory) -> tuple[Path, onnx.ModelProto]:
    tmp = tmp_path_factory.mktemp("text")
    model = text_classifier()
    onnx.save(model, tmp / "text.onnx")
    out = tmp / "out"
    proc = cli("lower", tmp / "text.onnx", "--budget", "256KiB", "-o", out)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return out, model


def ids_file(path: Path, ids: np.ndarray) -> Path:
    np.save(path, ids)
    return path


def test_manifests_record_the_model_level_dtype(lowered):
    out, _ = lowered
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["input_dtypes"] == {"input_ids": "int64"}
    device = parse_manifest((out / "device" / MANIFEST_FILE).read_bytes())
    slot = device.inputs[0]
    assert slot.dtype == TensorProto.INT64 and slot.shape == (1, SEQ) and slot.nbytes == 4 * SEQ   # held as int32
    first = onnx.load(str(out / manifest["partitions"][0]["onnx"]))
    assert first.graph.input[0].type.tensor_type.elem_type == TensorProto.INT32


@pytest.mark.parametrize("backend", ["sim", "ort"])
def test_run_matches_onnxruntime(lowered, tmp_path, backend):
    out, model = lowered
    ids = RNG.integers(0, VOCAB, (1, SEQ)).astype(np.int64)
    ids[0, :3] = [0, VOCAB - 1, -VOCAB]
    proc = cli("run", out, "--input", ids_file(tmp_path / "ids.npy", ids), "--backend", backend,
               "--output", tmp_path / "y.npz")
    assert proc.returncode == 0, proc.stderr
    got = np.load(tmp_path / "y.npz")["logits"]
    np.testing.assert_allclose(got, run_ort(model, {"input_ids": ids})["logits"], rtol=1e-4, atol=1e-5)


def test_sealed_io_carries_the_int32_ids(lowered, tmp_path):
    out, model = lowered
    ids = RNG.integers(0, VOCAB, (1, SEQ)).astype(np.int64)
    proc = cli("run", out, "--input", ids_file(tmp_path / "ids.npy", ids), "--encrypt-io", "--output",
               tmp_path / "y.npz")
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_allclose(np.load(tmp_path / "y.npz")["logits"], run_ort(model, {"input_ids": ids})["logits"],
                               rtol=1e-4, atol=1e-5)


def test_ids_outside_int32_are_refused_on_the_host(lowered, tmp_path):
    out, _ = lowered
    ids = np.zeros((1, SEQ), np.int64)
    ids[0, 5] = 2**33
    proc = cli("run", out, "--input", ids_file(tmp_path / "ids.npy", ids))
    assert proc.returncode == 2
    assert "outside int32" in proc.stderr and "Traceback" not in proc.stderr


def test_ids_outside_the_vocabulary_stop_the_ta(lowered):
    out, _ = lowered
    manifest = json.loads((out / "manifest.json").read_text())
    key = (out / "model.key").read_bytes()
    ids = np.zeros((1, SEQ), np.int64)
    ids[0, 7] = VOCAB
    with pytest.raises(TAError) as err:
        run_in_simulator(out / "device", key, manifest["budget"], {"input_ids": ids}, ["input_ids"], ["logits"])
    assert err.value.name == "OT_ERR_RUN_FAILED" and err.value.detail == 33   # RT_ERR_INDEX_RANGE
    proc = cli("run", out, "--input", ids_file(out.parent / "oov.npy", ids))
    assert proc.returncode == 2 and "OT_ERR_RUN_FAILED" in proc.stderr


def test_conv1d_audio_classifier_end_to_end():
    """Rank-3 tensors (the format stores H = 1): Conv1d + BatchNorm + Relu + MaxPool1d, a strided
    depthwise Conv1d, AveragePool1d, global pool, Gemm; lowered, sealed and run in the simulator."""
    n = helper.make_node
    nodes = [n("Conv", ["audio", "w1", "b1"], ["c1"], kernel_shape=[9], strides=[2], pads=[4, 4]),
             n("BatchNormalization", ["c1", "g", "be", "mu", "var"], ["bn"]), n("Relu", ["bn"], ["r1"]),
             n("MaxPool", ["r1"], ["p1"], kernel_shape=[4], strides=[4]),
             n("Conv", ["p1", "w2"], ["c2"], kernel_shape=[3], group=16, strides=[2], pads=[1, 1]),
             n("Relu", ["c2"], ["r2"]), n("AveragePool", ["r2"], ["p2"], kernel_shape=[2], strides=[2]),
             n("GlobalAveragePool", ["p2"], ["g2"]), n("Flatten", ["g2"], ["f"]),
             n("Gemm", ["f", "fc", "fc_b"], ["scores"], transB=1)]
    inits = [w("w1", [16, 1, 9]), w("b1", [16]), w("g", [16]), w("be", [16]), w("mu", [16]),
             numpy_helper.from_array(RNG.uniform(0.5, 2, 16).astype(np.float32), "var"), w("w2", [16, 1, 3]),
             w("fc", [12, 16]), w("fc_b", [12])]
    graph = helper.make_graph(nodes, "kws", [helper.make_tensor_value_info("audio", TensorProto.FLOAT, [1, 1, 8000])],
                              [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 12])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    lowered = lower_model(model, 512 << 10, label="kws")     # simulates and checks parity + memory itself
    sim = lowered.report["simulation"]
    assert max(sim["max_rel_error"].values()) < 1e-4
    assert all(p["planned"] == p["measured"] for p in sim["partitions"])
