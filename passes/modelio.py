"""Loading and saving ONNX models with errors a user can act on."""
from __future__ import annotations

import os
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from .errors import UserError


def load_model(path: str | os.PathLike) -> onnx.ModelProto:
    """Load an ONNX model from `path`, with external data, never modifying the file.

    Raises UserError for a missing file, a file that is not an ONNX protobuf, a truncated
    file, or external data that cannot be found.
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file (give a path to an .onnx file or a zoo name)")
    if path.is_dir():
        raise UserError(f"{path}: is a directory, expected an .onnx file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror}") from exc
    if not data:
        raise UserError(f"{path}: the file is empty, expected an ONNX model")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise UserError(f"{path}: not a valid ONNX model (protobuf parse failed: the file is truncated "
                        f"or not ONNX)") from exc
    if not model.HasField("graph") or (not model.graph.node and not model.graph.output):
        raise UserError(f"{path}: not an ONNX model (no graph found)")
    try:
        from onnx.external_data_helper import load_external_data_for_model, uses_external_data
        if any(uses_external_data(t) for t in model.graph.initializer):
            load_external_data_for_model(model, str(path.parent))
    except (FileNotFoundError, OSError, onnx.checker.ValidationError) as exc:
        raise UserError(f"{path}: external weight data is missing ({exc}); keep the data files next "
                        f"to the model") from exc
    return model


def save_model(model: onnx.ModelProto, path: str | os.PathLike) -> None:
    """Save `model` to `path` atomically (write a temporary file, then rename)."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path} is a directory: give a file name for the model")
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(model.SerializeToString())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
