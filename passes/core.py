"""The pass framework: `Pass`, `PassResult`, `Pipeline` (after onnx_ir's pass infrastructure).

A pass maps an `onnx.ModelProto` to a `PassResult(model, modified, stats)` and declares how:

- in place (`in_place = True`, the default): it edits the model it is given and returns that
  same object, so a pipeline of such passes never copies the weights;
- functional (`in_place = False`): it returns a new model and leaves its input untouched.

`pass_(model)` runs the pass as declared and checks the declaration: the identity of the
returned model always; in debug mode (`ONNX_TEE_DEBUG=1`, or a `Pipeline(validate=True)`) also
that a functional pass left its input unchanged.  `requires(model)` / `ensures(model)` are the
pass's pre- and postconditions, run around `call`.  Any single pass drops into a user's own
ONNX pipeline::

    from onnx_tee.passes import FoldBatchNorm, functional
    model = FoldBatchNorm()(model).model          # in place: `model` itself is edited and returned
    folded = functional(FoldBatchNorm())(model).model   # a folded copy; `model` is untouched

A `Pipeline` is itself a pass: it runs its passes in order (optionally to a fixed point),
optionally validates the model after each (full `onnx.checker` check + strict shape
inference), and returns per-pass wall time and weight bytes in `result.stats["records"]`.  It
is functional unless built with `in_place=True`: it copies its input once, then its in-place
passes edit that copy.  A pipeline keeps no state between runs.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

import onnx

from .analysis.weights import weight_bytes
from .errors import UserError


@dataclass
class PassResult:
    """What a pass returns: the model, whether anything changed, and pass-specific stats."""

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


class PassError(RuntimeError):
    """A pass broke its declaration (in place or functional)."""


def debug_checks() -> bool:
    """True when the environment asks for the expensive declaration checks (ONNX_TEE_DEBUG=1)."""
    return os.environ.get("ONNX_TEE_DEBUG", "") not in ("", "0")


def copy_model(model: onnx.ModelProto) -> onnx.ModelProto:
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    return copy


class Pass:
    """Base class.  Subclasses implement `call(model) -> PassResult` and set `in_place` (module
    docstring); they may override `requires` and `ensures` (raise to refuse)."""

    in_place: bool = True

    @property
    def name(self) -> str:
        return type(self).__name__

    def requires(self, model: onnx.ModelProto) -> None:
        """Precondition on the input model (default: none)."""

    def ensures(self, model: onnx.ModelProto) -> None:
        """Postcondition on the output model (default: none)."""

    def call(self, model: onnx.ModelProto) -> PassResult:  # pragma: no cover - interface
        raise NotImplementedError

    def run(self, model: onnx.ModelProto, *, debug: bool = False) -> PassResult:
        """`call` between `requires` and `ensures`, checking the declaration (with `debug`, also
        that a functional pass left its input as it was)."""
        before = model.SerializeToString(deterministic=True) if debug and not self.in_place else None
        self.requires(model)
        result = self.call(model)
        if self.in_place and result.model is not model:
            raise PassError(f"{self.name} is declared in place but returned another model")
        if not self.in_place and result.model is model:
            raise PassError(f"{self.name} is declared functional but returned its input")
        if before is not None and model.SerializeToString(deterministic=True) != before:
            raise PassError(f"{self.name} is declared functional but changed its input")
        self.ensures(result.model)
        return result

    def __call__(self, model: onnx.ModelProto) -> PassResult:
        return self.run(model, debug=debug_checks())


class _Functional(Pass):
    in_place = False

    def __init__(self, inner: Pass):
        self.inner = inner

    @property
    def name(self) -> str:
        return self.inner.name

    def call(self, model: onnx.ModelProto) -> PassResult:
        return self.inner(model if not self.inner.in_place else copy_model(model))


def functional(pass_: Pass) -> Pass:
    """`pass_` as a functional pass: an in-place pass runs on a copy of the input."""
    return pass_ if not pass_.in_place else _Functional(pass_)


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
    `max_rounds` times).  `validate=True` runs `validate_model` after every pass and checks
    every pass's declaration (module docstring).  `in_place=True` (only when every pass is in
    place) edits the given model instead of a copy.
    """

    def __init__(self, passes: Iterable[Pass], *, validate: bool = False, fixed_point: bool = False,
                 max_rounds: int = 8, in_place: bool = False) -> None:
        self.passes = tuple(passes)
        self.validate = validate
        self.fixed_point = fixed_point
        self.max_rounds = max_rounds
        if in_place and not all(p.in_place for p in self.passes):
            raise ValueError("an in-place pipeline needs in-place passes only")
        self.in_place = in_place

    def call(self, model: onnx.ModelProto) -> PassResult:
        debug = self.validate or debug_checks()
        if not self.in_place:
            model = copy_model(model)
        records: list[PassRecord] = []
        any_modified = False
        for _ in range(self.max_rounds if self.fixed_point else 1):
            round_modified = False
            for pass_ in self.passes:
                before = weight_bytes(model)
                start = time.perf_counter()
                result = pass_.run(model, debug=debug)
                seconds = time.perf_counter() - start
                model = result.model
                if self.validate:
                    validate_model(model, after=pass_.name)
                records.append(PassRecord(pass_.name, seconds, before, weight_bytes(model), result.modified,
                                          result.stats))
                round_modified |= result.modified
            any_modified |= round_modified
            if not round_modified:
                break
        return PassResult(model, any_modified, {"records": records, "rounds": len(records) // max(len(self.passes), 1)})
