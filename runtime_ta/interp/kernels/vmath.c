/*
 * vmath.c - sigmoid, tanh, erf and softmax's exponentials over arrays in branch-free float code the
 * compiler vectorises (the scalar double-precision functions of mathf.c cost ~10-13 ns an element, these
 * ~0.5-1 with AVX-512: an EfficientNet's SiLU layers took most of its compute, and they took most of a
 * recurrent step; a ViT's GELU (Erf) and attention Softmax took half of its).
 *
 * e^x, x in [-87, 88]: Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, r's Taylor series to r^7
 * (truncation < 6e-9), times 2^n built in the exponent bits.
 * sigmoid x = 1 / (1 + e^-x) for |x| <= 80 (e^-x stays a finite float, and 1 / (1 + e^-x) keeps the
 * relative accuracy of small results: one exp, one division); past 80, e^-|x| / (1 + e^-|x|) below
 * 0 and 1 / (1 + e^-|x|) above, e^-|x| as e^(32 ln2 - |x|) 2^-32 (|x| clamped to 104, past which
 * sigmoid rounds to 0).  A block with every |x| <= 80 takes only the first form.
 * tanh x = x + x^3 P(x^2) below |x| = 0.625, P a degree-4 least-squares fit of (tanh x / x - 1) / x^2,
 * and sign(x) (1 - 2 / (e^2|x| + 1)) above; tanh(+-0) = +-0.
 * erf x = x P(x^2) below |x| = 0.921875, P of degree 6 fit to erf(x) / x (relative error 4e-10), and
 * sign(x) (1 - e^Q(|x| - 2.4609375)) up to |x| = 4, Q of degree 10 fit to ln erfc (absolute error
 * 2.4e-9: erfc to 2.4e-9 relative); |x| is clamped to 4, where 1 - erfc(4) = 1 - 1.5e-8 rounds to 1.
 * The sign is x's bit, so erf(-0) = -0.
 * e^v for v <= 0 (softmax's x - max): e^v below -87 as e^(v + 32 ln2) 2^-32 (v clamped to -104, past
 * which e^v rounds to 0), so results down in the subnormals stay within 1e-37 absolute.
 * Measured against float64 over dense sweeps (tests/test_kernels_recurrent.py, test_kernels_baseline.py):
 * sigmoid, tanh and erf within 2.5e-7 relative, below 1e-37 in absolute terms where the result is
 * subnormal.  NaN propagates (no float-to-int conversion).
 */
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__)
/* Lets gcc if-convert the selects (their arms divide, which could trap): the loops then vectorise.
 * No value changes (no reassociation, no contraction beyond internal.h's).  Before internal.h, whose
 * own optimize pragma then adds to it (the other order leaves these loops scalar). */
#pragma GCC optimize("no-trapping-math")
#endif

#include "internal.h"

static KERN_INLINE float bits_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static KERN_INLINE uint32_t float_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* e^x for x in [-87, 88] (the caller clamps). */
static KERN_INLINE float vexp(float x)
{
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer in the low bits */
    const float kf = x * 1.44269504f + magic, n = kf - magic;
    const uint32_t k = float_bits(kf) - 0x4B400000u; /* n, two's complement */
    const float r = (x - n * 0.693145751953125f) - n * 1.42860676e-6f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    return p * bits_float((k + 127u) << 23);
}

/* sigmoid v = 1 / (1 + e^-v) for |v| <= 80, where e^-v is a finite float (at most e^80 = 5.5e34; its
 * reciprocal, down to 1.8e-35, a normal float). */
static KERN_INLINE float sigmoid_near(float v)
{
    return 1.0f / (1.0f + vexp(-v));
}

/* Blocks of SIGMOID_BLOCK elements: a block whose |x| are all <= 80 (no NaN) takes the near loop;
 * the general loop gives every such element the very same value (sigmoid_near of the same float) and
 * scales the far tails. */
#define SIGMOID_BLOCK 256

