/*
 * qlinear.c - onnxruntime's elementwise QOperator ops on int8 / uint8 tensors: QLinearAdd, QLinearMul
 * (fixed-point requantization), QLinearGlobalAveragePool, and the lookup tables of QLinearSigmoid,
 * QLinearLeakyRelu and QLinearConcat's rescaling.
 *
 * Add and Mul apply the float32 scale ratios onnxruntime computes as exact integers (kern_requant_from_scale):
 * every input byte's term is tabulated once per call (256 int64 per operand), so the inner loop is two
 * lookups, one add or multiply and one rounding shift; no float.  A table op evaluates its map on the
 * 256 input values as onnxruntime builds its table (dequantize, map in float32, QuantizeLinear) and the
 * inner loop is one lookup.
 */
#include <string.h>

#include "internal.h"

/* The most a term's shift is raised to meet the other's: (x - zp) < 2^9, |multiplier| < 2^31, so a
 * term stays below 2^62 and the sum of two below 2^63. */
#define QADD_ALIGN_MAX 22

kern_status kern_qlut_build(kern_qlut_fn fn, float alpha, kern_qtype x_type, const float *x_scale, const void *x_zp,
                            kern_qtype y_type, const float *y_scale, const void *y_zp, uint8_t *table, float *work)
{
    uint8_t bytes[256];
    float *in = work, *out = work + 256;
    size_t i;
    kern_status s;
    if ((x_type != KERN_UINT8 && x_type != KERN_INT8) || (y_type != KERN_UINT8 && y_type != KERN_INT8))
        return KERN_EINVAL;
    for (i = 0; i < 256; i++)
        bytes[i] = (uint8_t)i;
    s = kern_dequantize(x_type, 1, 1, 256, bytes, x_scale, x_zp, in);
    if (s != KERN_OK)
        return s;
    switch (fn) {
    case KERN_QLUT_IDENTITY: memcpy(out, in, 256 * sizeof *out); break;
    case KERN_QLUT_SIGMOID: kern_sigmoid_n(in, out, 256); break;
    case KERN_QLUT_LEAKY_RELU:
        for (i = 0; i < 256; i++)
            out[i] = in[i] >= 0.0f ? in[i] : in[i] * alpha;
        break;
    default: return KERN_EINVAL;
    }
    return kern_quantize(y_type, 1, 1, 256, out, y_scale, y_zp, table);
}

void kern_qlut_apply(const uint8_t *table, const uint8_t *x, uint8_t *y, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        y[i] = table[x[i]];
}

/* v * 2^e for e >= 0, rounded to nearest (ties away from zero) for e < 0; |v| * 2^e < 2^62. */
static int64_t scale_pow2(int64_t v, int32_t e)
{
    uint64_t mag;
    if (e >= 0)
        return v * ((int64_t)1 << e);
    if (e <= -63)
        return 0;
    mag = v < 0 ? 0u - (uint64_t)v : (uint64_t)v;
    mag = (mag + ((uint64_t)1 << (-e - 1))) >> -e;
    return v < 0 ? -(int64_t)mag : (int64_t)mag;
}

/* table[b] = (value(b) - zp) * r.multiplier * 2^(shift - r.shift): the term of input byte b at 2^-shift. */
static void qadd_terms(kern_qtype t, const void *zp, kern_requant r, int32_t shift, int64_t *table)
{
    const int32_t z = kern_qzero(t, zp, 0);
    uint8_t b = 0;
    do {
        table[b] = scale_pow2((int64_t)(kern_qload(t, &b, 0) - z) * r.multiplier, shift - r.shift);
    } while (++b != 0);
}

/* table[b] = value(b) - zp. */
static void qmul_terms(kern_qtype t, const void *zp, int64_t *table)
{
    const int32_t z = kern_qzero(t, zp, 0);
    uint8_t b = 0;
    do {
        table[b] = kern_qload(t, &b, 0) - z;
    } while (++b != 0);
}

/* y[i] = requantize(ta[a[i * sa]] OP tb[b[i * sb]]) for i < n, strides 0 or 1 (kern_requantize's
 * product stays exact: an Add's sum is below 2^63 and its multiplier 1; a Mul's product below 2^17). */
#define QBINARY_RUN(OP)                                                                                              \
    KERN_RUN2(uint8_t, y, a, sa, b, sb, n,                                                                           \
              (uint8_t)kern_requantize(ta[u] OP tb[v], r, zp, lo, hi))

static void qbinary_run(int mul, const int64_t *ta, const int64_t *tb, kern_requant r, int32_t zp, int32_t lo,
                        int32_t hi, const uint8_t *a, size_t sa, const uint8_t *b, size_t sb, uint8_t *y, size_t n)
{
    if (mul)
        QBINARY_RUN(*);
    else
        QBINARY_RUN(+);
}

