/*
 * window.c - the geometry shared by the window ops (Conv, ConvTranspose, MaxPool, AveragePool and the
 * quantized convolutions): slots 0-10 (RT_ATTR_CONV_*) and 11-12, x [N, C, H, W] or [N, C, W] (stored
 * with H = 1).
 */
#include "ops.h"

rt_status rt_window_geom(const rt_op_desc *op, const rt_tensor_desc *x, const rt_tensor_desc *y, rt_window_data *g)
{
    int k;
    if (x->rank != 3 && x->rank != 4)
        return RT_ERR_OP_SHAPE;
    if (y->rank != x->rank)
        return RT_ERR_OP_SHAPE;
    for (k = 0; k < RT_ATTR_POOL_COUNT; k++)
        if (!rt_attr_in(op->i[k], 0, RT_MAX_ATTR))
            return RT_ERR_OP_ATTRIBUTE;
    if (op->i[RT_ATTR_CONV_GROUP] < 1 || op->i[RT_ATTR_CONV_KERNEL_H] < 1 || op->i[RT_ATTR_CONV_KERNEL_W] < 1 ||
        op->i[RT_ATTR_CONV_STRIDE_H] < 1 || op->i[RT_ATTR_CONV_STRIDE_W] < 1 ||
        op->i[RT_ATTR_CONV_DILATION_H] < 1 || op->i[RT_ATTR_CONV_DILATION_W] < 1)
        return RT_ERR_OP_ATTRIBUTE;
    if (x->rank == 3 && (op->i[RT_ATTR_CONV_KERNEL_H] != 1 || op->i[RT_ATTR_CONV_STRIDE_H] != 1 ||
                         op->i[RT_ATTR_CONV_PAD_TOP] != 0 || op->i[RT_ATTR_CONV_PAD_BOTTOM] != 0 ||
                         op->i[RT_ATTR_CONV_DILATION_H] != 1))
        return RT_ERR_OP_ATTRIBUTE;
    g->batch = x->dims[0];
    g->c_in = x->dims[1];
    g->h_in = x->rank == 4 ? x->dims[2] : 1;
    g->w_in = x->dims[x->rank - 1];
    g->c_out = y->dims[1];
    g->h_out = y->rank == 4 ? y->dims[2] : 1;
    g->w_out = y->dims[y->rank - 1];
    g->group = (uint32_t)op->i[RT_ATTR_CONV_GROUP];
    g->kernel_h = (uint32_t)op->i[RT_ATTR_CONV_KERNEL_H];
    g->kernel_w = (uint32_t)op->i[RT_ATTR_CONV_KERNEL_W];
    g->stride_h = (uint32_t)op->i[RT_ATTR_CONV_STRIDE_H];
    g->stride_w = (uint32_t)op->i[RT_ATTR_CONV_STRIDE_W];
    g->pad_top = (uint32_t)op->i[RT_ATTR_CONV_PAD_TOP];
    g->pad_left = (uint32_t)op->i[RT_ATTR_CONV_PAD_LEFT];
    g->pad_bottom = (uint32_t)op->i[RT_ATTR_CONV_PAD_BOTTOM];
    g->pad_right = (uint32_t)op->i[RT_ATTR_CONV_PAD_RIGHT];
    g->dilation_h = (uint32_t)op->i[RT_ATTR_CONV_DILATION_H];
    g->dilation_w = (uint32_t)op->i[RT_ATTR_CONV_DILATION_W];
    if (y->dims[0] != x->dims[0])
        return RT_ERR_OP_SHAPE;
    return RT_OK;
}

void rt_kern_geom(const rt_window_data *w, kern_conv_geom *g)
{
    g->batch = w->batch;
    g->c_in = w->c_in;
    g->h_in = w->h_in;
    g->w_in = w->w_in;
    g->c_out = w->c_out;
    g->h_out = w->h_out;
    g->w_out = w->w_out;
    g->kernel_h = w->kernel_h;
    g->kernel_w = w->kernel_w;
    g->stride_h = w->stride_h;
    g->stride_w = w->stride_w;
    g->dilation_h = w->dilation_h;
    g->dilation_w = w->dilation_w;
    g->pad_top = w->pad_top;
    g->pad_left = w->pad_left;
    g->pad_bottom = w->pad_bottom;
    g->pad_right = w->pad_right;
    g->group = w->group;
}

