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

#define PLAIN(fn, kind) \
    static rt_status fn(rt_prepare_ctx *c) { return rt_prepare_unary(c, kind, 0, 0, 0.0f, 0.0f); }
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
    return rt_prepare_unary(c, kinds[mode], RT_ATTR_ROUND_COUNT, 0, 0.0f, 0.0f);
}

static rt_status prepare_gelu(rt_prepare_ctx *c)
{
    const int32_t tanh_form = c->op->i[RT_ATTR_GELU_TANH];
    if (!rt_attr_in(tanh_form, 0, 1))
        return RT_ERR_OP_ATTRIBUTE;
    return rt_prepare_unary(c, tanh_form ? KERN_GELU_TANH : KERN_GELU, RT_ATTR_GELU_COUNT, 0, 0.0f, 0.0f);
}

/* Elu and Selu: gamma (x > 0 ? x : alpha (e^x - 1)); Celu: x > 0 ? x : alpha (e^(x / alpha) - 1),
 * gamma 1 and alpha != 0. */
static rt_status prepare_elu(rt_prepare_ctx *c)
{
    const int32_t celu = c->op->i[RT_ATTR_ELU_CELU];
    const float alpha = c->op->f[RT_FATTR_ELU_ALPHA], gamma = c->op->f[RT_FATTR_ELU_GAMMA];
    if (!rt_attr_in(celu, 0, 1) || (celu && (gamma != 1.0f || alpha == 0.0f)))
        return RT_ERR_OP_ATTRIBUTE;
    return rt_prepare_unary(c, celu ? KERN_CELU : KERN_ELU, RT_ATTR_ELU_COUNT, RT_FATTR_ELU_COUNT, alpha, gamma);
}

static rt_status prepare_thresholded_relu(rt_prepare_ctx *c)
{
    return rt_prepare_unary(c, KERN_THRESHOLDED_RELU, 0, RT_FATTR_THRESHOLDED_RELU_COUNT,
                       c->op->f[RT_FATTR_THRESHOLDED_RELU_ALPHA], 0.0f);
}

/* name, inputs min/max, outputs min/max, optional inputs, flags, prepare, eval, input and output types */
#define MAP RT_OPF_IN_PLACE
#define ACT (RT_OPF_IN_PLACE | RT_OPF_ACTIVATION)
const rt_op_registration rt_op_sqrt = {"Sqrt", 1, 1, 1, 1, 0, MAP, prepare_sqrt, rt_eval_unary, "f", "f"};
const rt_op_registration rt_op_reciprocal = {"Reciprocal", 1, 1, 1, 1, 0, MAP, prepare_reciprocal, rt_eval_unary,
                                             "f", "f"};
const rt_op_registration rt_op_exp = {"Exp", 1, 1, 1, 1, 0, MAP, prepare_exp, rt_eval_unary, "f", "f"};
const rt_op_registration rt_op_log = {"Log", 1, 1, 1, 1, 0, MAP, prepare_log, rt_eval_unary, "f", "f"};
const rt_op_registration rt_op_abs = {"Abs", 1, 1, 1, 1, 0, MAP, prepare_abs, rt_eval_unary, "f", "f"};
const rt_op_registration rt_op_neg = {"Neg", 1, 1, 1, 1, 0, MAP, prepare_neg, rt_eval_unary, "f", "f"};
const rt_op_registration rt_op_round = {"Floor/Ceil/Round", 1, 1, 1, 1, 0, MAP, prepare_round, rt_eval_unary, "f", "f"};
const rt_op_registration rt_op_erf = {"Erf", 1, 1, 1, 1, 0, MAP, prepare_erf, rt_eval_unary, "f", "f"};
const rt_op_registration rt_op_gelu = {"Gelu", 1, 1, 1, 1, 0, ACT, prepare_gelu, rt_eval_unary, "f", "f"};
const rt_op_registration rt_op_softplus = {"Softplus", 1, 1, 1, 1, 0, ACT, prepare_softplus, rt_eval_unary, "f", "f"};
const rt_op_registration rt_op_softsign = {"Softsign", 1, 1, 1, 1, 0, ACT, prepare_softsign, rt_eval_unary, "f", "f"};
const rt_op_registration rt_op_elu = {"Elu/Selu/Celu", 1, 1, 1, 1, 0, ACT, prepare_elu, rt_eval_unary, "f", "f"};
const rt_op_registration rt_op_mish = {"Mish", 1, 1, 1, 1, 0, ACT, prepare_mish, rt_eval_unary, "f", "f"};
const rt_op_registration rt_op_sin = {"Sin", 1, 1, 1, 1, 0, MAP, prepare_sin, rt_eval_unary, "f", "f"};
const rt_op_registration rt_op_cos = {"Cos", 1, 1, 1, 1, 0, MAP, prepare_cos, rt_eval_unary, "f", "f"};
const rt_op_registration rt_op_tan = {"Tan", 1, 1, 1, 1, 0, MAP, prepare_tan, rt_eval_unary, "f", "f"};
const rt_op_registration rt_op_asin = {"Asin", 1, 1, 1, 1, 0, MAP, prepare_asin, rt_eval_unary, "f", "f"};
const rt_op_registration rt_op_acos = {"Acos", 1, 1, 1, 1, 0, MAP, prepare_acos, rt_eval_unary, "f", "f"};
const rt_op_registration rt_op_atan = {"Atan", 1, 1, 1, 1, 0, MAP, prepare_atan, rt_eval_unary, "f", "f"};
const rt_op_registration rt_op_sinh = {"Sinh", 1, 1, 1, 1, 0, MAP, prepare_sinh, rt_eval_unary, "f", "f"};
const rt_op_registration rt_op_cosh = {"Cosh", 1, 1, 1, 1, 0, MAP, prepare_cosh, rt_eval_unary, "f", "f"};
const rt_op_registration rt_op_asinh = {"Asinh", 1, 1, 1, 1, 0, MAP, prepare_asinh, rt_eval_unary, "f", "f"};
const rt_op_registration rt_op_acosh = {"Acosh", 1, 1, 1, 1, 0, MAP, prepare_acosh, rt_eval_unary, "f", "f"};
const rt_op_registration rt_op_atanh = {"Atanh", 1, 1, 1, 1, 0, MAP, prepare_atanh, rt_eval_unary, "f", "f"};
const rt_op_registration rt_op_thresholded_relu = {"ThresholdedRelu", 1, 1, 1, 1, 0, ACT, prepare_thresholded_relu,
                                                   rt_eval_unary, "f", "f"};
