/*
 * quant.c - the model's float edges of a quantized graph: QuantizeLinear, DequantizeLinear,
 * DynamicQuantizeLinear, and the requantization multiplier of a float32 scale (internal.h).
 *
 * The float arithmetic is onnxruntime's (MLAS): x / scale by IEEE division (not a multiplication by
 * a reciprocal, which rounds differently), clamping before rounding, round half to even.
 */
#include <string.h>

#include "internal.h"
#include "../mathf.h"

kern_status kern_requant_from_scale(float s, kern_requant *r)
{
    uint32_t bits, exponent, significand;
    memcpy(&bits, &s, sizeof bits);
    exponent = (bits >> 23) & 0xFFu;
    significand = bits & 0x7FFFFFu;
    if (exponent == 0xFFu)
        return KERN_EINVAL;
    if (exponent == 0) { /* zero or subnormal: significand * 2^-149 */
        r->shift = 149;
        while (significand != 0 && significand < 0x40000000u) {
            significand <<= 1;
            r->shift++;
        }
    } else { /* (2^23 + significand) * 2^(exponent - 150) = ((2^23 + significand) << 7) * 2^(exponent - 157) */
        significand = (significand | 0x800000u) << 7;
        r->shift = 157 - (int32_t)exponent;
    }
    r->multiplier = bits >> 31 ? -(int32_t)significand : (int32_t)significand;
    return KERN_OK;
}

/* round_half_even(v) for a finite v inside the int32 range (the callers clamp first). */
static int32_t round_even(float v) { return (int32_t)kern_rintf(v); }

static int quant_type(kern_qtype t) { return t == KERN_UINT8 || t == KERN_INT8; }

kern_status kern_quantize(kern_qtype y_type, size_t outer, size_t channels, size_t inner, const float *x,
                          const float *scale, const void *zp, void *y)
{
    size_t o, c, i, n;
    if (!quant_type(y_type))
        return KERN_EINVAL;
    if (!kmul3(outer, channels, inner, &n))
        return KERN_EOVERFLOW;
    for (o = 0; o < outer; o++)
        for (c = 0; c < channels; c++) {
            const int32_t z = kern_qzero(y_type, zp, c);
            const float lo = (float)(kern_qmin(y_type) - z), hi = (float)(kern_qmax(y_type) - z), s = scale[c];
            const size_t base = (o * channels + c) * inner;
            for (i = 0; i < inner; i++) {
                float v = x[base + i] / s;
                v = v > lo ? v : lo; /* NaN -> lo, as MLAS's MAXPS */
                v = v < hi ? v : hi;
                if (y_type == KERN_UINT8)
                    ((uint8_t *)y)[base + i] = (uint8_t)(round_even(v) + z);
                else
                    ((int8_t *)y)[base + i] = (int8_t)(round_even(v) + z);
            }
        }
    return KERN_OK;
}

kern_status kern_dequantize(kern_qtype x_type, size_t outer, size_t channels, size_t inner, const void *x,
                            const float *scale, const void *zp, float *y)
{
    size_t o, c, i, n;
    if (!quant_type(x_type) && x_type != KERN_INT32)
        return KERN_EINVAL;
    if (!kmul3(outer, channels, inner, &n))
        return KERN_EOVERFLOW;
    for (o = 0; o < outer; o++)
        for (c = 0; c < channels; c++) {
            const size_t base = (o * channels + c) * inner;
            const float s = scale[c];
            if (x_type == KERN_INT32) {
                const int64_t z = zp ? ((const int32_t *)zp)[c] : 0;
                for (i = 0; i < inner; i++)
                    y[base + i] = (float)((int64_t)((const int32_t *)x)[base + i] - z) * s;
            } else {
                const int32_t z = kern_qzero(x_type, zp, c);
                for (i = 0; i < inner; i++)
                    y[base + i] = (float)(kern_qload(x_type, x, base + i) - z) * s;
            }
        }
    return KERN_OK;
}

kern_status kern_dynamic_qparams(size_t n, const float *x, float *scale, uint8_t *zp)
{
    float lo = 0.0f, hi = 0.0f, s, zero;
    size_t i;
    if (n == 0)
        return KERN_EINVAL;
    for (i = 0; i < n; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    s = hi == lo ? 1.0f : (hi - lo) / 255.0f;
    zero = 0.0f - lo / s;
    zero = zero < 255.0f ? zero : 255.0f; /* std::min(255, zero), std::max(0, .) as onnxruntime: NaN -> 255 */
    zero = 0.0f < zero ? zero : 0.0f;
    *scale = s;
    *zp = (uint8_t)round_even(zero);
    return KERN_OK;
}

kern_status kern_dynamic_quantize(size_t n, const float *x, uint8_t *y, float *y_scale, uint8_t *y_zp)
{
    const kern_status st = kern_dynamic_qparams(n, x, y_scale, y_zp);
    return st != KERN_OK ? st : kern_quantize(KERN_UINT8, 1, 1, n, x, y_scale, y_zp, y);
}
