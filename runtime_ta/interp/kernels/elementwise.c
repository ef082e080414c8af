/*
 * elementwise.c - unary activations, broadcasting binary arithmetic, LRN, BatchNormalization.
 *
 * Binary broadcasting walks y in runs (kernels/broadcast.c): adjacent dims are merged where both
 * inputs are contiguous (or both broadcast) across them, so the innermost loop is as long as possible
 * and has one of the stride patterns of KERN_RUN2, each of which the compiler vectorises.
 */
#include <float.h>
#include <string.h>

#include "../mathf.h"
#include "internal.h"

/* y = x * sigmoid(alpha * x), in blocks of SWISH_BLOCK on the stack (y may be x): the same sigmoid
 * (kern_sigmoid_n, element by element) and the same product as Sigmoid followed by Mul, so at
 * alpha 1 (alpha * x == x exactly) the values are bit-equal to those two ops'. */
#define SWISH_BLOCK 64
static void swish(float alpha, const float *x, float *y, size_t n)
{
    float s[SWISH_BLOCK];
    size_t i, j, m;
    for (i = 0; i < n; i += m) {
        m = n - i < SWISH_BLOCK ? n - i : SWISH_BLOCK;
        for (j = 0; j < m; j++)
            s[j] = alpha * x[i + j];
        kern_sigmoid_n(s, s, m);
        for (j = 0; j < m; j++)
            y[i + j] = x[i + j] * s[j];
    }
}

