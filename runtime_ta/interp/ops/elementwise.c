/*
 * elementwise.c - the activations (Relu, LeakyRelu, Clip, Sigmoid, HardSigmoid, HardSwish, QuickGelu, Tanh; each
 * may be fused into a preceding Conv) and the broadcasting binary ops (Add, Sub, Mul, Div, Pow, PRelu;
 * n-ary Sum, Max, Min).  Add, Sub and Mul also run over int32 (both inputs and the output int32:
 * their signature "w0" -> "0"; kern_binary_i32).  The unary math ops are in math.c.
 */
#include <string.h>

#include "ops.h"

/* ------------------------------------------------------------------ activations */

static rt_status prepare_relu(rt_prepare_ctx *c) { return rt_prepare_unary(c, KERN_RELU, 0, 0, 0.0f, 0.0f); }
static rt_status prepare_sigmoid(rt_prepare_ctx *c) { return rt_prepare_unary(c, KERN_SIGMOID, 0, 0, 0.0f, 0.0f); }
static rt_status prepare_hard_swish(rt_prepare_ctx *c)
{
    return rt_prepare_unary(c, KERN_HARD_SWISH, 0, 0, 0.0f, 0.0f);
}
static rt_status prepare_tanh(rt_prepare_ctx *c) { return rt_prepare_unary(c, KERN_TANH, 0, 0, 0.0f, 0.0f); }

static rt_status prepare_leaky_relu(rt_prepare_ctx *c)
{
    return rt_prepare_unary(c, KERN_LEAKY_RELU, 0, RT_FATTR_LEAKY_RELU_COUNT, c->op->f[RT_FATTR_LEAKY_RELU_ALPHA],
                            0.0f);
}

static rt_status prepare_hard_sigmoid(rt_prepare_ctx *c)
{
    return rt_prepare_unary(c, KERN_HARD_SIGMOID, 0, RT_FATTR_HARD_SIGMOID_COUNT, c->op->f[RT_FATTR_HARD_SIGMOID_ALPHA],
                       c->op->f[RT_FATTR_HARD_SIGMOID_BETA]);
}

/* QuickGelu (com.microsoft): x * sigmoid(alpha x); the front end's FuseSwish writes SiLU (x * Sigmoid(x))
 * as QuickGelu at alpha 1, so a preceding Conv applies it to its output tiles. */
static rt_status prepare_quick_gelu(rt_prepare_ctx *c)
{
    return rt_prepare_unary(c, KERN_SWISH, 0, RT_FATTR_QUICK_GELU_COUNT, c->op->f[RT_FATTR_QUICK_GELU_ALPHA], 0.0f);
}

static rt_status prepare_clip(rt_prepare_ctx *c)
{
    float lo = c->op->f[RT_FATTR_CLIP_MIN], hi = c->op->f[RT_FATTR_CLIP_MAX];
    rt_status s = rt_prepare_unary(c, KERN_CLIP, 0, RT_FATTR_CLIP_COUNT, lo, hi);
    if (s == RT_OK && !(lo <= hi))
        s = RT_ERR_OP_ATTRIBUTE;
    return s;
}

/* ------------------------------------------------------------------ Add, Sub, Mul, Div */

static rt_status prepare_binary(rt_prepare_ctx *c, kern_binary_op kind)
{
    uint32_t dims[RT_MAX_RANK], rank;
    if (!rt_unused_zero(c->op, 0, 0))
        return RT_ERR_OP_RESERVED;
    if (c->in[1] == NULL || !rt_broadcast(c->in[0], c->in[1], &rank, dims) || !rt_dims_equal(c->out, rank, dims))
        return RT_ERR_OP_SHAPE;
    c->prep->u.binary.kind = (uint32_t)kind;
    return RT_OK;
}

static rt_status prepare_add(rt_prepare_ctx *c) { return prepare_binary(c, KERN_ADD); }
static rt_status prepare_sub(rt_prepare_ctx *c) { return prepare_binary(c, KERN_SUB); }
static rt_status prepare_mul(rt_prepare_ctx *c) { return prepare_binary(c, KERN_MUL); }
static rt_status prepare_div(rt_prepare_ctx *c) { return prepare_binary(c, KERN_DIV); }
static rt_status prepare_pow(rt_prepare_ctx *c) { return prepare_binary(c, KERN_POW); }

