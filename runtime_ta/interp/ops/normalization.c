/*
 * normalization.c - Softmax, LRN, BatchNormalization (inference); LogSoftmax, LayerNormalization,
 * InstanceNormalization, GroupNormalization (kernels/reduce.c).
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

/* ---- LogSoftmax, LayerNormalization, InstanceNormalization, GroupNormalization */

/* LogSoftmax: Softmax's slots and view (format.h asserts the slots equal). */
static rt_status eval_log_softmax(const rt_eval_ctx *c)
{
    const rt_extent_data *e = &c->prep->u.extent;
    return rt_from_kern(kern_log_softmax(e->outer, e->n, e->inner, rt_eval_input(c, 0), rt_eval_output(c, 0)));
}

/* t has n elements and, right-aligned, the dims of y from `axis` on (leading dims of t are 1). */
static int suffix_shaped(const rt_tensor_desc *t, const rt_tensor_desc *y, uint32_t axis)
{
    uint32_t k;
    if (t->rank > RT_MAX_RANK)
        return 0;
    for (k = 0; k < t->rank; k++) {
        const uint32_t from_end = t->rank - k; /* 1 = last */
        const uint32_t want = from_end <= y->rank - axis ? y->dims[y->rank - from_end] : 1;
        if (t->dims[k] != want)
            return 0;
    }
    return rt_prod_dims(t, 0, RT_MAX_RANK) == rt_prod_dims(y, axis, RT_MAX_RANK);
}

/* Inputs X, Scale, [B]: Scale and B hold the normalized dims (y's dims from axis on). */
static rt_status prepare_layer_norm(rt_prepare_ctx *c)
{
    const rt_op_desc *op = c->op;
    const rt_tensor_desc *y = c->out;
    rt_norm_data *nd = &c->prep->u.norm;
    const int32_t axis = op->i[RT_ATTR_LAYER_NORM_AXIS];
    uint32_t k;
    if (!rt_same_dims(c->in[0], y) || y->rank < 1)
        return RT_ERR_OP_SHAPE;
    if (!rt_attr_in(axis, 0, (int32_t)y->rank - 1))
        return RT_ERR_OP_ATTRIBUTE;
    if (!rt_unused_zero(op, RT_ATTR_LAYER_NORM_COUNT, RT_FATTR_LAYER_NORM_COUNT))
        return RT_ERR_OP_RESERVED;
    for (k = 1; k < 3; k++)
        if (c->in[k] != NULL && !suffix_shaped(c->in[k], y, (uint32_t)axis))
            return RT_ERR_OP_SHAPE;
    nd->batch = (uint32_t)rt_prod_dims(y, 0, (uint32_t)axis);
    nd->groups = nd->channels_per_group = 1;
    nd->spatial = (uint32_t)rt_prod_dims(y, (uint32_t)axis, RT_MAX_RANK);
    nd->epsilon = op->f[RT_FATTR_LAYER_NORM_EPSILON];
    return RT_OK;
}

static rt_status eval_layer_norm(const rt_eval_ctx *c)
{
    const rt_norm_data *nd = &c->prep->u.norm;
    return rt_from_kern(kern_layer_norm(nd->batch, nd->spatial, nd->epsilon, rt_eval_input(c, 1), rt_eval_input(c, 2),
                                        rt_eval_input(c, 0), rt_eval_output(c, 0), NULL, NULL));
}

/* [batch, channels, spatial...] with scale and bias of `params` elements each (rank 1). */
static rt_status prepare_grouped(rt_prepare_ctx *c, uint32_t groups, uint32_t params, float epsilon)
{
    const rt_tensor_desc *y = c->out;
    rt_norm_data *nd = &c->prep->u.norm;
    uint32_t k;
    if (!rt_same_dims(c->in[0], y) || y->rank < 2)
        return RT_ERR_OP_SHAPE;
    if (groups == 0 || y->dims[1] % groups != 0)
        return RT_ERR_OP_ATTRIBUTE;
    for (k = 1; k < 3; k++)
        if (c->in[k]->rank != 1 || c->in[k]->dims[0] != params)
            return RT_ERR_OP_SHAPE;
    nd->batch = y->dims[0];
    nd->groups = groups;
    nd->channels_per_group = y->dims[1] / groups;
    nd->spatial = (uint32_t)rt_prod_dims(y, 2, RT_MAX_RANK);
    nd->epsilon = epsilon;
    return RT_OK;
}

