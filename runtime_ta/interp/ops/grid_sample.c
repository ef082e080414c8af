/*
 * grid_sample.c - GridSample (code 76): x [N, C, D1..Dr] sampled at grid [N, D1'..Dr', r] into
 * y [N, C, D1'..Dr'], r = 2 or 3 (cubic: r = 2); the sampling rules are kern_grid_sample's.
 */
#include "ops.h"

/* grid = [N] + y's spatial dims + [r]; y = [N, C] + grid's middle dims; modes in range. */
static rt_status prepare_grid_sample(rt_prepare_ctx *c)
{
    const rt_op_desc *op = c->op;
    const rt_tensor_desc *x = c->in[0], *grid = c->in[1], *y = c->out;
    const int32_t mode = op->i[RT_ATTR_GRID_SAMPLE_MODE];
    rt_grid_sample_data *g = &c->prep->u.grid_sample;
    uint32_t d;
    if (!rt_unused_zero(op, RT_ATTR_GRID_SAMPLE_COUNT, 0))
        return RT_ERR_OP_RESERVED;
    if (!rt_attr_in(mode, RT_RESIZE_NEAREST, RT_RESIZE_CUBIC) ||
        !rt_attr_in(op->i[RT_ATTR_GRID_SAMPLE_PADDING], RT_GRID_PADDING_ZEROS, RT_GRID_PADDING_REFLECTION) ||
        !rt_attr_in(op->i[RT_ATTR_GRID_SAMPLE_ALIGN_CORNERS], 0, 1))
        return RT_ERR_OP_ATTRIBUTE;
    if (x->rank < 4 || x->rank > 5 || (mode == RT_RESIZE_CUBIC && x->rank != 4))
        return RT_ERR_OP_SHAPE;
    if (grid->rank != x->rank || y->rank != x->rank || grid->dims[0] != x->dims[0] || y->dims[0] != x->dims[0] ||
        y->dims[1] != x->dims[1] || grid->dims[x->rank - 1] != x->rank - 2u)
        return RT_ERR_OP_SHAPE;
    for (d = 2; d < x->rank; d++)
        if (grid->dims[d - 1] != y->dims[d] || (x->dims[d] == 0 && y->dims[d] != 0))
            return RT_ERR_OP_SHAPE;
    g->mode = mode == RT_RESIZE_NEAREST ? (uint32_t)KERN_RESIZE_NEAREST
              : mode == RT_RESIZE_CUBIC ? (uint32_t)KERN_RESIZE_CUBIC
                                        : (uint32_t)KERN_RESIZE_LINEAR;
    g->padding = op->i[RT_ATTR_GRID_SAMPLE_PADDING] == RT_GRID_PADDING_ZEROS    ? (uint32_t)KERN_GRID_ZEROS
                 : op->i[RT_ATTR_GRID_SAMPLE_PADDING] == RT_GRID_PADDING_BORDER ? (uint32_t)KERN_GRID_BORDER
                                                                                 : (uint32_t)KERN_GRID_REFLECTION;
    g->align_corners = (uint32_t)op->i[RT_ATTR_GRID_SAMPLE_ALIGN_CORNERS];
    return RT_OK;
}

static rt_status eval_grid_sample(const rt_eval_ctx *c)
{
    const rt_grid_sample_data *g = &c->prep->u.grid_sample;
    kern_grid_sample_attr attr;
    kern_shape xs, ys;
    attr.mode = (kern_resize_mode)g->mode;
    attr.padding = (kern_grid_padding)g->padding;
    attr.align_corners = (int)g->align_corners;
    rt_kshape(rt_eval_tensor(c, 0), &xs);
    rt_kshape(rt_eval_tensor(c, 2), &ys);
    return rt_from_kern(kern_grid_sample(&attr, &xs, rt_eval_input(c, 0), rt_eval_input(c, 1), &ys,
                                         rt_eval_output(c, 0)));
}

/* name, inputs min/max, outputs min/max, optional inputs, flags, prepare, eval, input and output types */
const rt_op_registration rt_op_grid_sample = {"GridSample", 2, 2, 1, 1, 0, 0, prepare_grid_sample, eval_grid_sample,
                                              "f", "f"};
