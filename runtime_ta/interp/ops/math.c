/*
 * math.c - the unary elementwise math ops: Sqrt, Reciprocal, Exp, Log, Abs, Neg, Floor/Ceil/Round
 * (ROUND), Erf, Gelu, Softplus, Softsign, Elu/Selu/Celu (ELU), Mish, ThresholdedRelu; Sin, Cos, Tan,
 * Asin, Acos, Atan, Sinh, Cosh, Asinh, Acosh, Atanh (codes 102-112).
 *
 * Each is one kern_unary map (kernels/math.c) with its kind and attributes in the prepared record
 * (u.act), runs in place, and the activations (Gelu ... ThresholdedRelu) may be fused into a preceding
 * Conv (RT_OPF_ACTIVATION).
 * The binary ones (Pow, PRelu, Max, Min) are with Add ... Sum in elementwise.c.
 */
#include "ops.h"

static rt_status prepare_map(rt_prepare_ctx *c, kern_unary_op kind, uint32_t ints_used, uint32_t floats_used,
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

#define PLAIN(fn, kind) \
    static rt_status fn(rt_prepare_ctx *c) { return prepare_map(c, kind, 0, 0, 0.0f, 0.0f); }
PLAIN(prepare_sqrt, KERN_SQRT)
PLAIN(prepare_reciprocal, KERN_RECIPROCAL)
PLAIN(prepare_exp, KERN_EXP)
PLAIN(prepare_log, KERN_LOG)
PLAIN(prepare_abs, KERN_ABS)
PLAIN(prepare_neg, KERN_NEG)
PLAIN(prepare_erf, KERN_ERF)
PLAIN(prepare_softplus, KERN_SOFTPLUS)
PLAIN(prepare_softsign, KERN_SOFTSIGN)
PLAIN(prepare_mish, KERN_MISH)
PLAIN(prepare_sin, KERN_SIN)
PLAIN(prepare_cos, KERN_COS)
PLAIN(prepare_tan, KERN_TAN)
PLAIN(prepare_asin, KERN_ASIN)
PLAIN(prepare_acos, KERN_ACOS)
PLAIN(prepare_atan, KERN_ATAN)
PLAIN(prepare_sinh, KERN_SINH)
PLAIN(prepare_cosh, KERN_COSH)
PLAIN(prepare_asinh, KERN_ASINH)
PLAIN(prepare_acosh, KERN_ACOSH)
PLAIN(prepare_atanh, KERN_ATANH)
#undef PLAIN

static rt_status prepare_round(rt_prepare_ctx *c)
{
    static const kern_unary_op kinds[3] = {KERN_FLOOR, KERN_CEIL, KERN_ROUND}; /* by RT_ROUND_* */
    const int32_t mode = c->op->i[RT_ATTR_ROUND_MODE];
    if (!rt_attr_in(mode, RT_ROUND_FLOOR, RT_ROUND_HALF_EVEN))
        return RT_ERR_OP_ATTRIBUTE;
    return prepare_map(c, kinds[mode], RT_ATTR_ROUND_COUNT, 0, 0.0f, 0.0f);
}

static rt_status prepare_gelu(rt_prepare_ctx *c)
{
    const int32_t tanh_form = c->op->i[RT_ATTR_GELU_TANH];
    if (!rt_attr_in(tanh_form, 0, 1))
        return RT_ERR_OP_ATTRIBUTE;
    return prepare_map(c, tanh_form ? KERN_GELU_TANH : KERN_GELU, RT_ATTR_GELU_COUNT, 0, 0.0f, 0.0f);
}

/* Elu and Selu: gamma (x > 0 ? x : alpha (e^x - 1)); Celu: x > 0 ? x : alpha (e^(x / alpha) - 1),
 * gamma 1 and alpha != 0. */
static rt_status prepare_elu(rt_prepare_ctx *c)
{
    const int32_t celu = c->op->i[RT_ATTR_ELU_CELU];
    const float alpha = c->op->f[RT_FATTR_ELU_ALPHA], gamma = c->op->f[RT_FATTR_ELU_GAMMA];
    if (!rt_attr_in(celu, 0, 1) || (celu && (gamma != 1.0f || alpha == 0.0f)))
        return RT_ERR_OP_ATTRIBUTE;
    return prepare_map(c, celu ? KERN_CELU : KERN_ELU, RT_ATTR_ELU_COUNT, RT_FATTR_ELU_COUNT, alpha, gamma);
}

static rt_status prepare_thresholded_relu(rt_prepare_ctx *c)
{
    return prepare_map(c, KERN_THRESHOLDED_RELU, 0, RT_FATTR_THRESHOLDED_RELU_COUNT,
                       c->op->f[RT_FATTR_THRESHOLDED_RELU_ALPHA], 0.0f);
}

static rt_status eval_map(const rt_eval_ctx *c)
{
    kern_unary_attr attr;
    attr.op = (kern_unary_op)c->prep->u.act.kind;
    attr.alpha = c->prep->u.act.alpha;
    attr.beta = c->prep->u.act.beta;
    return rt_from_kern(kern_unary(&attr, rt_eval_input(c, 0), rt_eval_output(c, 0),
                                   rt_eval_tensor(c, 1)->nbytes / 4u));
}

/* name, inputs min/max, outputs min/max, optional inputs, flags, prepare, eval, input and output types */
#define MAP RT_OPF_IN_PLACE
#define ACT (RT_OPF_IN_PLACE | RT_OPF_ACTIVATION)
const rt_op_registration rt_op_sqrt = {"Sqrt", 1, 1, 1, 1, 0, MAP, prepare_sqrt, eval_map, "f", "f"};
const rt_op_registration rt_op_reciprocal = {"Reciprocal", 1, 1, 1, 1, 0, MAP, prepare_reciprocal, eval_map, "f", "f"};
const rt_op_registration rt_op_exp = {"Exp", 1, 1, 1, 1, 0, MAP, prepare_exp, eval_map, "f", "f"};
const rt_op_registration rt_op_log = {"Log", 1, 1, 1, 1, 0, MAP, prepare_log, eval_map, "f", "f"};
const rt_op_registration rt_op_abs = {"Abs", 1, 1, 1, 1, 0, MAP, prepare_abs, eval_map, "f", "f"};
const rt_op_registration rt_op_neg = {"Neg", 1, 1, 1, 1, 0, MAP, prepare_neg, eval_map, "f", "f"};
const rt_op_registration rt_op_round = {"Floor/Ceil/Round", 1, 1, 1, 1, 0, MAP, prepare_round, eval_map, "f", "f"};
const rt_op_registration rt_op_erf = {"Erf", 1, 1, 1, 1, 0, MAP, prepare_erf, eval_map, "f", "f"};
const rt_op_registration rt_op_gelu = {"Gelu", 1, 1, 1, 1, 0, ACT, prepare_gelu, eval_map, "f", "f"};
const rt_op_registration rt_op_softplus = {"Softplus", 1, 1, 1, 1, 0, ACT, prepare_softplus, eval_map, "f", "f"};
const rt_op_registration rt_op_softsign = {"Softsign", 1, 1, 1, 1, 0, ACT, prepare_softsign, eval_map, "f", "f"};
const rt_op_registration rt_op_elu = {"Elu/Selu/Celu", 1, 1, 1, 1, 0, ACT, prepare_elu, eval_map, "f", "f"};
const rt_op_registration rt_op_mish = {"Mish", 1, 1, 1, 1, 0, ACT, prepare_mish, eval_map, "f", "f"};
const rt_op_registration rt_op_sin = {"Sin", 1, 1, 1, 1, 0, MAP, prepare_sin, eval_map, "f", "f"};
const rt_op_registration rt_op_cos = {"Cos", 1, 1, 1, 1, 0, MAP, prepare_cos, eval_map, "f", "f"};
const rt_op_registration rt_op_tan = {"Tan", 1, 1, 1, 1, 0, MAP, prepare_tan, eval_map, "f", "f"};
const rt_op_registration rt_op_asin = {"Asin", 1, 1, 1, 1, 0, MAP, prepare_asin, eval_map, "f", "f"};
const rt_op_registration rt_op_acos = {"Acos", 1, 1, 1, 1, 0, MAP, prepare_acos, eval_map, "f", "f"};
const rt_op_registration rt_op_atan = {"Atan", 1, 1, 1, 1, 0, MAP, prepare_atan, eval_map, "f", "f"};
const rt_op_registration rt_op_sinh = {"Sinh", 1, 1, 1, 1, 0, MAP, prepare_sinh, eval_map, "f", "f"};
const rt_op_registration rt_op_cosh = {"Cosh", 1, 1, 1, 1, 0, MAP, prepare_cosh, eval_map, "f", "f"};
const rt_op_registration rt_op_asinh = {"Asinh", 1, 1, 1, 1, 0, MAP, prepare_asinh, eval_map, "f", "f"};
const rt_op_registration rt_op_acosh = {"Acosh", 1, 1, 1, 1, 0, MAP, prepare_acosh, eval_map, "f", "f"};
const rt_op_registration rt_op_atanh = {"Atanh", 1, 1, 1, 1, 0, MAP, prepare_atanh, eval_map, "f", "f"};
const rt_op_registration rt_op_thresholded_relu = {"ThresholdedRelu", 1, 1, 1, 1, 0, ACT, prepare_thresholded_relu,
                                                   eval_map, "f", "f"};
