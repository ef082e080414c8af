/*
 * quant.c - the quantized ops (codes 120-126): QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear,
 * QLinearConv, ConvInteger, QLinearMatMul, MatMulInteger.
 *
 * Types come from the signatures (int8 / uint8 data, float32 scales, zero points of their tensor's
 * type, int32 biases and accumulators; prepare.c checks them); prepare checks every scale and zero
 * point is one value or one per channel / column, and the shape rules.  The scales are data: eval
 * hands them to the kernels, which derive the integer requantization from them each run (a non-finite
 * requantization scale stops the run with RT_ERR_KERNEL).
 */
#include "ops.h"

/* Input k's descriptor, NULL when absent (prepare's ctx->in holds only the first RT_PREPARE_INPUTS). */
static const rt_tensor_desc *input(const rt_partition *p, const rt_op_desc *op, uint32_t k)
{
    return k < op->input_count ? rt_op_tensor(p, op, k) : NULL;
}

static uint64_t numel(const rt_tensor_desc *t) { return rt_prod_dims(t, 0, RT_MAX_RANK); }

/* A quantization parameter: NULL (absent, allowed when optional), or rank <= 1 holding 1 or n values. */
static int param_ok(const rt_tensor_desc *t, int optional, uint64_t n)
{
    if (t == NULL)
        return optional;
    return t->rank <= 1 && (numel(t) == 1 || numel(t) == n);
}

/* ------------------------------------------------------------------ QuantizeLinear, DequantizeLinear */

/* x viewed as [outer, channels, inner] around the scale's axis (channels 1: one scale for the tensor);
 * the zero point absent or as many values as the scale; y has x's dims. */
static rt_status prepare_linear(rt_prepare_ctx *c)
{
    const rt_tensor_desc *x = c->in[0], *scale = c->in[1], *zp = c->in[2], *y = c->out;
    const int32_t axis = c->op->i[RT_ATTR_QUANT_AXIS];
    rt_extent_data *e = &c->prep->u.extent;
    if (!rt_unused_zero(c->op, RT_ATTR_QUANT_COUNT, 0))
        return RT_ERR_OP_RESERVED;
    if (!rt_same_dims(x, y) || scale->rank > 1 || (zp != NULL && (zp->rank > 1 || numel(zp) != numel(scale))))
        return RT_ERR_OP_SHAPE;
    if (numel(scale) == 1) {
        if (axis != 0)
            return RT_ERR_OP_ATTRIBUTE;
        e->outer = 1;
        e->n = 1;
        e->inner = (uint32_t)numel(x);
    } else {
        if (!rt_attr_in(axis, 0, (int32_t)x->rank - 1))
            return RT_ERR_OP_ATTRIBUTE;
        if (scale->dims[0] != x->dims[axis])
            return RT_ERR_OP_SHAPE;
        e->outer = (uint32_t)rt_prod_dims(x, 0, (uint32_t)axis);
        e->n = x->dims[axis];
        e->inner = (uint32_t)rt_prod_dims(x, (uint32_t)axis + 1, RT_MAX_RANK);
    }
    e->axis = (uint32_t)axis;
    return RT_OK;
}

/* QuantizeLinear: the output has the zero point's type (any quantized type without one). */
static rt_status prepare_quantize(rt_prepare_ctx *c)
{
    if (c->in[2] != NULL && c->in[2]->dtype != c->out->dtype)
        return RT_ERR_TENSOR_DTYPE;
    return prepare_linear(c);
}

static rt_status eval_quantize(const rt_eval_ctx *c)
{
    const rt_extent_data *e = &c->prep->u.extent;
    return rt_from_kern(kern_quantize((kern_qtype)rt_eval_tensor(c, c->op->input_count)->dtype, e->outer, e->n,
                                      e->inner, rt_eval_input(c, 0), rt_eval_input(c, 1), rt_eval_bytes(c, 2),
                                      rt_eval_output_bytes(c, 0)));
}

