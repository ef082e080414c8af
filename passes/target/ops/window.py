"""The attribute slots shared by the window ops (Conv, ConvTranspose, MaxPool, AveragePool)."""
from __future__ import annotations

from ...analysis.spatial import WindowGeometry, window_geometry
from ...errors import UnsupportedModelError
from ..op import OpContext, Unsupported


def window_slots(ctx: OpContext) -> tuple[WindowGeometry, list[int]]:
    """The geometry of a window op (auto_pad, ceil_mode, output_shape resolved by `window_geometry`)
    and its slots i[0..10]: group, kernel h,w, strides, pads top,left,bottom,right, dilations."""
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
    return g, [g.group, g.kernel_h, g.kernel_w, g.stride_h, g.stride_w, g.pad_top, g.pad_left, g.pad_bottom,
               g.pad_right, g.dilation_h, g.dilation_w]
