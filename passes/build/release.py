"""A build's release identity: the model id and version the device's rollback guard compares.

A device refuses a model version older than the newest it has opened for the same model id.  A build
takes `--model-id` / `--model-version` when given; else the id of the build already in the output
directory and its version + 1 (so a rebuild supersedes it), else a new random id and version 1.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from ..errors import UserError
from ..lower.envelope import MODEL_ID_BYTES

MAX_VERSION = 2**64 - 1


def parse_model_id(text: str) -> bytes:
    """32 hex digits, or a name of at most MODEL_ID_BYTES bytes (UTF-8, zero-padded)."""
    if re.fullmatch(r"[0-9a-fA-F]{32}", text):
        return bytes.fromhex(text)
    raw = text.encode()
    if not raw or len(raw) > MODEL_ID_BYTES:
        raise UserError(f"--model-id {text!r}: give 32 hex digits or a name of 1..{MODEL_ID_BYTES} bytes")
    return raw.ljust(MODEL_ID_BYTES, b"\0")


def check_version(version: int) -> int:
    if not 0 < version <= MAX_VERSION:
        raise UserError(f"--model-version must be a positive 64-bit integer, got {version}")
    return version


def release_of(out_dir: str | Path, model_id: bytes | None = None, model_version: int | None = None
               ) -> tuple[bytes, int]:
    """(model id, model version) of a build into `out_dir` (module docstring)."""
    previous_id, previous_version = None, 0
    try:
        earlier = json.loads((Path(out_dir) / "manifest.json").read_text())
        previous_id = bytes.fromhex(earlier["model_id"])
        previous_version = int(earlier["model_version"])
        if len(previous_id) != MODEL_ID_BYTES:
            previous_id = None
    except (OSError, ValueError, KeyError, TypeError):
        pass
    model_id = model_id or previous_id or os.urandom(MODEL_ID_BYTES)
    if model_version is not None:
        return model_id, check_version(model_version)
    return model_id, previous_version + 1 if previous_id == model_id else 1
