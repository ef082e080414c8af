"""MaxPool, AveragePool and the global pools (runtime_ta/interp/kernels/pool.c); MaxPool also over the
stored values of an int8 / uint8 tensor (a quantized model's, as onnxruntime runs it)."""
from __future__ import annotations

from ...lower.format import OP_CODES
from ..op import LoweredOp, OpContext, OpTarget, Unsupported
from .window import window_slots


def pool(ctx: OpContext) -> LoweredOp:
    """i = [1, kernel h w, strides h w, pads t l b r, dilations h w, ceil_mode (, count_include_pad)]."""
    op = ctx.node.op_type
    if int(ctx.attrs.get("storage_order", 0)):
        raise Unsupported("storage_order=1")
    _, ints = window_slots(ctx)
    ints = [1] + ints[1:] + [int(ctx.attrs.get("ceil_mode", 0))]
    if op == "AveragePool":
        ints.append(int(ctx.attrs.get("count_include_pad", 0)))
    return LoweredOp(OP_CODES["MAX_POOL" if op == "MaxPool" else "AVERAGE_POOL"], ctx.inputs, ctx.outputs, ints, [])


def _global(code: str):
    def translate(ctx: OpContext) -> LoweredOp:
        return LoweredOp(OP_CODES[code], ctx.inputs, ctx.outputs, [], [])
    return translate


ENTRIES = (
    OpTarget("MaxPool", pool, first_output_only=True, types=("a", "0")),
    OpTarget("AveragePool", pool),
    OpTarget("GlobalAveragePool", _global("GLOBAL_AVERAGE_POOL")),
    OpTarget("GlobalMaxPool", _global("GLOBAL_MAX_POOL")),
)
