"""The model zoo: reference architectures (seeded random weights) and small trained CNNs.

    from onnx_tee import models
    models.names()                 # every zoo name
    model = models.load("resnet50")
    model = models.resolve("path/to/model.onnx")   # a path or a zoo name, for the CLI
"""
from __future__ import annotations

import json
from pathlib import Path

import onnx

from onnx_tee.passes.errors import UserError
from onnx_tee.passes.modelio import load_model

from .reference import REFERENCE_ALIASES, REFERENCE_FILES, load_reference

TRAINED_DIR = Path(__file__).parent / "trained"
DEFAULT_MODEL = "squeezenet"


def reference_names() -> list[str]:
    return list(REFERENCE_FILES)


def trained_names() -> list[str]:
    """Models trained on real data, committed as `models/trained/<name>.onnx`."""
    return sorted(p.stem for p in TRAINED_DIR.glob("*.onnx"))


def names() -> list[str]:
    return reference_names() + trained_names()


def load(name: str, *, seed: int = 0) -> onnx.ModelProto:
    """Load a zoo model by name; reference architectures get weights seeded by `seed`."""
    key = REFERENCE_ALIASES.get(name.lower(), name.lower())
    if key in REFERENCE_FILES:
        return load_reference(key, seed=seed)
    if key in trained_names():
        return load_model(TRAINED_DIR / f"{key}.onnx")
    raise UserError(f"unknown model '{name}': give a path to an .onnx file or one of the zoo names: "
                    f"{', '.join(names())}")


def resolve(spec: str | None) -> tuple[str, onnx.ModelProto]:
    """Turn a CLI MODEL argument (a path or a zoo name; None = the default) into (label, model)."""
    spec = spec or DEFAULT_MODEL
    path = Path(spec)
    if spec.endswith(".onnx") or path.is_file():  # a directory named like a zoo model does not shadow it
        return path.stem, load_model(path)
    return spec, load(spec)


def trained_dataset(model_name: str) -> str:
    """The data set the trained zoo model `model_name` was trained on (recorded in models/trained/metrics.json)."""
    metrics_path = TRAINED_DIR / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    if model_name not in metrics:
        raise UserError(f"'{model_name}' is not a trained zoo model: choose one of {', '.join(sorted(metrics))}")
    return metrics[model_name]["dataset"]
