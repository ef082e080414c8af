"""`lower` end to end and `run` on its output, through the CLI as a user calls them."""
from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from onnx_tee import models

ROOT = Path(__file__).resolve().parents[1]
MODEL = "resnet_fmnist"   # trained zoo model, two partitions at this budget
BUDGET = "320KiB"


def cli(*args, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *map(str, args)], capture_output=True, text=True,
                          cwd=cwd)


@pytest.fixture(scope="module")
def lowered(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("lowered") / "out"
    proc = cli("lower", MODEL, "--budget", BUDGET, "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert "max abs / rel error" in proc.stdout
    return out


@pytest.fixture(scope="module")
def sample_input(tmp_path_factory, lowered) -> Path:
    manifest = json.loads((lowered / "manifest.json").read_text())
    first = onnx.load(str(lowered / manifest["partitions"][0]["onnx"]), load_external_data=False)
    dims = [d.dim_value for d in first.graph.input[0].type.tensor_type.shape.dim]
    path = tmp_path_factory.mktemp("input") / "x.npy"
    np.save(path, np.random.default_rng(5).standard_normal(dims).astype(np.float32))
    return path


def test_lower_writes_the_documented_layout(lowered):
    manifest = json.loads((lowered / "manifest.json").read_text())
    model = models.load(MODEL)
    assert manifest["budget"] == 320 << 10
    assert manifest["inputs"] == [i.name for i in model.graph.input if i.name not in
                                  {t.name for t in model.graph.initializer}]
    assert manifest["outputs"] == [o.name for o in model.graph.output]
    assert len(manifest["partitions"]) == 2
    for k, part in enumerate(manifest["partitions"]):
        assert part["onnx"] == f"partition_{k:03d}.onnx"
        onnx.checker.check_model(str(lowered / part["onnx"]))
        assert (lowered / part["blob"]).is_file() and part["blob"].startswith("device/")
        assert part["memory"]["total"] + manifest["reserve_bytes"] <= manifest["budget"]
        assert {"weights", "arena", "scratch", "carried", "staging", "total"} <= set(part["memory"])
    assert (lowered / "device" / "manifest.bin").is_file()
    assert sorted(p.name for p in (lowered / "device").iterdir()) == sorted(
        ["manifest.bin"] + [Path(p["blob"]).name for p in manifest["partitions"]])
    assert stat.S_IMODE((lowered / "model.key").stat().st_mode) == 0o600
    report = json.loads((lowered / "report.json").read_text())
    sim = report["simulation"]
    assert max(sim["max_rel_error"].values()) <= 1e-4
    assert all(p["measured"] == p["planned"] for p in sim["partitions"])


def test_run_in_the_simulator_matches_onnxruntime(lowered, sample_input, tmp_path):
    sim_out, ort_out, stats = tmp_path / "sim.npz", tmp_path / "ort.npz", tmp_path / "stats.json"
    proc = cli("run", lowered, "--input", sample_input, "--output", sim_out, "--stats", stats)
    assert proc.returncode == 0, proc.stderr
    proc = cli("run", lowered, "--input", sample_input, "--backend", "ort", "--output", ort_out)
    assert proc.returncode == 0, proc.stderr
    sim, ref = np.load(sim_out), np.load(ort_out)
    assert sim.files == ref.files == json.loads((lowered / "manifest.json").read_text())["outputs"]
    for name in ref.files:
        assert np.abs(sim[name] - ref[name]).max() <= 1e-4 * np.abs(ref[name]).max()
    counters = json.loads(stats.read_text())
    assert counters["heap_high_water"] <= (320 << 10) + counters["heap_high_water"] - counters["region_bytes"]
    assert counters["region_bytes"] <= 320 << 10
    assert [p["touched_bytes"] for p in counters["partitions"]] == [p["planned_bytes"] for p in counters["partitions"]]


def test_run_input_errors_are_one_line_exit_2(lowered, sample_input, tmp_path, capsys):
    from onnx_tee import cli as front

    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((1, 3, 10, 10), np.float32))
    named = tmp_path / "named.npz"
    np.savez(named, not_an_input=np.zeros(3, np.float32))
    cases = [(("run", tmp_path / "missing", "--input", sample_input), "not a directory"),
             (("run", lowered, "--input", wrong), "expects"),
             (("run", lowered, "--input", named), "unknown not_an_input"),
             (("run", lowered, "--input", tmp_path / "none.npy"), "does not exist"),
             (("run", lowered, "--input", sample_input, "--backend", "ort", "--stats", tmp_path / "s.json"), "--stats"),
             (("run", lowered, "--input", sample_input, "--key", tmp_path / "nokey"), "does not exist")]
    for args, message in cases:
        code = front.main([str(a) for a in args])
        err = capsys.readouterr().err
        assert code == 2, (args, err)
        assert message in err and len(err.strip().splitlines()) == 1, err


def test_lower_with_a_given_key_and_a_wrong_key_at_run(tmp_path, capsys):
    from onnx_tee import cli as front
    from onnx_tee.passes.lower.keys import generate_key, write_key

    key, other = write_key(tmp_path / "k", generate_key()), write_key(tmp_path / "other", generate_key())
    out = tmp_path / "out"
    assert front.main(["lower", MODEL, "--budget", "1MiB", "--key", str(key), "-o", str(out)]) == 0
    assert not (out / "model.key").exists()
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((1, 1, 28, 28), np.float32))
    capsys.readouterr()
    assert front.main(["run", str(out), "--input", str(x), "--key", str(key)]) == 0
    assert front.main(["run", str(out), "--input", str(x), "--key", str(other)]) == 2
    assert "not authentic" in capsys.readouterr().err


def test_lower_refuses_before_writing(tmp_path, capsys):
    from onnx_tee import cli as front

    out = tmp_path / "out"
    assert front.main(["lower", MODEL, "--budget", "128KiB", "-o", str(out)]) == 2
    assert "smallest budget that works" in capsys.readouterr().err
    assert front.main(["lower", MODEL, "--key", str(tmp_path / "missing.key"), "-o", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not out.exists()
