"""`cli.py lower`: with no model it lowers the default zoo model into out/."""
from __future__ import annotations

import json

import onnx

from onnx_tee import cli
from onnx_tee import models
from onnx_tee.passes import lower_model
from onnx_tee.passes.build.lowered import STEPS
from conftest import assert_same_outputs


def test_lower_without_arguments_compacts_and_analyses_the_default_model(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["lower"]) == 0
    assert "lower " + models.DEFAULT_MODEL in capsys.readouterr().out
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["model"] == models.DEFAULT_MODEL and report["budget"] == 8 * 1024 * 1024
    compacted = onnx.load(str(tmp_path / "out" / "compacted.onnx"))
    assert report["analysis"]["nodes"] == len(compacted.graph.node)
    assert report["compaction"]["weight_bytes_after"] <= report["compaction"]["weight_bytes_before"]
    assert list(report["seconds"]) == [name for name, _ in STEPS]
    assert_same_outputs(models.load(models.DEFAULT_MODEL), compacted)


def test_lower_is_a_sequence_of_steps_that_later_stages_extend(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    seen = []
    first = [(name, step) for name, step in STEPS if name in ("fix shapes", "compact", "analyse")]
    steps = first + [("count nodes", lambda job: seen.append(len(job.model.graph.node)))]
    job = lower_model(models.load("squeezenet"), 1 << 23, label="squeezenet", steps=steps)
    assert seen == [len(job.model.graph.node)] and "analysis" in job.report
    assert "Dropout" not in job.report["analysis"]["ops"]
    assert not any(tmp_path.iterdir())  # nothing is written before save()


def test_lower_rejects_a_bad_budget(tmp_path, capsys):
    assert cli.main(["lower", "squeezenet", "--budget", "eight", "-o", str(tmp_path)]) == 2
    assert "not a size" in capsys.readouterr().err
