"""Bad input to inspect / compact / lower: one clear line on stderr, exit 2, input untouched.

The matrix runs `cli.main` in-process; a few cases run the real script."""
from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from onnx_tee import cli
from onnx_tee import models
from conftest import make_model

CLI = str(Path(__file__).resolve().parent.parent / "cli.py")


def not_onnx(tmp: Path) -> Path:
    path = tmp / "notes.onnx"
    path.write_text("this is a text file, not a model\n" * 4)
    return path


def truncated(tmp: Path) -> Path:
    path = tmp / "truncated.onnx"
    data = models.load("squeezenet").SerializeToString()
    path.write_bytes(data[: len(data) // 2])
    return path


def missing_external_data(tmp: Path) -> Path:
    path = tmp / "external.onnx"
    model = make_model([helper.make_node("Add", ["x", "w"], ["y"])], [("x", [64])], [("y", [64])],
                       [numpy_helper.from_array(np.ones(64, np.float32), "w")])
    onnx.save_model(model, str(path), save_as_external_data=True, location="external.data", size_threshold=0)
    (tmp / "external.data").unlink()
    return path


def dynamic(tmp: Path) -> Path:
    path = tmp / "dynamic.onnx"
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["batch", 3])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["batch", 3])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def no_shape_rule(tmp: Path) -> Path:
    path = tmp / "custom.onnx"
    graph = helper.make_graph([helper.make_node("Frobnicate", ["x"], ["t"], domain="com.example"),
                               helper.make_node("Relu", ["t"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                      helper.make_opsetid("com.example", 1)]), str(path))
    return path


# (maker, commands it must fail for, words the message must contain)
CASES = {
    "not-onnx": (not_onnx, ("inspect", "compact", "lower"), "not a valid ONNX model"),
    "truncated": (truncated, ("inspect", "compact", "lower"), "truncated"),
    "missing-external-data": (missing_external_data, ("inspect", "compact", "lower"),
                              "external weight data is missing"),
    "dynamic-dims": (dynamic, ("inspect", "lower"), "--input-shape x:"),
    "no-shape-rule": (no_shape_rule, ("inspect", "lower"), "Frobnicate"),
}


def arguments(command: str, model: str, tmp: Path) -> list[str]:
    extra = {"compact": ["-o", str(tmp / "out.onnx")], "lower": ["-o", str(tmp / "out")]}.get(command, [])
    return [command, model, *extra]


@pytest.mark.parametrize("case, command", [(case, command) for case, (_, commands, _) in CASES.items()
                                            for command in commands])
def test_bad_model_file_gives_one_line_and_exit_2(case, command, tmp_path, capsys):
    maker, _, words = CASES[case]
    path = maker(tmp_path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert cli.main(arguments(command, str(path), tmp_path)) == 2
    stderr = capsys.readouterr().err
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr
    assert lines[0].startswith(f"onnx-tee {command}: error: ") and words in lines[0]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert not (tmp_path / "out.onnx").exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["inspect", "compact", "lower"])
def test_unknown_zoo_name(command, tmp_path, capsys):
    assert cli.main(arguments(command, "resnet51", tmp_path)) == 2
    stderr = capsys.readouterr().err
    assert stderr.count("\n") == 1 and "unknown model 'resnet51'" in stderr and "resnet50" in stderr


def test_the_script_itself_exits_2_with_one_line(tmp_path):
    done = subprocess.run([sys.executable, CLI, "inspect", str(truncated(tmp_path))], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_dynamic_dims_pass_once_the_shape_is_given(tmp_path):
    done = subprocess.run([sys.executable, CLI, "inspect", str(dynamic(tmp_path)), "--input-shape", "x:2,3", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_debug_shows_the_traceback(tmp_path):
    done = subprocess.run([sys.executable, CLI, "--debug", "inspect", str(not_onnx(tmp_path))],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "Traceback" in done.stderr
