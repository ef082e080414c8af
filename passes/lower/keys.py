"""Model keys: 32 random bytes (AES-256), kept in a file only its owner can read.

A key file holds exactly the 32 raw key bytes.  `keygen` makes one; `lower --key FILE` encrypts
a model's partitions for it; the device gets the same key either by one-time provisioning into
TEE secure storage, or the model is encrypted for the key the TA derives from the device's
hardware-unique key (see runtime_ta/README.md, "Keys").
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import UserError

KEY_BYTES = 32


def generate_key() -> bytes:
    """A fresh AES-256 key from the operating system's CSPRNG."""
    return os.urandom(KEY_BYTES)


def write_key(path: str | Path, key: bytes, *, overwrite: bool = False) -> Path:
    """Write `key` to `path` with mode 0600; refuse to replace an existing key unless asked."""
    if len(key) != KEY_BYTES:
        raise UserError(f"a key has {KEY_BYTES} bytes, got {len(key)}")
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path} is a directory: give a file name for the key")
    if not path.parent.exists():
        raise UserError(f"directory {path.parent} does not exist")
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise UserError(f"{path} already exists: refusing to overwrite a key (use --force)") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
    os.chmod(path, 0o600)
    return path


def load_key(path: str | Path) -> bytes:
    """Read a key file written by `write_key`; a clear UserError if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"key file {path} does not exist (make one with `python cli.py keygen -o {path}`)")
    size = path.stat().st_size
    if size != KEY_BYTES:
        raise UserError(f"{path} is not a key file: it has {size} bytes, a key has {KEY_BYTES}")
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise UserError(f"key file {path} is readable by others: run `chmod 600 {path}`")
    return path.read_bytes()