static rt_status eval_dequantize(const rt_eval_ctx *c)
{
    const rt_extent_data *e = &c->prep->u.extent;
    return rt_from_kern(kern_dequantize((kern_qtype)rt_eval_tensor(c, 0)->dtype, e->outer, e->n, e->inner,
                                        rt_eval_bytes(c, 0), rt_eval_input(c, 1), rt_eval_bytes(c, 2),
                                        rt_eval_output(c, 0)));
}

/* ------------------------------------------------------------------ DynamicQuantizeLinear */

/* y has x's dims; y_scale and y_zp hold one value each. */
static rt_status prepare_dynamic_quantize(rt_prepare_ctx *c)
{
    const rt_tensor_desc *scale = rt_op_tensor(c->part, c->op, c->op->input_count + 1u);
    const rt_tensor_desc *zp = rt_op_tensor(c->part, c->op, c->op->input_count + 2u);
    if (!rt_unused_zero(c->op, 0, 0))
        return RT_ERR_OP_RESERVED;
    if (!rt_same_dims(c->in[0], c->out) || scale->rank > 1 || numel(scale) != 1 || zp->rank > 1 || numel(zp) != 1)
        return RT_ERR_OP_SHAPE;
    c->prep->u.extent.inner = (uint32_t)numel(c->in[0]);
    return RT_OK;
}

static rt_status eval_dynamic_quantize(const rt_eval_ctx *c)
{
    return rt_from_kern(kern_dynamic_quantize(c->prep->u.extent.inner, rt_eval_input(c, 0),
                                              (uint8_t *)rt_eval_output_bytes(c, 0), rt_eval_output(c, 1),
                                              (uint8_t *)rt_eval_output_bytes(c, 2)));
}

/* ------------------------------------------------------------------ QLinearConv, ConvInteger */

/* Where a quantized convolution's or MatMul's operands are: QLinear* (requantized: x or a, x_scale, x_zp,
 * w or b, w_scale, w_zp, y_scale, y_zp[, bias]) or *Integer (x or a, w or b, [x_zp], [w_zp]). */
typedef struct {
    int linear;            /* 1: QLinear*, the scales at inputs 1, 4, 6, y_zp at 7, a conv's bias at 8 */
    uint32_t w, x_zp, w_zp; /* input positions */
} q_inputs;

#define Q_X_SCALE 1u
#define Q_W_SCALE 4u
#define Q_Y_SCALE 6u
#define Q_Y_ZP 7u
#define Q_BIAS 8u

static const q_inputs QLINEAR = {1, 3, 2, 5};
static const q_inputs INTEGER = {0, 1, 2, 3};

/* The kernel's attributes, from the validated descriptors. */
static void qconv_attr(const rt_partition *p, const rt_op_desc *op, const q_inputs *at, kern_qconv_attr *q)
{
    const rt_tensor_desc *w_zp = input(p, op, at->w_zp), *y = rt_op_tensor(p, op, op->input_count);
    q->x_type = (kern_qtype)rt_op_tensor(p, op, 0)->dtype;
    q->w_type = (kern_qtype)rt_op_tensor(p, op, at->w)->dtype;
    q->y_type = (kern_qtype)y->dtype;
    q->w_zp_count = w_zp ? (size_t)numel(w_zp) : 1;
    q->w_scale_count = at->linear ? (size_t)numel(rt_op_tensor(p, op, Q_W_SCALE)) : 1;
}

/* The scales and zero points: one value each, w's (or b's) one or n (channels, columns); QLinear*'s all present. */
static int params_ok(const rt_partition *p, const rt_op_desc *op, const q_inputs *at, uint64_t n)
{
    const int optional = !at->linear;
    if (!param_ok(input(p, op, at->x_zp), optional, 1) || !param_ok(input(p, op, at->w_zp), optional, n))
        return 0;
    return !at->linear || (param_ok(input(p, op, Q_X_SCALE), 0, 1) && param_ok(input(p, op, Q_W_SCALE), 0, n) &&
                           param_ok(input(p, op, Q_Y_SCALE), 0, 1) && param_ok(input(p, op, Q_Y_ZP), 0, 1));
}

