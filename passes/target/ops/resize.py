"""Resize (runtime_ta/interp/kernels/resize.c)."""
from __future__ import annotations

from ...lower.format import COORD_MODES, NEAREST_MODES, OP_CODES, RESIZE_MODES
from ..kernel_args import resize_args
from ..op import LoweredOp, OpContext, OpTarget, Unsupported


def resize(ctx: OpContext) -> LoweredOp:
    """i = [mode, coordinate transformation, nearest mode], f = scale per dim."""
    a, node = ctx.attrs, ctx.node
    mode, coord = ctx.text("mode", "nearest"), ctx.text("coordinate_transformation_mode", "half_pixel")
    nearest = ctx.text("nearest_mode", "round_prefer_floor")
    if mode not in RESIZE_MODES:
        raise Unsupported(f"mode={mode}")
    if coord not in COORD_MODES:
        raise Unsupported(f"coordinate_transformation_mode={coord}")
    if nearest not in NEAREST_MODES:
        raise Unsupported(f"nearest_mode={nearest}")
    for key, ok in (("antialias", 0), ("exclude_outside", 0)):
        if int(a.get(key, ok)) != ok:
            raise Unsupported(f"{key}={a[key]}")
    if ctx.text("keep_aspect_ratio_policy", "stretch") != "stretch" or "axes" in a:
        raise Unsupported("keep_aspect_ratio_policy / axes")
    x_shape = ctx.shape(ctx.inputs[0])
    scales_v = ctx.const(2 if len(node.input) > 2 else 1, "Resize scales")
    sizes_v = ctx.const(3, "Resize sizes")
    try:
        scales, out = resize_args(x_shape, None if scales_v is None else scales_v.tolist(),
                                  None if sizes_v is None else sizes_v.tolist())
    except ValueError as exc:
        raise Unsupported(str(exc)) from None
    if tuple(out) != ctx.shape(ctx.outputs[0]):
        raise Unsupported(f"output shape {tuple(out)} differs from the inferred {ctx.shape(ctx.outputs[0])}")
    return LoweredOp(OP_CODES["RESIZE"], ctx.inputs[:1], ctx.outputs,
                     [RESIZE_MODES[mode], COORD_MODES[coord], NEAREST_MODES[nearest]], scales)


ENTRIES = (OpTarget("Resize", resize, parameter_inputs=frozenset({1, 2, 3})),)
