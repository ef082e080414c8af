"""Comparisons (Equal, Greater, GreaterOrEqual, Less, LessOrEqual), Not, And, Or, Xor and Where
(runtime_ta/interp/ops/logical.c, kernels/logical.c).

Booleans are int32 tensors of 0/1 inside the body (`dtypes`: a bool model output is converted on the
host).  A comparison takes two float32 or two integer tensors (int32, or int64 held as int32: ids,
ArgMax results) and gives y = (a op b); the logic ops take booleans; Where(c, x, y) picks x where c
holds, else y, x and y float32 or integers alike.  All broadcast like Add (numpy).  These survive
constant folding only when an operand is computed (a mask from an activation, an ArgMax result).

    Greater(x, zero)            ->  op COMPARE  i = [mode GREATER], x float32, zero: float32 weight
    Where(g, x, x_scaled)       ->  op WHERE    g int32 (0/1), x and x_scaled float32
"""
from __future__ import annotations

from ...lower import format as fmt
from ..op import BINARY, UNARY, LoweredOp, OpContext, OpTarget, Unsupported

COMPARISONS = {"Equal": "equal", "Greater": "greater", "GreaterOrEqual": "greater_or_equal", "Less": "less",
               "LessOrEqual": "less_or_equal"}


def _broadcast(ctx: OpContext) -> None:
    """The legacy broadcast attributes (opset < 7) are refused: the kernels broadcast numpy-style."""
    if "axis" in ctx.attrs or int(ctx.attrs.get("broadcast", 0)):
        raise Unsupported(f"{ctx.node.op_type}: legacy broadcast/axis attributes (opset < 7)")


def compare(ctx: OpContext) -> LoweredOp:
    """i[ATTR_COMPARE_MODE] = the comparison (format.COMPARE_MODES)."""
    _broadcast(ctx)
    ints = [0] * fmt.ATTR_COMPARE_COUNT
    ints[fmt.ATTR_COMPARE_MODE] = fmt.COMPARE_MODES[COMPARISONS[ctx.node.op_type]]
    return LoweredOp(fmt.OP_CODES["COMPARE"], ctx.inputs, ctx.outputs, ints, [])


def _plain(code: str):
    def translate(ctx: OpContext) -> LoweredOp:
        _broadcast(ctx)
        return LoweredOp(fmt.OP_CODES[code], ctx.inputs, ctx.outputs, [], [])
    return translate


ENTRIES = (
    *(OpTarget(op, compare, any_dtype=True, int_outputs=True) for op in COMPARISONS),
    OpTarget("Not", _plain("NOT"), alias=UNARY, int_inputs=True, int_outputs=True),
    OpTarget("And", _plain("AND"), alias=BINARY, int_inputs=True, int_outputs=True),
    OpTarget("Or", _plain("OR"), alias=BINARY, int_inputs=True, int_outputs=True),
    OpTarget("Xor", _plain("XOR"), alias=BINARY, int_inputs=True, int_outputs=True),
    OpTarget("Where", _plain("WHERE"), condition=True, any_dtype=True),
)
