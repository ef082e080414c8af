"""The prune command, `inspect --groups` and `lower --prune`: outputs, reports, and bad input (exit 2)."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from onnx_tee import cli
from onnx_tee import models
from conftest import make_model
from onnx_tee.passes.prune.groups import analyze


def blocked_model(path) -> str:
    """Every group blocked: the conv's channels feed an LRN, the rest is the graph interface."""
    rng = np.random.default_rng(0)
    model = make_model([helper.make_node("Conv", ["x", "w"], ["a"], name="conv"),
                        helper.make_node("LRN", ["a"], ["y"], size=3, name="lrn")],
                       [("x", [1, 3, 5, 5])], [("y", [1, 4, 3, 3])],
                       [numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w")])
    onnx.save(model, str(path))
    return str(path)


@pytest.mark.parametrize("argv, message", [
    (["squeezenet", "--data", "imagenet"], "unknown data set 'imagenet'"),
    (["squeezenet", "--target-flops", "1.5"], "--target-flops must be a ratio in (0, 1)"),
    (["squeezenet", "--target-params", "0"], "--target-params must be a ratio in (0, 1)"),
    (["squeezenet", "--data", "fashion-mnist", "--max-accuracy-drop", "-0.1"], "--max-accuracy-drop must be in [0, 1)"),
    (["squeezenet", "--max-accuracy-drop", "0.01"], "needs labelled data"),
    (["squeezenet"], "give a stopping rule"),
    (["squeezenet", "--target-flops", "0.5", "--step", "0"], "step fraction must be in (0, 1)"),
    (["squeezenet", "--target-flops", "0.5", "--criterion", "activation"], "needs calibration data"),
    (["squeezenet", "--data", "fashion-mnist", "--target-flops", "0.5"], "data set 'fashion-mnist' gives samples"),
    (["lenet5_fmnist", "--data", "fashion-mnist", "--final-epochs", "1"], "a final distillation needs --recovery distill"),
])
def test_bad_input_exits_2_with_one_line(argv, message, tmp_path, capsys):
    assert cli.main(["prune", *argv, "-o", str(tmp_path / "out.onnx")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "out.onnx").exists()


def test_nothing_prunable_says_which_ops_blocked_which_groups(tmp_path, capsys):
    assert cli.main(["prune", blocked_model(tmp_path / "m.onnx"), "--target-flops", "0.5",
                     "-o", str(tmp_path / "out.onnx")]) == 2
    err = capsys.readouterr().err
    assert "nothing to prune" in err and "LRN 'lrn'" in err and "graph input" in err


def test_prune_without_data_writes_model_and_report(tmp_path, capsys):
    out = tmp_path / "sq.onnx"
    assert cli.main(["prune", "squeezenet", "--target-flops", "0.8", "--criterion", "l2", "--round-to", "4",
                     "-o", str(out)]) == 0
    pruned = onnx.load(str(out))
    onnx.checker.check_model(pruned, full_check=True)
    report = json.loads((tmp_path / "sq_report.json").read_text())
    assert (tmp_path / "sq_accuracy_flops.png").stat().st_size > 1000
    assert report["stop_reason"] == "flops target reached" and report["ratios"]["flops"] <= 0.8
    changed = [r for r in report["layers"] if r["channels_after"] != r["channels_before"]]
    assert changed and all(r["channels_after"] % 4 == 0 for r in changed)
    assert "flops target reached" in capsys.readouterr().out


def test_inspect_groups_table_and_json(capsys):
    assert cli.main(["inspect", "shufflenet", "--groups"]) == 0
    out = capsys.readouterr().out
    assert "channel groups (17 of 19 prunable)" in out and "Softmax 'n202'" in out
    assert cli.main(["inspect", "squeezenet", "--groups", "--json"]) == 0
    groups = json.loads(capsys.readouterr().out)["groups"]
    expected = analyze(models.load("squeezenet")).groups
    assert [g["channels"] for g in groups] == [g.channels for g in expected]
    assert any(not g["prunable"] and "graph input" in g["blocked_by"][0] for g in groups)


def test_lower_prune_runs_inside_the_main_job(tmp_path):
    assert cli.main(["lower", "squeezenet", "--prune", "--target-params", "0.7", "-o", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["pruning"]["ratios"]["params"] <= 0.7
    compacted = onnx.load(str(tmp_path / "compacted.onnx"))
    original_params = sum(int(np.prod(t.dims)) for t in models.load("squeezenet").graph.initializer)
    assert sum(int(np.prod(t.dims)) for t in compacted.graph.initializer) <= 0.7 * original_params
    assert (tmp_path / "prune_accuracy_flops.png").exists()


@pytest.mark.parametrize("name", [pytest.param("lenet5_fmnist"), pytest.param("resnet_fmnist", marks=pytest.mark.slow)])
def test_prune_trained_model_with_data_reports_test_accuracy(name, tmp_path):
    if name not in models.trained_names():
        pytest.skip(f"{name} is not in the trained zoo")
    out = tmp_path / "r.onnx"
    assert cli.main(["prune", name, "--data", "fashion-mnist", "--steps", "1", "--validation", "500",
                     "--calibration", "128", "-o", str(out)]) == 0
    report = json.loads((tmp_path / "r_report.json").read_text())
    test = report["test_accuracy"]
    assert 0.5 < test["after"] <= 1 and test["before"] > 0.85
    steps = report["steps"]
    assert steps[0]["accuracy"] is not None and any(s["accepted"] for s in steps[1:])
    assert report["final"]["flops"] < report["baseline"]["flops"]