/* PRelu: the slope broadcasts to X (unidirectionally), so y has X's shape. */
static rt_status prepare_prelu(rt_prepare_ctx *c)
{
    rt_status s = prepare_binary(c, KERN_PRELU);
    return s == RT_OK && !rt_same_dims(c->in[0], c->out) ? RT_ERR_OP_SHAPE : s;
}

static rt_status eval_binary(const rt_eval_ctx *c)
{
    kern_shape a, b, y;
    rt_kshape(rt_eval_tensor(c, 0), &a);
    rt_kshape(rt_eval_tensor(c, 1), &b);
    rt_kshape(rt_eval_tensor(c, 2), &y);
    if (rt_eval_tensor(c, 0)->dtype == RT_DTYPE_INT32)
        return rt_from_kern(kern_binary_i32((kern_binary_op)c->prep->u.binary.kind, &a, rt_eval_bytes(c, 0), &b,
                                            rt_eval_bytes(c, 1), &y, rt_eval_output_bytes(c, 0)));
    return rt_from_kern(kern_binary((kern_binary_op)c->prep->u.binary.kind, &a, rt_eval_input(c, 0), &b,
                                    rt_eval_input(c, 1), &y, rt_eval_output(c, 0)));
}

/* ------------------------------------------------------------------ Sum, Max, Min */

/* The input whose bytes the output takes (same offset and shape), or RT_NO_TENSOR. */
static uint32_t sum_alias(const rt_partition *p, const rt_op_desc *op)
{
    const rt_tensor_desc *y = rt_op_tensor(p, op, op->input_count);
    uint32_t k;
    for (k = 0; k < op->input_count; k++) {
        const rt_tensor_desc *x = rt_op_tensor(p, op, k);
        if (x->location == RT_LOC_REGION && x->offset == y->offset && rt_same_dims(x, y))
            return k;
    }
    return RT_NO_TENSOR;
}

/* When y takes the bytes of an input (in place), y += every other input (each must broadcast into
 * y); otherwise y = x0 + x1 (their broadcast must be y), then y += xk.  Max and Min likewise, with
 * y = max(y, xk) / min(y, xk). */
static rt_status prepare_nary(rt_prepare_ctx *c, kern_binary_op kind)
{
    const rt_op_desc *op = c->op;
    const rt_tensor_desc *y = c->out;
    uint32_t dims[RT_MAX_RANK], rank, k, alias;
    if (!rt_unused_zero(op, 0, 0))
        return RT_ERR_OP_RESERVED;
    c->prep->u.binary.kind = (uint32_t)kind;
    c->prep->u.binary.sum_alias = RT_NO_TENSOR;
    if (op->input_count == 1)
        return rt_same_dims(c->in[0], y) ? RT_OK : RT_ERR_OP_SHAPE;
    alias = sum_alias(c->part, op);
    c->prep->u.binary.sum_alias = alias;
    for (k = 0; k < op->input_count; k++) {
        const rt_tensor_desc *x = rt_op_tensor(c->part, op, k);
        if (alias != RT_NO_TENSOR || k > 1) {
            if (!rt_broadcast(y, x, &rank, dims) || !rt_dims_equal(y, rank, dims))
                return RT_ERR_OP_SHAPE;
        } else if (k == 1) {
            if (!rt_broadcast(c->in[0], x, &rank, dims) || !rt_dims_equal(y, rank, dims))
                return RT_ERR_OP_SHAPE;
        }
    }
    return RT_OK;
}

static rt_status prepare_sum(rt_prepare_ctx *c) { return prepare_nary(c, KERN_ADD); }
static rt_status prepare_max(rt_prepare_ctx *c) { return prepare_nary(c, KERN_MAX); }
static rt_status prepare_min(rt_prepare_ctx *c) { return prepare_nary(c, KERN_MIN); }

