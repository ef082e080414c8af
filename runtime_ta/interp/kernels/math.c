/*
 * math.c - elementwise math: Sqrt, Reciprocal, Exp, Log, Abs, Neg, Floor, Ceil, Round, Erf, Gelu,
 * Softplus, Softsign, Elu/Selu, Celu, Mish, ThresholdedRelu, Sin ... Atanh (kern_unary hands them
 * here), and the fast paths of Pow with one exponent for a run (kern_binary).
 *
 * The transcendental maps call the libm-free scalar functions of mathf.c (double inside, one
 * rounding), but for Erf, vmath.c's vectorised kern_erf_n; the others are plain float expressions the
 * compiler vectorises.  y may equal x.
 */
#include <string.h>

#include "../mathf.h"
#include "internal.h"

#define MAP(EXPR)                                                                                                     \
    do {                                                                                                              \
        for (i = 0; i < n; i++) {                                                                                     \
            const float v = x[i];                                                                                     \
            y[i] = EXPR;                                                                                              \
        }                                                                                                             \
    } while (0)

static float abs_bits(float v)
{
    unsigned int u;
    memcpy(&u, &v, sizeof u);
    u &= 0x7fffffffu;
    memcpy(&v, &u, sizeof v);
    return v;
}

kern_status kern_unary_math(const kern_unary_attr *at, const float *x, float *y, size_t n)
{
    const float alpha = at->alpha, beta = at->beta;
    size_t i;
    switch (at->op) {
    case KERN_SQRT: MAP(kern_sqrtf(v)); break;
    case KERN_RECIPROCAL: MAP(1.0f / v); break;
    case KERN_EXP: MAP(kern_expf(v)); break;
    case KERN_LOG: MAP(kern_logf(v)); break;
    case KERN_ABS: MAP(abs_bits(v)); break;
    case KERN_NEG: MAP(-v); break;
    case KERN_FLOOR: MAP(kern_floorf(v)); break;
    case KERN_CEIL: MAP(kern_ceilf(v)); break;
    case KERN_ROUND: MAP(kern_rintf(v)); break;
    case KERN_ERF: kern_erf_n(x, y, n); break;
    case KERN_GELU: MAP(kern_geluf(v)); break;
    case KERN_GELU_TANH: MAP(kern_gelu_tanhf(v)); break;
    case KERN_SOFTPLUS: MAP(kern_softplusf(v)); break;
    case KERN_SOFTSIGN: MAP(kern_softsignf(v)); break;
    case KERN_ELU: MAP(beta * (v > 0.0f ? v : alpha * kern_expm1f(v))); break;
    case KERN_CELU: MAP(v > 0.0f ? v : alpha * kern_expm1f(v / alpha)); break;
    case KERN_MISH: MAP(kern_mishf(v)); break;
    case KERN_THRESHOLDED_RELU: MAP(v > alpha ? v : 0.0f); break;
    case KERN_SIN: MAP(kern_sinf(v)); break;
    case KERN_COS: MAP(kern_cosf(v)); break;
    case KERN_TAN: MAP(kern_tanf(v)); break;
    case KERN_ASIN: MAP(kern_asinf(v)); break;
    case KERN_ACOS: MAP(kern_acosf(v)); break;
    case KERN_ATAN: MAP(kern_atanf(v)); break;
    case KERN_SINH: MAP(kern_sinhf(v)); break;
    case KERN_COSH: MAP(kern_coshf(v)); break;
    case KERN_ASINH: MAP(kern_asinhf(v)); break;
    case KERN_ACOSH: MAP(kern_acoshf(v)); break;
    case KERN_ATANH: MAP(kern_atanhf(v)); break;
    default:
        return KERN_EINVAL;
    }
    return KERN_OK;
}

int kern_pow_scalar(const float *a, size_t sa, float e, float *y, size_t n)
{
    size_t i;
    if (sa == 0) { /* one base, one exponent */
        const float v = kern_powf(a[0], e);
        for (i = 0; i < n; i++)
            y[i] = v;
        return 1;
    }
    if (e == 1.0f) {
        if (y != a)
            memmove(y, a, n * sizeof(float));
    } else if (e == 2.0f) {
        for (i = 0; i < n; i++)
            y[i] = a[i] * a[i];
    } else if (e == -1.0f) {
        for (i = 0; i < n; i++)
            y[i] = 1.0f / a[i];
    } else if (e == 0.5f) { /* pow(-0, 0.5) = +0 and pow(-inf, 0.5) = +inf, unlike sqrt */
        for (i = 0; i < n; i++)
            y[i] = a[i] < -3.40282347e38f ? -a[i] : kern_sqrtf(a[i]) + 0.0f;
    } else {
        return 0;
    }
    return 1;
}
