/*
 * qlinear.c - onnxruntime's elementwise QOperator ops (com.microsoft, codes 127-132): QLinearAdd,
 * QLinearMul, QLinearGlobalAveragePool, QLinearConcat, QLinearSigmoid, QLinearLeakyRelu.
 *
 * Types come from the signatures (data int8 / uint8, scales float32, zero points of their data's
 * type; QLinearConcat's variadic (x, scale, zp) triples are checked here); every scale and zero point
 * holds one value.  As in quant.c the scales are data: eval derives the integer requantization or the
 * lookup table from them each run (a non-finite ratio stops the run with RT_ERR_KERNEL).
 */
#include "ops.h"

static uint64_t numel(const rt_tensor_desc *t) { return rt_prod_dims(t, 0, RT_MAX_RANK); }

/* Op input k is absent or a scalar / 1-element vector. */
static int scalar_or_absent(const rt_prepare_ctx *c, uint32_t k)
{
    const rt_tensor_desc *t = k < c->op->input_count ? rt_op_tensor(c->part, c->op, k) : NULL;
    return t == NULL || (t->rank <= 1 && numel(t) == 1);
}

static int scalars(const rt_prepare_ctx *c, uint32_t from, uint32_t to)
{
    uint32_t k;
    for (k = from; k < to; k++)
        if (!scalar_or_absent(c, k))
            return 0;
    return 1;
}

static kern_qtype qtype(const rt_eval_ctx *c, uint32_t k) { return (kern_qtype)rt_eval_tensor(c, k)->dtype; }

/* ------------------------------------------------------------------ QLinearAdd, QLinearMul */

/* (A, A_scale, A_zp, B, B_scale, B_zp, C_scale, C_zp): A and B broadcast to C. */
static rt_status prepare_qbinary(rt_prepare_ctx *c)
{
    uint32_t dims[RT_MAX_RANK], rank;
    if (!rt_unused_zero(c->op, 0, 0))
        return RT_ERR_OP_RESERVED;
    if (!rt_broadcast(c->in[0], c->in[3], &rank, dims) || !rt_dims_equal(c->out, rank, dims) || !scalars(c, 1, 3) ||
        !scalars(c, 4, 8))
        return RT_ERR_OP_SHAPE;
    c->scratch = KERN_QBINARY_SCRATCH;
    return RT_OK;
}

static rt_status eval_qbinary(const rt_eval_ctx *c, int mul)
{
    kern_shape a, b, y;
    rt_kshape(rt_eval_tensor(c, 0), &a);
    rt_kshape(rt_eval_tensor(c, 3), &b);
    rt_kshape(rt_eval_tensor(c, c->op->input_count), &y);
    return rt_from_kern(kern_qbinary(mul, qtype(c, 0), &a, rt_eval_bytes(c, 0), rt_eval_input(c, 1), rt_eval_bytes(c, 2),
                                     &b, rt_eval_bytes(c, 3), rt_eval_input(c, 4), rt_eval_bytes(c, 5), &y,
                                     rt_eval_input(c, 6), rt_eval_bytes(c, 7), rt_eval_output_bytes(c, 0),
                                     (int64_t *)(void *)c->scratch, c->scratch_size));
}

static rt_status eval_qlinear_add(const rt_eval_ctx *c) { return eval_qbinary(c, 0); }
static rt_status eval_qlinear_mul(const rt_eval_ctx *c) { return eval_qbinary(c, 1); }

/* ------------------------------------------------------------------ QLinearGlobalAveragePool */

/* (X, x_scale, x_zp, y_scale, y_zp), channels first: X [N, C, spatial...] -> Y [N, C, 1...]. */
static rt_status prepare_qglobal_average_pool(rt_prepare_ctx *c)
{
    const rt_tensor_desc *x = c->in[0], *y = c->out;
    if (!rt_unused_zero(c->op, 0, 0))
        return RT_ERR_OP_RESERVED;
    if (x->rank < 3 || y->rank != x->rank || y->dims[0] != x->dims[0] || y->dims[1] != x->dims[1] ||
        rt_prod_dims(y, 2, RT_MAX_RANK) != 1 || !scalars(c, 1, 5))
        return RT_ERR_OP_SHAPE;
    if (rt_prod_dims(x, 2, RT_MAX_RANK) > KERN_QPOOL_MAX)
        return RT_ERR_OP_SHAPE;
    c->prep->u.extent.outer = (uint32_t)rt_prod_dims(x, 0, 2);
    c->prep->u.extent.inner = (uint32_t)rt_prod_dims(x, 2, RT_MAX_RANK);
    return RT_OK;
}

