"""Concat, Split, Slice, Transpose, Pad (runtime_ta/interp/kernels/movement.c)."""
from __future__ import annotations

import numpy as np

from ...lower.format import MAX_RANK, OP_CODES, PAD_MODES
from ..kernel_args import pad_args, slice_args
from ..op import LoweredOp, OpContext, OpTarget, Unsupported


def concat_split(ctx: OpContext) -> LoweredOp:
    """i = [axis]."""
    rank = len(ctx.shape(ctx.inputs[0]))
    axis = int(ctx.attrs.get("axis", 0)) % rank
    return LoweredOp(OP_CODES["CONCAT" if ctx.node.op_type == "Concat" else "SPLIT"], ctx.inputs, ctx.outputs,
                     [axis], [])


def slice_(ctx: OpContext) -> LoweredOp:
    """i = [start per dim (MAX_RANK), step per dim (MAX_RANK)]."""
    node, a = ctx.node, ctx.attrs
    x_shape = ctx.shape(node.input[0])
    if ctx.opset < 10:
        starts, ends, axes, steps = list(a["starts"]), list(a["ends"]), a.get("axes"), None
    else:
        starts = ctx.const(1, "Slice starts").tolist()
        ends = ctx.const(2, "Slice ends").tolist()
        axes_v, steps_v = ctx.const(3, "Slice axes"), ctx.const(4, "Slice steps")
        axes = None if axes_v is None else axes_v.tolist()
        steps = None if steps_v is None else steps_v.tolist()
    try:
        start, step, out = slice_args(x_shape, starts, ends, axes, steps)
    except ValueError as exc:
        raise Unsupported(str(exc)) from None
    if tuple(out) != ctx.shape(node.output[0]):
        raise Unsupported(f"output shape {tuple(out)} differs from the inferred {ctx.shape(node.output[0])}")
    pad = [0] * (MAX_RANK - len(x_shape))
    return LoweredOp(OP_CODES["SLICE"], ctx.inputs[:1], ctx.outputs, [*start, *pad, *step, *pad], [])


def transpose(ctx: OpContext) -> LoweredOp:
    """i = perm (default: reversed dims)."""
    rank = len(ctx.shape(ctx.inputs[0]))
    return LoweredOp(OP_CODES["TRANSPOSE"], ctx.inputs, ctx.outputs, list(ctx.attrs.get("perm", range(rank - 1, -1, -1))),
                     [])


def pad(ctx: OpContext) -> LoweredOp:
    """i = [begin per dim (MAX_RANK), end per dim (MAX_RANK), mode], f = [constant value]."""
    rank = len(ctx.shape(ctx.inputs[0]))
    mode = ctx.text("mode", "constant")
    if mode not in PAD_MODES:
        raise Unsupported(f"mode={mode}")
    axes = None
    if ctx.opset < 11:
        pads, value = list(ctx.attrs["pads"]), float(ctx.attrs.get("value", 0.0))
    else:
        pads = ctx.const(1, "Pad pads").astype(np.int64).tolist()
        value_v = ctx.const(2, "Pad constant_value")
        value = 0.0 if value_v is None else float(value_v.reshape(()))
        axes_v = ctx.const(3, "Pad axes")
        axes = None if axes_v is None else axes_v.tolist()
    try:
        begin, end = pad_args(rank, pads, axes)
    except ValueError as exc:
        raise Unsupported(str(exc)) from None
    ints = [*begin, *[0] * (MAX_RANK - rank), *end, *[0] * (MAX_RANK - rank), PAD_MODES[mode]]
    return LoweredOp(OP_CODES["PAD"], ctx.inputs[:1], ctx.outputs, ints, [value])


ENTRIES = (
    OpTarget("Concat", concat_split),
    OpTarget("Split", concat_split, parameter_inputs=frozenset({1})),
    OpTarget("Slice", slice_, parameter_inputs=frozenset({1, 2, 3, 4})),
    OpTarget("Transpose", transpose),
    OpTarget("Pad", pad, parameter_inputs=frozenset({1, 2, 3})),
)
