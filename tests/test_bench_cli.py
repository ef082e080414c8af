"""`python cli.py bench`: argument handling, the canonical command, and the --quick smoke run."""
from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from onnx_tee import models
from onnx_tee.passes.commands import bench
from onnx_tee.passes.errors import UserError

REPO = Path(__file__).resolve().parents[1]


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    bench.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["bench", *argv])


def test_quick_defaults_and_overrides():
    settings, _ = bench.settings_from_args(_parse(["--quick"]))
    assert list(settings.models) == bench.QUICK_MODELS
    assert settings.budgets == (256 * 1024, 8 * 2**20) and settings.repeats == bench.QUICK_REPEATS
    assert settings.accuracy_limit == bench.QUICK_ACCURACY_SAMPLES
    settings, _ = bench.settings_from_args(_parse(["--quick", "--repeats", "7", "--budgets", "1MiB"]))
    assert settings.repeats == 7 and settings.budgets == (2**20,)


def test_full_defaults_cover_the_whole_zoo_at_three_budgets():
    settings, _ = bench.settings_from_args(_parse([]))
    assert list(settings.models) == models.names()
    assert settings.budgets == (8 * 2**20, 16 * 2**20, 32 * 2**20)
    assert [c.name for c in settings.configs] == ["ort", "layerwise", "partitioned", "pruned-layerwise", "ours", "ours-int8"]
    assert settings.accuracy_limit is None


def test_model_groups_and_commas():
    settings, _ = bench.settings_from_args(_parse(["--models", "reference", "squeezenet,lenet5_fmnist"]))
    assert list(settings.models) == models.reference_names() + ["lenet5_fmnist"]


def test_canonical_command_reproduces_the_settings():
    settings, command = bench.settings_from_args(
        _parse(["--models", "squeezenet", "--budgets", "4MiB, 8MiB", "--configs", "ours,layerwise",
                "--switch-cost-ms", "0.25", "--accuracy-samples", "500", "-o", "out dir"]))
    words = shlex.split(command)
    assert words[:3] == ["python", "cli.py", "bench"]
    again, command_again = bench.settings_from_args(_parse(words[3:]))
    assert again == settings and command_again == command
    assert settings.switch_model.cost_ms == 0.25 and settings.out_dir == Path("out dir")


@pytest.mark.parametrize("argv, message", [
    (["--budgets", "eight"], "not a size"),
    (["--budgets", ","], "empty"),
    (["--repeats", "0"], "--repeats"),
    (["--configs", "fastest"], "unknown configuration"),
    (["--switch-cost-ms", "-1"], "switch-cost-ms"),
    (["--accuracy-samples", "0"], "accuracy-samples"),
])
def test_bad_arguments_are_user_errors(argv, message):
    with pytest.raises(UserError, match=message):
        bench.settings_from_args(_parse(argv))


def test_bench_command_is_registered():
    from onnx_tee import cli
    assert "bench" in cli.COMMANDS


def test_quick_smoke_run_end_to_end(tmp_path):
    """`bench --quick`, as CI runs it: every configuration at both budgets, within the 2-minute promise."""
    out = tmp_path / "quick"
    start = time.perf_counter()
    done = subprocess.run([sys.executable, str(REPO / "cli.py"), "bench", "--quick", "--no-progress", "-o", str(out)],
                          capture_output=True, text=True, timeout=300)
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stderr[-3000:]
    assert seconds < 120, f"--quick took {seconds:.0f} s"
    data = json.loads((out / "results.json").read_text())
    cells = {(m["budget"], m["config"]): m for m in data["measurements"]}
    assert len(cells) == 2 * 6 and all(m["status"] == "ok" for m in cells.values())
    for budget in (256 * 1024, 8 * 2**20):
        ort, ours, layerwise = cells[(budget, "ort")], cells[(budget, "ours")], cells[(budget, "layerwise")]
        assert ours["max_rel_error"] < 1e-4 and layerwise["max_rel_error"] < 1e-4
        assert ours["partitions"] <= layerwise["partitions"] and ours["macs"] < ort["macs"]
        assert 0.5 < ours["accuracy"] and ort["accuracy"] - ours["accuracy"] < 0.03
        int8 = cells[(budget, "ours-int8")]
        assert int8["weight_bytes"] < 0.3 * ours["weight_bytes"] and int8["partitions"] <= ours["partitions"]
        assert int8["macs"] == ours["macs"] and ours["accuracy"] - int8["accuracy"] <= 0.01
    assert data["summary"]["ours vs layerwise"]["cells"] == 2
    assert data["command"].startswith("python cli.py bench --models lenet5_fmnist --budgets 256KiB,8MiB")
    for name in ("results.md", "time_256KiB.png", "time_8MiB.png", "speedup_vs_budget.png",
                 "accuracy_vs_flops.png", "pruned/lenet5_fmnist.onnx"):
        assert (out / name).stat().st_size > 0, name
    assert "Total time per inference" in done.stdout and "Speed-ups (geometric means)" in done.stdout


def test_render_only_rewrites_tables_and_charts_from_results_json(tmp_path):
    from test_bench_harness import _toy_run
    from onnx_tee.passes.bench.report import write_json
    run = _toy_run()
    write_json(run, tmp_path / "results.json")
    before = json.loads((tmp_path / "results.json").read_text())["measurements"]
    assert bench.run(_parse(["--render-only", "-o", str(tmp_path)])) == 0
    assert json.loads((tmp_path / "results.json").read_text())["measurements"] == before
    assert "`python cli.py bench --quick`" in (tmp_path / "results.md").read_text()
    assert (tmp_path / "speedup_vs_budget.png").stat().st_size > 0
    with pytest.raises(UserError, match="does not exist"):
        bench.run(_parse(["--render-only", "-o", str(tmp_path / "nothing")]))
