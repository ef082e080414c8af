"""Resize: nearest, linear, cubic (runtime_ta/interp/kernels/resize.c)."""
from __future__ import annotations

from ...lower import format as fmt
from ...lower.format import COORD_MODES, NEAREST_MODES, OP_CODES, RESIZE_MODES
from ..kernel_args import resize_args
from ..op import LoweredOp, OpContext, OpTarget, Unsupported, slots


def resize(ctx: OpContext) -> LoweredOp:
    """mode, coordinate transformation, nearest mode, a scale per dim; exclude_outside and cubic_coeff_a
    for cubic."""
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
    ints = {fmt.ATTR_RESIZE_MODE: RESIZE_MODES[mode], fmt.ATTR_RESIZE_COORD: COORD_MODES[coord],
            fmt.ATTR_RESIZE_NEAREST: NEAREST_MODES[nearest]}
    floats = {fmt.FATTR_RESIZE_SCALE: list(scales)}
    if mode == "cubic":
        resized = [d for d, (i, o, s) in enumerate(zip(x_shape, out, scales)) if i != o or s != 1.0]
        if len(resized) > 2:
            raise Unsupported(f"cubic over {len(resized)} dims (onnxruntime interpolates at most 2)")
        ints[fmt.ATTR_RESIZE_EXCLUDE_OUTSIDE] = exclude
        floats[fmt.FATTR_RESIZE_CUBIC_A] = float(a.get("cubic_coeff_a", -0.75))
    return LoweredOp(OP_CODES["RESIZE"], ctx.inputs[:1], ctx.outputs, slots(fmt.ATTR_RESIZE_COUNT, ints),
                     slots(fmt.FATTR_RESIZE_COUNT, floats))


ENTRIES = (OpTarget("Resize", resize, parameter_inputs=frozenset({1, 2, 3})),)