static rt_status prepare_qconv(rt_prepare_ctx *c, const q_inputs *at)
{
    const rt_partition *p = c->part;
    const rt_op_desc *op = c->op;
    const rt_tensor_desc *w = input(p, op, at->w), *bias = at->linear ? input(p, op, Q_BIAS) : NULL;
    rt_window_data *g = &c->prep->u.window;
    kern_conv_geom kg;
    kern_qconv_attr q;
    rt_status s = rt_conv_shape(op, c->in[0], w, bias, c->out, 0, g);
    if (s != RT_OK)
        return s;
    if (!params_ok(p, op, at, g->c_out))
        return RT_ERR_OP_SHAPE;
    if ((uint64_t)g->c_in / g->group * g->kernel_h * g->kernel_w > KERN_QK_MAX)
        return RT_ERR_OP_SHAPE;
    rt_kern_geom(g, &kg);
    qconv_attr(p, op, at, &q);
    c->scratch = kern_scratch_bytes_qconv(&kg, &q);
    return RT_OK;
}

static rt_status prepare_qlinear_conv(rt_prepare_ctx *c) { return prepare_qconv(c, &QLINEAR); }
static rt_status prepare_conv_integer(rt_prepare_ctx *c) { return prepare_qconv(c, &INTEGER); }

/* A QLinear* op's input k (scales, y_zp, bias); NULL for an *Integer op, which has none. */
static const void *linear_input(const rt_eval_ctx *c, const q_inputs *at, uint32_t k)
{
    return at->linear ? rt_eval_bytes(c, k) : NULL;
}

static rt_status eval_qconv(const rt_eval_ctx *c, const q_inputs *at)
{
    kern_conv_geom g;
    kern_qconv_attr q;
    rt_kern_geom(&c->prep->u.window, &g);
    qconv_attr(c->part, c->op, at, &q);
    return rt_from_kern(kern_qconv(&g, &q, rt_eval_bytes(c, 0), rt_eval_bytes(c, at->x_zp), rt_eval_bytes(c, at->w),
                                   rt_eval_bytes(c, at->w_zp), (const int32_t *)linear_input(c, at, Q_BIAS),
                                   (const float *)linear_input(c, at, Q_X_SCALE),
                                   (const float *)linear_input(c, at, Q_W_SCALE),
                                   (const float *)linear_input(c, at, Q_Y_SCALE), linear_input(c, at, Q_Y_ZP),
                                   rt_eval_output_bytes(c, 0), c->scratch, c->scratch_size));
}

static rt_status eval_qlinear_conv(const rt_eval_ctx *c) { return eval_qconv(c, &QLINEAR); }
static rt_status eval_conv_integer(const rt_eval_ctx *c) { return eval_qconv(c, &INTEGER); }

/* ------------------------------------------------------------------ QLinearMatMul, MatMulInteger */

/* N, the columns of B (rank-1 B is [K, 1]). */
static uint32_t columns(const rt_tensor_desc *B) { return B->rank >= 2 ? B->dims[B->rank - 1] : 1; }

static void qmatmul_attr(const rt_partition *p, const rt_op_desc *op, const q_inputs *at, kern_qmatmul_attr *q)
{
    const rt_tensor_desc *b_zp = input(p, op, at->w_zp);
    q->a_type = (kern_qtype)rt_op_tensor(p, op, 0)->dtype;
    q->b_type = (kern_qtype)rt_op_tensor(p, op, at->w)->dtype;
    q->y_type = (kern_qtype)rt_op_tensor(p, op, op->input_count)->dtype;
    q->b_zp_count = b_zp ? (size_t)numel(b_zp) : 1;
    q->b_scale_count = at->linear ? (size_t)numel(rt_op_tensor(p, op, Q_W_SCALE)) : 1;
}

