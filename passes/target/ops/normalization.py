"""LayerNormalization, InstanceNormalization, GroupNormalization, LogSoftmax
(runtime_ta/interp/kernels/reduce.c).

All four run in place (alias UNARY: each row's statistics are taken before any of its outputs is
written) and use no scratch.  LayerNormalization computes only its first output (Mean and
InvStdDev must be unused); its Scale/B hold the normalized dims (y's dims from `axis` on, leading 1s
allowed).  GroupNormalization: scale/bias per group before opset 21, per channel from 21.
"""
from __future__ import annotations

from ...lower import format as fmt
from ...lower.format import OP_CODES
from ..op import UNARY, LoweredOp, OpContext, OpTarget, Unsupported, slots


def _normalize_axis(axis: int, rank: int, op: str) -> int:
    if not -rank <= axis < rank:
        raise Unsupported(f"{op}: axis {axis} out of range for rank {rank}")
    return axis % rank


def layer_norm(ctx: OpContext) -> LoweredOp:
    shape = ctx.shape(ctx.inputs[0])
    axis = _normalize_axis(int(ctx.attrs.get("axis", -1)), len(shape), "LayerNormalization")
    suffix = shape[axis:]
    for name in ctx.inputs[1:3]:
        s = ctx.shape(name)
        n = max(len(s), len(suffix))
        if (1,) * (n - len(s)) + tuple(s) != (1,) * (n - len(suffix)) + tuple(suffix):
            raise Unsupported(f"LayerNormalization: scale/bias of shape {s} is not the normalized shape {suffix}")
    epsilon = float(ctx.attrs.get("epsilon", 1e-5))
    return LoweredOp(OP_CODES["LAYER_NORM"], ctx.inputs[:3], ctx.outputs,
                     slots(fmt.ATTR_LAYER_NORM_COUNT, {fmt.ATTR_LAYER_NORM_AXIS: axis}),
                     slots(fmt.FATTR_LAYER_NORM_COUNT, {fmt.FATTR_LAYER_NORM_EPSILON: epsilon}))


def instance_norm(ctx: OpContext) -> LoweredOp:
    if len(ctx.shape(ctx.inputs[0])) < 3:
        raise Unsupported("InstanceNormalization of a rank < 3 input (N x C x D1 ...)")
    epsilon = float(ctx.attrs.get("epsilon", 1e-5))
    floats = slots(fmt.FATTR_INSTANCE_NORM_COUNT, {fmt.FATTR_INSTANCE_NORM_EPSILON: epsilon})
    return LoweredOp(OP_CODES["INSTANCE_NORM"], ctx.inputs, ctx.outputs, [], floats)


def group_norm(ctx: OpContext) -> LoweredOp:
    """Scale and bias per channel from opset 21, per group before."""
    shape = ctx.shape(ctx.inputs[0])
    groups = int(ctx.attrs["num_groups"])
    if len(shape) < 2 or groups < 1 or shape[1] % groups:
        raise Unsupported(f"GroupNormalization: {shape[1] if len(shape) > 1 else '?'} channels in {groups} groups")
    per_channel = int(ctx.opset >= 21)
    want = (shape[1] if per_channel else groups,)
    for name in ctx.inputs[1:3]:
        if ctx.shape(name) != want:
            raise Unsupported(f"GroupNormalization: scale/bias of shape {ctx.shape(name)}, expected {want}")
    ints = slots(fmt.ATTR_GROUP_NORM_COUNT, {fmt.ATTR_GROUP_NORM_GROUPS: groups,
                                             fmt.ATTR_GROUP_NORM_PER_CHANNEL: per_channel})
    floats = slots(fmt.FATTR_GROUP_NORM_COUNT, {fmt.FATTR_GROUP_NORM_EPSILON: float(ctx.attrs.get("epsilon", 1e-5))})
    return LoweredOp(OP_CODES["GROUP_NORM"], ctx.inputs, ctx.outputs, ints, floats)


def log_softmax(ctx: OpContext) -> LoweredOp:
    """The axis, and whether it coerces to 2-D (opset < 13), as Softmax."""
    rank = len(ctx.shape(ctx.inputs[0]))
    if rank < 1:
        raise Unsupported("LogSoftmax of a scalar")
    axis = _normalize_axis(int(ctx.attrs.get("axis", -1 if ctx.opset >= 13 else 1)), rank, "LogSoftmax")
    ints = slots(fmt.ATTR_LOG_SOFTMAX_COUNT, {fmt.ATTR_LOG_SOFTMAX_AXIS: axis,
                                              fmt.ATTR_LOG_SOFTMAX_COERCE_2D: int(ctx.opset < 13)})
    return LoweredOp(OP_CODES["LOG_SOFTMAX"], ctx.inputs, ctx.outputs, ints, [])


ENTRIES = (
    OpTarget("LayerNormalization", layer_norm, alias=UNARY, first_output_only=True),
    OpTarget("InstanceNormalization", instance_norm, alias=UNARY),
    OpTarget("GroupNormalization", group_norm, alias=UNARY),
    OpTarget("LogSoftmax", log_softmax, alias=UNARY),
)
