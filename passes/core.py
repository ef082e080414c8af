"""The pass framework: `Pass`, `PassResult`, `Pipeline`.

A pass maps an `onnx.ModelProto` to a `PassResult(model, modified, stats)`.  Passes are
functional: `pass_(model)` never changes the model it is given (it works on a copy), so any
single pass drops into a user's own ONNX pipeline::

    from onnx_tee.passes import FoldBatchNorm
    model = FoldBatchNorm()(model).model

A `Pipeline` is itself a pass: it runs its passes in order (optionally to a fixed point),
optionally validates the model after each (full `onnx.checker` check + strict shape
inference), and records per-pass wall time and weight bytes before/after.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Iterable

import onnx

from .analysis.weights import weight_bytes
from .errors import UserError


@dataclass
class PassResult:
    """What a pass returns: the new model, whether anything changed, and pass-specific stats."""

    model: onnx.ModelProto
    modified: bool
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass
class PassRecord:
    """One pass execution inside a Pipeline."""

    name: str
    seconds: float
    bytes_before: int
    bytes_after: int
    modified: bool
    stats: dict[str, Any]

    @property
    def bytes_saved(self) -> int:
        return self.bytes_before - self.bytes_after


class Pass:
    """Base class.  Subclasses implement `call(model) -> PassResult` and may mutate `model`,
    which is always a private copy."""

    @property
    def name(self) -> str:
        return type(self).__name__

    def call(self, model: onnx.ModelProto) -> PassResult:  # pragma: no cover - interface
        raise NotImplementedError

    def __call__(self, model: onnx.ModelProto) -> PassResult:
        copy = onnx.ModelProto()
        copy.CopyFrom(model)
        return self.call(copy)


def validate_model(model: onnx.ModelProto, after: str = "") -> None:
    """Full checker + strict shape inference; raise UserError naming the pass that broke it."""
    where = f" after {after}" if after else ""
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise UserError(f"model is invalid{where}: {str(exc).splitlines()[0]}") from exc


class Pipeline(Pass):
    """Compose passes; time them, record weight bytes, optionally validate and iterate.

    `fixed_point=True` repeats the whole sequence until no pass modifies the model (at most
    `max_rounds` times).  `validate=True` runs `validate_model` after every pass.
    """

    def __init__(self, passes: Iterable[Pass], *, validate: bool = False, fixed_point: bool = False,
                 max_rounds: int = 8) -> None:
        self.passes = list(passes)
        self.validate = validate
        self.fixed_point = fixed_point
        self.max_rounds = max_rounds
        self.records: list[PassRecord] = []

    def call(self, model: onnx.ModelProto) -> PassResult:
        self.records = []
        any_modified = False
        for _ in range(self.max_rounds if self.fixed_point else 1):
            round_modified = False
            for pass_ in self.passes:
                before = weight_bytes(model)
                start = time.perf_counter()
                result = pass_.call(model)
                seconds = time.perf_counter() - start
                model = result.model
                if self.validate:
                    validate_model(model, after=pass_.name)
                self.records.append(PassRecord(pass_.name, seconds, before, weight_bytes(model),
                                               result.modified, result.stats))
                round_modified |= result.modified
            any_modified |= round_modified
            if not round_modified:
                break
        return PassResult(model, any_modified, {"records": self.records})
