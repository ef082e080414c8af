"""Key files: `keygen` makes owner-only 32-byte keys and refuses to overwrite; bad key files are clear errors."""
from __future__ import annotations

import os
import stat
from types import SimpleNamespace

import pytest

from onnx_tee import cli as onnx_tee_cli
from onnx_tee.passes.errors import UserError
from onnx_tee.passes.lower.envelope import seal_blob
from onnx_tee.passes.lower.keys import KEY_BYTES, generate_key, load_key, write_key


@pytest.fixture
def cli(capsys):
    def run(*args):
        code = onnx_tee_cli.main([str(a) for a in args])
        return SimpleNamespace(returncode=code, stderr=capsys.readouterr().err)
    return run


def test_keygen_writes_an_owner_only_key(tmp_path, cli):
    path = tmp_path / "model.key"
    result = cli("keygen", "-o", path)
    assert result.returncode == 0, result.stderr
    assert path.stat().st_size == KEY_BYTES
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key(path) == path.read_bytes()


def test_keygen_refuses_to_overwrite(tmp_path, cli):
    path = tmp_path / "model.key"
    assert cli("keygen", "-o", path).returncode == 0
    first = path.read_bytes()
    result = cli("keygen", "-o", path)
    assert result.returncode == 2 and "already exists" in result.stderr
    assert path.read_bytes() == first
    assert cli("keygen", "-o", path, "--force").returncode == 0
    assert path.read_bytes() != first


def test_keygen_into_a_missing_directory(tmp_path, cli):
    result = cli("keygen", "-o", tmp_path / "nope" / "k")
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_keys_are_fresh():
    assert len({generate_key() for _ in range(64)}) == 64


@pytest.mark.parametrize("content,mode,message", [
    (b"short", 0o600, "is not a key file"),
    (b"k" * 33, 0o600, "is not a key file"),
    (b"k" * 32, 0o644, "readable by others"),
])
def test_bad_key_files(tmp_path, content, mode, message):
    path = tmp_path / "key"
    path.write_bytes(content)
    os.chmod(path, mode)
    with pytest.raises(UserError, match=message):
        load_key(path)


def test_missing_key_file_says_how_to_make_one(tmp_path):
    with pytest.raises(UserError, match="keygen"):
        load_key(tmp_path / "absent.key")


def test_nonces_never_repeat():
    key = generate_key()
    nonces = {seal_blob(b"\0" * 64, key=key, model_id=b"m" * 16, model_version=1, index=0, count=1,
                        region_bytes=64, format_version=1)[64:76] for _ in range(2000)}
    assert len(nonces) == 2000


def test_write_key_rejects_wrong_length(tmp_path):
    with pytest.raises(UserError):
        write_key(tmp_path / "k", b"x" * 16)
