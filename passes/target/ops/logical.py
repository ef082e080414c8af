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
from ..op import BINARY, UNARY, OpContext, OpTarget, slots
from .elementwise import binary, unary

COMPARISONS = {"Equal": "equal", "Greater": "greater", "GreaterOrEqual": "greater_or_equal", "Less": "less",
               "LessOrEqual": "less_or_equal"}


def _compare_mode(ctx: OpContext) -> list[int]:
    """i[ATTR_COMPARE_MODE] = the comparison (format.COMPARE_MODES)."""
    return slots(fmt.ATTR_COMPARE_COUNT, {fmt.ATTR_COMPARE_MODE: fmt.COMPARE_MODES[COMPARISONS[ctx.node.op_type]]})


ENTRIES = (
    *(OpTarget(op, binary("COMPARE", ints=_compare_mode), types=("w0", "i")) for op in COMPARISONS),
    OpTarget("Not", unary("NOT"), alias=UNARY, types=("i", "i")),
    OpTarget("And", binary("AND"), alias=BINARY, types=("i", "i")),
    OpTarget("Or", binary("OR"), alias=BINARY, types=("i", "i")),
    OpTarget("Xor", binary("XOR"), alias=BINARY, types=("i", "i")),
    OpTarget("Where", binary("WHERE"), types=("iw1", "1")),
)
