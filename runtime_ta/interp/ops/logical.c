/*
 * logical.c - comparisons (COMPARE: Equal, Greater, GreaterOrEqual, Less, LessOrEqual by
 * RT_ATTR_COMPARE_MODE), Not, And, Or, Xor, Where.  Booleans are int32 0/1 tensors.
 *
 * Types (the signatures, checked by prepare.c): a comparison's two inputs share one type, float32 or
 * int32 ("w0"), and its output is int32; the logic ops are int32 throughout; Where's condition is
 * int32 and its branches and output share one type, float32 or int32 ("iw1" -> "1").  Shapes: numpy
 * broadcasting of the inputs gives the output's dims exactly (Not: the input's).
 */
#include <string.h>

#include "ops.h"

/* The output's dims are the broadcast of the first `count` inputs' (2 or 3). */
static int broadcasts_to_output(const rt_prepare_ctx *c, uint32_t count)
{
    rt_tensor_desc acc = *c->in[0]; /* only its rank and dims are read */
    uint32_t dims[RT_MAX_RANK] = {0}, rank, k;
    for (k = 1; k < count; k++) {
        if (c->in[k] == NULL || !rt_broadcast(&acc, c->in[k], &rank, dims))
            return 0;
        acc.rank = (uint8_t)rank;
        memcpy(acc.dims, dims, sizeof(acc.dims));
    }
    return rt_dims_equal(c->out, acc.rank, acc.dims);
}

static kern_dtype operand_dtype(const rt_tensor_desc *t)
{
    return t->dtype == RT_DTYPE_INT32 ? KERN_I32 : KERN_F32;
}

/* ------------------------------------------------------------------ comparisons */

static rt_status prepare_compare(rt_prepare_ctx *c)
{
    const int32_t mode = c->op->i[RT_ATTR_COMPARE_MODE];
    if (!rt_attr_in(mode, RT_COMPARE_EQUAL, RT_COMPARE_LESS_OR_EQUAL))
        return RT_ERR_OP_ATTRIBUTE;
    if (!rt_unused_zero(c->op, RT_ATTR_COMPARE_COUNT, 0))
        return RT_ERR_OP_RESERVED;
    if (!broadcasts_to_output(c, 2))
        return RT_ERR_OP_SHAPE;
    c->prep->u.logical.kind = (uint32_t)mode; /* kern_compare_op follows RT_COMPARE_* */
    c->prep->u.logical.dtype = (uint32_t)operand_dtype(c->in[0]);
    return RT_OK;
}

static rt_status eval_compare(const rt_eval_ctx *c)
{
    kern_shape a, b, y;
    rt_kshape(rt_eval_tensor(c, 0), &a);
    rt_kshape(rt_eval_tensor(c, 1), &b);
    rt_kshape(rt_eval_tensor(c, 2), &y);
    return rt_from_kern(kern_compare((kern_compare_op)c->prep->u.logical.kind, (kern_dtype)c->prep->u.logical.dtype,
                                     &a, rt_tensor_ptr(c->part, rt_eval_tensor(c, 0)), &b,
                                     rt_tensor_ptr(c->part, rt_eval_tensor(c, 1)), &y,
                                     rt_tensor_ints(c->part, rt_eval_tensor(c, 2))));
}

/* ------------------------------------------------------------------ Not, And, Or, Xor */

static rt_status prepare_not(rt_prepare_ctx *c)
{
    if (!rt_unused_zero(c->op, 0, 0))
        return RT_ERR_OP_RESERVED;
    return rt_same_dims(c->in[0], c->out) ? RT_OK : RT_ERR_OP_SHAPE;
}

static rt_status eval_not(const rt_eval_ctx *c)
{
    const rt_tensor_desc *y = rt_eval_tensor(c, 1);
    return rt_from_kern(kern_not(rt_tensor_ints(c->part, rt_eval_tensor(c, 0)), rt_tensor_ints(c->part, y),
                                 y->nbytes / 4u));
}