static rt_status prepare_qmatmul(rt_prepare_ctx *c, const q_inputs *at)
{
    const rt_partition *p = c->part;
    const rt_op_desc *op = c->op;
    const rt_tensor_desc *A = c->in[0], *B = input(p, op, at->w);
    kern_qmatmul_attr q;
    rt_status s;
    if (!rt_unused_zero(op, 0, 0))
        return RT_ERR_OP_RESERVED;
    s = rt_matmul_shape(A, B, c->out);
    if (s != RT_OK)
        return s;
    if (!params_ok(p, op, at, columns(B)))
        return RT_ERR_OP_SHAPE;
    if (A->dims[A->rank - 1] > KERN_QK_MAX)
        return RT_ERR_OP_SHAPE;
    qmatmul_attr(p, op, at, &q);
    c->scratch = kern_scratch_bytes_qmatmul(&q);
    return RT_OK;
}

static rt_status prepare_qlinear_matmul(rt_prepare_ctx *c) { return prepare_qmatmul(c, &QLINEAR); }
static rt_status prepare_matmul_integer(rt_prepare_ctx *c) { return prepare_qmatmul(c, &INTEGER); }

static rt_status eval_qmatmul(const rt_eval_ctx *c, const q_inputs *at)
{
    kern_qmatmul_attr q;
    kern_shape a, b, y;
    qmatmul_attr(c->part, c->op, at, &q);
    rt_kshape(rt_eval_tensor(c, 0), &a);
    rt_kshape(rt_eval_tensor(c, at->w), &b);
    rt_kshape(rt_eval_tensor(c, c->op->input_count), &y);
    return rt_from_kern(kern_qmatmul(&q, &a, rt_eval_bytes(c, 0), rt_eval_bytes(c, at->x_zp), &b,
                                     rt_eval_bytes(c, at->w), rt_eval_bytes(c, at->w_zp),
                                     (const float *)linear_input(c, at, Q_X_SCALE),
                                     (const float *)linear_input(c, at, Q_W_SCALE),
                                     (const float *)linear_input(c, at, Q_Y_SCALE), linear_input(c, at, Q_Y_ZP), &y,
                                     rt_eval_output_bytes(c, 0), c->scratch, c->scratch_size));
}

static rt_status eval_qlinear_matmul(const rt_eval_ctx *c) { return eval_qmatmul(c, &QLINEAR); }
static rt_status eval_matmul_integer(const rt_eval_ctx *c) { return eval_qmatmul(c, &INTEGER); }

/* name, inputs min/max, outputs min/max, optional inputs, flags, prepare, eval, input and output types */
const rt_op_registration rt_op_quantize_linear = {"QuantizeLinear", 2, 3, 1, 1, RT_OPTIONAL(2), 0, prepare_quantize,
                                                  eval_quantize, "ffq", "q"};
const rt_op_registration rt_op_dequantize_linear = {"DequantizeLinear", 2, 3, 1, 1, RT_OPTIONAL(2), 0,
                                                    prepare_linear, eval_dequantize, "nf0", "f"};
const rt_op_registration rt_op_dynamic_quantize_linear = {"DynamicQuantizeLinear", 1, 1, 3, 3, 0, 0,
                                                          prepare_dynamic_quantize, eval_dynamic_quantize, "f",
                                                          "ufu"};
const rt_op_registration rt_op_qlinear_conv = {"QLinearConv", 8, 9, 1, 1, RT_OPTIONAL(8), 0, prepare_qlinear_conv,
                                               eval_qlinear_conv, "qf0qf3fqi", "7"};
const rt_op_registration rt_op_conv_integer = {"ConvInteger", 2, 4, 1, 1, RT_OPTIONAL(2) | RT_OPTIONAL(3), 0,
                                               prepare_conv_integer, eval_conv_integer, "qq01", "i"};
const rt_op_registration rt_op_qlinear_matmul = {"QLinearMatMul", 8, 8, 1, 1, 0, 0, prepare_qlinear_matmul,
                                                 eval_qlinear_matmul, "qf0qf3fq", "7"};
const rt_op_registration rt_op_matmul_integer = {"MatMulInteger", 2, 4, 1, 1, RT_OPTIONAL(2) | RT_OPTIONAL(3), 0,
                                                 prepare_matmul_integer, eval_matmul_integer, "qq01", "i"};
