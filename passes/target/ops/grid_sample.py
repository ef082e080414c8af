"""GridSample (runtime_ta/interp/ops/grid_sample.c, kernels/grid_sample.c): x sampled at a grid of
normalised positions, onnxruntime's rules (nearest half to even, padding applied to each tap index).

    GridSample(x [N,C,H,W], grid [N,Ho,Wo,2], mode, padding_mode, align_corners)
      ->  op GRID_SAMPLE  x, grid -> y [N,C,Ho,Wo]
          i = [mode (RESIZE_MODES: nearest 0, linear 1, cubic 2), padding (GRID_PADDING_MODES), align_corners]

Opset 16 names the modes bilinear / bicubic, opset 20 linear / cubic; 5-D inputs (grid [N,Do,Ho,Wo,3])
are sampled with nearest and linear, as onnxruntime does (cubic: 4-D only).
"""
from __future__ import annotations

from ...lower import format as fmt
from ...lower.format import GRID_PADDING_MODES, OP_CODES, RESIZE_MODES
from ..kernel_args import grid_sample_args
from ..op import LoweredOp, OpContext, OpTarget, Unsupported, slots


def grid_sample(ctx: OpContext) -> LoweredOp:
    """Mode, padding mode and align_corners as three integer slots; the output shape is checked."""
    x, grid = ctx.inputs
    padding = ctx.text("padding_mode", "zeros")
    align_corners = int(ctx.attrs.get("align_corners", 0))
    try:
        mode, out = grid_sample_args(ctx.shape(x), ctx.shape(grid), ctx.text("mode", "bilinear"), padding)
    except ValueError as exc:
        raise Unsupported(str(exc)) from None
    if align_corners not in (0, 1):
        raise Unsupported(f"align_corners={align_corners}")
    if tuple(out) != ctx.shape(ctx.outputs[0]):
        raise Unsupported(f"output shape {tuple(out)} differs from the inferred {ctx.shape(ctx.outputs[0])}")
    ints = {fmt.ATTR_GRID_SAMPLE_MODE: RESIZE_MODES[mode], fmt.ATTR_GRID_SAMPLE_PADDING: GRID_PADDING_MODES[padding],
            fmt.ATTR_GRID_SAMPLE_ALIGN_CORNERS: align_corners}
    return LoweredOp(OP_CODES["GRID_SAMPLE"], ctx.inputs, ctx.outputs, slots(fmt.ATTR_GRID_SAMPLE_COUNT, ints), [])


ENTRIES = (OpTarget("GridSample", grid_sample),)
