/*
 * arg_reduce.c - ArgMax and ArgMin: float32 X -> int32 indices (type signature "f" -> "i").
 *
 * Record: i[RT_ATTR_ARG_AXIS] the axis in [0, rank), i[RT_ATTR_ARG_KEEPDIMS] and
 * i[RT_ATTR_ARG_SELECT_LAST] 0 or 1.  Y has X's dims with the axis' set to 1 (keepdims) or dropped;
 * the axis' length n must leave every index n - 1 inside int32.
 */
#include "ops.h"

static rt_status prepare_arg(rt_prepare_ctx *c)
{
    const rt_op_desc *op = c->op;
    const rt_tensor_desc *x = c->in[0];
    const int32_t axis = op->i[RT_ATTR_ARG_AXIS], keep = op->i[RT_ATTR_ARG_KEEPDIMS];
    const int32_t last = op->i[RT_ATTR_ARG_SELECT_LAST];
    rt_arg_data *a = &c->prep->u.arg;
    uint32_t dims[RT_MAX_RANK], rank = 0, d;
    if (x->rank < 1 || !rt_attr_in(axis, 0, (int32_t)x->rank - 1) || !rt_attr_in(keep, 0, 1) || !rt_attr_in(last, 0, 1))
        return RT_ERR_OP_ATTRIBUTE;
    if (!rt_unused_zero(op, RT_ATTR_ARG_COUNT, 0))
        return RT_ERR_OP_RESERVED;
    if (x->dims[axis] - 1u > (uint32_t)INT32_MAX)
        return RT_ERR_OP_SHAPE;
    for (d = 0; d < x->rank; d++) {
        if (d != (uint32_t)axis)
            dims[rank++] = x->dims[d];
        else if (keep)
            dims[rank++] = 1;
    }
    if (!rt_dims_equal(c->out, rank, dims))
        return RT_ERR_OP_SHAPE;
    a->outer = (uint32_t)rt_prod_dims(x, 0, (uint32_t)axis);
    a->n = x->dims[axis];
    a->inner = (uint32_t)rt_prod_dims(x, (uint32_t)axis + 1, RT_MAX_RANK);
    a->is_min = op->op == RT_OP_ARG_MIN;
    a->select_last = (uint32_t)last;
    return RT_OK;
}

static rt_status eval_arg(const rt_eval_ctx *c)
{
    const rt_arg_data *a = &c->prep->u.arg;
    return rt_from_kern(kern_arg_reduce((int)a->is_min, (int)a->select_last, a->outer, a->n, a->inner,
                                        rt_eval_input(c, 0), rt_tensor_ints(c->part, rt_eval_tensor(c, 1))));
}

/* name, inputs min/max, outputs min/max, optional inputs, flags, prepare, eval, input and output types */
const rt_op_registration rt_op_arg_max = {"ArgMax", 1, 1, 1, 1, 0, 0, prepare_arg, eval_arg, "f", "i"};
const rt_op_registration rt_op_arg_min = {"ArgMin", 1, 1, 1, 1, 0, 0, prepare_arg, eval_arg, "f", "i"};