static rt_status eval_qglobal_average_pool(const rt_eval_ctx *c)
{
    const rt_extent_data *e = &c->prep->u.extent;
    return rt_from_kern(kern_qglobal_average_pool(qtype(c, 0), e->outer, e->inner, rt_eval_bytes(c, 0),
                                                  rt_eval_input(c, 1), rt_eval_bytes(c, 2), rt_eval_input(c, 3),
                                                  rt_eval_bytes(c, 4), rt_eval_output_bytes(c, 0)));
}

/* ------------------------------------------------------------------ QLinearSigmoid, QLinearLeakyRelu */

/* (X, X_scale, X_zp, Y_scale, Y_zp): Y has X's dims; floats_used: LeakyRelu's alpha. */
static rt_status prepare_qlut(rt_prepare_ctx *c, uint32_t floats_used)
{
    if (!rt_unused_zero(c->op, 0, floats_used))
        return RT_ERR_OP_RESERVED;
    if (!rt_same_dims(c->in[0], c->out) || !scalars(c, 1, 5))
        return RT_ERR_OP_SHAPE;
    c->scratch = KERN_QLUT_SCRATCH;
    return RT_OK;
}

static rt_status prepare_qlinear_sigmoid(rt_prepare_ctx *c) { return prepare_qlut(c, 0); }
static rt_status prepare_qlinear_leaky_relu(rt_prepare_ctx *c) { return prepare_qlut(c, RT_FATTR_LEAKY_RELU_COUNT); }

static rt_status eval_qlut(const rt_eval_ctx *c, kern_qlut_fn fn, float alpha)
{
    uint8_t *table = (uint8_t *)(void *)(c->scratch + 512);
    const rt_tensor_desc *y = rt_eval_tensor(c, c->op->input_count);
    kern_status s = kern_qlut_build(fn, alpha, qtype(c, 0), rt_eval_input(c, 1), rt_eval_bytes(c, 2),
                                    (kern_qtype)y->dtype, rt_eval_input(c, 3), rt_eval_bytes(c, 4), table, c->scratch);
    if (s == KERN_OK)
        kern_qlut_apply(table, (const uint8_t *)rt_eval_bytes(c, 0), (uint8_t *)rt_eval_output_bytes(c, 0),
                        (size_t)y->nbytes);
    return rt_from_kern(s);
}

static rt_status eval_qlinear_sigmoid(const rt_eval_ctx *c) { return eval_qlut(c, KERN_QLUT_SIGMOID, 0.0f); }
static rt_status eval_qlinear_leaky_relu(const rt_eval_ctx *c)
{
    return eval_qlut(c, KERN_QLUT_LEAKY_RELU, c->op->f[RT_FATTR_LEAKY_RELU_ALPHA]);
}

/* ------------------------------------------------------------------ QLinearConcat */

#define QCONCAT_FIRST 2u /* (Y_scale, Y_zp, then (X, X_scale, X_zp) per part) */

/* The parts have Y_zp's type, their scales are float32, every scale and zero point one value; the parts
 * agree with Y off the axis and sum to it on the axis (Y viewed as [outer, n, inner]). */
