"""The real-model coverage corpus (`models/realworld/`) and its runner (`scripts/coverage.py`).

The default suite needs no torch: it checks the corpus listing, the runner's message parsing and comparison,
and runs the runner end to end (through the CLI) on tiny hand-built ONNX models: one that lowers and matches,
one the interpreter refuses, one whose first budget is infeasible, one on int64 ids.  The slow test exports
(when torch is installed) and checks the whole corpus.
"""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


coverage = _load("_coverage_script", ROOT / "scripts" / "coverage.py")
corpus = coverage.load_corpus()


# ------------------------------------------------------------------------------------------ the listing

def test_corpus_lists_at_least_35_architectures_with_fixed_shapes():
    names = corpus.names()
    assert len(names) >= 35
    assert len(set(names)) == len(names)
    families = {e.family for e in corpus.ENTRIES}
    assert {"classification", "segmentation", "detection", "ocr", "audio", "text"} <= families
    for entry in corpus.ENTRIES:
        assert entry.inputs and all(i.shape[0] == 1 and all(d > 0 for d in i.shape) for i in entry.inputs)
        assert entry.opsets and all(op >= 13 for op in entry.opsets) and 17 in entry.opsets
        for spec in entry.inputs:
            if spec.dtype.startswith("int"):
                assert spec.high and spec.high > 1, f"{entry.name}: integer input without a vocabulary size"
    text = corpus.get("text_transformer")
    assert text.inputs[0].shape == (1, 64) and text.inputs[0].dtype == "int64"
    assert set(corpus.quick_names()) < set(names)


def test_corpus_opset_selection_and_cache_dir(monkeypatch, tmp_path):
    cnn, vit = corpus.get("resnet18"), corpus.get("deit_tiny")
    assert cnn.select_opsets(None) == [13, 17]
    assert cnn.select_opsets([17]) == [17]
    assert vit.select_opsets([13]) == [14]       # attention exports from opset 14: 13 stands for the lowest
    monkeypatch.setenv(corpus.ENV_VAR, str(tmp_path))
    assert corpus.model_path("resnet18", 13) == tmp_path / "resnet18-op13.onnx"
    assert corpus.cache_dir("/x/y") == Path("/x/y")
    monkeypatch.delenv(corpus.ENV_VAR)
    assert corpus.cache_dir() == Path.home() / ".cache" / "onnx-tee" / "realworld"


def test_corpus_listing_imports_neither_torch_nor_the_library():
    source = (ROOT / "models" / "realworld" / "__init__.py").read_text()
    for banned in ("import torch", "from passes", "import passes", "import onnx"):
        assert banned not in source


# ------------------------------------------------------------------------------------------ parsing

def test_stderr_message_prefers_the_cli_line_and_flags_tracebacks():
    assert coverage.stderr_message("warning: x\nonnx-tee lower: error: op Erf is not supported\n") == \
        "onnx-tee lower: error: op Erf is not supported"
    internal = "onnx-tee lower: internal error: KeyError: 'a' (run again with --debug for the traceback)"
    assert coverage.stderr_message(internal) == internal
    tb = "Traceback (most recent call last):\n  File \"x.py\", line 1, in <module>\nValueError: bad shape\n"
    assert coverage.stderr_message(tb) == "traceback: ValueError: bad shape"
    assert coverage.stderr_message("Segmentation fault\n") == "Segmentation fault"
    assert coverage.stderr_message("") == ""


