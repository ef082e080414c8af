"""Regression tests of the CLI (findings F4, F7, F8 of the outside review) and the vendor side of enrolment.

F4  rollback protection never triggered for CLI builds (a random model id and version 1 every time):
    `lower --model-id ID --model-version N`, and a rebuild into the same directory keeps the id and
    counts the version up, so a device that opened release N refuses release N - 1.
F7  `lower` without --key replaced DIR/model.key and followed a link planted there: the key file is
    created with O_EXCL | O_NOFOLLOW, an existing valid key is reused, anything else is refused.
F8  path errors exited 1 ("internal error") after the work, or left a half-written *.tmp; `run`
    cast float64/int64/bool inputs silently and ran NaN/Inf: every such case is a one-line exit 2
    before any work.
"""
from __future__ import annotations

import json
import os
from types import SimpleNamespace

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnx_tee import cli as onnx_tee_cli
from onnx_tee.passes.lower.envelope import MANIFEST_FILE, parse_manifest
from onnx_tee.passes.lower.keys import KEY_BYTES, generate_key, write_key
from onnx_tee.passes.lower.sim import Simulator, TAError


@pytest.fixture
def cli(capsys):
    def run(*args):
        code = onnx_tee_cli.main([str(a) for a in args])
        captured = capsys.readouterr()
        return SimpleNamespace(returncode=code, stdout=captured.out, stderr=captured.err)
    return run


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((8, 4)).astype(np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [w])
    path = tmp_path_factory.mktemp("model") / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def device_manifest(out):
    return parse_manifest((out / "device" / MANIFEST_FILE).read_bytes())


def one_line_error(result):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0] and "internal error" not in lines[0], result.stderr
    return lines[0]


# ---- F4 ---------------------------------------------------------------------------------------

def test_f4_model_id_and_version_options_make_the_rollback_guard_work(tmp_path, tiny_model, cli):
    key = tmp_path / "model.key"
    write_key(key, generate_key())
    for version in (2, 1):
        result = cli("lower", tiny_model, "--budget", "1MiB", "--key", key, "--model-id", "tiny-classifier",
                     "--model-version", version, "-o", tmp_path / f"v{version}")
        assert result.returncode == 0, result.stderr
    v2, v1 = device_manifest(tmp_path / "v2"), device_manifest(tmp_path / "v1")
    assert v2.model_id == v1.model_id == b"tiny-classifier\0" and (v2.model_version, v1.model_version) == (2, 1)
    recorded = json.loads((tmp_path / "v2" / "manifest.json").read_text())
    assert recorded["model_id"] == v2.model_id.hex() and recorded["model_version"] == 2
    with Simulator(tmp_path / "phone", budget=1 << 20) as sim:
        sim.provision_key(key.read_bytes())
        sim.open_model((tmp_path / "v2" / "device" / MANIFEST_FILE).read_bytes())
        with pytest.raises(TAError) as err:
            sim.open_model((tmp_path / "v1" / "device" / MANIFEST_FILE).read_bytes())
        assert err.value.name == "OT_ERR_ROLLBACK"


def test_f4_a_rebuild_into_the_same_directory_is_the_next_release(tmp_path, tiny_model, cli):
    out, releases = tmp_path / "out", []
    for _ in range(2):
        assert cli("lower", tiny_model, "--budget", "1MiB", "-o", out).returncode == 0
        releases.append(device_manifest(out))
    first, second = releases
    assert first.model_id == second.model_id and (first.model_version, second.model_version) == (1, 2)


@pytest.mark.parametrize("args,message", [
    (["--model-id", "x" * 17], "--model-id"),
    (["--model-id", ""], "--model-id"),
    (["--model-version", "0"], "--model-version"),
])
def test_f4_bad_release_options(tmp_path, tiny_model, cli, args, message):
    assert message in one_line_error(cli("lower", tiny_model, "--budget", "1MiB", *args, "-o", tmp_path / "o"))


# ---- F7 ---------------------------------------------------------------------------------------

def test_f7_lower_does_not_follow_a_link_planted_at_model_key(tmp_path, tiny_model, cli):
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    (out / "model.key").symlink_to(victim)
    assert "symbolic link" in one_line_error(cli("lower", tiny_model, "--budget", "1MiB", "-o", out))
    assert victim.read_bytes() == b"precious"
    (out / "model.key").unlink()
    (out / "model.key").symlink_to(tmp_path / "dangling")          # a dangling link is not followed either
    assert "symbolic link" in one_line_error(cli("lower", tiny_model, "--budget", "1MiB", "-o", out))
    assert not (tmp_path / "dangling").exists()