uint64_t rt_window_out(uint64_t in, uint64_t pad_begin, uint64_t pad_end, uint64_t kernel, uint64_t stride,
                       uint64_t dilation, int ceil_mode)
{
    uint64_t span = dilation * (kernel - 1) + 1, padded = in + pad_begin + pad_end, out;
    if (padded < span)
        return 0;
    if (!ceil_mode)
        return (padded - span) / stride + 1;
    out = (padded - span + stride - 1) / stride + 1;
    if ((out - 1) * stride >= in + pad_begin) /* the last window must start inside the input or left pad */
        out--;
    return out;
}

rt_status rt_conv_shape(const rt_op_desc *op, const rt_tensor_desc *x, const rt_tensor_desc *w,
                        const rt_tensor_desc *b, const rt_tensor_desc *y, int transpose, rt_window_data *g)
{
    uint64_t expect_h, expect_w, cg;
    rt_status s = rt_window_geom(op, x, y, g);
    if (s != RT_OK)
        return s;
    if (!rt_unused_zero(op, transpose              ? RT_ATTR_CONV_TRANSPOSE_COUNT
                            : op->op == RT_OP_CONV ? RT_ATTR_CONV_OP_COUNT
                                                     : RT_ATTR_CONV_COUNT, 0))
        return RT_ERR_OP_RESERVED;
    if (w == NULL || w->rank != x->rank || g->c_in % g->group || g->c_out % g->group)
        return RT_ERR_OP_SHAPE;
    cg = transpose ? g->c_out / g->group : g->c_in / g->group;
    if (w->dims[0] != (transpose ? g->c_in : g->c_out) || w->dims[1] != cg ||
        (x->rank == 4 && w->dims[2] != g->kernel_h) || w->dims[w->rank - 1] != g->kernel_w)
        return RT_ERR_OP_SHAPE;
    if (b != NULL && (b->rank != 1 || b->dims[0] != g->c_out))
        return RT_ERR_OP_SHAPE;
    if (!transpose) {
        expect_h = rt_window_out(g->h_in, g->pad_top, g->pad_bottom, g->kernel_h, g->stride_h, g->dilation_h, 0);
        expect_w = rt_window_out(g->w_in, g->pad_left, g->pad_right, g->kernel_w, g->stride_w, g->dilation_w, 0);
    } else {
        uint64_t full_h = (uint64_t)g->stride_h * (g->h_in - 1) + (uint64_t)g->dilation_h * (g->kernel_h - 1) + 1 +
                          (uint64_t)op->i[RT_ATTR_CONV_TRANSPOSE_OUTPUT_PADDING_H];
        uint64_t full_w = (uint64_t)g->stride_w * (g->w_in - 1) + (uint64_t)g->dilation_w * (g->kernel_w - 1) + 1 +
                          (uint64_t)op->i[RT_ATTR_CONV_TRANSPOSE_OUTPUT_PADDING_W];
        if (x->rank == 3 && op->i[RT_ATTR_CONV_TRANSPOSE_OUTPUT_PADDING_H] != 0)
            return RT_ERR_OP_ATTRIBUTE;
        expect_h = full_h > (uint64_t)g->pad_top + g->pad_bottom ? full_h - g->pad_top - g->pad_bottom : 0;
        expect_w = full_w > (uint64_t)g->pad_left + g->pad_right ? full_w - g->pad_left - g->pad_right : 0;
    }
    if (expect_h == 0 || expect_w == 0 || expect_h != g->h_out || expect_w != g->w_out)
        return RT_ERR_OP_SHAPE;
    return RT_OK;
}

