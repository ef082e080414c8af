"""Gather, GatherElements (runtime_ta/interp/kernels/gather.c): float32 or int32 data, int32 indices.

The indices are input 1: a constant (stored as an int32 weight) or a model input / activation (token
ids), narrowed from int64 to int32 by `dtypes.narrow_indices` before lowering.  The TA checks every
index against the size of the dim it indexes each time the op runs (RT_ERR_INDEX_RANGE).  The data may
be int32 as well (an int64 or bool tensor held as int32: a decoder picking the last token of its prefix),
the output of the data's type; the kernel copies 4-byte elements bit for bit.
"""
from __future__ import annotations

from ...lower import format as fmt
from ...lower.format import OP_CODES
from ..op import LoweredOp, OpContext, OpTarget, Unsupported, slots


def gather(ctx: OpContext) -> LoweredOp:
    """The axis (normalised); Gather's output is data.dims[:axis] + indices.dims + data.dims[axis+1:]."""
    data, indices = ctx.inputs[0], ctx.inputs[1]
    x_shape, i_shape = ctx.shape(data), ctx.shape(indices)
    rank = len(x_shape)
    axis = int(ctx.attrs.get("axis", 0))
    if rank < 1 or not -rank <= axis < rank:
        raise Unsupported(f"axis={axis} for data of rank {rank}")
    axis %= rank
    if ctx.node.op_type == "Gather":
        out = x_shape[:axis] + i_shape + x_shape[axis + 1:]
    else:
        out = i_shape
        if len(i_shape) != rank or any(i > x for d, (i, x) in enumerate(zip(i_shape, x_shape)) if d != axis):
            raise Unsupported(f"indices of shape {i_shape} do not fit data of shape {x_shape} off axis {axis}")
    if out != ctx.shape(ctx.outputs[0]):
        raise Unsupported(f"output shape {out} differs from the inferred {ctx.shape(ctx.outputs[0])}")
    code = OP_CODES["GATHER" if ctx.node.op_type == "Gather" else "GATHER_ELEMENTS"]
    return LoweredOp(code, [data, indices], ctx.outputs, slots(fmt.ATTR_GATHER_COUNT, {fmt.ATTR_GATHER_AXIS: axis}), [])


ENTRIES = (
    OpTarget("Gather", gather, index_inputs=frozenset({1}), types=("wi", "0")),
    OpTarget("GatherElements", gather, index_inputs=frozenset({1}), types=("wi", "0")),
)