static rt_status prepare_logic(rt_prepare_ctx *c)
{
    if (!rt_unused_zero(c->op, 0, 0))
        return RT_ERR_OP_RESERVED;
    if (!broadcasts_to_output(c, 2))
        return RT_ERR_OP_SHAPE;
    c->prep->u.logical.kind = (uint32_t)(c->op->op - RT_OP_AND); /* kern_logic_op follows the codes */
    return RT_OK;
}

static rt_status eval_logic(const rt_eval_ctx *c)
{
    kern_shape a, b, y;
    rt_kshape(rt_eval_tensor(c, 0), &a);
    rt_kshape(rt_eval_tensor(c, 1), &b);
    rt_kshape(rt_eval_tensor(c, 2), &y);
    return rt_from_kern(kern_logic((kern_logic_op)c->prep->u.logical.kind, &a,
                                   rt_tensor_ints(c->part, rt_eval_tensor(c, 0)), &b,
                                   rt_tensor_ints(c->part, rt_eval_tensor(c, 1)), &y,
                                   rt_tensor_ints(c->part, rt_eval_tensor(c, 2))));
}

/* ------------------------------------------------------------------ Where */

static rt_status prepare_where(rt_prepare_ctx *c)
{
    if (!rt_unused_zero(c->op, 0, 0))
        return RT_ERR_OP_RESERVED;
    if (!broadcasts_to_output(c, 3))
        return RT_ERR_OP_SHAPE;
    c->prep->u.logical.dtype = (uint32_t)operand_dtype(c->in[1]);
    return RT_OK;
}

static rt_status eval_where(const rt_eval_ctx *c)
{
    kern_shape cs, as, bs, ys;
    rt_kshape(rt_eval_tensor(c, 0), &cs);
    rt_kshape(rt_eval_tensor(c, 1), &as);
    rt_kshape(rt_eval_tensor(c, 2), &bs);
    rt_kshape(rt_eval_tensor(c, 3), &ys);
    return rt_from_kern(kern_where((kern_dtype)c->prep->u.logical.dtype, &cs,
                                   rt_tensor_ints(c->part, rt_eval_tensor(c, 0)), &as,
                                   rt_tensor_ptr(c->part, rt_eval_tensor(c, 1)), &bs,
                                   rt_tensor_ptr(c->part, rt_eval_tensor(c, 2)), &ys,
                                   rt_tensor_ptr(c->part, rt_eval_tensor(c, 3))));
}

/* name, inputs min/max, outputs min/max, optional inputs, flags, prepare, eval, input and output types */
const rt_op_registration rt_op_compare = {"Equal/Greater/GreaterOrEqual/Less/LessOrEqual", 2, 2, 1, 1, 0,
                                          0, prepare_compare, eval_compare, "w0", "i"};
const rt_op_registration rt_op_not = {"Not", 1, 1, 1, 1, 0, RT_OPF_IN_PLACE, prepare_not, eval_not, "i", "i"};
const rt_op_registration rt_op_and = {"And", 2, 2, 1, 1, 0, RT_OPF_IN_PLACE, prepare_logic, eval_logic, "i", "i"};
const rt_op_registration rt_op_or = {"Or", 2, 2, 1, 1, 0, RT_OPF_IN_PLACE, prepare_logic, eval_logic, "i", "i"};
const rt_op_registration rt_op_xor = {"Xor", 2, 2, 1, 1, 0, RT_OPF_IN_PLACE, prepare_logic, eval_logic, "i", "i"};
const rt_op_registration rt_op_where = {"Where", 3, 3, 1, 1, 0, 0, prepare_where, eval_where, "iw1", "1"};

/* the kernels' enums follow the format's values */
RT_STATIC_ASSERT(RT_COMPARE_EQUAL == KERN_EQUAL && RT_COMPARE_GREATER == KERN_GREATER &&
                     RT_COMPARE_GREATER_OR_EQUAL == KERN_GREATER_OR_EQUAL && RT_COMPARE_LESS == KERN_LESS &&
                     RT_COMPARE_LESS_OR_EQUAL == KERN_LESS_OR_EQUAL && RT_OP_OR - RT_OP_AND == KERN_OR &&
                     RT_OP_XOR - RT_OP_AND == KERN_XOR && KERN_AND == 0,
                 logical_kinds_follow_codes);