kern_status kern_unary(const kern_unary_attr *at, const float *x, float *y, size_t n)
{
    const float alpha = at->alpha, beta = at->beta;
    size_t i;
    switch (at->op) {
    case KERN_RELU:
        for (i = 0; i < n; i++)
            y[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case KERN_LEAKY_RELU:
        for (i = 0; i < n; i++)
            y[i] = x[i] >= 0.0f ? x[i] : alpha * x[i];
        break;
    case KERN_CLIP:
        for (i = 0; i < n; i++) {
            float v = x[i] < alpha ? alpha : x[i];
            y[i] = v > beta ? beta : v;
        }
        break;
    case KERN_SIGMOID:
        kern_sigmoid_n(x, y, n);
        break;
    case KERN_HARD_SIGMOID:
        for (i = 0; i < n; i++) {
            float v = alpha * x[i] + beta;
            v = v < 0.0f ? 0.0f : v;
            y[i] = v > 1.0f ? 1.0f : v;
        }
        break;
    case KERN_HARD_SWISH:
        for (i = 0; i < n; i++) {
            float v = x[i] * (1.0f / 6.0f) + 0.5f;
            v = v < 0.0f ? 0.0f : v;
            y[i] = x[i] * (v > 1.0f ? 1.0f : v);
        }
        break;
    case KERN_TANH:
        kern_tanh_n(x, y, n);
        break;
    case KERN_SWISH:
        swish(alpha, x, y, n);
        break;
    case KERN_IDENTITY:
        if (y != x)
            memmove(y, x, n * sizeof(float));
        break;
    default:
        return kern_unary_math(at, x, y, n); /* kernels/math.c */
    }
    return KERN_OK;
}

static int binary_op_valid(kern_binary_op op)
{
    return (unsigned)op <= (unsigned)KERN_DIV || (op >= KERN_POW && op <= KERN_PRELU);
}

/* y[i] = a[i * sa] op b[i * sb] for i < n, strides 0 or 1. */
static void binary_run(kern_binary_op op, const float *a, size_t sa, const float *b, size_t sb, float *y, size_t n)
{
    switch (op) {
    case KERN_ADD: KERN_RUN2(float, y, a, sa, b, sb, n, u + v); break;
    case KERN_SUB: KERN_RUN2(float, y, a, sa, b, sb, n, u - v); break;
    case KERN_MUL: KERN_RUN2(float, y, a, sa, b, sb, n, u * v); break;
    case KERN_MAX: KERN_RUN2(float, y, a, sa, b, sb, n, KERN_MAXF(u, v)); break;
    case KERN_MIN: KERN_RUN2(float, y, a, sa, b, sb, n, KERN_MINF(u, v)); break;
    case KERN_PRELU: KERN_RUN2(float, y, a, sa, b, sb, n, KERN_PRELUF(u, v)); break;
    case KERN_POW:
        if (sb == 0 && kern_pow_scalar(a, sa, b[0], y, n))
            break;
        KERN_RUN2(float, y, a, sa, b, sb, n, kern_powf(u, v));
        break;
    default: KERN_RUN2(float, y, a, sa, b, sb, n, u / v); break; /* KERN_DIV */
    }
}

/* y[i] = a[i * sa] op b[i * sb] in uint32 arithmetic (modulo 2^32, no signed overflow), back to int32. */
static void binary_run_i32(kern_binary_op op, const int32_t *a, size_t sa, const int32_t *b, size_t sb, int32_t *y,
                           size_t n)
{
    switch (op) {
    case KERN_ADD: KERN_RUN2(int32_t, y, a, sa, b, sb, n, (int32_t)((uint32_t)u + (uint32_t)v)); break;
    case KERN_SUB: KERN_RUN2(int32_t, y, a, sa, b, sb, n, (int32_t)((uint32_t)u - (uint32_t)v)); break;
    default: KERN_RUN2(int32_t, y, a, sa, b, sb, n, (int32_t)((uint32_t)u * (uint32_t)v)); break; /* KERN_MUL */
    }
}

/* y = a (op) b over the broadcast runs, float32 (i32 == 0) or int32 (i32 != 0). */
static kern_status binary_broadcast(kern_binary_op op, int i32, const kern_shape *as, const void *a,
                                    const kern_shape *bs, const void *b, const kern_shape *ys, void *y)
{
    const kern_shape *shapes[2];
    kern_bcast it;
    kern_status s;
    size_t r, off[2];
    shapes[0] = as;
    shapes[1] = bs;
    s = kern_bcast_init(&it, 2, shapes, ys);
    for (r = 0; s == KERN_OK && r < it.runs; r++) {
        kern_bcast_next(&it, off);
        if (i32)
            binary_run_i32(op, (const int32_t *)a + off[0], it.stride[0][0], (const int32_t *)b + off[1],
                           it.stride[1][0], (int32_t *)y + r * it.run, it.run);
        else
            binary_run(op, (const float *)a + off[0], it.stride[0][0], (const float *)b + off[1], it.stride[1][0],
                       (float *)y + r * it.run, it.run);
    }
    return s;
}

kern_status kern_binary(kern_binary_op op, const kern_shape *as, const float *a, const kern_shape *bs, const float *b,
                        const kern_shape *ys, float *y)
{
    if (!binary_op_valid(op))
        return KERN_EINVAL;
    return binary_broadcast(op, 0, as, a, bs, b, ys, y);
}

kern_status kern_binary_i32(kern_binary_op op, const kern_shape *as, const int32_t *a, const kern_shape *bs,
                            const int32_t *b, const kern_shape *ys, int32_t *y)
{
    if (op != KERN_ADD && op != KERN_SUB && op != KERN_MUL)
        return KERN_EINVAL;
    return binary_broadcast(op, 1, as, a, bs, b, ys, y);
}

kern_status kern_lrn(const kern_lrn_attr *at, size_t batch, size_t channels, size_t spatial, const float *x, float *y)
{
    size_t total, b, c, c2, s;
    const size_t before = at->size ? (at->size - 1) / 2 : 0, after = at->size ? at->size / 2 : 0;
    float scale;
    if (at->size == 0)
        return KERN_EINVAL;
    if (!kmul3(batch, channels, spatial, &total))
        return KERN_EOVERFLOW;
    scale = at->alpha / (float)at->size;
    for (b = 0; b < batch; b++)
        for (c = 0; c < channels; c++) {
            const size_t lo = c >= before ? c - before : 0, hi = kmin(channels - 1, c + after);
            const float *xc = x + (b * channels + c) * spatial;
            float *yc = y + (b * channels + c) * spatial;
            for (s = 0; s < spatial; s++) {
                float sq = 0.0f;
                for (c2 = lo; c2 <= hi; c2++) {
                    const float v = x[(b * channels + c2) * spatial + s];
                    sq += v * v;
                }
                yc[s] = xc[s] * kern_powf_pos(at->bias + scale * sq, -at->beta);
            }
        }
    return KERN_OK;
}

kern_status kern_batchnorm(size_t batch, size_t channels, size_t spatial, float epsilon, const float *scale,
                           const float *bias, const float *mean, const float *var, const float *x, float *y)
{
    size_t total, b, c, s;
    if (!kmul3(batch, channels, spatial, &total))
        return KERN_EOVERFLOW;
    for (b = 0; b < batch; b++)
        for (c = 0; c < channels; c++) {
            const float k = scale[c] / kern_sqrtf(var[c] + epsilon);
            const float off = bias[c] - mean[c] * k;
            const float *xc = x + (b * channels + c) * spatial;
            float *yc = y + (b * channels + c) * spatial;
            for (s = 0; s < spatial; s++)
                yc[s] = xc[s] * k + off;
        }
    return KERN_OK;
}
