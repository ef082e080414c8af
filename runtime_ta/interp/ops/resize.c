/*
 * resize.c - Resize (nearest, N-linear and N-cubic, scales per dim resolved offline).
 */
#include "ops.h"

static rt_status prepare_resize(rt_prepare_ctx *c)
{
    const rt_op_desc *op = c->op;
    const rt_tensor_desc *x = c->in[0], *y = c->out;
    rt_resize_data *r = &c->prep->u.resize;
    const int cubic = op->i[RT_ATTR_RESIZE_MODE] == RT_RESIZE_CUBIC;
    uint32_t d;
    if (x->rank != y->rank)
        return RT_ERR_OP_SHAPE;
    if (!rt_attr_in(op->i[RT_ATTR_RESIZE_MODE], RT_RESIZE_NEAREST, RT_RESIZE_CUBIC) ||
        !rt_attr_in(op->i[RT_ATTR_RESIZE_EXCLUDE_OUTSIDE], 0, cubic) ||
        !rt_attr_in(op->i[RT_ATTR_RESIZE_COORD], RT_COORD_HALF_PIXEL, RT_COORD_HALF_PIXEL_SYMMETRIC) ||
        !rt_attr_in(op->i[RT_ATTR_RESIZE_NEAREST], RT_NEAREST_ROUND_PREFER_FLOOR, RT_NEAREST_CEIL))
        return RT_ERR_OP_ATTRIBUTE;
    for (d = x->rank; d < RT_FATTR_RESIZE_CUBIC_A; d++)
        if (op->f[RT_FATTR_RESIZE_SCALE + d] != 0.0f)
            return RT_ERR_OP_RESERVED;
    if (!rt_unused_zero(op, RT_ATTR_RESIZE_COUNT, RT_FATTR_RESIZE_COUNT) ||
        (!cubic && op->f[RT_FATTR_RESIZE_CUBIC_A] != 0.0f))
        return RT_ERR_OP_RESERVED;
    if (cubic && !(op->f[RT_FATTR_RESIZE_CUBIC_A] > -1e6f && op->f[RT_FATTR_RESIZE_CUBIC_A] < 1e6f))
        return RT_ERR_OP_ATTRIBUTE;
    r->mode = op->i[RT_ATTR_RESIZE_MODE] == RT_RESIZE_NEAREST ? (uint32_t)KERN_RESIZE_NEAREST
              : cubic                                         ? (uint32_t)KERN_RESIZE_CUBIC
                                                              : (uint32_t)KERN_RESIZE_LINEAR;
    r->cubic_a = op->f[RT_FATTR_RESIZE_CUBIC_A];
    r->exclude_outside = (uint32_t)op->i[RT_ATTR_RESIZE_EXCLUDE_OUTSIDE];
    r->coord = (uint32_t)op->i[RT_ATTR_RESIZE_COORD];
    r->nearest = (uint32_t)op->i[RT_ATTR_RESIZE_NEAREST];
    for (d = 0; d < x->rank; d++) {
        float s = op->f[RT_FATTR_RESIZE_SCALE + d];
        if (!(s > 0.0f && s < 1e9f)) /* also rejects NaN */
            return RT_ERR_OP_ATTRIBUTE;
        r->scale[d] = s;
    }
    for (; d < RT_MAX_RANK; d++)
        r->scale[d] = 1.0f;
    return RT_OK;
}

static rt_status eval_resize(const rt_eval_ctx *c)
{
    const rt_resize_data *r = &c->prep->u.resize;
    kern_resize_attr attr;
    kern_shape xs, ys;
    size_t d;
    attr.mode = (kern_resize_mode)r->mode;
    attr.coord = (kern_coord_mode)r->coord;
    attr.nearest = (kern_nearest_mode)r->nearest;
    for (d = 0; d < KERN_MAX_RANK; d++)
        attr.scale[d] = r->scale[d];
    attr.cubic_a = r->cubic_a;
    attr.exclude_outside = (int)r->exclude_outside;
    rt_kshape(rt_eval_tensor(c, 0), &xs);
    rt_kshape(rt_eval_tensor(c, 1), &ys);
    return rt_from_kern(kern_resize(&attr, &xs, rt_eval_input(c, 0), &ys, rt_eval_output(c, 0)));
}

/* name, inputs min/max, outputs min/max, optional inputs, flags, prepare, eval, input and output types */
const rt_op_registration rt_op_resize = {"Resize", 1, 1, 1, 1, 0, 0, prepare_resize, eval_resize, "f", "f"};
