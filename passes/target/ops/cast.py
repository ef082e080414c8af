"""Cast (runtime_ta/interp/ops/cast.c, kernels/cast.c) between the types the TA holds: float32, int32
(int64 held as int32), int8, uint8, and bool (held as int32 0/1).

    float -> integer   truncation toward zero; outside [-2^31, 2^31) or NaN: INT32_MIN, then narrowed
    integer -> integer the low bits, two's complement (int32 300 -> uint8 44)
    integer -> float   the nearest float32
    -> bool            x != 0

onnxruntime's results on x86-64 (ONNX leaves out-of-range conversions undefined).  A Cast to int64 gives
the int32 the TA holds (a float beyond int32 reads INT32_MIN, where onnxruntime's int64 holds it).
`saturate` (opset 19) only concerns float8 targets, which the TA does not hold.

    Cast(acc, to=FLOAT)   ->  op CAST  i = [to_bool 0], acc int32, y float32
    Cast(x, to=BOOL)      ->  op CAST  i = [to_bool 1], y int32 (0/1)
"""
from __future__ import annotations

from onnx import TensorProto

from ...lower import format as fmt
from ...lower.format import OP_CODES
from ..op import LoweredOp, OpContext, OpTarget, slots


def cast(ctx: OpContext) -> LoweredOp:
    """i[ATTR_CAST_TO_BOOL]: 1 for a bool target; the output tensor's type is the target otherwise."""
    to_bool = int(int(ctx.attrs["to"]) == TensorProto.BOOL)
    ints = slots(fmt.ATTR_CAST_COUNT, {fmt.ATTR_CAST_TO_BOOL: to_bool})
    return LoweredOp(OP_CODES["CAST"], ctx.inputs, ctx.outputs, ints, [])


ENTRIES = (OpTarget("Cast", cast, types=("x", "x")),)