static rt_status prepare_qlinear_concat(rt_prepare_ctx *c)
{
    const rt_op_desc *op = c->op;
    const rt_tensor_desc *y = c->out;
    const int32_t axis = op->i[RT_ATTR_CONCAT_AXIS];
    rt_extent_data *e = &c->prep->u.extent;
    uint64_t total = 0;
    uint32_t k, d;
    if (!rt_unused_zero(op, RT_ATTR_CONCAT_COUNT, 0))
        return RT_ERR_OP_RESERVED;
    if (y->rank < 1 || !rt_attr_in(axis, 0, (int32_t)y->rank - 1))
        return RT_ERR_OP_ATTRIBUTE;
    if (op->input_count < QCONCAT_FIRST + 3u || (op->input_count - QCONCAT_FIRST) % 3u != 0)
        return RT_ERR_OP_SHAPE;
    if (!scalars(c, 0, QCONCAT_FIRST))
        return RT_ERR_OP_SHAPE;
    for (k = QCONCAT_FIRST; k < op->input_count; k += 3) {
        const rt_tensor_desc *x = rt_op_tensor(c->part, op, k), *scale = rt_op_tensor(c->part, op, k + 1),
                             *zp = rt_op_tensor(c->part, op, k + 2);
        if (x == NULL || scale == NULL || zp == NULL)
            return RT_ERR_OP_SHAPE;
        if (x->dtype != y->dtype || zp->dtype != y->dtype || scale->dtype != RT_DTYPE_FLOAT32)
            return RT_ERR_TENSOR_DTYPE;
        if (!scalars(c, k + 1, k + 3) || x->rank != y->rank)
            return RT_ERR_OP_SHAPE;
        for (d = 0; d < y->rank; d++)
            if (d != (uint32_t)axis && x->dims[d] != y->dims[d])
                return RT_ERR_OP_SHAPE;
        total += x->dims[axis];
    }
    if (total != y->dims[axis])
        return RT_ERR_OP_SHAPE;
    e->axis = (uint32_t)axis;
    e->outer = (uint32_t)rt_prod_dims(y, 0, (uint32_t)axis);
    e->inner = (uint32_t)rt_prod_dims(y, (uint32_t)axis + 1, RT_MAX_RANK);
    e->n = y->dims[axis];
    c->scratch = KERN_QLUT_SCRATCH;
    return RT_OK;
}

/* Each part through its table (its scale and zero point to Y's, kern_qlut_build's identity). */
static rt_status eval_qlinear_concat(const rt_eval_ctx *c)
{
    const rt_extent_data *e = &c->prep->u.extent;
    const kern_qtype t = qtype(c, 1);
    uint8_t *table = (uint8_t *)(void *)(c->scratch + 512), *y = (uint8_t *)rt_eval_output_bytes(c, 0);
    size_t offset = 0;
    uint32_t k;
    kern_status s = KERN_OK;
    for (k = QCONCAT_FIRST; k < c->op->input_count && s == KERN_OK; k += 3) {
        const size_t part = rt_eval_tensor(c, k)->dims[e->axis];
        s = kern_qlut_build(KERN_QLUT_IDENTITY, 0.0f, t, rt_eval_input(c, k + 1), rt_eval_bytes(c, k + 2), t,
                            rt_eval_input(c, 0), rt_eval_bytes(c, 1), table, c->scratch);
        if (s == KERN_OK)
            s = kern_qconcat_part(e->outer, part, e->inner, e->n, offset, table, (const uint8_t *)rt_eval_bytes(c, k),
                                  y);
        offset += part;
    }
    return rt_from_kern(s);
}

/* name, inputs min/max, outputs min/max, optional inputs, flags, prepare, eval, input and output types */
const rt_op_registration rt_op_qlinear_add = {"QLinearAdd", 7, 8, 1, 1, RT_OPTIONAL(2) | RT_OPTIONAL(5) | RT_OPTIONAL(7),
                                              0, prepare_qbinary, eval_qlinear_add, "qf00f0f0", "0"};
const rt_op_registration rt_op_qlinear_mul = {"QLinearMul", 7, 8, 1, 1, RT_OPTIONAL(2) | RT_OPTIONAL(5) | RT_OPTIONAL(7),
                                              0, prepare_qbinary, eval_qlinear_mul, "qf00f0f0", "0"};
const rt_op_registration rt_op_qlinear_global_average_pool = {
    "QLinearGlobalAveragePool", 4, 5, 1, 1, RT_OPTIONAL(2) | RT_OPTIONAL(4), 0, prepare_qglobal_average_pool,
    eval_qglobal_average_pool, "qf0f0", "0"};
const rt_op_registration rt_op_qlinear_concat = {"QLinearConcat", 5, RT_ARITY_MANY, 1, 1, 0, 0,
                                                 prepare_qlinear_concat, eval_qlinear_concat, "fqa", "1"};
const rt_op_registration rt_op_qlinear_sigmoid = {"QLinearSigmoid", 4, 5, 1, 1, RT_OPTIONAL(2) | RT_OPTIONAL(4), 0,
                                                  prepare_qlinear_sigmoid, eval_qlinear_sigmoid, "qf0f0", "0"};
const rt_op_registration rt_op_qlinear_leaky_relu = {"QLinearLeakyRelu", 4, 5, 1, 1, RT_OPTIONAL(2) | RT_OPTIONAL(4), 0,
                                                     prepare_qlinear_leaky_relu, eval_qlinear_leaky_relu, "qf0f0", "0"};
