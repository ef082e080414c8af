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

/* sqrt(d) for a positive normal double whose exponent is within the float range (every positive
 * finite float, and products of two of them): Newton's iteration from an exponent-halving guess. */
static double sqrt_d(double d)
{
    unsigned long long bits;
    long e;
    double y;
    int i;
    memcpy(&bits, &d, sizeof bits);
    e = (long)((bits >> 52) & 0x7ff) - 1023;
    y = dbl_from_bits((unsigned long long)(e / 2 + 1023) << 52); /* within a factor 2 of the root */
    for (i = 0; i < 6; i++) /* quadratic convergence from a factor 2: 6 steps reach double precision */
        y = 0.5 * (y + d / y);
    return y;
}

float kern_sqrtf(float x)
{
    if (x != x || x < 0.0f)
        return float_nan();
    if (x == 0.0f || x > 3.40282347e38f)
        return x;
    return (float)sqrt_d((double)x); /* (double)x is a normal double even for subnormal x */
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

/* ------------------------------------------------------------------ trigonometric and hyperbolic
 *
 * Same scheme: double evaluation, one rounding to float (tests/test_kernels_mathf_trig.py).
 *   sin, cos, tan: x = n pi/2 + a, |a| <= pi/4 (rem_pio2 below: exact for every float, however
 *         large), then the Taylor series of sin a to a^17 and cos a to a^18 (truncation < 1e-19
 *         relative) by the quadrant n mod 4; tan = sin / cos, or -cos / sin in odd quadrants.
 *   atan: z > 1 -> pi/2 - atan(1/z); z > tan(pi/12) -> pi/6 + atan((z sqrt3 - 1) / (z + sqrt3));
 *         then |u| <= tan(pi/12) = 0.268 and the odd series to u^29 (truncation < 2e-18).
 *   asin x = atan(x / sqrt((1 - x)(1 + x))); acos x = 2 atan(sqrt((1 - x) / (1 + x))), both with
 *         1 -+ x exact in double, so no cancellation near |x| = 1.
 *   sinh a = (E + E / (E + 1)) / 2 with E = e^a - 1 (expm1: accurate near 0); cosh = (e^a + e^-a) / 2.
 *   asinh a = log1p(a + a^2 / (1 + sqrt(1 + a^2)));  acosh x = log1p(u + sqrt(u (x + 1))), u = x - 1
 *         exact;  atanh a = log1p(2a / (1 - a)) / 2.  Odd functions take |x| and restore the sign,
 *         so -0 stays -0.
 */

#define F32_MAX 3.40282347e38

/* The bits of 2/pi after the binary point, 32 to a word, behind one zero word: word w >= 1 holds
 * bits 32(w - 1) + 1 .. 32w, so bit i (i >= -31; bits i <= 0 are 0) is bit 31 - (i + 31) % 32 of
 * word (i + 31) / 32.  224 bits reach past the last bit (198) any float's reduction reads. */
static const unsigned int two_over_pi[8] = {
    0x00000000u, 0xa2f9836eu, 0x4e441529u, 0xfc2757d1u, 0xf534ddc0u, 0xdb629599u, 0x3c439041u, 0xfe5163abu,
};

/* Payne-Hanek reduction of a finite float |x| >= 2^-7: x = (n + f) pi/2 with n = *quadrant (mod 4)
 * and |f| <= 1/2; returns f pi/2.
 * x = m 2^e (m the 24-bit significand, e = exponent - 150), 2/pi = sum b_i 2^-i.  Terms m 2^(e-i)
 * with e - i >= 2 are multiples of 4 and drop out of x 2/pi mod 4, so only bits i >= s = e - 1
 * matter; the 96 of them from bit s form W, and x 2/pi mod 4 = (m W mod 2^96) / 2^94 up to the
 * bits past the window, which add less than m 2^-94 < 2^-70.  Exact integer arithmetic gives the
 * top 96 bits; the closest float to a multiple of pi/2 leaves |f| > 2^-32, so f keeps > 38 bits. */
static double rem_pio2(float x, int *quadrant)
{
    static const double pio2_over_2_62 = 1.5707963267948966 / 4611686018427387904.0; /* pi/2 / 2^62 */
    const unsigned int bits = float_bits(x);
    const unsigned long long m = (bits & 0x007fffffu) | 0x00800000u;
    const int e = (int)((bits >> 23) & 0xffu) - 150;
    const unsigned int p = (unsigned int)(e - 1 + 31); /* window start (bit s) in the table, >= 0 */
    const unsigned int k = p >> 5, sh = p & 31u;
    unsigned long long w0, w1, w2, lo, mid, hi, top, n;
    long long f;
    w0 = (unsigned long long)((two_over_pi[k] << sh) | (sh ? two_over_pi[k + 1] >> (32u - sh) : 0u));
    w1 = (unsigned long long)((two_over_pi[k + 1] << sh) | (sh ? two_over_pi[k + 2] >> (32u - sh) : 0u));
    w2 = (unsigned long long)((two_over_pi[k + 2] << sh) | (sh ? two_over_pi[k + 3] >> (32u - sh) : 0u));
    w0 &= 0xffffffffull;
    w1 &= 0xffffffffull;
    w2 &= 0xffffffffull;
    lo = m * w2;                 /* m W = m w0 2^64 + m w1 2^32 + m w2, each product < 2^56 */
    mid = m * w1 + (lo >> 32);
    hi = m * w0 + (mid >> 32);
    top = (hi << 32) | (mid & 0xffffffffull);         /* (m W mod 2^96) >> 32: x 2/pi mod 4 in 2^-62 units */
    n = (top + (1ull << 61)) >> 62;                   /* the nearest quadrant, mod 4 */
    f = (long long)(top - (n << 62));                 /* in [-2^61, 2^61) */
    *quadrant = (int)(n & 3u);
    return ((double)f + (double)(lo & 0xffffffffull) * (1.0 / 4294967296.0)) * pio2_over_2_62;
}

/* sin a and cos a for |a| <= pi/4 (Taylor series, Horner form). */
static double sin_poly(double a)
{
    const double a2 = a * a;
    double p = -1.0 / 355687428096000.0; /* -1/17! */
    p = p * a2 + 1.0 / 1307674368000.0;
    p = p * a2 - 1.0 / 6227020800.0;
    p = p * a2 + 1.0 / 39916800.0;
    p = p * a2 - 1.0 / 362880.0;
    p = p * a2 + 1.0 / 5040.0;
    p = p * a2 - 1.0 / 120.0;
    p = p * a2 + 1.0 / 6.0;
    return a * (1.0 - a2 * p); /* a times: keeps the sign of a zero */
}

static double cos_poly(double a)
{
    const double a2 = a * a;
    double p = 1.0 / 6402373705728000.0; /* 1/18! */
    p = p * a2 - 1.0 / 20922789888000.0;
    p = p * a2 + 1.0 / 87178291200.0;
    p = p * a2 - 1.0 / 479001600.0;
    p = p * a2 + 1.0 / 3628800.0;
    p = p * a2 - 1.0 / 40320.0;
    p = p * a2 + 1.0 / 720.0;
    p = p * a2 - 1.0 / 24.0;
    p = p * a2 + 0.5;
    return 1.0 - a2 * p;
}

/* x = n pi/2 + a with |a| <= pi/4 (n mod 4 in *n).  Returns 0 (nothing set) when x is NaN or infinite, where
 * sin, cos and tan are NaN. */
static int reduce(float x, double *a, int *n)
{
    const float ax = x < 0.0f ? -x : x;
    if (x != x || ax > 3.40282347e38f)
        return 0;
    *n = 0;
    if (ax <= 0.785398185f) {
        *a = (double)x;
        return 1;
    }
    *a = rem_pio2(ax, n);
    if (x < 0.0f) {
        *n = -*n & 3;
        *a = -*a;
    }
    return 1;
}

float kern_sinf(float x)
{
    double a, r;
    int n;
    if (!reduce(x, &a, &n))
        return float_nan();
    r = (n & 1) ? cos_poly(a) : sin_poly(a);
    return (float)((n & 2) ? -r : r);
}

float kern_cosf(float x)
{
    double a, r;
    int n;
    if (!reduce(x, &a, &n))
        return float_nan();
    r = (n & 1) ? sin_poly(a) : cos_poly(a);
    return (float)(((n + 1) & 2) ? -r : r);
}

float kern_tanf(float x)
{
    double a;
    int n;
    if (!reduce(x, &a, &n))
        return float_nan();
    return (float)((n & 1) ? -cos_poly(a) / sin_poly(a) : sin_poly(a) / cos_poly(a));
}

/* atan z for z >= 0 (module comment above); z = +inf gives pi/2. */
static double atan_d(double z)
{
    static const double pio2 = 1.5707963267948966, pio6 = 0.52359877559829887;
    static const double sqrt3 = 1.7320508075688772, tan_pi12 = 0.26794919243112270;
    double base = 0.0, sign = 1.0, u, u2, p;
    int i;
    if (z > 1.0) { /* atan z = pi/2 - atan(1/z) */
        base = pio2;
        sign = -1.0;
        z = 1.0 / z;
    }
    if (z > tan_pi12) { /* atan z = pi/6 + atan((z sqrt3 - 1) / (z + sqrt3)) */
        base += sign * pio6;
        z = (z * sqrt3 - 1.0) / (z + sqrt3);
    }
    u = z;
    u2 = u * u;
    p = 1.0 / 29.0;
    for (i = 27; i >= 1; i -= 2) /* sum (-1)^j u^(2j+1) / (2j+1), j = 0..14, Horner in u^2 */
        p = 1.0 / (double)i - u2 * p;
    return base + sign * u * p;
}

float kern_atanf(float x)
{
    double r;
    if (x != x || x == 0.0f)
        return x;
    r = atan_d(x < 0.0f ? -(double)x : (double)x);
    return (float)(x < 0.0f ? -r : r);
}

float kern_asinf(float x)
{
    const double a = x < 0.0f ? -(double)x : (double)x;
    double r;
    if (x != x || x == 0.0f)
        return x;
    if (a > 1.0)
        return float_nan();
    r = a == 1.0 ? 1.5707963267948966 : atan_d(a / sqrt_d((1.0 - a) * (1.0 + a)));
    return (float)(x < 0.0f ? -r : r);
}

float kern_acosf(float x)
{
    const double d = (double)x;
    if (x != x)
        return x;
    if (d > 1.0 || d < -1.0)
        return float_nan();
    if (d == 1.0)
        return 0.0f;
    if (d == -1.0)
        return 3.14159265f;
    return (float)(2.0 * atan_d(sqrt_d((1.0 - d) / (1.0 + d))));
}

/* A double result as float, +-inf past the float range (no out-of-range conversion). */
static float to_float(double r)
{
    if (r > F32_MAX)
        return float_inf();
    if (r < -F32_MAX)
        return -float_inf();
    return (float)r;
}

float kern_sinhf(float x)
{
    double a = x < 0.0f ? -(double)x : (double)x, e, r;
    if (x != x || x == 0.0f)
        return x;
    a = a > 100.0 ? 100.0 : a; /* sinh 100 overflows float already */
    e = expm1_d(a);
    r = 0.5 * (e + e / (e + 1.0));
    return to_float(x < 0.0f ? -r : r);
}

float kern_coshf(float x)
{
    double a = x < 0.0f ? -(double)x : (double)x, e;
    if (x != x)
        return x;
    a = a > 100.0 ? 100.0 : a;
    e = exp_d(a);
    return to_float(0.5 * (e + 1.0 / e));
}

float kern_asinhf(float x)
{
    const double a = x < 0.0f ? -(double)x : (double)x;
    double r;
    if (x != x || x == 0.0f || a > F32_MAX)
        return x;
    r = log1p_d(a + a * a / (1.0 + sqrt_d(1.0 + a * a)));
    return (float)(x < 0.0f ? -r : r);
}

float kern_acoshf(float x)
{
    const double d = (double)x, u = d - 1.0;
    if (x != x || d > F32_MAX)
        return x;
    if (d < 1.0)
        return float_nan();
    if (d == 1.0)
        return 0.0f;
    return (float)log1p_d(u + sqrt_d(u * (d + 1.0)));
}

float kern_atanhf(float x)
{
    const double a = x < 0.0f ? -(double)x : (double)x;
    double r;
    if (x != x || x == 0.0f)
        return x;
    if (a > 1.0)
        return float_nan();
    if (a == 1.0)
        return x < 0.0f ? -float_inf() : float_inf();
    r = 0.5 * log1p_d(2.0 * a / (1.0 - a));
    return (float)(x < 0.0f ? -r : r);
}