kern_status kern_qbinary(int mul, kern_qtype t, const kern_shape *as, const void *a, const float *a_scale,
                         const void *a_zp, const kern_shape *bs, const void *b, const float *b_scale,
                         const void *b_zp, const kern_shape *ys, const float *y_scale, const void *y_zp, void *y,
                         int64_t *scratch, size_t scratch_bytes)
{
    const kern_shape *shapes[2];
    int64_t *ta = scratch, *tb = scratch + 256;
    kern_requant r;
    kern_bcast it;
    kern_status s;
    size_t k, off[2];
    if ((t != KERN_UINT8 && t != KERN_INT8) || scratch_bytes < KERN_QBINARY_SCRATCH)
        return t != KERN_UINT8 && t != KERN_INT8 ? KERN_EINVAL : KERN_ESCRATCH;
    if (mul) {
        if (kern_requant_from_scale(*a_scale * *b_scale / *y_scale, &r) != KERN_OK)
            return KERN_EINVAL;
        qmul_terms(t, a_zp, ta);
        qmul_terms(t, b_zp, tb);
    } else {
        kern_requant ra, rb;
        int32_t lo_shift, shift;
        if (kern_requant_from_scale(*a_scale / *y_scale, &ra) != KERN_OK ||
            kern_requant_from_scale(*b_scale / *y_scale, &rb) != KERN_OK)
            return KERN_EINVAL;
        lo_shift = ra.shift < rb.shift ? ra.shift : rb.shift;
        shift = ra.shift > rb.shift ? ra.shift : rb.shift;
        shift = shift - lo_shift > QADD_ALIGN_MAX ? lo_shift + QADD_ALIGN_MAX : shift;
        qadd_terms(t, a_zp, ra, shift, ta);
        qadd_terms(t, b_zp, rb, shift, tb);
        r.multiplier = 1;
        r.shift = shift;
    }
    shapes[0] = as;
    shapes[1] = bs;
    s = kern_bcast_init(&it, 2, shapes, ys);
    for (k = 0; s == KERN_OK && k < it.runs; k++) {
        kern_bcast_next(&it, off);
        qbinary_run(mul, ta, tb, r, kern_qzero(t, y_zp, 0), kern_qmin(t), kern_qmax(t), (const uint8_t *)a + off[0],
                    it.stride[0][0], (const uint8_t *)b + off[1], it.stride[1][0], (uint8_t *)y + k * it.run, it.run);
    }
    return s;
}

kern_status kern_qglobal_average_pool(kern_qtype t, size_t outer, size_t inner, const void *x, const float *x_scale,
                                      const void *x_zp, const float *y_scale, const void *y_zp, void *y)
{
    const int32_t zx = kern_qzero(t, x_zp, 0), zy = kern_qzero(t, y_zp, 0);
    kern_requant r;
    size_t o, i, n;
    if ((t != KERN_UINT8 && t != KERN_INT8) || inner == 0 || inner > KERN_QPOOL_MAX)
        return KERN_EINVAL;
    if (!kmul(outer, inner, &n))
        return KERN_EOVERFLOW;
    if (kern_requant_from_scale(*x_scale / (*y_scale * (float)inner), &r) != KERN_OK)
        return KERN_EINVAL;
    for (o = 0; o < outer; o++) {
        int64_t sum = -(int64_t)zx * (int64_t)inner;
        if (t == KERN_UINT8) {
            const uint8_t *xo = (const uint8_t *)x + o * inner;
            for (i = 0; i < inner; i++)
                sum += xo[i];
        } else {
            const int8_t *xo = (const int8_t *)x + o * inner;
            for (i = 0; i < inner; i++)
                sum += xo[i];
        }
        ((uint8_t *)y)[o] = (uint8_t)kern_requantize(sum, r, zy, kern_qmin(t), kern_qmax(t));
    }
    return KERN_OK;
}

kern_status kern_qconcat_part(size_t outer, size_t axis_part, size_t inner, size_t axis_total, size_t offset,
                              const uint8_t *table, const uint8_t *x, uint8_t *y)
{
    size_t o, run, total;
    if (offset > axis_total || axis_part > axis_total - offset)
        return KERN_EINVAL;
    if (!kmul(axis_part, inner, &run) || !kmul3(outer, axis_total, inner, &total))
        return KERN_EOVERFLOW;
    for (o = 0; o < outer; o++)
        kern_qlut_apply(table, x + o * run, y + (o * axis_total + offset) * inner, run);
    return KERN_OK;
}