def test_budget_refusals_and_blockers():
    budget = ("onnx-tee lower: error: the model does not fit in a budget of 8.00 MiB with the optimal strategy "
              "(a single layer or activation needs more): the smallest budget that works is 12.02 MiB")
    assert coverage.is_budget_refusal(2, budget)
    assert not coverage.is_budget_refusal(1, budget)
    assert not coverage.is_budget_refusal(2, "onnx-tee lower: error: op Erf is not supported")
    message = ("onnx-tee lower: error: 3 node(s) cannot run in the TA interpreter: node '/a/Erf' (Erf): op Erf is "
               "not supported by the interpreter (supported: Add, Conv); node '/b/Erf' (Erf): op Erf is not "
               "supported by the interpreter (supported: Add, Conv); node 'lstm' (LSTM): op LSTM is not supported "
               "by the interpreter (supported: Add, Conv); node 'g' (Gather): axis 1 on a 3-d input is not supported")
    assert coverage.blockers(message) == ["Erf", "LSTM", "Gather: axis N on a N-d input is not supported"]
    assert coverage.blockers("onnx-tee lower: error: cannot infer the shape of 'x7' (dim 3)") == \
        ["cannot infer the shape of '…' (dim N)"]


def test_compare_reports_relative_and_allclose_errors():
    ref = {"y": np.array([[1.0, -2.0, 4.0]], np.float32), "z": np.array([1, 2], np.int64)}
    ok, rows = coverage.compare(ref, {"y": ref["y"] + 1e-6, "z": ref["z"]}, tol=1e-3, rtol=1e-3, atol=1e-4)
    assert ok and rows[0]["allclose"] and rows[0]["rel"] == pytest.approx(2.5e-7, rel=0.1)
    ok, rows = coverage.compare(ref, {"y": ref["y"] * 1.01, "z": ref["z"]}, tol=1e-3, rtol=1e-3, atol=1e-4)
    assert not ok and rows[0]["rel"] == pytest.approx(0.01, rel=1e-3) and not rows[0]["allclose"]
    ok, rows = coverage.compare(ref, {"y": ref["y"].reshape(3, 1), "z": ref["z"]}, tol=1e-3, rtol=1e-3, atol=1e-4)
    assert not ok and rows[0]["error"] == "shape differs"
    ok, rows = coverage.compare(ref, {"y": ref["y"]}, tol=1e-3, rtol=1e-3, atol=1e-4)
    assert not ok and "missing" in rows[1]["error"]
    nan = {"y": np.array([np.nan, 1.0])}
    assert coverage.compare(nan, {"y": np.array([np.nan, 1.0])}, tol=1e-3, rtol=0, atol=0)[0]
    assert not coverage.compare(nan, {"y": np.array([0.0, 1.0])}, tol=1e-3, rtol=0, atol=0)[0]


# ------------------------------------------------------------------------------------------ end to end

