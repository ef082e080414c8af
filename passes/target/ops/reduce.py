"""ReduceMean/Sum/Max/Min/Prod/L1/L2/LogSumExp/SumSquare (runtime_ta/interp/kernels/reduce.c).

The axes are resolved offline into one flag per input dim (`reduce_args`): the `axes` attribute
(ReduceSum before opset 13, the others before opset 18) or the constant `axes` input (folded into
the record; a run-time axes tensor is refused).  No axes: every dim is reduced, unless
noop_with_empty_axes=1, which leaves every dim (the kernel then maps each element alone, as
onnxruntime does: |x| for L1/L2, x^2 for SumSquare, x for the others).  No scratch, no aliasing (the
output is written while the input is still read).
"""
from __future__ import annotations

from typing import Sequence

from ...lower import format as fmt
from ...lower.format import OP_CODES
from ..op import LoweredOp, OpContext, OpTarget, Unsupported, slots

REDUCE_CODES = {
    "ReduceMean": "REDUCE_MEAN", "ReduceSum": "REDUCE_SUM", "ReduceMax": "REDUCE_MAX", "ReduceMin": "REDUCE_MIN",
    "ReduceProd": "REDUCE_PROD", "ReduceL1": "REDUCE_L1", "ReduceL2": "REDUCE_L2",
    "ReduceLogSumExp": "REDUCE_LOG_SUM_EXP", "ReduceSumSquare": "REDUCE_SUM_SQUARE",
}


def axes_from_input(op_type: str, opset: int) -> bool:
    """Whether `op_type` at `opset` takes its axes as input 1 (ReduceSum-13, the others from 18)."""
    return opset >= (13 if op_type == "ReduceSum" else 18)


def reduce_args(shape: Sequence[int], axes: Sequence[int] | None, keepdims: int = 1,
                noop_with_empty_axes: int = 0) -> tuple[list[int], tuple[int, ...]]:
    """(flag per dim (1 = reduced), output shape) of a Reduce* node on an input of `shape`."""
    rank = len(shape)
    if axes is None or len(axes) == 0:
        flags = [0 if noop_with_empty_axes else 1] * rank
    else:
        flags = [0] * rank
        for a in axes:
            a = int(a)
            if not -rank <= a < rank:
                raise ValueError(f"axis {a} out of range for rank {rank}")
            if flags[a % rank]:
                raise ValueError(f"axis {a} repeated")
            flags[a % rank] = 1
    if not any(flags):
        return flags, tuple(shape)
    out = tuple(1 if f else d for d, f in zip(shape, flags) if keepdims or not f)
    return flags, out


def reduce_(ctx: OpContext) -> LoweredOp:
    """A flag per input dim (1 = reduced) and keepdims."""
    op = ctx.node.op_type
    if axes_from_input(op, ctx.opset):
        axes = ctx.const(1, f"{op} axes")
        axes = None if axes is None else [int(a) for a in axes.reshape(-1)]
    else:
        axes = ctx.attrs.get("axes")
    keepdims = int(ctx.attrs.get("keepdims", 1))
    shape = ctx.shape(ctx.inputs[0])
    try:
        flags, out = reduce_args(shape, axes, keepdims, int(ctx.attrs.get("noop_with_empty_axes", 0)))
    except ValueError as exc:
        raise Unsupported(f"{op}: {exc}") from exc
    if out != ctx.shape(ctx.outputs[0]):
        raise Unsupported(f"{op}: output shape {ctx.shape(ctx.outputs[0])} differs from the reduced {out}")
    ints = slots(fmt.ATTR_REDUCE_COUNT, {fmt.ATTR_REDUCE_AXES: flags, fmt.ATTR_REDUCE_KEEPDIMS: int(bool(keepdims))})
    return LoweredOp(OP_CODES[REDUCE_CODES[op]], ctx.inputs[:1], ctx.outputs, ints, [])


ENTRIES = tuple(OpTarget(op, reduce_, parameter_inputs=frozenset({1})) for op in REDUCE_CODES)
