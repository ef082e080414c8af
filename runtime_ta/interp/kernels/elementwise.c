/*
 * elementwise.c - unary activations, broadcasting binary arithmetic, Softmax, LRN, BatchNormalization.
 *
 * Binary broadcasting: y's dims are walked with an odometer over all but the innermost run; adjacent
 * dims are merged first when both inputs are contiguous (or both broadcast) across them, so the
 * innermost loop is as long as possible and has one of three stride patterns (a and b both
 * contiguous, a scalar-like, b scalar-like) that the compiler vectorises.
 */
#include <float.h>
#include <string.h>

#include "../mathf.h"
#include "internal.h"

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
    case KERN_IDENTITY:
        if (y != x)
            memmove(y, x, n * sizeof(float));
        break;
    default:
        return kern_unary_math(at, x, y, n); /* kernels/math.c */
    }
    return KERN_OK;
}

static float apply(kern_binary_op op, float a, float b)
{
    switch (op) {
    case KERN_ADD: return a + b;
    case KERN_SUB: return a - b;
    case KERN_MUL: return a * b;
    case KERN_POW: return kern_powf(a, b);
    case KERN_MAX: return KERN_MAXF(a, b);
    case KERN_MIN: return KERN_MINF(a, b);
    case KERN_PRELU: return KERN_PRELUF(a, b);
    default: return a / b;
    }
}

static int binary_op_valid(kern_binary_op op)
{
    return (unsigned)op <= (unsigned)KERN_DIV || (op >= KERN_POW && op <= KERN_PRELU);
}

/* y[i] = a[i * sa] op b[i * sb] for i < n, strides 0 or 1; specialised so each loop vectorises. */
static void binary_run(kern_binary_op op, const float *a, size_t sa, const float *b, size_t sb, float *y, size_t n)
{
    size_t i;
#define RUN(EXPR)                                                                                                     \
    do {                                                                                                              \
        if (sa && sb)                                                                                                 \
            for (i = 0; i < n; i++) {                                                                                 \
                const float u = a[i], v = b[i];                                                                       \
                y[i] = EXPR;                                                                                          \
            }                                                                                                         \
        else if (sb)                                                                                                  \
            for (i = 0; i < n; i++) {                                                                                 \
                const float u = a[0], v = b[i];                                                                       \
                y[i] = EXPR;                                                                                          \
            }                                                                                                         \
        else if (sa)                                                                                                  \
            for (i = 0; i < n; i++) {                                                                                 \
                const float u = a[i], v = b[0];                                                                       \
                y[i] = EXPR;                                                                                          \
            }                                                                                                         \
        else                                                                                                          \
            for (i = 0; i < n; i++) {                                                                                 \
                const float u = a[0], v = b[0];                                                                       \
                y[i] = EXPR;                                                                                          \
            }                                                                                                         \
    } while (0)
    switch (op) {
    case KERN_ADD: RUN(u + v); break;
    case KERN_SUB: RUN(u - v); break;
    case KERN_MUL: RUN(u * v); break;
    case KERN_MAX: RUN(KERN_MAXF(u, v)); break;
    case KERN_MIN: RUN(KERN_MINF(u, v)); break;
    case KERN_PRELU: RUN(KERN_PRELUF(u, v)); break;
    case KERN_POW:
        if (sb == 0 && kern_pow_scalar(a, sa, b[0], y, n))
            break;
        RUN(kern_powf(u, v));
        break;
    default: RUN(apply(op, u, v)); break;
    }
#undef RUN
}

kern_status kern_binary(kern_binary_op op, const kern_shape *as, const float *a, const kern_shape *bs, const float *b,
                        const kern_shape *ys, float *y)
{
    size_t dim[KERN_MAX_RANK], sa[KERN_MAX_RANK], sb[KERN_MAX_RANK], idx[KERN_MAX_RANK];
    size_t r = ys->rank, nd = 0, d, outer = 1, i, acc_a = 1, acc_b = 1;
    if (!binary_op_valid(op) || r > KERN_MAX_RANK || as->rank > r || bs->rank > r)
        return KERN_EINVAL;
    /* right-aligned element strides, 0 where broadcast; then merge mergeable neighbours */
    for (d = r; d-- > 0;) {
        const size_t da = d >= r - as->rank ? as->dim[d - (r - as->rank)] : 1;
        const size_t db = d >= r - bs->rank ? bs->dim[d - (r - bs->rank)] : 1;
        const size_t dy = ys->dim[d];
        size_t str_a, str_b;
        if ((da != dy && da != 1) || (db != dy && db != 1))
            return KERN_EINVAL;
        str_a = da == 1 ? 0 : acc_a;
        str_b = db == 1 ? 0 : acc_b;
        if (!kmul(acc_a, da, &acc_a) || !kmul(acc_b, db, &acc_b) || !kmul(outer, dy, &outer))
            return KERN_EOVERFLOW;
        if (dy == 1)
            continue;
        if (nd > 0 && ((str_a == 0) == (sa[nd - 1] == 0)) && ((str_b == 0) == (sb[nd - 1] == 0)) &&
            (str_a == 0 || str_a == sa[nd - 1] * dim[nd - 1]) && (str_b == 0 || str_b == sb[nd - 1] * dim[nd - 1])) {
            dim[nd - 1] *= dy; /* cannot overflow: bounded by the checked element count */
            continue;
        }
        dim[nd] = dy;
        sa[nd] = str_a;
        sb[nd] = str_b;
        nd++;
    }
    if (outer == 0)
        return KERN_OK;
    if (nd == 0) {
        y[0] = apply(op, a[0], b[0]);
        return KERN_OK;
    }
    /* dims were collected innermost-first: dim[0] is the innermost run */
    outer /= dim[0];
    for (d = 0; d < nd; d++)
        idx[d] = 0;
    for (i = 0; i < outer; i++) {
        size_t oa = 0, ob = 0;
        for (d = 1; d < nd; d++) {
            oa += idx[d] * sa[d];
            ob += idx[d] * sb[d];
        }
        binary_run(op, a + oa, sa[0], b + ob, sb[0], y + i * dim[0], dim[0]);
        for (d = 1; d < nd; d++) {
            if (++idx[d] < dim[d])
                break;
            idx[d] = 0;
        }
    }
    return KERN_OK;
}

kern_status kern_softmax(size_t outer, size_t n, size_t inner, const float *x, float *y)
{
    size_t o, i, j, total;
    if (!kmul3(outer, n, inner, &total))
        return KERN_EOVERFLOW;
    if (n == 0)
        return KERN_OK;
    for (o = 0; o < outer; o++)
        for (j = 0; j < inner; j++) {
            const float *xs = x + o * n * inner + j;
            float *ys = y + o * n * inner + j;
            float mx = xs[0], sum = 0.0f, inv;
            for (i = 1; i < n; i++)
                mx = xs[i * inner] > mx ? xs[i * inner] : mx;
            for (i = 0; i < n; i++) {
                const float e = kern_expf(xs[i * inner] - mx);
                ys[i * inner] = e;
                sum += e;
            }
            inv = 1.0f / sum;
            for (i = 0; i < n; i++)
                ys[i * inner] *= inv;
        }
    return KERN_OK;
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
