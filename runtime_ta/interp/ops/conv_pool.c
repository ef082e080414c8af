/*
 * conv_pool.c - the window ops: Conv (fusing a following activation), ConvTranspose, MaxPool,
 * AveragePool, and the global pools.
 */
#include "ops.h"

/* Conv, ConvTranspose: the shape rule (ops/window.c), then the kernel's scratch. */
static rt_status prepare_conv_common(rt_prepare_ctx *c, int transpose)
{
    rt_window_data *g = &c->prep->u.window;
    kern_conv_geom kg;
    rt_status s = rt_conv_shape(c->op, c->in[0], c->in[1], c->in[2], c->out, transpose, g);
    if (s != RT_OK)
        return s;
    rt_kern_geom(g, &kg);
    c->scratch = transpose ? kern_scratch_bytes_conv_transpose(&kg) : kern_scratch_bytes_conv(&kg);
    return RT_OK;
}

/* Conv: as above, and the weight layout (RT_ATTR_CONV_W_LAYOUT): 0, or 1 where kern_conv_wt_ok. */
static rt_status prepare_conv(rt_prepare_ctx *c)
{
    const int32_t layout = c->op->i[RT_ATTR_CONV_W_LAYOUT];
    kern_conv_geom kg;
    rt_status s = prepare_conv_common(c, 0);
    if (s != RT_OK)
        return s;
    rt_kern_geom(&c->prep->u.window, &kg);
    return rt_attr_in(layout, 0, 1) && (layout == 0 || kern_conv_wt_ok(&kg)) ? RT_OK : RT_ERR_OP_ATTRIBUTE;
}
static rt_status prepare_conv_transpose(rt_prepare_ctx *c) { return prepare_conv_common(c, 1); }

/* Conv; with RT_PREP_FUSED the following activation (c->next->u.act) is applied to each block of
 * outputs as soon as it is final (kern_conv_act): the values of the two ops run one after the other. */
static rt_status eval_conv(const rt_eval_ctx *c)
{
    kern_conv_geom g;
    kern_unary_attr act;
    const kern_unary_attr *fused = NULL;
    rt_kern_geom(&c->prep->u.window, &g);
    if (c->prep->head.flags & RT_PREP_FUSED) {
        act.op = (kern_unary_op)c->next->u.act.kind;
        act.alpha = c->next->u.act.alpha;
        act.beta = c->next->u.act.beta;
        fused = &act;
    }
    if (c->op->i[RT_ATTR_CONV_W_LAYOUT] == 1) /* the 1x1 weights stored transposed */
        return rt_from_kern(kern_conv_wt_act(&g, fused, rt_eval_input(c, 0), rt_eval_input(c, 1),
                                             rt_eval_input(c, 2), rt_eval_output(c, 0), c->scratch, c->scratch_size));
    return rt_from_kern(kern_conv_act(&g, fused, rt_eval_input(c, 0), rt_eval_input(c, 1), rt_eval_input(c, 2),
                                      rt_eval_output(c, 0), c->scratch, c->scratch_size));
}

static rt_status eval_conv_transpose(const rt_eval_ctx *c)
{
    kern_conv_geom g;
    rt_kern_geom(&c->prep->u.window, &g);
    return rt_from_kern(kern_conv_transpose(&g, rt_eval_input(c, 0), rt_eval_input(c, 1), rt_eval_input(c, 2),
                                            rt_eval_output(c, 0), c->scratch, c->scratch_size));
}

static rt_status prepare_pool(rt_prepare_ctx *c, int average)
{
    const rt_op_desc *op = c->op;
    rt_window_data *g = &c->prep->u.window;
    int ceil_mode = op->i[RT_ATTR_POOL_CEIL_MODE];
    rt_status s = rt_window_geom(op, c->in[0], c->out, g);
    if (s != RT_OK)
        return s;
    if (op->i[RT_ATTR_CONV_GROUP] != 1 || !rt_attr_in(ceil_mode, 0, 1) ||
        !rt_attr_in(op->i[RT_ATTR_POOL_COUNT_INCLUDE_PAD], 0, average))
        return RT_ERR_OP_ATTRIBUTE;
    if (!rt_unused_zero(op, RT_ATTR_POOL_COUNT, 0))
        return RT_ERR_OP_RESERVED;
    if (g->c_out != g->c_in || g->h_out == 0 || g->w_out == 0 ||
        rt_window_out(g->h_in, g->pad_top, g->pad_bottom, g->kernel_h, g->stride_h, g->dilation_h, ceil_mode) !=
            g->h_out ||
        rt_window_out(g->w_in, g->pad_left, g->pad_right, g->kernel_w, g->stride_w, g->dilation_w, ceil_mode) !=
            g->w_out)
        return RT_ERR_OP_SHAPE;
    g->count_include_pad = (uint32_t)op->i[RT_ATTR_POOL_COUNT_INCLUDE_PAD];
    return RT_OK;
}

static rt_status prepare_max_pool(rt_prepare_ctx *c) { return prepare_pool(c, 0); }
static rt_status prepare_average_pool(rt_prepare_ctx *c) { return prepare_pool(c, 1); }

static rt_status eval_pool(const rt_eval_ctx *c, kern_pool_kind kind)
{
    kern_conv_geom g;
    rt_kern_geom(&c->prep->u.window, &g);
    return rt_from_kern(kern_pool(kind, (int)c->prep->u.window.count_include_pad, &g, rt_eval_input(c, 0),
                                  rt_eval_output(c, 0)));
}

/* MaxPool over float32, or over the stored values of an int8 / uint8 tensor. */
static rt_status eval_max_pool(const rt_eval_ctx *c)
{
    const uint8_t dtype = rt_eval_tensor(c, 0)->dtype;
    kern_conv_geom g;
    if (dtype == RT_DTYPE_FLOAT32)
        return eval_pool(c, KERN_POOL_MAX);
    rt_kern_geom(&c->prep->u.window, &g);
    return rt_from_kern(kern_max_pool_q((kern_qtype)dtype, &g, rt_eval_bytes(c, 0), rt_eval_output_bytes(c, 0)));
}
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

/* name, inputs min/max, outputs min/max, optional inputs, flags, prepare, eval, input and output types */
const rt_op_registration rt_op_conv = {"Conv", 2, 3, 1, 1, RT_OPTIONAL(2), RT_OPF_FUSES_ACTIVATION,
                                       prepare_conv, eval_conv, "f", "f"};
const rt_op_registration rt_op_conv_transpose = {"ConvTranspose", 2, 3, 1, 1, RT_OPTIONAL(2), 0,
                                                 prepare_conv_transpose, eval_conv_transpose, "f", "f"};
const rt_op_registration rt_op_max_pool = {"MaxPool", 1, 1, 1, 1, 0, 0, prepare_max_pool, eval_max_pool, "a", "0"};
const rt_op_registration rt_op_average_pool = {"AveragePool", 1, 1, 1, 1, 0, 0, prepare_average_pool,
                                               eval_average_pool, "f", "f"};
const rt_op_registration rt_op_global_average_pool = {"GlobalAveragePool", 1, 1, 1, 1, 0, 0, prepare_global_pool,
                                                      eval_global_average_pool, "f", "f"};
const rt_op_registration rt_op_global_max_pool = {"GlobalMaxPool", 1, 1, 1, 1, 0, 0, prepare_global_pool,
                                                  eval_global_max_pool, "f", "f"};
