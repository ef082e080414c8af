"""MaxPool, AveragePool and the global pools (runtime_ta/interp/kernels/pool.c); MaxPool also over the
stored values of an int8 / uint8 tensor (a quantized model's, as onnxruntime runs it)."""
from __future__ import annotations

from ...lower import format as fmt
from ...lower.format import OP_CODES
from ..op import LoweredOp, OpContext, OpTarget, Unsupported, slots
from .window import window_slots


def pool(ctx: OpContext) -> LoweredOp:
    """The window slots (group 1), ceil_mode, count_include_pad (AveragePool)."""
    op = ctx.node.op_type
    if int(ctx.attrs.get("storage_order", 0)):
        raise Unsupported("storage_order=1")
    _, window = window_slots(ctx)
    include_pad = int(ctx.attrs.get("count_include_pad", 0)) if op == "AveragePool" else 0
    ints = slots(fmt.ATTR_POOL_COUNT, {**window, fmt.ATTR_CONV_GROUP: 1,
                                       fmt.ATTR_POOL_CEIL_MODE: int(ctx.attrs.get("ceil_mode", 0)),
                                       fmt.ATTR_POOL_COUNT_INCLUDE_PAD: include_pad})
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
