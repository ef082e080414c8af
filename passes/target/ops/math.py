"""Elementwise math: Pow, Sqrt, Reciprocal, Exp, Log, Abs, Neg, Floor/Ceil/Round, Erf, Gelu, Softplus,
Softsign, Elu/Selu/Celu, PRelu, Mish, ThresholdedRelu, Max, Min; Sin, Cos, Tan, Asin, Acos, Atan,
Sinh, Cosh, Asinh, Acosh, Atanh (runtime_ta/interp/ops/math.c, ops/elementwise.c; kernels/math.c,
the scalar functions in mathf.c).

Every unary one is a map y[i] = f(x[i]) that runs in place (UNARY); Pow and PRelu broadcast like Add
(BINARY); Max and Min take n inputs like Sum.
"""
from __future__ import annotations

import numpy as np

from ...lower import format as fmt
from ...lower.format import OP_CODES, ROUND_MODES
from ..op import BINARY, UNARY, LoweredOp, OpContext, OpTarget, Unsupported, slots
from .elementwise import binary, nary, unary

SELU_ALPHA = 1.67326319217681884765625
SELU_GAMMA = 1.05070102214813232421875


def _round(mode: str):
    return unary("ROUND", ints=lambda ctx: slots(fmt.ATTR_ROUND_COUNT, {fmt.ATTR_ROUND_MODE: ROUND_MODES[mode]}))


def gelu(ctx: OpContext) -> LoweredOp:
    """approximate="tanh" or the exact erf form."""
    approximate = ctx.text("approximate", "none")
    if approximate not in ("none", "tanh"):
        raise Unsupported(f"Gelu approximate={approximate}")
    ints = slots(fmt.ATTR_GELU_COUNT, {fmt.ATTR_GELU_TANH: int(approximate == "tanh")})
    return LoweredOp(OP_CODES["GELU"], ctx.inputs, ctx.outputs, ints, [])


def _elu(default_alpha: float, gamma: float | None, celu: bool):
    """Elu, Selu (alpha, gamma) and Celu (alpha, computed as alpha * elu(x / alpha)) in one kernel."""
    def translate(ctx: OpContext) -> LoweredOp:
        alpha = float(ctx.attrs.get("alpha", default_alpha))
        g = float(ctx.attrs.get("gamma", gamma)) if gamma is not None else 1.0
        if celu and alpha == 0.0:
            raise Unsupported("Celu alpha=0")
        ints = slots(fmt.ATTR_ELU_COUNT, {fmt.ATTR_ELU_CELU: int(celu)})
        floats = slots(fmt.FATTR_ELU_COUNT, {fmt.FATTR_ELU_ALPHA: alpha, fmt.FATTR_ELU_GAMMA: g})
        return LoweredOp(OP_CODES["ELU"], ctx.inputs, ctx.outputs, ints, floats)
    return translate


def _thresholded_relu_alpha(ctx: OpContext) -> list[float]:
    return slots(fmt.FATTR_THRESHOLDED_RELU_COUNT,
                 {fmt.FATTR_THRESHOLDED_RELU_ALPHA: float(ctx.attrs.get("alpha", 1.0))})


def prelu(ctx: OpContext) -> LoweredOp:
    """The slope must broadcast to X's shape (the output's)."""
    x, slope = ctx.shape(ctx.inputs[0]), ctx.shape(ctx.inputs[1])
    try:
        ok = np.broadcast_shapes(x, slope) == x
    except ValueError:
        ok = False
    if not ok:
        raise Unsupported(f"PRelu slope of shape {slope} does not broadcast to X {x}")
    return LoweredOp(OP_CODES["PRELU"], ctx.inputs, ctx.outputs, [], [])


ENTRIES = (
    OpTarget("Pow", binary("POW"), alias=BINARY),
    OpTarget("Sqrt", unary("SQRT"), alias=UNARY),
    OpTarget("Reciprocal", unary("RECIPROCAL"), alias=UNARY),
    OpTarget("Exp", unary("EXP"), alias=UNARY),
    OpTarget("Log", unary("LOG"), alias=UNARY),
    OpTarget("Abs", unary("ABS"), alias=UNARY),
    OpTarget("Neg", unary("NEG"), alias=UNARY),
    OpTarget("Floor", _round("floor"), alias=UNARY),
    OpTarget("Ceil", _round("ceil"), alias=UNARY),
    OpTarget("Round", _round("half_even"), alias=UNARY),
    OpTarget("Erf", unary("ERF"), alias=UNARY),
    OpTarget("Gelu", gelu, alias=UNARY),
    OpTarget("Softplus", unary("SOFTPLUS"), alias=UNARY),
    OpTarget("Softsign", unary("SOFTSIGN"), alias=UNARY),
    OpTarget("Elu", _elu(1.0, None, False), alias=UNARY),
    OpTarget("Selu", _elu(SELU_ALPHA, SELU_GAMMA, False), alias=UNARY),
    OpTarget("Celu", _elu(1.0, None, True), alias=UNARY),
    OpTarget("PRelu", prelu, alias=BINARY),
    OpTarget("Mish", unary("MISH"), alias=UNARY),
    OpTarget("ThresholdedRelu", unary("THRESHOLDED_RELU", floats=_thresholded_relu_alpha),
             alias=UNARY),
    OpTarget("Max", nary("MAX"), alias=BINARY),
    OpTarget("Min", nary("MIN"), alias=BINARY),
    *(OpTarget(op, unary(op.upper()), alias=UNARY)
      for op in ("Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh")),
)