def _save(path: Path, nodes, inputs, outputs, inits=()) -> Path:
    graph = helper.make_graph(nodes, path.stem, inputs, outputs, list(inits))
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    d = tmp_path_factory.mktemp("coverage-models")
    rng = np.random.default_rng(0)
    f = TensorProto.FLOAT
    weight = numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32), "W")
    conv = _save(d / "conv_relu.onnx",
                 [helper.make_node("Conv", ["x", "W"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["y"])],
                 [helper.make_tensor_value_info("x", f, [1, 3, 16, 16])],
                 [helper.make_tensor_value_info("y", f, [1, 8, 16, 16])], [weight])
    shrink = _save(d / "shrink.onnx", [helper.make_node("Shrink", ["x"], ["y"])],
                [helper.make_tensor_value_info("x", f, [1, 3, 8, 8])], [helper.make_tensor_value_info("y", f, [1, 3, 8, 8])])
    # a softmax over one long axis: input + output need ~3 MiB, so 1 MiB is infeasible and 4 MiB works
    n = 384 * 1024
    wide = _save(d / "wide_softmax.onnx", [helper.make_node("Softmax", ["x"], ["y"], axis=1)],
                 [helper.make_tensor_value_info("x", f, [1, n])], [helper.make_tensor_value_info("y", f, [1, n])])
    table = numpy_helper.from_array(rng.standard_normal((4, 5)).astype(np.float32), "E")
    ids = _save(d / "embedding.onnx", [helper.make_node("Gather", ["E", "ids"], ["y"], axis=0)],
                [helper.make_tensor_value_info("ids", TensorProto.INT64, [1, 6])],
                [helper.make_tensor_value_info("y", f, [1, 6, 5])], [table])
    return {"conv_relu": conv, "shrink": shrink, "wide_softmax": wide, "embedding": ids}


def test_runner_end_to_end_on_hand_built_models(tiny_models, tmp_path):
    out = tmp_path / "results"
    args = ["--no-corpus", "--onnx", *map(str, tiny_models.values()), "--budgets", "1MiB", "4MiB",
            "--out", str(out), "--jobs", "2", "--timeout", "600", "--quiet"]
    assert coverage.main(args) == 0
    data = json.loads((out / "coverage.json").read_text())
    rows = {r["model"]: r for r in data["results"]}
    assert set(rows) == set(tiny_models)

    conv = rows["conv_relu"]
    assert conv["status"] == "matched", conv
    assert conv["budget"] == "1MiB" and conv["partitions"] >= 1 and conv["heap_high_water"] > 0
    assert conv["rel"] <= 1e-3 and conv["allclose"] and len(conv["lower"]) == 1

    shrink = rows["shrink"]
    assert shrink["status"] == "refused" and shrink["exit_code"] == 2
    assert shrink["message"].startswith("onnx-tee lower: error:") and "Shrink" in shrink["message"]
    assert shrink["blockers"] == ["Shrink"]

    wide = rows["wide_softmax"]
    assert [a["budget"] for a in wide["lower"]] == ["1MiB", "4MiB"], wide
    assert wide["lower"][0]["exit_code"] == 2 and "budget" in wide["lower"][0]["message"]
    assert wide["status"] == "matched" and wide["budget"] == "4MiB"

    emb = rows["embedding"]          # int64 ids: onnxruntime ran (ids within the table), whatever lower says
    assert emb["inputs"]["ids"]["dtype"] == "int64"
    assert emb["status"] in ("matched", "refused"), emb

    summary = data["summary"]
    assert summary["status"]["matched"] >= 2 and summary["items"] == 4
    assert any(b["reason"] == "Shrink" and b["which"] == ["shrink"] for b in summary["blockers"])
    md = (out / "coverage.md").read_text()
    assert "| conv_relu |" in md and "**refused** (exit 2)" in md and "| Shrink |" in md


def test_runner_records_missing_corpus_files_without_torch(tmp_path):
    out = tmp_path / "results"
    assert coverage.main(["--models", "resnet18", "--opsets", "13", "--corpus-dir", str(tmp_path / "empty"),
                          "--no-export", "--out", str(out), "--quiet"]) == 0
    (row,) = json.loads((out / "coverage.json").read_text())["results"]
    assert row["status"] == "not exported" and row["label"] == "resnet18-op13"


# ------------------------------------------------------------------------------------------ the whole corpus

@pytest.mark.slow
def test_whole_corpus_lowers_or_is_refused_with_a_reason(tmp_path):
    """Export (if torch is installed) and check every corpus model; every file gets a faithful outcome."""
    have_torch = importlib.util.find_spec("torch") is not None and importlib.util.find_spec("torchvision") is not None
    cached = all(corpus.model_path(e.name, op).exists() for e in corpus.ENTRIES for op in e.opsets)
    if not (have_torch or cached):
        pytest.skip("torch/torchvision not installed and the corpus is not exported (pip install -e '.[corpus]')")
    out = tmp_path / "results"
    assert coverage.main(["--out", str(out), "--jobs", "2", "--quiet"]) == 0
    data = json.loads((out / "coverage.json").read_text())
    expected = {f"{e.name}-op{op}" for e in corpus.ENTRIES for op in e.opsets}
    rows = {r["label"]: r for r in data["results"]}
    assert set(rows) == expected
    for label, row in rows.items():
        assert row["status"] != "not exported", row
        assert not row.get("message", "").startswith("coverage script:"), row
        if row["status"] in ("refused", "internal error"):
            assert row["message"], row
    assert data["summary"]["status"].get("matched", 0) >= 1
