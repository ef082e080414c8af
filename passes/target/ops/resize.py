"""Resize: nearest, linear, cubic (runtime_ta/interp/kernels/resize.c)."""
from __future__ import annotations

from ...lower.format import COORD_MODES, MAX_RANK, NEAREST_MODES, OP_CODES, RESIZE_MODES
from ..kernel_args import resize_args
from ..op import LoweredOp, OpContext, OpTarget, Unsupported


def resize(ctx: OpContext) -> LoweredOp:
    """i = [mode, coordinate transformation, nearest mode, exclude_outside], f = [scale per dim (MAX_RANK),
    cubic_coeff_a] (cubic's two only for cubic)."""
    a, node = ctx.attrs, ctx.node
    mode, coord = ctx.text("mode", "nearest"), ctx.text("coordinate_transformation_mode", "half_pixel")
    nearest = ctx.text("nearest_mode", "round_prefer_floor")
    if mode not in RESIZE_MODES:
        raise Unsupported(f"mode={mode}")
    if coord not in COORD_MODES:
        raise Unsupported(f"coordinate_transformation_mode={coord}")
    if nearest not in NEAREST_MODES:
        raise Unsupported(f"nearest_mode={nearest}")
    if int(a.get("antialias", 0)) != 0:
        raise Unsupported(f"antialias={a['antialias']}")
    exclude = int(a.get("exclude_outside", 0))
    if exclude not in (0, 1) or (exclude and mode != "cubic"):
        raise Unsupported(f"exclude_outside={exclude} with mode={mode}")
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
    ints = [RESIZE_MODES[mode], COORD_MODES[coord], NEAREST_MODES[nearest]]
    if mode != "cubic":
        return LoweredOp(OP_CODES["RESIZE"], ctx.inputs[:1], ctx.outputs, ints, scales)
    resized = [d for d, (i, o, s) in enumerate(zip(x_shape, out, scales)) if i != o or s != 1.0]
    if len(resized) > 2:
        raise Unsupported(f"cubic over {len(resized)} dims (onnxruntime interpolates at most 2)")
    floats = [*scales, *[0.0] * (MAX_RANK - len(scales)), float(a.get("cubic_coeff_a", -0.75))]
    return LoweredOp(OP_CODES["RESIZE"], ctx.inputs[:1], ctx.outputs, [*ints, exclude], floats)


ENTRIES = (OpTarget("Resize", resize, parameter_inputs=frozenset({1, 2, 3})),)
