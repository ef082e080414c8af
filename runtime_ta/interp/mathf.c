/*
 * mathf.c - exp, log, pow, sqrt, tanh, sigmoid for float32, without libm.
 *
 * Each function evaluates in double and rounds once to float, so the float result is within about
 * one ulp of the true value:
 *   exp:  x = k ln2 + r, |r| <= ln2/2 (Cody-Waite split of ln2), e^r by its Taylor series to r^12
 *         (truncation < 1e-14 relative), times 2^k built from the exponent bits.
 *   log:  x = 2^e m, m in [sqrt(1/2), sqrt(2)), log m = 2 atanh(s), s = (m-1)/(m+1), |s| < 0.172,
 *         odd series to s^15 (truncation < 1e-13).
 *   sqrt: Newton's iteration y <- (y + x/y)/2 in double from an exponent-halving first guess.
 *   tanh: (e^{2|x|} - 1) / (e^{2|x|} + 1) in double (cancellation costs < 1e-12 relative for
 *         |x| >= 1e-4); x itself below 1e-4 (error x^2/3 < 4e-9); +-1 above 20.
 * tests/test_kernels_mathf.py measures the maximum relative error over dense sweeps against numpy.
 */
#include "mathf.h"

#include <string.h>

static double dbl_from_bits(unsigned long long bits)
{
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

static unsigned int float_bits(float f)
{
    unsigned int u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float float_nan(void)
{
    const unsigned int bits = 0x7fc00000u;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static float float_inf(void)
{
    const unsigned int bits = 0x7f800000u;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* e^x for |x| <= 800 (callers clamp); double precision. */
static double exp_d(double x)
{
    static const double log2e = 1.4426950408889634;
    static const double ln2_hi = 6.93147180369123816490e-01;
    static const double ln2_lo = 1.90821492927058770002e-10;
    double kd = x * log2e;
    long k = (long)(kd < 0 ? kd - 0.5 : kd + 0.5);
    double r = (x - (double)k * ln2_hi) - (double)k * ln2_lo;
    /* Horner form of sum_{i=0..12} r^i / i! */
    double p = 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    /* 2^k in two halves so that k down to -1074*2 stays representable step by step */
    {
        long k1 = k / 2, k2 = k - k / 2;
        double s1 = dbl_from_bits((unsigned long long)(k1 + 1023) << 52);
        double s2 = dbl_from_bits((unsigned long long)(k2 + 1023) << 52);
        return p * s1 * s2;
    }
}

/* log(x) for finite x > 0 given as a float (so no double subnormal handling is needed). */
static double log_d(float xf)
{
    static const double ln2 = 6.93147180559945309417e-01;
    unsigned int u = float_bits(xf);
    int e;
    double m, s, s2, p;
    if ((u >> 23) == 0) { /* subnormal float: scale by 2^23 */
        xf *= 8388608.0f;
        u = float_bits(xf);
        e = (int)(u >> 23) - 127 - 23;
    } else {
        e = (int)(u >> 23) - 127;
    }
    m = (double)((u & 0x007fffffu) | 0x00800000u) / 8388608.0; /* [1, 2) */
    if (m > 1.4142135623730951) {
        m *= 0.5;
        e += 1;
    }
    s = (m - 1.0) / (m + 1.0);
    s2 = s * s;
    p = 1.0 / 15.0;
    p = p * s2 + 1.0 / 13.0;
    p = p * s2 + 1.0 / 11.0;
    p = p * s2 + 1.0 / 9.0;
    p = p * s2 + 1.0 / 7.0;
    p = p * s2 + 1.0 / 5.0;
    p = p * s2 + 1.0 / 3.0;
    p = p * s2 + 1.0;
    return (double)e * ln2 + 2.0 * s * p;
}

float kern_expf(float x)
{
    if (x != x)
        return x;
    if (x > 88.7228394f)
        return float_inf();
    if (x < -104.0f)
        return 0.0f;
    return (float)exp_d((double)x);
}

float kern_logf(float x)
{
    if (x != x)
        return x;
    if (x < 0.0f)
        return float_nan();
    if (x == 0.0f)
        return -float_inf();
    if (x > 3.40282347e38f)
        return x;
    return (float)log_d(x);
}

float kern_powf_pos(float x, float y)
{
    double l;
    if (x != x || y != y || x < 0.0f)
        return float_nan();
    if (y == 0.0f)
        return 1.0f;
    if (x == 0.0f)
        return y > 0.0f ? 0.0f : float_inf();
    if (x > 3.40282347e38f)
        return y > 0.0f ? float_inf() : 0.0f;
    l = (double)y * log_d(x);
    if (l > 89.0)
        return float_inf();
    if (l < -104.0)
        return 0.0f;
    return (float)exp_d(l);
}

float kern_sqrtf(float x)
{
    double d = (double)x, y;
    unsigned long long bits;
    long e;
    int i;
    if (x != x || x < 0.0f)
        return float_nan();
    if (x == 0.0f || x > 3.40282347e38f)
        return x;
    memcpy(&bits, &d, sizeof bits); /* d is a normal double even for subnormal x */
    e = (long)((bits >> 52) & 0x7ff) - 1023;
    y = dbl_from_bits((unsigned long long)(e / 2 + 1023) << 52); /* within a factor 2 of the root */
    for (i = 0; i < 6; i++) /* quadratic convergence: 6 steps reach double precision */
        y = 0.5 * (y + d / y);
    return (float)y;
}

float kern_tanhf(float x)
{
    double ax, t, r;
    if (x != x)
        return x;
    ax = x < 0.0f ? -(double)x : (double)x;
    if (ax < 1e-4)
        return x;
    if (ax > 20.0)
        return x < 0.0f ? -1.0f : 1.0f;
    t = exp_d(2.0 * ax);
    r = (t - 1.0) / (t + 1.0);
    return (float)(x < 0.0f ? -r : r);
}

float kern_sigmoidf(float x)
{
    double d = (double)x;
    if (x != x)
        return x;
    if (d > 200.0)
        d = 200.0;
    if (d < -200.0)
        d = -200.0;
    return (float)(1.0 / (1.0 + exp_d(-d)));
}
