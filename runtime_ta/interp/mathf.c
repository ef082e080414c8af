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

/* log(x) for a positive normal double (every positive finite float is one): x = m 2^e with m in
 * [sqrt(1/2), sqrt(2)), log m = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172, the series to s^19. */
static double log_d(double x)
{
    static const double ln2 = 6.93147180559945309417e-01;
    unsigned long long bits;
    int e;
    double m, s, s2, p;
    memcpy(&bits, &x, sizeof bits);
    e = (int)((bits >> 52) & 0x7ff) - 1023;
    m = dbl_from_bits((bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull); /* [1, 2) */
    if (m > 1.4142135623730951) {
        m *= 0.5;
        e += 1;
    }
    s = (m - 1.0) / (m + 1.0);
    s2 = s * s;
    p = 1.0 / 19.0;
    p = p * s2 + 1.0 / 17.0;
    p = p * s2 + 1.0 / 15.0;
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

/* ------------------------------------------------------------------ elementwise ops (Pow ... Mish)
 *
 * Same scheme: double evaluation, one rounding to float.
 *   expm1, log1p: the Taylor series below 1e-5 / 1e-4 (truncation < 1e-20 relative), otherwise
 *         e^x - 1 in double (the cancellation costs < 1e-11 relative) and log(1 + u) corrected by
 *         (u - ((1 + u) - 1)) / (1 + u) for the rounding of 1 + u.
 *   erf:  z <= 1: the Maclaurin series to z^27 (truncation < 7e-12 relative); 1 < z < 12:
 *         erfc z = e^{-z^2} h(1/z) / z, h(t) a degree-18 polynomial fitted to z e^{z^2} erfc z on
 *         t in [1/12, 1] (relative error < 1.6e-12, from mpmath); erfc z < 1e-63 beyond 12.
 *   pow:  C99 Annex F special cases, else e^{y log|x|} in double (signed for odd integer y).
 * tests/test_kernels_mathf.py measures them against float64 numpy / mpmath.
 */


/* e^x - 1 for -800 <= x <= 800. */
static double expm1_d(double x)
{
    if (x > -1e-5 && x < 1e-5)
        return x + x * x * (0.5 + x * (1.0 / 6.0 + x * (1.0 / 24.0)));
    return exp_d(x) - 1.0;
}

/* log(1 + u) for u > -1, u finite. */
static double log1p_d(double u)
{
    double w;
    if (u > -1e-4 && u < 1e-4)
        return u * (1.0 + u * (-0.5 + u * (1.0 / 3.0 + u * (-0.25 + u * 0.2))));
    w = 1.0 + u;
    return log_d(w) + (u - (w - 1.0)) / w;
}

/* erf z (erfc = 0) or erfc z (erfc = 1) for z >= 0. */
static double erf_d(double z, int erfc)
{
    static const double maclaurin[14] = {
        1.1283791670955126,     -0.37612638903183754,   0.11283791670955126,    -0.026866170645131252,
        0.0052239776254421879,  -0.00085483270234508533, 0.00012055332981789664, -1.492565035840625e-05,
        1.6462114365889248e-06, -1.6365844691234924e-07, 1.4807192815879218e-08, -1.2290555301717928e-09,
        9.4227590646504113e-11, -6.7113668551641105e-12,
    };
    static const double h[19] = { /* highest power first */
        0.16916568237048463, -2.0446737630227871, 11.464439935824513, -39.597791282267416,
        94.284180308939654,  -163.92372691956334, 214.68837832846924, -214.81269682386096,
        163.98950025127718,  -93.462026367546116, 37.440230435944926, -8.9606772448390721,
        0.72768473175872306, -0.26690142087525232, 0.45260859152032462, -0.0023254310522419844,
        -0.28197112188246187, -3.9558623732005582e-06, 0.56418964082257317,
    };
    double p, t, c;
    int i;
    if (z <= 1.0) {
        const double z2 = z * z;
        p = maclaurin[13];
        for (i = 12; i >= 0; i--)
            p = p * z2 + maclaurin[i];
        return erfc ? 1.0 - z * p : z * p;
    }
    if (z >= 12.0)
        return erfc ? 0.0 : 1.0;
    t = 1.0 / z;
    p = h[0];
    for (i = 1; i < 19; i++)
        p = p * t + h[i];
    c = exp_d(-z * z) * p * t;
    return erfc ? c : 1.0 - c;
}

float kern_expm1f(float x)
{
    if (x != x || x == 0.0f)
        return x;
    if (x > 88.7228394f)
        return float_inf();
    if (x < -30.0f)
        return -1.0f;
    return (float)expm1_d((double)x);
}

float kern_log1pf(float x)
{
    if (x != x || x == 0.0f)
        return x;
    if (x < -1.0f)
        return float_nan();
    if (x == -1.0f)
        return -float_inf();
    if (x > 3.40282347e38f)
        return x;
    return (float)log1p_d((double)x);
}

float kern_erff(float x)
{
    double z;
    if (x != x || x == 0.0f)
        return x;
    z = x < 0.0f ? -(double)x : (double)x;
    z = z > 12.0 ? 12.0 : z;
    return (float)(x < 0.0f ? -erf_d(z, 0) : erf_d(z, 0));
}

/* Whether a finite float is an integer (*odd: an odd one). */
static int float_integer(float y, int *odd)
{
    const float ay = y < 0.0f ? -y : y;
    long k;
    *odd = 0;
    if (ay >= 16777216.0f) /* 2^24: every float this large is an even integer */
        return 1;
    k = (long)ay;
    if ((float)k != ay)
        return 0;
    *odd = (int)(k & 1);
    return 1;
}

float kern_powf(float x, float y)
{
    const float inf = float_inf();
    float ax;
    double l, r;
    int odd = 0, integer;
    if (y == 0.0f || x == 1.0f)
        return 1.0f;
    if (x != x || y != y)
        return float_nan();
    ax = x < 0.0f ? -x : x;
    if (y > 3.40282347e38f || y < -3.40282347e38f) { /* y = +-inf */
        if (ax == 1.0f)
            return 1.0f;
        return (ax < 1.0f) == (y < 0.0f) ? inf : 0.0f;
    }
    integer = float_integer(y, &odd);
    if (x == 0.0f || ax > 3.40282347e38f) { /* +-0, +-inf */
        float mag = (x == 0.0f) == (y < 0.0f) ? inf : 0.0f;
        return (x < 0.0f || (x == 0.0f && float_bits(x) >> 31)) && odd ? -mag : mag;
    }
    if (x < 0.0f && !integer)
        return float_nan();
    l = (double)y * log_d(ax);
    if (l > 89.0)
        r = (double)inf;
    else if (l < -104.0)
        r = 0.0;
    else
        r = exp_d(l);
    return (float)(x < 0.0f && odd ? -r : r);
}

/* Exact: truncation through an integer below 2^23 (every float from 2^23 up is an integer). */
static float round_mode(float x, int mode)
{
    unsigned int bits = float_bits(x), sign = bits & 0x80000000u;
    float ax, r;
    long k;
    if (x != x)
        return x;
    ax = x < 0.0f ? -x : x;
    if (ax >= 8388608.0f)
        return x;
    k = (long)ax;
    r = (float)k;
    if (mode == 0) /* floor: |x| down when positive, up when negative */
        r = sign ? (r < ax ? r + 1.0f : r) : r;
    else if (mode == 1) /* ceil */
        r = sign ? r : (r < ax ? r + 1.0f : r);
    else { /* half to even */
        const float frac = ax - r; /* exact */
        if (frac > 0.5f || (frac == 0.5f && (k & 1)))
            r += 1.0f;
    }
    bits = float_bits(r) | sign;
    memcpy(&r, &bits, sizeof r);
    return r;
}

float kern_floorf(float x) { return round_mode(x, 0); }
float kern_ceilf(float x) { return round_mode(x, 1); }
float kern_rintf(float x) { return round_mode(x, 2); }

float kern_geluf(float x)
{
    double d = (double)x, z;
    if (x != x)
        return x;
    z = (d < 0.0 ? -d : d) * 0.70710678118654752440;
    z = z > 12.0 ? 12.0 : z;
    return (float)(d < 0.0 ? 0.5 * d * erf_d(z, 1) : 0.5 * d * (2.0 - erf_d(z, 1)));
}

float kern_gelu_tanhf(float x)
{
    double d = (double)x, u;
    if (x != x)
        return x;
    u = -2.0 * 0.79788456080286535588 * (d + 0.044715 * d * d * d); /* -2 sqrt(2/pi) (x + 0.044715 x^3) */
    if (u > 700.0) /* x below -12 */
        return -0.0f;
    if (u < -700.0)
        return x;
    return (float)(d / (1.0 + exp_d(u))); /* x (1 + tanh(-u/2)) / 2 */
}

float kern_softplusf(float x)
{
    double d = (double)x;
    if (x != x)
        return x;
    if (d > 100.0)
        return x;
    if (d < -110.0)
        return 0.0f;
    return (float)(d > 0.0 ? d + log1p_d(exp_d(-d)) : log1p_d(exp_d(d)));
}

float kern_mishf(float x)
{
    double d = (double)x, t, n;
    if (x != x)
        return x;
    if (d > 40.0)
        return x;
    if (d < -120.0)
        return -0.0f;
    t = exp_d(d); /* tanh(log(1 + t)) = t (t + 2) / (t (t + 2) + 2) */
    n = t * (t + 2.0);
    return (float)(d * n / (n + 2.0));
}

float kern_softsignf(float x)
{
    double d = (double)x;
    if (x != x)
        return x;
    if (x > 3.40282347e38f || x < -3.40282347e38f)
        return x < 0.0f ? -1.0f : 1.0f;
    return (float)(d / (1.0 + (d < 0.0 ? -d : d)));
}
