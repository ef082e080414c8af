/*
 * reduce.c - ReduceMean, ReduceSum, ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2,
 * ReduceLogSumExp, ReduceSumSquare: one prepare and one eval, the kind given by the op code.
 *
 * Record: i[0..rank) one flag per input dim (1 = reduced; all 0 = noop_with_empty_axes), i[6]
 * keepdims.  The axes (attribute or constant input, negative or not) are resolved offline.
 */
#include "ops.h"

static rt_status prepare_reduce(rt_prepare_ctx *c)
{
    const rt_op_desc *op = c->op;
    const rt_tensor_desc *x = c->in[0], *y = c->out;
    uint32_t dims[RT_MAX_RANK], rank = 0, d, mask = 0;
    const int32_t keep = op->i[RT_ATTR_REDUCE_KEEPDIMS];
    if (!rt_attr_in(keep, 0, 1))
        return RT_ERR_OP_ATTRIBUTE;
    for (d = 0; d < RT_MAX_RANK; d++) {
        const int32_t flag = op->i[RT_ATTR_REDUCE_AXES + d];
        if (!rt_attr_in(flag, 0, d < x->rank ? 1 : 0))
            return RT_ERR_OP_ATTRIBUTE;
        if (flag)
            mask |= 1u << d;
    }
    if (!rt_unused_zero(op, RT_ATTR_REDUCE_COUNT, 0))
        return RT_ERR_OP_RESERVED;
    for (d = 0; d < x->rank; d++) {
        if (!(mask & (1u << d)))
            dims[rank++] = x->dims[d];
        else if (keep)
            dims[rank++] = 1;
    }
    if (!rt_dims_equal(y, rank, dims))
        return RT_ERR_OP_SHAPE;
    c->prep->u.reduce.kind = (uint32_t)(op->op - RT_OP_REDUCE_MEAN);
    c->prep->u.reduce.axes_mask = mask;
    return RT_OK;
}

static rt_status eval_reduce(const rt_eval_ctx *c)
{
    kern_shape xs;
    rt_kshape(rt_eval_tensor(c, 0), &xs);
    return rt_from_kern(kern_reduce((kern_reduce_op)c->prep->u.reduce.kind, &xs, c->prep->u.reduce.axes_mask,
                                    rt_eval_input(c, 0), rt_eval_output(c, 0)));
}

/* name, inputs min/max, outputs min/max, optional inputs, flags, prepare, eval, input and output types */
#define RT_REDUCE(reg, name) \
    const rt_op_registration reg = {name, 1, 1, 1, 1, 0, 0, prepare_reduce, eval_reduce, "f", "f"};
RT_REDUCE(rt_op_reduce_mean, "ReduceMean")
RT_REDUCE(rt_op_reduce_sum, "ReduceSum")
RT_REDUCE(rt_op_reduce_max, "ReduceMax")
RT_REDUCE(rt_op_reduce_min, "ReduceMin")
RT_REDUCE(rt_op_reduce_prod, "ReduceProd")
RT_REDUCE(rt_op_reduce_l1, "ReduceL1")
RT_REDUCE(rt_op_reduce_l2, "ReduceL2")
RT_REDUCE(rt_op_reduce_log_sum_exp, "ReduceLogSumExp")
RT_REDUCE(rt_op_reduce_sum_square, "ReduceSumSquare")

/* kern_reduce_op follows the op codes */
RT_STATIC_ASSERT(RT_OP_REDUCE_SUM - RT_OP_REDUCE_MEAN == KERN_REDUCE_SUM &&
                     RT_OP_REDUCE_MAX - RT_OP_REDUCE_MEAN == KERN_REDUCE_MAX &&
                     RT_OP_REDUCE_MIN - RT_OP_REDUCE_MEAN == KERN_REDUCE_MIN &&
                     RT_OP_REDUCE_PROD - RT_OP_REDUCE_MEAN == KERN_REDUCE_PROD &&
                     RT_OP_REDUCE_L1 - RT_OP_REDUCE_MEAN == KERN_REDUCE_L1 &&
                     RT_OP_REDUCE_L2 - RT_OP_REDUCE_MEAN == KERN_REDUCE_L2 &&
                     RT_OP_REDUCE_LOG_SUM_EXP - RT_OP_REDUCE_MEAN == KERN_REDUCE_LOG_SUM_EXP &&
                     RT_OP_REDUCE_SUM_SQUARE - RT_OP_REDUCE_MEAN == KERN_REDUCE_SUM_SQUARE,
                 reduce_kinds_follow_codes);
