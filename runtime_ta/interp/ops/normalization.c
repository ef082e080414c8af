/*
 * normalization.c - Softmax, LRN, BatchNormalization (inference).
 */
#include "ops.h"

static rt_status prepare_softmax(rt_prepare_ctx *c)
{
    const rt_op_desc *op = c->op;
    const rt_tensor_desc *y = c->out;
    rt_extent_data *e = &c->prep->u.extent;
    int32_t axis = op->i[RT_ATTR_SOFTMAX_AXIS], coerce = op->i[RT_ATTR_SOFTMAX_COERCE_2D];
    if (!rt_same_dims(c->in[0], y) || y->rank < 1)
        return RT_ERR_OP_SHAPE;
    if (!rt_attr_in(axis, 0, (int32_t)y->rank - 1) || !rt_attr_in(coerce, 0, 1))
        return RT_ERR_OP_ATTRIBUTE;
    if (!rt_unused_zero(op, RT_ATTR_SOFTMAX_COUNT, 0))
        return RT_ERR_OP_RESERVED;
    e->outer = (uint32_t)rt_prod_dims(y, 0, (uint32_t)axis);
    e->n = coerce ? (uint32_t)rt_prod_dims(y, (uint32_t)axis, RT_MAX_RANK) : y->dims[axis];
    e->inner = coerce ? 1 : (uint32_t)rt_prod_dims(y, (uint32_t)axis + 1, RT_MAX_RANK);
    return RT_OK;
}

static rt_status eval_softmax(const rt_eval_ctx *c)
{
    const rt_extent_data *e = &c->prep->u.extent;
    return rt_from_kern(kern_softmax(e->outer, e->n, e->inner, rt_eval_input(c, 0), rt_eval_output(c, 0)));
}

/* [batch, channels, spatial...] views of LRN and BatchNormalization. */
static rt_status channel_extent(rt_prepare_ctx *c)
{
    const rt_tensor_desc *y = c->out;
    if (!rt_same_dims(c->in[0], y) || y->rank < 2)
        return RT_ERR_OP_SHAPE;
    c->prep->u.extent.outer = y->dims[0];
    c->prep->u.extent.n = y->dims[1];
    c->prep->u.extent.inner = (uint32_t)rt_prod_dims(y, 2, RT_MAX_RANK);
    return RT_OK;
}

static rt_status prepare_lrn(rt_prepare_ctx *c)
{
    const rt_op_desc *op = c->op;
    rt_extent_data *e = &c->prep->u.extent;
    rt_status s = channel_extent(c);
    if (s != RT_OK)
        return s;
    if (!rt_attr_in(op->i[RT_ATTR_LRN_SIZE], 1, RT_MAX_ATTR))
        return RT_ERR_OP_ATTRIBUTE;
    if (!rt_unused_zero(op, RT_ATTR_LRN_COUNT, RT_FATTR_LRN_COUNT))
        return RT_ERR_OP_RESERVED;
    e->lrn_size = (uint32_t)op->i[RT_ATTR_LRN_SIZE];
    e->alpha = op->f[RT_FATTR_LRN_ALPHA];
    e->beta = op->f[RT_FATTR_LRN_BETA];
    e->bias = op->f[RT_FATTR_LRN_BIAS];
    return RT_OK;
}

static rt_status eval_lrn(const rt_eval_ctx *c)
{
    const rt_extent_data *e = &c->prep->u.extent;
    kern_lrn_attr attr;
    attr.size = e->lrn_size;
    attr.alpha = e->alpha;
    attr.beta = e->beta;
    attr.bias = e->bias;
    return rt_from_kern(kern_lrn(&attr, e->outer, e->n, e->inner, rt_eval_input(c, 0), rt_eval_output(c, 0)));
}

/* Inputs X, scale, B, mean, var: the last four are [channels]. */
static rt_status prepare_batch_norm(rt_prepare_ctx *c)
{
    uint32_t k;
    rt_status s = channel_extent(c);
    if (s != RT_OK)
        return s;
    for (k = 1; k < 5; k++)
        if (c->in[k]->rank != 1 || c->in[k]->dims[0] != c->prep->u.extent.n)
            return RT_ERR_OP_SHAPE;
    if (!rt_unused_zero(c->op, 0, RT_FATTR_BATCH_NORM_COUNT))
        return RT_ERR_OP_RESERVED;
    c->prep->u.extent.epsilon = c->op->f[RT_FATTR_BATCH_NORM_EPSILON];
    return RT_OK;
}

static rt_status eval_batch_norm(const rt_eval_ctx *c)
{
    const rt_extent_data *e = &c->prep->u.extent;
    return rt_from_kern(kern_batchnorm(e->outer, e->n, e->inner, e->epsilon, rt_eval_input(c, 1), rt_eval_input(c, 2),
                                       rt_eval_input(c, 3), rt_eval_input(c, 4), rt_eval_input(c, 0),
                                       rt_eval_output(c, 0)));
}

/* name, inputs min/max, outputs min/max, optional inputs, flags, prepare, eval */
const rt_op_registration rt_op_softmax = {"Softmax", 1, 1, 1, 1, 0, RT_OPF_IN_PLACE, prepare_softmax, eval_softmax};
const rt_op_registration rt_op_lrn = {"LRN", 1, 1, 1, 1, 0, 0, prepare_lrn, eval_lrn};
const rt_op_registration rt_op_batch_norm = {"BatchNormalization", 5, 5, 1, 1, 0, RT_OPF_IN_PLACE,
                                             prepare_batch_norm, eval_batch_norm};
