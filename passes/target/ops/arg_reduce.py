"""ArgMax, ArgMin (runtime_ta/interp/ops/arg_reduce.c, kernels/arg_reduce.c): float32 data, the index
of the largest / smallest element along one axis.

ONNX gives the indices as int64; the TA holds them as int32 (an axis is far shorter than 2^31), so a
reader inside the model (Gather, Equal, ...) takes them as they are and a model output is widened
back to int64 on the host (`dtypes.from_held`).  Ties give the first index, or the last with
select_last_index=1 (opset 12).  No scratch, no aliasing (the output has another type).

    ArgMax(x: [2, 10], axis=1, keepdims=0)  ->  op ARG_MAX  i = [axis 1, keepdims 0, select_last 0],
                                                y: int32 [2]
"""
from __future__ import annotations

from ...lower import format as fmt
from ..op import LoweredOp, OpContext, OpTarget, Unsupported, slots


def arg_reduce(ctx: OpContext) -> LoweredOp:
    """i[ATTR_ARG_*] = the axis normalised to [0, rank), keepdims, select_last_index."""
    op = ctx.node.op_type
    shape = ctx.shape(ctx.inputs[0])
    rank = len(shape)
    axis = int(ctx.attrs.get("axis", 0))
    if rank < 1 or not -rank <= axis < rank:
        raise Unsupported(f"{op} axis={axis} for input '{ctx.inputs[0]}' of rank {rank}")
    axis %= rank
    keepdims, last = int(ctx.attrs.get("keepdims", 1)), int(ctx.attrs.get("select_last_index", 0))
    if keepdims not in (0, 1) or last not in (0, 1):
        raise Unsupported(f"{op} keepdims={keepdims} select_last_index={last} (each 0 or 1)")
    out = shape[:axis] + ((1,) if keepdims else ()) + shape[axis + 1:]
    if out != ctx.shape(ctx.outputs[0]):
        raise Unsupported(f"{op}: output '{ctx.outputs[0]}' has shape {ctx.shape(ctx.outputs[0])}, "
                          f"the reduction gives {out}")
    ints = slots(fmt.ATTR_ARG_COUNT, {fmt.ATTR_ARG_AXIS: axis, fmt.ATTR_ARG_KEEPDIMS: keepdims,
                                      fmt.ATTR_ARG_SELECT_LAST: last})
    code = fmt.OP_CODES["ARG_MAX" if op == "ArgMax" else "ARG_MIN"]
    return LoweredOp(code, ctx.inputs, ctx.outputs, ints, [])


ENTRIES = (
    OpTarget("ArgMax", arg_reduce, types=("f", "i")),
    OpTarget("ArgMin", arg_reduce, types=("f", "i")),
)
