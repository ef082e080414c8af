/*
 * common.c - shape-rule helpers shared by the ops' prepare functions.
 */
#include <string.h>

#include "ops.h"

int rt_same_dims(const rt_tensor_desc *a, const rt_tensor_desc *b)
{
    return a->rank == b->rank && memcmp(a->dims, b->dims, sizeof(a->dims)) == 0;
}

uint64_t rt_prod_dims(const rt_tensor_desc *t, uint32_t from, uint32_t to)
{
    uint64_t p = 1;
    for (; from < to && from < t->rank; from++)
        p *= t->dims[from];
    return p;
}

/* Broadcast shape of a and b (numpy rules) into rank/dims; 0 when not broadcastable. */
int rt_broadcast(const rt_tensor_desc *a, const rt_tensor_desc *b, uint32_t *rank, uint32_t *dims)
{
    uint32_t r = a->rank > b->rank ? a->rank : b->rank, k;
    for (k = 0; k < r; k++) {
        uint32_t da = k < r - a->rank ? 1 : a->dims[k - (r - a->rank)];
        uint32_t db = k < r - b->rank ? 1 : b->dims[k - (r - b->rank)];
        if (da != db && da != 1 && db != 1)
            return 0;
        dims[k] = da == 1 ? db : da;
    }
    *rank = r;
    return 1;
}

int rt_dims_equal(const rt_tensor_desc *t, uint32_t rank, const uint32_t *dims)
{
    uint32_t k;
    if (t->rank != rank)
        return 0;
    for (k = 0; k < rank; k++)
        if (t->dims[k] != dims[k])
            return 0;
    return 1;
}

int rt_unused_zero(const rt_op_desc *op, uint32_t ints_used, uint32_t floats_used)
{
    uint32_t k;
    for (k = ints_used; k < RT_NUM_INTS; k++)
        if (op->i[k] != 0)
            return 0;
    for (k = floats_used; k < RT_NUM_FLOATS; k++)
        if (op->f[k] != 0.0f)
            return 0;
    return 1;
}

rt_status rt_prepare_unary(rt_prepare_ctx *c, kern_unary_op kind, uint32_t ints_used, uint32_t floats_used,
                           float alpha, float beta)
{
    if (!rt_same_dims(c->in[0], c->out))
        return RT_ERR_OP_SHAPE;
    if (!rt_unused_zero(c->op, ints_used, floats_used))
        return RT_ERR_OP_RESERVED;
    c->prep->u.act.kind = (uint32_t)kind;
    c->prep->u.act.alpha = alpha;
    c->prep->u.act.beta = beta;
    return RT_OK;
}

rt_status rt_eval_unary(const rt_eval_ctx *c)
{
    kern_unary_attr attr;
    attr.op = (kern_unary_op)c->prep->u.act.kind;
    attr.alpha = c->prep->u.act.alpha;
    attr.beta = c->prep->u.act.beta;
    return rt_from_kern(kern_unary(&attr, rt_eval_input(c, 0), rt_eval_output(c, 0),
                                   rt_eval_tensor(c, 1)->nbytes / 4u));
}
