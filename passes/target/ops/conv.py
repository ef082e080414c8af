"""Conv and ConvTranspose (runtime_ta/interp/kernels/conv.c)."""
from __future__ import annotations

from ...lower.format import OP_CODES
from ..op import LoweredOp, OpContext, OpTarget, Unsupported
from ..scratch import conv_node_scratch
from .window import window_slots


def conv(ctx: OpContext) -> LoweredOp:
    """i = [group, kernel h w, strides h w, pads t l b r, dilations h w]."""
    _, ints = window_slots(ctx)
    return LoweredOp(OP_CODES["CONV"], ctx.inputs[:3], ctx.outputs, ints, [])


def conv_transpose(ctx: OpContext) -> LoweredOp:
    """Conv's slots, then output_padding h w as the kernel counts it: rows past the last input's
    reach (this also holds the extra rows of an output_shape larger than the full output)."""
    g, ints = window_slots(ctx)
    for size, out, k, s, d, pb, pe in ((g.h_in, g.h_out, g.kernel_h, g.stride_h, g.dilation_h, g.pad_top,
                                        g.pad_bottom), (g.w_in, g.w_out, g.kernel_w, g.stride_w, g.dilation_w,
                                                        g.pad_left, g.pad_right)):
        ints.append(out - (s * (size - 1) + d * (k - 1) + 1 - pb - pe))
    if min(ints[11:]) < 0:
        raise Unsupported("output_shape smaller than the padded output")
    return LoweredOp(OP_CODES["CONV_TRANSPOSE"], ctx.inputs[:3], ctx.outputs, ints, [])


ENTRIES = (
    OpTarget("Conv", conv, scratch=conv_node_scratch),
    OpTarget("ConvTranspose", conv_transpose),
)
