/*
 * gather.c - Gather and GatherElements: float32 or int32 data (the output the data's type), int32 indices
 * (type signature "wi" -> "0"); an int64 tensor indexed (a token picked from a prefix) is held as int32.
 *
 * The indices are a weight (constant indices, folded offline) or a region tensor the normal world
 * may have written (token ids): prepare checks the shapes, eval has the kernel check every index
 * against the size of the dim it indexes before it copies anything, and a value outside [-n, n)
 * stops the run with RT_ERR_INDEX_RANGE.
 */
#include "ops.h"

static rt_status from_kern(kern_status s)
{
    return s == KERN_EINDEX ? RT_ERR_INDEX_RANGE : rt_from_kern(s);
}

/* ------------------------------------------------------------------ Gather */

/* y.dims = x.dims[:axis] + idx.dims + x.dims[axis + 1:] */
static rt_status prepare_gather(rt_prepare_ctx *c)
{
    const rt_tensor_desc *x = c->in[0], *idx = c->in[1], *y = c->out;
    int32_t axis = c->op->i[RT_ATTR_GATHER_AXIS];
    rt_index_data *g = &c->prep->u.index;
    uint32_t dims[RT_MAX_RANK], rank, d;
    if (x->rank < 1 || !rt_attr_in(axis, 0, (int32_t)x->rank - 1))
        return RT_ERR_OP_ATTRIBUTE;
    if (!rt_unused_zero(c->op, RT_ATTR_GATHER_COUNT, 0))
        return RT_ERR_OP_RESERVED;
    rank = x->rank - 1 + idx->rank;
    if (rank > RT_MAX_RANK)
        return RT_ERR_OP_SHAPE;
    for (d = 0; d < (uint32_t)axis; d++)
        dims[d] = x->dims[d];
    for (d = 0; d < idx->rank; d++)
        dims[axis + d] = idx->dims[d];
    for (d = (uint32_t)axis + 1; d < x->rank; d++)
        dims[d - 1 + idx->rank] = x->dims[d];
    if (!rt_dims_equal(y, rank, dims))
        return RT_ERR_OP_SHAPE;
    g->outer = (uint32_t)rt_prod_dims(x, 0, (uint32_t)axis);
    g->n = x->dims[axis];
    g->inner = (uint32_t)rt_prod_dims(x, (uint32_t)axis + 1, RT_MAX_RANK);
    g->count = (uint32_t)rt_prod_dims(idx, 0, RT_MAX_RANK);
    g->axis = (uint32_t)axis;
    return RT_OK;
}

static rt_status eval_gather(const rt_eval_ctx *c)
{
    const rt_index_data *g = &c->prep->u.index;
    return from_kern(kern_gather(g->outer, g->n, g->inner, rt_eval_bytes(c, 0),
                                 rt_tensor_ints(c->part, rt_eval_tensor(c, 1)), g->count, rt_eval_output_bytes(c, 0)));
}

/* ------------------------------------------------------------------ GatherElements */

/* idx has x's rank, idx.dims[d] <= x.dims[d] off the axis; y.dims = idx.dims */
static rt_status prepare_gather_elements(rt_prepare_ctx *c)
{
    const rt_tensor_desc *x = c->in[0], *idx = c->in[1], *y = c->out;
    int32_t axis = c->op->i[RT_ATTR_GATHER_AXIS];
    uint32_t d;
    if (x->rank < 1 || !rt_attr_in(axis, 0, (int32_t)x->rank - 1))
        return RT_ERR_OP_ATTRIBUTE;
    if (!rt_unused_zero(c->op, RT_ATTR_GATHER_COUNT, 0))
        return RT_ERR_OP_RESERVED;
    if (idx->rank != x->rank || !rt_same_dims(idx, y))
        return RT_ERR_OP_SHAPE;
    for (d = 0; d < x->rank; d++)
        if (d != (uint32_t)axis && idx->dims[d] > x->dims[d])
            return RT_ERR_OP_SHAPE;
    c->prep->u.index.axis = (uint32_t)axis;
    return RT_OK;
}

static rt_status eval_gather_elements(const rt_eval_ctx *c)
{
    const rt_tensor_desc *idx = rt_eval_tensor(c, 1);
    kern_shape xs, is;
    rt_kshape(rt_eval_tensor(c, 0), &xs);
    rt_kshape(idx, &is);
    return from_kern(kern_gather_elements(&xs, rt_eval_bytes(c, 0), &is, rt_tensor_ints(c->part, idx),
                                          c->prep->u.index.axis, rt_eval_output_bytes(c, 0)));
}

/* name, inputs min/max, outputs min/max, optional inputs, flags, prepare, eval, input and output types */
const rt_op_registration rt_op_gather = {"Gather", 2, 2, 1, 1, 0, 0, prepare_gather, eval_gather, "wi", "0"};
const rt_op_registration rt_op_gather_elements = {"GatherElements", 2, 2, 1, 1, 0, 0, prepare_gather_elements,
                                                  eval_gather_elements, "wi", "0"};
