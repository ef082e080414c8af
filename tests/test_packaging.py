"""The installed package: one import name, the packaged C sources, and a wheel that works outside the repository."""
from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tomllib
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_python_package_of_the_tree_is_installed_under_onnx_tee():
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    tree = {"onnx_tee." + ".".join(p.parent.relative_to(ROOT).parts)
            for top in ("passes", "models") for p in (ROOT / top).rglob("__init__.py")}
    assert tree <= listed, f"packages missing from pyproject.toml: {sorted(tree - listed)}"
    assert all(name == "onnx_tee" or name.startswith("onnx_tee.") for name in listed)


def test_the_package_data_carries_every_runtime_source_the_simulator_builds():
    import fnmatch

    patterns = _pyproject()["tool"]["setuptools"]["package-data"]["onnx_tee.runtime_ta"]
    sources = [p.relative_to(ROOT / "runtime_ta") for p in (ROOT / "runtime_ta").rglob("*")
               if p.is_file() and (p.suffix in (".c", ".h", ".mk") or p.name == "Makefile")]
    unmatched = [str(s) for s in sources
                 if not any(fnmatch.fnmatch(str(s), pat) or fnmatch.fnmatch(str(s), pat.replace("**/", ""))
                            for pat in patterns)]
    assert sources and not unmatched


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Built from a copy of the source tree: setuptools' build/lib of the checkout may hold files the tree
    no longer has, which would end up in the wheel."""
    import shutil

    source, out = tmp_path_factory.mktemp("source") / "onnx-tee", tmp_path_factory.mktemp("dist")
    local = {".git", ".venv", "build", "dist", "out", ".hypothesis", ".pytest_cache"}
    shutil.copytree(ROOT, source, ignore=lambda d, names: [n for n in names if (Path(d) == ROOT and n in local)
                                                           or n == "__pycache__" or n.endswith(".egg-info")])
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                    "-w", str(out), str(source)], check=True, capture_output=True, text=True)
    (found,) = out.glob("onnx_tee-*.whl")
    return found


def test_the_wheel_installs_only_the_onnx_tee_import_name(wheel):
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert tops == {"onnx_tee"}
    assert "onnx_tee/cli.py" in names and "onnx_tee/runtime_ta/interp/interp.c" in names
    assert "onnx_tee/models/trained/lenet5_fmnist.onnx" in names


def test_the_wheel_lowers_the_default_model_from_an_empty_directory(wheel, tmp_path):
    """A fresh virtual environment with only the wheel (its dependencies taken from this environment):
    `onnx-tee lower` in an empty directory builds the simulator from the packaged sources and succeeds."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    site = next((env_dir / "lib").glob("python3*/site-packages"))
    # dependencies only: a plain path line does not run this environment's own .pth files (no editable finder)
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    python = env_dir / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True,
                   capture_output=True, text=True)
    work = tmp_path / "empty"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("ONNX_TEE_BUILD", "PYTHONPATH", "VIRTUAL_ENV")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    where = subprocess.run([python, "-c", "import onnx_tee.passes as p; print(p.__file__)"], cwd=work, env=env,
                           capture_output=True, text=True, check=True)
    assert str(ROOT) not in where.stdout and str(env_dir) in where.stdout
    done = subprocess.run([env_dir / "bin" / "onnx-tee", "lower", "--budget", "4MiB"], cwd=work, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    assert (work / "out" / "manifest.json").is_file() and any((work / "out" / "device").iterdir())
    assert any((tmp_path / "cache" / "onnx-tee" / "build").rglob("*.so"))
