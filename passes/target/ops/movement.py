"""Concat, Split, Slice, Transpose, Pad, DepthToSpace, SpaceToDepth, Expand, Tile
(runtime_ta/interp/kernels/movement.c)."""
from __future__ import annotations

import numpy as np

from ...lower import format as fmt
from ...lower.format import DEPTH_TO_SPACE_MODES, OP_CODES, PAD_MODES
from ..kernel_args import pad_args, slice_args
from ..op import LoweredOp, OpContext, OpTarget, Unsupported, slots


def concat_split(ctx: OpContext) -> LoweredOp:
    """The axis (normalised)."""
    rank = len(ctx.shape(ctx.inputs[0]))
    axis = int(ctx.attrs.get("axis", 0)) % rank
    if ctx.node.op_type == "Concat":
        return LoweredOp(OP_CODES["CONCAT"], ctx.inputs, ctx.outputs,
                         slots(fmt.ATTR_CONCAT_COUNT, {fmt.ATTR_CONCAT_AXIS: axis}), [])
    return LoweredOp(OP_CODES["SPLIT"], ctx.inputs, ctx.outputs,
                     slots(fmt.ATTR_SPLIT_COUNT, {fmt.ATTR_SPLIT_AXIS: axis}), [])


def slice_(ctx: OpContext) -> LoweredOp:
    """A start and a step per dim (the output's dims give the lengths)."""
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
    ints = slots(fmt.ATTR_SLICE_COUNT, {fmt.ATTR_SLICE_START: list(start), fmt.ATTR_SLICE_STEP: list(step)})
    return LoweredOp(OP_CODES["SLICE"], ctx.inputs[:1], ctx.outputs, ints, [])


def transpose(ctx: OpContext) -> LoweredOp:
    """perm (default: the dims reversed)."""
    rank = len(ctx.shape(ctx.inputs[0]))
    perm = [int(p) for p in ctx.attrs.get("perm", range(rank - 1, -1, -1))]
    return LoweredOp(OP_CODES["TRANSPOSE"], ctx.inputs, ctx.outputs,
                     slots(fmt.ATTR_TRANSPOSE_COUNT, {fmt.ATTR_TRANSPOSE_PERM: perm}), [])


def pad(ctx: OpContext) -> LoweredOp:
    """Pads at the start and end of each dim, the mode, and the constant value."""
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
    ints = slots(fmt.ATTR_PAD_COUNT, {fmt.ATTR_PAD_BEGIN: list(begin), fmt.ATTR_PAD_END: list(end),
                                      fmt.ATTR_PAD_MODE: PAD_MODES[mode]})
    return LoweredOp(OP_CODES["PAD"], ctx.inputs[:1], ctx.outputs, ints,
                     slots(fmt.FATTR_PAD_COUNT, {fmt.FATTR_PAD_VALUE: value}))


def depth_space(ctx: OpContext) -> LoweredOp:
    """blocksize and mode (4-D NCHW; mode DCR or CRD, SpaceToDepth's since opset 28)."""
    x_shape, to_space = ctx.shape(ctx.inputs[0]), ctx.node.op_type == "DepthToSpace"
    b = int(ctx.attrs.get("blocksize", 0))
    if len(x_shape) != 4 or b < 1:
        raise Unsupported(f"blocksize={b} on a rank-{len(x_shape)} input (4-D NCHW only)")
    n, c, h, w = x_shape
    mode = ctx.text("mode", "DCR").lower()
    if mode not in DEPTH_TO_SPACE_MODES:
        raise Unsupported(f"mode={mode}")
    if to_space:
        if c % (b * b):
            raise Unsupported(f"{c} channels are not a multiple of blocksize {b} squared")
        out = (n, c // (b * b), h * b, w * b)
    else:
        if h % b or w % b:
            raise Unsupported(f"spatial size {h}x{w} is not a multiple of blocksize {b}")
        out = (n, c * b * b, h // b, w // b)
    if out != ctx.shape(ctx.outputs[0]):
        raise Unsupported(f"output shape {out} differs from the inferred {ctx.shape(ctx.outputs[0])}")
    if to_space:
        ints = slots(fmt.ATTR_DEPTH_TO_SPACE_COUNT, {fmt.ATTR_DEPTH_TO_SPACE_BLOCKSIZE: b,
                                                     fmt.ATTR_DEPTH_TO_SPACE_MODE: DEPTH_TO_SPACE_MODES[mode]})
    else:
        ints = slots(fmt.ATTR_SPACE_TO_DEPTH_COUNT, {fmt.ATTR_SPACE_TO_DEPTH_BLOCKSIZE: b,
                                                     fmt.ATTR_SPACE_TO_DEPTH_MODE: DEPTH_TO_SPACE_MODES[mode]})
    return LoweredOp(OP_CODES["DEPTH_TO_SPACE" if to_space else "SPACE_TO_DEPTH"], ctx.inputs[:1], ctx.outputs, ints,
                     [])


def expand_tile(ctx: OpContext) -> LoweredOp:
    """No attributes: the shape / repeats (constant inputs) give the output dims, which the TA checks
    against the input's (Expand: numpy broadcasting; Tile: dim x repeats)."""
    x_shape, y_shape = ctx.shape(ctx.inputs[0]), ctx.shape(ctx.outputs[0])
    if ctx.node.op_type == "Expand":
        shape = ctx.const(1, "Expand shape").astype(np.int64).tolist()
        try:
            out = tuple(np.broadcast_shapes(x_shape, tuple(shape)))
        except ValueError:
            raise Unsupported(f"shape {shape} does not broadcast with the input's {x_shape}") from None
    else:
        if ctx.opset < 6:
            raise Unsupported("Tile before opset 6 (tiles/axis inputs)")
        repeats = ctx.const(1, "Tile repeats").astype(np.int64).tolist()
        if len(repeats) != len(x_shape) or min(repeats, default=1) < 1:
            raise Unsupported(f"repeats {repeats} for an input of rank {len(x_shape)} (each >= 1)")
        out = tuple(d * r for d, r in zip(x_shape, repeats))
    if out != y_shape:
        raise Unsupported(f"output shape {out} differs from the inferred {y_shape}")
    return LoweredOp(OP_CODES["EXPAND" if ctx.node.op_type == "Expand" else "TILE"], ctx.inputs[:1], ctx.outputs, [],
                     [])


ENTRIES = (
    OpTarget("Concat", concat_split),
    OpTarget("Split", concat_split, parameter_inputs=frozenset({1})),
    OpTarget("Slice", slice_, parameter_inputs=frozenset({1, 2, 3, 4})),
    OpTarget("Transpose", transpose),
    OpTarget("Pad", pad, parameter_inputs=frozenset({1, 2, 3})),
    OpTarget("DepthToSpace", depth_space),
    OpTarget("SpaceToDepth", depth_space),
    OpTarget("Expand", expand_tile, parameter_inputs=frozenset({1})),
    OpTarget("Tile", expand_tile, parameter_inputs=frozenset({1})),
)