static rt_status eval_sum(const rt_eval_ctx *c)
{
    const kern_binary_op kind = (kern_binary_op)c->prep->u.binary.kind;
    const rt_op_desc *op = c->op;
    uint32_t k, alias = c->prep->u.binary.sum_alias;
    float *y = rt_eval_output(c, 0);
    kern_shape ys, xs;
    kern_status s = KERN_OK;

    if (op->input_count == 1) {
        if ((const float *)y != rt_eval_input(c, 0))
            memmove(y, rt_eval_input(c, 0), rt_eval_tensor(c, 1)->nbytes);
        return RT_OK;
    }
    rt_kshape(rt_eval_tensor(c, op->input_count), &ys);
    if (alias != RT_NO_TENSOR) { /* y already holds input `alias`: add the others into it */
        for (k = 0; k < op->input_count && s == KERN_OK; k++) {
            if (k == alias)
                continue;
            rt_kshape(rt_eval_tensor(c, k), &xs);
            s = kern_binary(kind, &ys, y, &xs, rt_eval_input(c, k), &ys, y);
        }
        return rt_from_kern(s);
    }
    for (k = 1; k < op->input_count && s == KERN_OK; k++) {
        rt_kshape(rt_eval_tensor(c, k), &xs);
        if (k == 1) {
            kern_shape x0;
            rt_kshape(rt_eval_tensor(c, 0), &x0);
            s = kern_binary(kind, &x0, rt_eval_input(c, 0), &xs, rt_eval_input(c, k), &ys, y);
        } else {
            s = kern_binary(kind, &ys, y, &xs, rt_eval_input(c, k), &ys, y);
        }
    }
    return rt_from_kern(s);
}

/* name, inputs min/max, outputs min/max, optional inputs, flags, prepare, eval, input and output types */
#define ACT (RT_OPF_IN_PLACE | RT_OPF_ACTIVATION)
const rt_op_registration rt_op_relu = {"Relu", 1, 1, 1, 1, 0, ACT, prepare_relu, rt_eval_unary, "f", "f"};
const rt_op_registration rt_op_leaky_relu = {"LeakyRelu", 1, 1, 1, 1, 0, ACT, prepare_leaky_relu, rt_eval_unary, "f",
                                             "f"};
const rt_op_registration rt_op_clip = {"Clip", 1, 1, 1, 1, 0, ACT, prepare_clip, rt_eval_unary, "f", "f"};
const rt_op_registration rt_op_sigmoid = {"Sigmoid", 1, 1, 1, 1, 0, ACT, prepare_sigmoid, rt_eval_unary, "f", "f"};
const rt_op_registration rt_op_hard_sigmoid = {"HardSigmoid", 1, 1, 1, 1, 0, ACT, prepare_hard_sigmoid,
                                               rt_eval_unary, "f", "f"};
const rt_op_registration rt_op_hard_swish = {"HardSwish", 1, 1, 1, 1, 0, ACT, prepare_hard_swish, rt_eval_unary, "f",
                                             "f"};
const rt_op_registration rt_op_quick_gelu = {"QuickGelu", 1, 1, 1, 1, 0, ACT, prepare_quick_gelu, rt_eval_unary, "f",
                                              "f"};
const rt_op_registration rt_op_tanh = {"Tanh", 1, 1, 1, 1, 0, ACT, prepare_tanh, rt_eval_unary, "f", "f"};
const rt_op_registration rt_op_add = {"Add", 2, 2, 1, 1, 0, RT_OPF_IN_PLACE, prepare_add, eval_binary, "w0", "0"};
const rt_op_registration rt_op_sub = {"Sub", 2, 2, 1, 1, 0, RT_OPF_IN_PLACE, prepare_sub, eval_binary, "w0", "0"};
const rt_op_registration rt_op_mul = {"Mul", 2, 2, 1, 1, 0, RT_OPF_IN_PLACE, prepare_mul, eval_binary, "w0", "0"};
const rt_op_registration rt_op_div = {"Div", 2, 2, 1, 1, 0, RT_OPF_IN_PLACE, prepare_div, eval_binary, "f", "f"};
const rt_op_registration rt_op_sum = {"Sum", 1, RT_ARITY_MANY, 1, 1, 0, RT_OPF_IN_PLACE, prepare_sum, eval_sum, "f",
                                      "f"};
const rt_op_registration rt_op_pow = {"Pow", 2, 2, 1, 1, 0, RT_OPF_IN_PLACE, prepare_pow, eval_binary, "f", "f"};
const rt_op_registration rt_op_prelu = {"PRelu", 2, 2, 1, 1, 0, RT_OPF_IN_PLACE, prepare_prelu, eval_binary, "f", "f"};
const rt_op_registration rt_op_max = {"Max", 1, RT_ARITY_MANY, 1, 1, 0, RT_OPF_IN_PLACE, prepare_max, eval_sum, "f",
                                      "f"};
const rt_op_registration rt_op_min = {"Min", 1, RT_ARITY_MANY, 1, 1, 0, RT_OPF_IN_PLACE, prepare_min, eval_sum, "f",
                                      "f"};