def test_f7_lower_reuses_an_existing_key_and_never_replaces_one(tmp_path, tiny_model, cli):
    out = tmp_path / "out"
    assert cli("lower", tiny_model, "--budget", "1MiB", "-o", out).returncode == 0
    key = (out / "model.key").read_bytes()
    assert len(key) == KEY_BYTES and (os.stat(out / "model.key").st_mode & 0o777) == 0o600
    assert cli("lower", tiny_model, "--budget", "1MiB", "-o", out).returncode == 0
    assert (out / "model.key").read_bytes() == key                 # the same key: still provisioned
    (out / "model.key").write_bytes(b"not a key")
    assert "refusing to replace" in one_line_error(cli("lower", tiny_model, "--budget", "1MiB", "-o", out))
    assert (out / "model.key").read_bytes() == b"not a key"


# ---- F8 ---------------------------------------------------------------------------------------

def test_f8_lower_output_paths(tmp_path, tiny_model, cli):
    existing = tmp_path / "file"
    existing.write_text("x")
    assert "not a directory" in one_line_error(cli("lower", tiny_model, "-o", existing))
    one_line_error(cli("lower", tiny_model, "-o", "/proc/onnx-tee-out"))


def test_f8_compact_output_paths(tmp_path, tiny_model, cli):
    target = tmp_path / "dir"
    target.mkdir()
    assert "is a directory" in one_line_error(cli("compact", tiny_model, "-o", target))
    assert list(tmp_path.glob("*.tmp")) == [] and list(target.iterdir()) == []
    one_line_error(cli("compact", tiny_model, "-o", "/proc/onnx-tee.onnx"))


@pytest.fixture(scope="module")
def lowered(tmp_path_factory, tiny_model):
    out = tmp_path_factory.mktemp("lowered") / "out"
    assert onnx_tee_cli.main(["lower", str(tiny_model), "--budget", "1MiB", "-o", str(out)]) == 0
    return out


def test_f8_run_checks_its_output_paths_before_running(tmp_path, lowered, cli, monkeypatch):
    np.save(tmp_path / "x.npy", np.ones((1, 8), np.float32))
    from onnx_tee.passes.commands import run as run_command

    def no_run(*args, **kwargs):
        raise AssertionError("the model ran before the output path was checked")

    monkeypatch.setattr(run_command, "run_sim", no_run)
    one_line_error(cli("run", lowered, "--input", tmp_path / "x.npy", "--output", "/proc/onnx-tee-y.npz"))
    one_line_error(cli("run", lowered, "--input", tmp_path / "x.npy", "--stats", tmp_path))


@pytest.mark.parametrize("array,message", [
    (np.ones((1, 8), np.float64), "float64"),
    (np.ones((1, 8), np.int64), "int64"),
    (np.ones((1, 8), bool), "bool"),
    (np.array([[1, np.nan, 0, 0, 0, 0, 0, 0]], np.float32), "NaN"),
    (np.array([[1, np.inf, 0, 0, 0, 0, 0, 0]], np.float32), "NaN or infinite"),
])
def test_f8_run_refuses_other_dtypes_and_non_finite_inputs(tmp_path, lowered, cli, array, message):
    np.save(tmp_path / "x.npy", array)
    assert message in one_line_error(cli("run", lowered, "--input", tmp_path / "x.npy"))


def test_f8_run_writes_its_outputs(tmp_path, lowered, cli):
    np.save(tmp_path / "x.npy", np.ones((1, 8), np.float32))
    result = cli("run", lowered, "--input", tmp_path / "x.npy", "--output", tmp_path / "y", "--stats",
                 tmp_path / "s.json")
    assert result.returncode == 0, result.stderr
    assert np.load(tmp_path / "y.npz")["y"].shape == (1, 4)
    assert json.loads((tmp_path / "s.json").read_text())["partitions"]
    assert not list(tmp_path.glob(".*.tmp"))


# ---- enrolment, the vendor's side (F3) -----------------------------------------------------------

def test_keygen_vendor_and_unwrap(tmp_path, cli):
    vendor_dir = tmp_path / "vendor"
    vendor_dir.mkdir()
    assert cli("keygen", "--vendor", "-o", vendor_dir).returncode == 0
    assert "ot_vendor_modulus[384]" in (vendor_dir / "vendor_key.h").read_text()
    assert "already exists" in one_line_error(cli("keygen", "--vendor", "-o", vendor_dir))
    modulus = (vendor_dir / "vendor_modulus.bin").read_bytes()
    with Simulator(tmp_path / "phone", budget=1 << 20, key_mode="device", vendor_modulus=modulus) as sim:
        (tmp_path / "enrolment.bin").write_bytes(sim.enrol_device())
    result = cli("keygen", "--unwrap", tmp_path / "enrolment.bin", "--vendor-key", vendor_dir / "vendor.pem",
                 "-o", tmp_path / "device.key")
    assert result.returncode == 0, result.stderr
    assert len((tmp_path / "device.key").read_bytes()) == KEY_BYTES
    other = tmp_path / "other"
    other.mkdir()
    assert cli("keygen", "--vendor", "-o", other).returncode == 0
    assert "does not open" in one_line_error(cli("keygen", "--unwrap", tmp_path / "enrolment.bin", "--vendor-key",
                                                 other / "vendor.pem", "-o", tmp_path / "k2"))
