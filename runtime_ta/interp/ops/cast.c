/*
 * cast.c - Cast (code 133): x of any type the TA holds -> y of the same dims, y's dtype the target;
 * RT_ATTR_CAST_TO_BOOL = 1 for a bool target (held as int32, y = x != 0).  The conversion rules are
 * kern_cast's (kernels/cast.c).
 */
#include "ops.h"

static kern_cast_type cast_type(uint8_t dtype)
{
    return dtype == RT_DTYPE_FLOAT32 ? KERN_CAST_F32
           : dtype == RT_DTYPE_UINT8 ? KERN_CAST_U8
           : dtype == RT_DTYPE_INT8  ? KERN_CAST_I8
                                     : KERN_CAST_I32;
}

/* y has x's dims; a bool target is held as int32. */
static rt_status prepare_cast(rt_prepare_ctx *c)
{
    const int32_t to_bool = c->op->i[RT_ATTR_CAST_TO_BOOL];
    if (!rt_unused_zero(c->op, RT_ATTR_CAST_COUNT, 0))
        return RT_ERR_OP_RESERVED;
    if (!rt_attr_in(to_bool, 0, 1) || (to_bool && c->out->dtype != RT_DTYPE_INT32))
        return RT_ERR_OP_ATTRIBUTE;
    return rt_same_dims(c->in[0], c->out) ? RT_OK : RT_ERR_OP_SHAPE;
}

static rt_status eval_cast(const rt_eval_ctx *c)
{
    const rt_tensor_desc *x = rt_eval_tensor(c, 0), *y = rt_eval_tensor(c, 1);
    const kern_cast_type to = c->op->i[RT_ATTR_CAST_TO_BOOL] ? KERN_CAST_BOOL : cast_type(y->dtype);
    return rt_from_kern(kern_cast(cast_type(x->dtype), to, (size_t)rt_prod_dims(y, 0, RT_MAX_RANK),
                                  rt_eval_bytes(c, 0), rt_eval_output_bytes(c, 0)));
}

/* name, inputs min/max, outputs min/max, optional inputs, flags, prepare, eval, input and output types */
const rt_op_registration rt_op_cast = {"Cast", 1, 1, 1, 1, 0, 0, prepare_cast, eval_cast, "x", "x"};
