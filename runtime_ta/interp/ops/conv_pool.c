/*
 * conv_pool.c - the window ops: Conv (fusing a following activation), ConvTranspose, MaxPool,
 * AveragePool, and the global pools.
 */
#include <string.h>

#include "ops.h"

/* Slots 0-10 (RT_ATTR_CONV_*) and 11-12 are shared by the four window ops: x is [N, C, H, W] or
 * [N, C, W] (stored with H = 1). */
static rt_status window_geom(const rt_op_desc *op, const rt_tensor_desc *x, const rt_tensor_desc *y,
                             rt_window_data *g)
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

static void to_geom(const rt_window_data *w, kern_conv_geom *g)
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

/* Output length of a window op: floor or (ONNX) ceil mode; 0 when the window does not fit. */
static uint64_t window_out(uint64_t in, uint64_t pad_begin, uint64_t pad_end, uint64_t kernel, uint64_t stride,
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

static rt_status prepare_conv_common(rt_prepare_ctx *c, int transpose)
{
    const rt_op_desc *op = c->op;
    const rt_tensor_desc *x = c->in[0], *w = c->in[1], *b = c->in[2], *y = c->out;
    rt_window_data *g = &c->prep->u.window;
    kern_conv_geom kg;
    uint64_t expect_h, expect_w, cg;
    rt_status s = window_geom(op, x, y, g);
    if (s != RT_OK)
        return s;
    if (!rt_unused_zero(op, transpose ? RT_ATTR_CONV_TRANSPOSE_COUNT : RT_ATTR_CONV_COUNT, 0))
        return RT_ERR_OP_RESERVED;
    if (w == NULL || w->rank != x->rank || g->c_in % g->group || g->c_out % g->group)
        return RT_ERR_OP_SHAPE;
    cg = transpose ? g->c_out / g->group : g->c_in / g->group;
    if (w->dims[0] != (transpose ? g->c_in : g->c_out) || w->dims[1] != cg ||
        (x->rank == 4 && w->dims[2] != g->kernel_h) || w->dims[w->rank - 1] != g->kernel_w)
        return RT_ERR_OP_SHAPE;
    if (b != NULL && (b->rank != 1 || b->dims[0] != g->c_out))
        return RT_ERR_OP_SHAPE;
    to_geom(g, &kg);
    if (!transpose) {
        expect_h = window_out(g->h_in, g->pad_top, g->pad_bottom, g->kernel_h, g->stride_h, g->dilation_h, 0);
        expect_w = window_out(g->w_in, g->pad_left, g->pad_right, g->kernel_w, g->stride_w, g->dilation_w, 0);
        c->scratch = kern_scratch_bytes_conv(&kg);
    } else {
        uint64_t full_h = (uint64_t)g->stride_h * (g->h_in - 1) + (uint64_t)g->dilation_h * (g->kernel_h - 1) + 1 +
                          (uint64_t)op->i[RT_ATTR_CONV_TRANSPOSE_OUTPUT_PADDING_H];
        uint64_t full_w = (uint64_t)g->stride_w * (g->w_in - 1) + (uint64_t)g->dilation_w * (g->kernel_w - 1) + 1 +
                          (uint64_t)op->i[RT_ATTR_CONV_TRANSPOSE_OUTPUT_PADDING_W];
        if (x->rank == 3 && op->i[RT_ATTR_CONV_TRANSPOSE_OUTPUT_PADDING_H] != 0)
            return RT_ERR_OP_ATTRIBUTE;
        expect_h = full_h > (uint64_t)g->pad_top + g->pad_bottom ? full_h - g->pad_top - g->pad_bottom : 0;
        expect_w = full_w > (uint64_t)g->pad_left + g->pad_right ? full_w - g->pad_left - g->pad_right : 0;
        c->scratch = kern_scratch_bytes_conv_transpose(&kg);
    }
    if (expect_h == 0 || expect_w == 0 || expect_h != g->h_out || expect_w != g->w_out)
        return RT_ERR_OP_SHAPE;
    return RT_OK;
}

static rt_status prepare_conv(rt_prepare_ctx *c) { return prepare_conv_common(c, 0); }
static rt_status prepare_conv_transpose(rt_prepare_ctx *c) { return prepare_conv_common(c, 1); }

/* Conv; with RT_PREP_FUSED the following activation (c->next->u.act) is applied to each block of
 * outputs as soon as it is final (kern_conv_act): the values of the two ops run one after the other. */
static rt_status eval_conv(const rt_eval_ctx *c)
{
    kern_conv_geom g;
    to_geom(&c->prep->u.window, &g);
    if (c->prep->head.flags & RT_PREP_FUSED) {
        kern_unary_attr act;
        act.op = (kern_unary_op)c->next->u.act.kind;
        act.alpha = c->next->u.act.alpha;
        act.beta = c->next->u.act.beta;
        return rt_from_kern(kern_conv_act(&g, &act, rt_eval_input(c, 0), rt_eval_input(c, 1), rt_eval_input(c, 2),
                                          rt_eval_output(c, 0), c->scratch, c->scratch_size));
    }
    return rt_from_kern(kern_conv(&g, rt_eval_input(c, 0), rt_eval_input(c, 1), rt_eval_input(c, 2),
                                  rt_eval_output(c, 0), c->scratch, c->scratch_size));
}

static rt_status eval_conv_transpose(const rt_eval_ctx *c)
{
    kern_conv_geom g;
    to_geom(&c->prep->u.window, &g);
    return rt_from_kern(kern_conv_transpose(&g, rt_eval_input(c, 0), rt_eval_input(c, 1), rt_eval_input(c, 2),
                                            rt_eval_output(c, 0)));
}

static rt_status prepare_pool(rt_prepare_ctx *c, int average)
{
    const rt_op_desc *op = c->op;
    rt_window_data *g = &c->prep->u.window;
    int ceil_mode = op->i[RT_ATTR_POOL_CEIL_MODE];
    rt_status s = window_geom(op, c->in[0], c->out, g);
    if (s != RT_OK)
        return s;
    if (op->i[RT_ATTR_CONV_GROUP] != 1 || !rt_attr_in(ceil_mode, 0, 1) ||
        !rt_attr_in(op->i[RT_ATTR_POOL_COUNT_INCLUDE_PAD], 0, average))
        return RT_ERR_OP_ATTRIBUTE;
    if (!rt_unused_zero(op, RT_ATTR_POOL_COUNT, 0))
        return RT_ERR_OP_RESERVED;
    if (g->c_out != g->c_in ||
        window_out(g->h_in, g->pad_top, g->pad_bottom, g->kernel_h, g->stride_h, g->dilation_h, ceil_mode) != g->h_out ||
        window_out(g->w_in, g->pad_left, g->pad_right, g->kernel_w, g->stride_w, g->dilation_w, ceil_mode) != g->w_out ||
        g->h_out == 0 || g->w_out == 0)
        return RT_ERR_OP_SHAPE;
    g->count_include_pad = (uint32_t)op->i[RT_ATTR_POOL_COUNT_INCLUDE_PAD];
    return RT_OK;
}

static rt_status prepare_max_pool(rt_prepare_ctx *c) { return prepare_pool(c, 0); }
static rt_status prepare_average_pool(rt_prepare_ctx *c) { return prepare_pool(c, 1); }

static rt_status eval_pool(const rt_eval_ctx *c, kern_pool_kind kind)
{
    kern_conv_geom g;
    to_geom(&c->prep->u.window, &g);
    return rt_from_kern(kern_pool(kind, (int)c->prep->u.window.count_include_pad, &g, rt_eval_input(c, 0),
                                  rt_eval_output(c, 0)));
}

static rt_status eval_max_pool(const rt_eval_ctx *c) { return eval_pool(c, KERN_POOL_MAX); }
static rt_status eval_average_pool(const rt_eval_ctx *c) { return eval_pool(c, KERN_POOL_AVG); }

static rt_status prepare_global_pool(rt_prepare_ctx *c)
{
    const rt_tensor_desc *x = c->in[0], *y = c->out;
    if (x->rank < 3 || y->rank != x->rank || y->dims[0] != x->dims[0] || y->dims[1] != x->dims[1] ||
        rt_prod_dims(y, 2, RT_MAX_RANK) != 1)
        return RT_ERR_OP_SHAPE;
    if (!rt_unused_zero(c->op, 0, 0))
        return RT_ERR_OP_RESERVED;
    c->prep->u.extent.outer = (uint32_t)rt_prod_dims(x, 0, 2);
    c->prep->u.extent.inner = (uint32_t)rt_prod_dims(x, 2, RT_MAX_RANK);
    return RT_OK;
}

static rt_status eval_global_pool(const rt_eval_ctx *c, kern_pool_kind kind)
{
    return rt_from_kern(kern_global_pool(kind, c->prep->u.extent.outer, c->prep->u.extent.inner, rt_eval_input(c, 0),
                                         rt_eval_output(c, 0)));
}

static rt_status eval_global_average_pool(const rt_eval_ctx *c) { return eval_global_pool(c, KERN_POOL_AVG); }
static rt_status eval_global_max_pool(const rt_eval_ctx *c) { return eval_global_pool(c, KERN_POOL_MAX); }

/* name, inputs min/max, outputs min/max, optional inputs, flags, prepare, eval */
const rt_op_registration rt_op_conv = {"Conv", 2, 3, 1, 1, RT_OPTIONAL(2), RT_OPF_FUSES_ACTIVATION,
                                       prepare_conv, eval_conv};
const rt_op_registration rt_op_conv_transpose = {"ConvTranspose", 2, 3, 1, 1, RT_OPTIONAL(2), 0,
                                                 prepare_conv_transpose, eval_conv_transpose};
const rt_op_registration rt_op_max_pool = {"MaxPool", 1, 1, 1, 1, 0, 0, prepare_max_pool, eval_max_pool};
const rt_op_registration rt_op_average_pool = {"AveragePool", 1, 1, 1, 1, 0, 0, prepare_average_pool,
                                               eval_average_pool};
const rt_op_registration rt_op_global_average_pool = {"GlobalAveragePool", 1, 1, 1, 1, 0, 0, prepare_global_pool,
                                                      eval_global_average_pool};
const rt_op_registration rt_op_global_max_pool = {"GlobalMaxPool", 1, 1, 1, 1, 0, 0, prepare_global_pool,
                                                  eval_global_max_pool};
