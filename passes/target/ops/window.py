"""The attribute slots shared by the window ops (Conv, ConvTranspose, MaxPool, AveragePool)."""
from __future__ import annotations

from ...analysis.spatial import WindowGeometry, window_geometry
from ...lower import format as fmt
from ...errors import UnsupportedModelError
from ..op import OpContext, Unsupported


def window_slots(ctx: OpContext) -> tuple[WindowGeometry, dict[int, int]]:
    """The geometry of a window op (auto_pad, ceil_mode, output_shape resolved by `window_geometry`)
    and its shared slots ATTR_CONV_* (i0-10): group, kernel h,w, strides, pads top,left,bottom,right,
    dilations."""
    try:
        g = window_geometry(ctx.node, ctx.infos)
    except UnsupportedModelError as exc:
        raise Unsupported(str(exc).split(": ", 1)[-1]) from None
    y = ctx.infos[ctx.node.output[0]].shape
    inferred = (y[2], y[3]) if len(y) == 4 else (1, y[-1])
    if inferred != (g.h_out, g.w_out):
        # e.g. ceil_mode where the last window would start past the input: ONNX shape inference
        # keeps it, onnxruntime and the kernels drop it
        raise Unsupported(f"ONNX shape inference gives spatial output {inferred[4 - len(y):]} but the op's "
                          f"semantics give {(g.h_out, g.w_out)[4 - len(y):]}")
    return g, {fmt.ATTR_CONV_GROUP: g.group, fmt.ATTR_CONV_KERNEL_H: g.kernel_h, fmt.ATTR_CONV_KERNEL_W: g.kernel_w,
               fmt.ATTR_CONV_STRIDE_H: g.stride_h, fmt.ATTR_CONV_STRIDE_W: g.stride_w,
               fmt.ATTR_CONV_PAD_TOP: g.pad_top, fmt.ATTR_CONV_PAD_LEFT: g.pad_left,
               fmt.ATTR_CONV_PAD_BOTTOM: g.pad_bottom, fmt.ATTR_CONV_PAD_RIGHT: g.pad_right,
               fmt.ATTR_CONV_DILATION_H: g.dilation_h, fmt.ATTR_CONV_DILATION_W: g.dilation_w}