static rt_status prepare_instance_norm(rt_prepare_ctx *c)
{
    if (!rt_unused_zero(c->op, 0, RT_FATTR_INSTANCE_NORM_COUNT))
        return RT_ERR_OP_RESERVED;
    if (c->out->rank < 3) /* N x C x D1 ... */
        return RT_ERR_OP_SHAPE;
    c->prep->u.norm.per_channel = 1;
    return prepare_grouped(c, c->out->dims[1], c->out->dims[1], c->op->f[RT_FATTR_INSTANCE_NORM_EPSILON]);
}

static rt_status prepare_group_norm(rt_prepare_ctx *c)
{
    const rt_op_desc *op = c->op;
    const int32_t groups = op->i[RT_ATTR_GROUP_NORM_GROUPS], per_channel = op->i[RT_ATTR_GROUP_NORM_PER_CHANNEL];
    if (!rt_attr_in(groups, 1, RT_MAX_ATTR) || !rt_attr_in(per_channel, 0, 1))
        return RT_ERR_OP_ATTRIBUTE;
    if (!rt_unused_zero(op, RT_ATTR_GROUP_NORM_COUNT, RT_FATTR_GROUP_NORM_COUNT))
        return RT_ERR_OP_RESERVED;
    if (c->out->rank < 2)
        return RT_ERR_OP_SHAPE;
    c->prep->u.norm.per_channel = (uint32_t)per_channel;
    return prepare_grouped(c, (uint32_t)groups, per_channel ? c->out->dims[1] : (uint32_t)groups,
                           op->f[RT_FATTR_GROUP_NORM_EPSILON]);
}

static rt_status eval_group_norm(const rt_eval_ctx *c)
{
    const rt_norm_data *nd = &c->prep->u.norm;
    return rt_from_kern(kern_group_norm(nd->batch, nd->groups, nd->channels_per_group, nd->spatial,
                                        (int)nd->per_channel, nd->epsilon, rt_eval_input(c, 1), rt_eval_input(c, 2),
                                        rt_eval_input(c, 0), rt_eval_output(c, 0)));
}

/* name, inputs min/max, outputs min/max, optional inputs, flags, prepare, eval, input and output types */
const rt_op_registration rt_op_log_softmax = {"LogSoftmax", 1, 1, 1, 1, 0, RT_OPF_IN_PLACE, prepare_softmax,
                                              eval_log_softmax, "f", "f"};
const rt_op_registration rt_op_layer_norm = {"LayerNormalization", 2, 3, 1, 1, RT_OPTIONAL(2), RT_OPF_IN_PLACE,
                                             prepare_layer_norm, eval_layer_norm, "f", "f"};
const rt_op_registration rt_op_instance_norm = {"InstanceNormalization", 3, 3, 1, 1, 0, RT_OPF_IN_PLACE,
                                                prepare_instance_norm, eval_group_norm, "f", "f"};
const rt_op_registration rt_op_group_norm = {"GroupNormalization", 3, 3, 1, 1, 0, RT_OPF_IN_PLACE,
                                             prepare_group_norm, eval_group_norm, "f", "f"};

/* name, inputs min/max, outputs min/max, optional inputs, flags, prepare, eval, input and output types */
const rt_op_registration rt_op_softmax = {"Softmax", 1, 1, 1, 1, 0, RT_OPF_IN_PLACE, prepare_softmax, eval_softmax,
                                          "f", "f"};
const rt_op_registration rt_op_lrn = {"LRN", 1, 1, 1, 1, 0, 0, prepare_lrn, eval_lrn, "f", "f"};
const rt_op_registration rt_op_batch_norm = {"BatchNormalization", 5, 5, 1, 1, 0, RT_OPF_IN_PLACE,
                                             prepare_batch_norm, eval_batch_norm, "f", "f"};