void kern_sigmoid_n(const float *x, float *y, size_t n)
{
    size_t i0, i, m;
    for (i0 = 0; i0 < n; i0 += m) {
        unsigned far_lanes = 0;
        m = n - i0 < SIGMOID_BLOCK ? n - i0 : SIGMOID_BLOCK;
        for (i = i0; i < i0 + m; i++)
            far_lanes |= !((x[i] < 0.0f ? -x[i] : x[i]) <= 80.0f);
        if (!far_lanes) {
            for (i = i0; i < i0 + m; i++)
                y[i] = sigmoid_near(x[i]);
            continue;
        }
        for (i = i0; i < i0 + m; i++) {
            const float v = x[i], a = kclampf(v < 0.0f ? -v : v, 0.0f, 104.0f), far = a > 80.0f ? 1.0f : 0.0f;
            const float e = vexp(far * 22.1807097f - a) * (far * 2.32830644e-10f + (1.0f - far)); /* e^-a */
            const float tail = (v < 0.0f ? e : 1.0f) / (1.0f + e), near = sigmoid_near(kclampf(v, -80.0f, 80.0f));
            y[i] = v == v ? (a > 80.0f ? tail : near) : v;
        }
    }
}

void kern_tanh_n(const float *x, float *y, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        const float v = x[i], a = v < 0.0f ? -v : v, z = v * v;
        const float e = vexp(kclampf(2.0f * a, 0.0f, 88.0f));
        const float big = 1.0f - 2.0f / (e + 1.0f);
        float p = -0.00571889151f;
        p = p * z + 0.0206530634f;
        p = p * z - 0.0537446402f;
        p = p * z + 0.133315131f;
        p = p * z - 0.333332866f;
        y[i] = v == 0.0f ? v : a < 0.625f ? v + v * z * p : v < 0.0f ? -big : v > 0.0f ? big : v;
    }
}

/* erf over x[0..n) (module comment). */
void kern_erf_n(const float *x, float *y, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        const float v = x[i], a = kclampf(v < 0.0f ? -v : v, 0.0f, 4.0f), t = a * a, u = a - 2.4609375f;
        float p = 8.370246618e-05f, q = -5.472417204e-08f, r;
        p = p * t - 8.142745026e-04f;
        p = p * t + 5.201036659e-03f;
        p = p * t - 2.685940051e-02f;
        p = p * t + 1.128369555e-01f;
        p = p * t - 3.761263374e-01f;
        p = p * t + 1.128379167e+00f;
        q = q * u - 4.002082154e-08f;
        q = q * u + 1.937175103e-06f;
        q = q * u - 1.359994638e-05f;
        q = q * u + 8.043525414e-05f;
        q = q * u - 4.390968505e-04f;
        q = q * u + 2.249581726e-03f;
        q = q * u - 1.120307588e-02f;
        q = q * u - 9.426012479e-01f;
        q = q * u - 5.278989263e+00f;
        q = q * u - 7.599165795e+00f;
        r = a < 0.921875f ? a * p : 1.0f - vexp(q);
        y[i] = v == v ? bits_float(float_bits(r) | (float_bits(v) & 0x80000000u)) : v;
    }
}

/* e^v for v <= 0 (module comment); NaN stays NaN. */
static KERN_INLINE float vexp_nonpositive(float v)
{
    const float a = kclampf(v, -104.0f, 0.0f), far = a < -87.0f ? 1.0f : 0.0f;
    const float e = vexp(a + far * 22.1807097f) * (far * 2.32830644e-10f + (1.0f - far));
    return v == v ? e : v;
}

float kern_exp_sum_n(const float *x, float shift, float *y, size_t n)
{
    float acc[KERN_EXP_LANES] = {0}, e[KERN_EXP_LANES];
    size_t i, l;
    for (i = 0; i + KERN_EXP_LANES <= n; i += KERN_EXP_LANES) {
        for (l = 0; l < KERN_EXP_LANES; l++)
            e[l] = vexp_nonpositive(x[i + l] - shift);
        for (l = 0; l < KERN_EXP_LANES; l++)
            acc[l] += e[l];
        if (y)
            for (l = 0; l < KERN_EXP_LANES; l++)
                y[i + l] = e[l];
    }
    for (l = 0; i < n; i++, l++) {
        const float r = vexp_nonpositive(x[i] - shift);
        acc[l] += r;
        if (y)
            y[i] = r;
    }
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}
