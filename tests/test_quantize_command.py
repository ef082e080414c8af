"""`cli.py quantize` and `lower --quantize int8`: onnxruntime's static quantizer with the accuracy guard.

The written model is checked independently (its test accuracy recomputed by onnxruntime, its weight
bytes, its per-channel weight scales); the guard falls back to float layer by layer until the drop is
within the limit, or refuses with exit 2; `lower --quantize int8` runs the integer kernels with the
planned memory."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import onnx
import pytest

from onnx_tee import models
from onnx_tee.passes.analysis.weights import weight_bytes
from onnx_tee.passes.compact import compaction_pipeline
from onnx_tee.passes.datasets import evaluate_accuracy
from onnx_tee.passes.errors import UserError
from onnx_tee.passes.quant.static import QuantizeOptions, quantize_model

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], capture_output=True, text=True, cwd=ROOT)


def test_quantize_writes_a_quarter_size_model_within_the_accuracy_limit(tmp_path):
    out = tmp_path / "digits_int8.onnx"
    done = cli("quantize", "cnn_digits", "--data", "digits", "-o", str(out))
    assert done.returncode == 0, done.stderr
    report = json.loads(out.with_suffix(".quantize.json").read_text())
    quantized = onnx.load(str(out))
    float_bytes = weight_bytes(compaction_pipeline()(models.load("cnn_digits")).model)
    assert report["weight_bytes_before"] == float_bytes
    assert report["weight_bytes_after"] == weight_bytes(quantized) <= 0.27 * float_bytes
    accuracy = evaluate_accuracy(quantized, "digits", "test")
    assert report["accuracy"]["after"] == accuracy
    assert report["accuracy"]["before"] - accuracy <= 0.01
    ops = {n.op_type for n in quantized.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops        # the QDQ format
    per_channel = {t["type"] for t in report["tensors"] if t["channels"] > 1}
    assert per_channel == {"int8", "int32"}             # the weights and the biases, one scale per channel
    assert {t["type"] for t in report["tensors"] if t["channels"] == 1} == {"uint8"}   # activations


def test_the_guard_falls_back_most_sensitive_layers_first_until_the_drop_fits():
    model = models.load("lenet5_fmnist")
    options = QuantizeOptions(data="fashion-mnist", max_accuracy_drop=0.0, evaluation=2000)
    _, report = quantize_model(model, options, label="lenet")
    before, attempts = report["accuracy"]["before"], report["attempts"]
    assert len(attempts) >= 2 and attempts[0]["excluded"] == []
    assert all(a["accuracy"] < before for a in attempts[:-1]) and attempts[-1]["accuracy"] >= before
    assert report["float_layers"] == attempts[-1]["excluded"]
    assert [a["excluded"] for a in attempts[1:]] == [report["float_layers"][:k] for k in range(1, len(attempts))]
    with pytest.raises(UserError, match="max-accuracy-drop"):
        quantize_model(model, QuantizeOptions(data="fashion-mnist", max_accuracy_drop=0.0, evaluation=2000,
                                              max_fallbacks=0), label="lenet")


def test_bad_requests_exit_2_with_one_line(tmp_path):
    done = cli("quantize", "lenet5_fmnist", "--data", "digits", "-o", str(tmp_path / "x.onnx"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "shape" in done.stderr, done.stderr
    done = cli("quantize", "lenet5_fmnist", "--data", "fashion-mnist", "--max-accuracy-drop", "2",
               "-o", str(tmp_path / "x.onnx"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "max-accuracy-drop" in done.stderr, done.stderr


def test_lower_quantize_int8_runs_the_integer_kernels_with_the_planned_memory(tmp_path):
    out = tmp_path / "out"
    done = cli("lower", "resnet_fmnist", "--quantize", "int8", "--format", "qoperator", "--budget", "256KiB",
               "-o", str(out))
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "report.json").read_text())
    quant = report["quantization"]
    assert quant["data"] is None and quant["accuracy"]["before"] is None and quant["weight_ratio"] < 0.3
    assert all(p["measured"] == p["planned"] for p in report["simulation"]["partitions"])
    ops = {n.op_type for k in range(len(report["partitions"]["count"] * [0]))
           for n in onnx.load(str(out / f"partition_{k:03d}.onnx")).graph.node}
    assert {"QLinearConv", "QLinearAdd", "QLinearGlobalAveragePool"} <= ops
