"""LayerNormalization, InstanceNormalization, GroupNormalization, LogSoftmax
(runtime_ta/interp/kernels/reduce.c).

All four run in place (alias UNARY: each row's statistics are taken before any of its outputs is
written) and use no scratch.  LayerNormalization computes only its first output (Mean and
InvStdDev must be unused); its Scale/B hold the normalized dims (y's dims from `axis` on, leading 1s
allowed).  GroupNormalization: scale/bias per group before opset 21, per channel from 21.
"""
from __future__ import annotations

from ...lower.format import OP_CODES
from ..op import UNARY, LoweredOp, OpContext, OpTarget, Unsupported


def _normalize_axis(axis: int, rank: int, op: str) -> int:
    if not -rank <= axis < rank:
        raise Unsupported(f"{op}: axis {axis} out of range for rank {rank}")
    return axis % rank


def layer_norm(ctx: OpContext) -> LoweredOp:
    """i = [axis], f = [epsilon]."""
    shape = ctx.shape(ctx.inputs[0])
    axis = _normalize_axis(int(ctx.attrs.get("axis", -1)), len(shape), "LayerNormalization")
    suffix = shape[axis:]
    for name in ctx.inputs[1:3]:
        s = ctx.shape(name)
        n = max(len(s), len(suffix))
        if (1,) * (n - len(s)) + tuple(s) != (1,) * (n - len(suffix)) + tuple(suffix):
            raise Unsupported(f"LayerNormalization: scale/bias of shape {s} is not the normalized shape {suffix}")
    return LoweredOp(OP_CODES["LAYER_NORM"], ctx.inputs[:3], ctx.outputs, [axis],
                     [float(ctx.attrs.get("epsilon", 1e-5))])


def instance_norm(ctx: OpContext) -> LoweredOp:
    """f = [epsilon]."""
    if len(ctx.shape(ctx.inputs[0])) < 3:
        raise Unsupported("InstanceNormalization of a rank < 3 input (N x C x D1 ...)")
    return LoweredOp(OP_CODES["INSTANCE_NORM"], ctx.inputs, ctx.outputs, [], [float(ctx.attrs.get("epsilon", 1e-5))])


def group_norm(ctx: OpContext) -> LoweredOp:
    """i = [num_groups, per_channel (opset >= 21)], f = [epsilon]."""
    shape = ctx.shape(ctx.inputs[0])
    groups = int(ctx.attrs["num_groups"])
    if len(shape) < 2 or groups < 1 or shape[1] % groups:
        raise Unsupported(f"GroupNormalization: {shape[1] if len(shape) > 1 else '?'} channels in {groups} groups")
    per_channel = int(ctx.opset >= 21)
    want = (shape[1] if per_channel else groups,)
    for name in ctx.inputs[1:3]:
        if ctx.shape(name) != want:
            raise Unsupported(f"GroupNormalization: scale/bias of shape {ctx.shape(name)}, expected {want}")
    return LoweredOp(OP_CODES["GROUP_NORM"], ctx.inputs, ctx.outputs, [groups, per_channel],
                     [float(ctx.attrs.get("epsilon", 1e-5))])


def log_softmax(ctx: OpContext) -> LoweredOp:
    """i = [axis, 2-D coercion (opset < 13)], as Softmax."""
    rank = len(ctx.shape(ctx.inputs[0]))
    if rank < 1:
        raise Unsupported("LogSoftmax of a scalar")
    axis = _normalize_axis(int(ctx.attrs.get("axis", -1 if ctx.opset >= 13 else 1)), rank, "LogSoftmax")
    return LoweredOp(OP_CODES["LOG_SOFTMAX"], ctx.inputs, ctx.outputs, [axis, int(ctx.opset < 13)], [])


ENTRIES = (
    OpTarget("LayerNormalization", layer_norm, alias=UNARY, first_output_only=True),
    OpTarget("InstanceNormalization", instance_norm, alias=UNARY),
    OpTarget("GroupNormalization", group_norm, alias=UNARY),
    OpTarget("LogSoftmax", log_softmax, alias=UNARY),
)
