"""Elementwise math: Pow, Sqrt, Reciprocal, Exp, Log, Abs, Neg, Floor/Ceil/Round, Erf, Gelu, Softplus,
Softsign, Elu/Selu/Celu, PRelu, Mish, ThresholdedRelu, Max, Min; Sin, Cos, Tan, Asin, Acos, Atan,
Sinh, Cosh, Asinh, Acosh, Atanh (runtime_ta/interp/ops/math.c, ops/elementwise.c; kernels/math.c,
the scalar functions in mathf.c).

Every unary one is a map y[i] = f(x[i]) that runs in place (UNARY); Pow and PRelu broadcast like Add
(BINARY); Max and Min take n inputs like Sum.
"""
from __future__ import annotations

import numpy as np

from ...lower.format import OP_CODES, ROUND_MODES
from ..op import BINARY, UNARY, LoweredOp, OpContext, OpTarget, Unsupported

SELU_ALPHA = 1.67326319217681884765625
SELU_GAMMA = 1.05070102214813232421875


def _map(code: str, ints=lambda ctx: [], floats=lambda ctx: []):
    def translate(ctx: OpContext) -> LoweredOp:
        return LoweredOp(OP_CODES[code], ctx.inputs, ctx.outputs, ints(ctx), floats(ctx))
    return translate


def _round(mode: str):
    return _map("ROUND", ints=lambda ctx: [ROUND_MODES[mode]])


def gelu(ctx: OpContext) -> LoweredOp:
    """i = [1 for approximate="tanh"]."""
    approximate = ctx.text("approximate", "none")
    if approximate not in ("none", "tanh"):
        raise Unsupported(f"Gelu approximate={approximate}")
    return LoweredOp(OP_CODES["GELU"], ctx.inputs, ctx.outputs, [int(approximate == "tanh")], [])


def _elu(default_alpha: float, gamma: float | None, celu: bool):
    """i = [celu], f = [alpha, gamma]."""
    def translate(ctx: OpContext) -> LoweredOp:
        alpha = float(ctx.attrs.get("alpha", default_alpha))
        g = float(ctx.attrs.get("gamma", gamma)) if gamma is not None else 1.0
        if celu and alpha == 0.0:
            raise Unsupported("Celu alpha=0")
        return LoweredOp(OP_CODES["ELU"], ctx.inputs, ctx.outputs, [int(celu)], [alpha, g])
    return translate


def _binary(code: str):
    def translate(ctx: OpContext) -> LoweredOp:
        if "axis" in ctx.attrs or int(ctx.attrs.get("broadcast", 0)):
            raise Unsupported("legacy broadcast/axis attributes (opset < 7)")
        return LoweredOp(OP_CODES[code], ctx.inputs, ctx.outputs, [], [])
    return translate


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


def _nary(code: str):
    """Inputs reordered so the first two broadcast to the output's shape (y = op(x0, x1), then
    y = op(y, xk)), as for Sum."""
    def translate(ctx: OpContext) -> LoweredOp:
        inputs, out = ctx.inputs, ctx.shape(ctx.outputs[0])
        if len(inputs) > 1:
            pair = next(((i, j) for i in range(len(inputs)) for j in range(len(inputs))
                         if i != j and np.broadcast_shapes(ctx.shape(inputs[i]), ctx.shape(inputs[j])) == out), None)
            if pair is None:
                raise Unsupported(f"no two inputs of {ctx.node.op_type} broadcast to its output shape")
            inputs = [inputs[pair[0]], inputs[pair[1]]] + [x for k, x in enumerate(inputs) if k not in pair]
        return LoweredOp(OP_CODES[code], inputs, ctx.outputs, [], [])
    return translate


ENTRIES = (
    OpTarget("Pow", _binary("POW"), alias=BINARY),
    OpTarget("Sqrt", _map("SQRT"), alias=UNARY),
    OpTarget("Reciprocal", _map("RECIPROCAL"), alias=UNARY),
    OpTarget("Exp", _map("EXP"), alias=UNARY),
    OpTarget("Log", _map("LOG"), alias=UNARY),
    OpTarget("Abs", _map("ABS"), alias=UNARY),
    OpTarget("Neg", _map("NEG"), alias=UNARY),
    OpTarget("Floor", _round("floor"), alias=UNARY),
    OpTarget("Ceil", _round("ceil"), alias=UNARY),
    OpTarget("Round", _round("half_even"), alias=UNARY),
    OpTarget("Erf", _map("ERF"), alias=UNARY),
    OpTarget("Gelu", gelu, alias=UNARY),
    OpTarget("Softplus", _map("SOFTPLUS"), alias=UNARY),
    OpTarget("Softsign", _map("SOFTSIGN"), alias=UNARY),
    OpTarget("Elu", _elu(1.0, None, False), alias=UNARY),
    OpTarget("Selu", _elu(SELU_ALPHA, SELU_GAMMA, False), alias=UNARY),
    OpTarget("Celu", _elu(1.0, None, True), alias=UNARY),
    OpTarget("PRelu", prelu, alias=BINARY),
    OpTarget("Mish", _map("MISH"), alias=UNARY),
    OpTarget("ThresholdedRelu", _map("THRESHOLDED_RELU", floats=lambda ctx: [float(ctx.attrs.get("alpha", 1.0))]),
             alias=UNARY),
    OpTarget("Max", _nary("MAX"), alias=BINARY),
    OpTarget("Min", _nary("MIN"), alias=BINARY),
    *(OpTarget(op, _map(op.upper()), alias=UNARY)
      for op in ("Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh")),
)
