"""Conv and ConvTranspose (runtime_ta/interp/kernels/conv.c)."""
from __future__ import annotations

import numpy as np

from ...lower import format as fmt
from ...lower.format import OP_CODES
from ..op import LoweredOp, OpContext, OpTarget, Unsupported, slots
from ..scratch import conv_node_scratch, conv_transpose_node_scratch, conv_wt_ok
from .window import window_slots


def conv(ctx: OpContext) -> LoweredOp:
    """The window slots (ATTR_CONV_*), then the weight layout (ATTR_CONV_W_LAYOUT): a 1x1 convolution
    over few pixels (`conv_wt_ok`) whose weights are a constant no other op of the body reads stores
    them transposed (layout 1), for the interpreter's transposed product (kernels/pointwise_wt.c):

        W [c_out, c_in, 1, 1], W[o, i] at o * c_in + i  ->  stored W[o, i] at i * c_out + o
    """
    g, window = window_slots(ctx)
    w = ctx.inputs[1]
    if conv_wt_ok(g) and w in ctx.consts and w not in ctx.shared:
        return LoweredOp(OP_CODES["CONV"], ctx.inputs[:3], ctx.outputs,
                         slots(fmt.ATTR_CONV_OP_COUNT, {**window, fmt.ATTR_CONV_W_LAYOUT: 1}), [],
                         stored={1: transposed_1x1})
    return LoweredOp(OP_CODES["CONV"], ctx.inputs[:3], ctx.outputs, slots(fmt.ATTR_CONV_OP_COUNT, window), [])


def transposed_1x1(w: np.ndarray) -> np.ndarray:
    """A 1x1 convolution's weights [c_out, c_in, 1, 1] with their values in transposed order (the
    shape kept): element (o, i) at i * c_out + o."""
    return np.ascontiguousarray(w.reshape(w.shape[0], -1).T).reshape(w.shape)


def conv_transpose(ctx: OpContext) -> LoweredOp:
    """Conv's slots, then output_padding h w as the kernel counts it: rows past the last input's
    reach (this also holds the extra rows of an output_shape larger than the full output)."""
    g, window = window_slots(ctx)
    extra_h = g.h_out - (g.stride_h * (g.h_in - 1) + g.dilation_h * (g.kernel_h - 1) + 1 - g.pad_top - g.pad_bottom)
    extra_w = g.w_out - (g.stride_w * (g.w_in - 1) + g.dilation_w * (g.kernel_w - 1) + 1 - g.pad_left - g.pad_right)
    if min(extra_h, extra_w) < 0:
        raise Unsupported("output_shape smaller than the padded output")
    ints = slots(fmt.ATTR_CONV_TRANSPOSE_COUNT, {**window, fmt.ATTR_CONV_TRANSPOSE_OUTPUT_PADDING_H: extra_h,
                                                 fmt.ATTR_CONV_TRANSPOSE_OUTPUT_PADDING_W: extra_w})
    return LoweredOp(OP_CODES["CONV_TRANSPOSE"], ctx.inputs[:3], ctx.outputs, ints, [])


ENTRIES = (
    OpTarget("Conv", conv, scratch=conv_node_scratch),
    OpTarget("ConvTranspose", conv_transpose, scratch=conv_transpose_node_scratch),
)
