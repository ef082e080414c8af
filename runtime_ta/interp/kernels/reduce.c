/*
 * reduce.c - Reduce* (Mean, Sum, Max, Min, Prod, L1, L2, LogSumExp, SumSquare), Softmax, LogSoftmax,
 * LayerNormalization, GroupNormalization / InstanceNormalization.
 *
 * Reductions first coalesce the input's dims (dims of size 1 dropped, neighbours with the same
 * reduced/kept role merged), then run one of two loops:
 *   - the last dim is reduced: every output reduces contiguous runs of x (8-lane partial sums /
 *     maxima, vectorised), one run per combination of the other reduced dims;
 *   - the last dim is kept (length `inner`): outputs are computed in rows of up to ROW floats held on
 *     the stack, acc[j] (op)= x[r + j] over every reduced position r (contiguous rows, vectorised).
 * Accuracy: see kernels.h (float32 sums in 8 lanes; max/min exact).
 */
#include <string.h>

#include "../mathf.h"
#include "internal.h"

#define LANES 8
#define ROW 64 /* output row block of the kept-last-dim loop: 2 x 64 floats of stack */

typedef enum { MAP_ID, MAP_ABS, MAP_SQUARE } map_kind;
typedef enum { COMB_ADD, COMB_MAX, COMB_MIN, COMB_MUL } comb_kind;

static map_kind map_of(kern_reduce_op op)
{
    return op == KERN_REDUCE_L1 ? MAP_ABS : (op == KERN_REDUCE_L2 || op == KERN_REDUCE_SUM_SQUARE) ? MAP_SQUARE : MAP_ID;
}

static comb_kind comb_of(kern_reduce_op op)
{
    switch (op) {
    case KERN_REDUCE_MAX:
    case KERN_REDUCE_LOG_SUM_EXP: /* its first pass */
        return COMB_MAX;
    case KERN_REDUCE_MIN:
        return COMB_MIN;
    case KERN_REDUCE_PROD:
        return COMB_MUL;
    default:
        return COMB_ADD;
    }
}

static inline float fabs_(float v) { return v < 0.0f ? -v : v; }

static inline float mapv(map_kind m, float v) { return m == MAP_ABS ? fabs_(v) : m == MAP_SQUARE ? v * v : v; }

static inline float comb(comb_kind c, float a, float b)
{
    switch (c) {
    case COMB_MAX:
        return b > a ? b : a;
    case COMB_MIN:
        return b < a ? b : a;
    case COMB_MUL:
        return a * b;
    default:
        return a + b;
    }
}

/* ------------------------------------------------------------------ contiguous runs -> one value */

/* sum of map(x[i]) in LANES partial sums. */
static float run_sum(map_kind m, const float *x, size_t n)
{
    float acc[LANES] = {0};
    size_t i = 0, l;
    float s;
    if (m == MAP_ID) {
        for (; i + LANES <= n; i += LANES)
            for (l = 0; l < LANES; l++)
                acc[l] += x[i + l];
    } else if (m == MAP_ABS) {
        for (; i + LANES <= n; i += LANES)
            for (l = 0; l < LANES; l++)
                acc[l] += fabs_(x[i + l]);
    } else {
        for (; i + LANES <= n; i += LANES)
            for (l = 0; l < LANES; l++)
                acc[l] += x[i + l] * x[i + l];
    }
    for (; i < n; i++)
        acc[i % LANES] += mapv(m, x[i]);
    s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    return s;
}

/* max (or min) of x[0..n), n >= 1. */
static float run_extreme(int is_max, const float *x, size_t n)
{
    float acc[LANES];
    size_t i, l;
    float r;
    for (l = 0; l < LANES; l++)
        acc[l] = x[0];
    i = 0;
    if (is_max) {
        for (; i + LANES <= n; i += LANES)
            for (l = 0; l < LANES; l++)
                acc[l] = x[i + l] > acc[l] ? x[i + l] : acc[l];
    } else {
        for (; i + LANES <= n; i += LANES)
            for (l = 0; l < LANES; l++)
                acc[l] = x[i + l] < acc[l] ? x[i + l] : acc[l];
    }
    for (; i < n; i++)
        acc[0] = comb(is_max ? COMB_MAX : COMB_MIN, acc[0], x[i]);
    r = acc[0];
    for (l = 1; l < LANES; l++)
        r = comb(is_max ? COMB_MAX : COMB_MIN, r, acc[l]);
    return r;
}

static float run_prod(const float *x, size_t n)
{
    float p = 1.0f;
    size_t i;
    for (i = 0; i < n; i++)
        p *= x[i];
    return p;
}

/* sum of exp(x[i] - mx). */
static float lanes_total(const float acc[LANES])
{
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* y[i stride] = e^(x[i stride] - mx), i < n, unless y is NULL; returns their sum, in LANES partial
 * sums.  y may equal x.  A contiguous run takes vmath.c's vectorised exponentials (kern_exp_sum_n, the
 * same lanes), a strided one mathf's scalar kern_expf. */
static float run_store_exp(const float *x, size_t n, size_t stride, float mx, float *y)
{
    float acc[LANES] = {0};
    size_t i;
    if (stride == 1)
        return kern_exp_sum_n(x, mx, y, n);
    for (i = 0; i < n; i++) {
        const float e = kern_expf(x[i * stride] - mx);
        if (y)
            y[i * stride] = e;
        acc[i % LANES] += e;
    }
    return lanes_total(acc);
}

/* max of x[i stride], i < n (n >= 1). */
static float strided_max(const float *x, size_t n, size_t stride)
{
    float mx = x[0];
    size_t i;
    if (stride == 1)
        return run_extreme(1, x, n);
    for (i = 1; i < n; i++)
        mx = x[i * stride] > mx ? x[i * stride] : mx;
    return mx;
}

static float run_reduce(comb_kind c, map_kind m, const float *x, size_t n)
{
    switch (c) {
    case COMB_MAX:
        return run_extreme(1, x, n);
    case COMB_MIN:
        return run_extreme(0, x, n);
    case COMB_MUL:
        return run_prod(x, n);
    default:
        return run_sum(m, x, n);
    }
}

/* ------------------------------------------------------------------ rows: acc[j] (op)= map(x[j]) */

static void row_set(map_kind m, float *acc, const float *x, size_t len)
{
    size_t j;
    for (j = 0; j < len; j++)
        acc[j] = mapv(m, x[j]);
}

static void row_comb(comb_kind c, map_kind m, float *acc, const float *x, size_t len)
{
    size_t j;
    switch (c) {
    case COMB_MAX:
        for (j = 0; j < len; j++)
            acc[j] = x[j] > acc[j] ? x[j] : acc[j];
        break;
    case COMB_MIN:
        for (j = 0; j < len; j++)
            acc[j] = x[j] < acc[j] ? x[j] : acc[j];
        break;
    case COMB_MUL:
        for (j = 0; j < len; j++)
            acc[j] *= x[j];
        break;
    default:
        if (m == MAP_ID)
            for (j = 0; j < len; j++)
                acc[j] += x[j];
        else if (m == MAP_ABS)
            for (j = 0; j < len; j++)
                acc[j] += fabs_(x[j]);
        else
            for (j = 0; j < len; j++)
                acc[j] += x[j] * x[j];
    }
}

/* ------------------------------------------------------------------ index odometer over some dims */

typedef struct {
    size_t nd;
    size_t dim[KERN_MAX_RANK], stride[KERN_MAX_RANK], idx[KERN_MAX_RANK];
    size_t off; /* current element offset in x */
} odometer;

static void odo_reset(odometer *o)
{
    size_t d;
    for (d = 0; d < o->nd; d++)
        o->idx[d] = 0;
    o->off = 0;
}

static void odo_step(odometer *o)
{
    size_t d = o->nd;
    while (d-- > 0) {
        o->off += o->stride[d];
        if (++o->idx[d] < o->dim[d])
            return;
        o->off -= o->stride[d] * o->dim[d];
        o->idx[d] = 0;
    }
}

static float finalize(kern_reduce_op op, float acc, size_t count)
{
    if (op == KERN_REDUCE_MEAN)
        return acc / (float)count;
    if (op == KERN_REDUCE_L2)
        return kern_sqrtf(acc);
    return acc;
}

kern_status kern_reduce(kern_reduce_op op, const kern_shape *xs, unsigned axes_mask, const float *x, float *y)
{
    size_t dim[KERN_MAX_RANK + 1], stride[KERN_MAX_RANK + 1], numel, count = 1, nout = 1, nd = 0, d, s;
    int red[KERN_MAX_RANK + 1];
    const comb_kind c = comb_of(op);
    const map_kind m = map_of(op);
    odometer outer, rdims;
    size_t last, inner, n_out_outer, n_red, o, r;
    if ((unsigned)op > (unsigned)KERN_REDUCE_SUM_SQUARE || xs->rank > KERN_MAX_RANK || (axes_mask >> xs->rank) != 0)
        return KERN_EINVAL;
    if (kern_shape_numel(xs, &numel) != KERN_OK)
        return KERN_EOVERFLOW;
    if (numel == 0)
        return KERN_EINVAL;
    /* coalesce: drop 1-dims, merge neighbours of the same role */
    for (d = 0; d < xs->rank; d++) {
        const int rd = (int)((axes_mask >> d) & 1u);
        if (xs->dim[d] == 1)
            continue;
        if (rd)
            count *= xs->dim[d];
        else
            nout *= xs->dim[d];
        if (nd > 0 && red[nd - 1] == rd) {
            dim[nd - 1] *= xs->dim[d];
        } else {
            dim[nd] = xs->dim[d];
            red[nd] = rd;
            nd++;
        }
    }
    if (nd == 0 || red[nd - 1]) { /* a kept last dim of 1: the same loops serve every case */
        dim[nd] = 1;
        red[nd] = 0;
        nd++;
    }
    for (s = 1, d = nd; d-- > 0;) {
        stride[d] = s;
        s *= dim[d];
    }
    inner = dim[nd - 1]; /* kept */
    /* is the dim before the kept last one a reduced contiguous run? (inner == 1 case) */
    last = 0;
    if (inner == 1 && nd >= 2 && red[nd - 2])
        last = dim[nd - 2];
    outer.nd = rdims.nd = 0;
    for (d = 0; d + 1 < nd; d++) {
        odometer *t;
        if (last && d == nd - 2)
            break;
        t = red[d] ? &rdims : &outer;
        t->dim[t->nd] = dim[d];
        t->stride[t->nd] = stride[d];
        t->nd++;
    }
    n_out_outer = nout / inner;
    n_red = last ? count / last : count;
    odo_reset(&outer);
    if (last) {
        /* every output reduces n_red contiguous runs of `last` values */
        for (o = 0; o < n_out_outer; o++, odo_step(&outer)) {
            float acc;
            odo_reset(&rdims);
            if (op == KERN_REDUCE_LOG_SUM_EXP) {
                float mx = run_extreme(1, x + outer.off, last), sum = 0.0f;
                for (r = 1, odo_step(&rdims); r < n_red; r++, odo_step(&rdims))
                    mx = comb(COMB_MAX, mx, run_extreme(1, x + outer.off + rdims.off, last));
                odo_reset(&rdims);
                for (r = 0; r < n_red; r++, odo_step(&rdims))
                    sum += run_store_exp(x + outer.off + rdims.off, last, 1, mx, NULL);
                y[o] = mx + kern_logf(sum);
                continue;
            }
            acc = run_reduce(c, m, x + outer.off, last);
            for (r = 1, odo_step(&rdims); r < n_red; r++, odo_step(&rdims))
                acc = comb(c, acc, run_reduce(c, m, x + outer.off + rdims.off, last));
            y[o] = finalize(op, acc, count);
        }
        return KERN_OK;
    }
    /* kept last dim: rows of up to ROW outputs */
    for (o = 0; o < n_out_outer; o++, odo_step(&outer)) {
        size_t j0, j;
        for (j0 = 0; j0 < inner; j0 += ROW) {
            const size_t len = kmin(ROW, inner - j0);
            const float *xb = x + outer.off + j0;
            float *yb = y + o * inner + j0;
            float acc[ROW];
            odo_reset(&rdims);
            row_set(op == KERN_REDUCE_LOG_SUM_EXP ? MAP_ID : m, acc, xb, len);
            for (r = 1, odo_step(&rdims); r < n_red; r++, odo_step(&rdims))
                row_comb(c, m, acc, xb + rdims.off, len);
            if (op == KERN_REDUCE_LOG_SUM_EXP) {
                float sum[ROW];
                for (j = 0; j < len; j++)
                    sum[j] = 0.0f;
                odo_reset(&rdims);
                for (r = 0; r < n_red; r++, odo_step(&rdims))
                    for (j = 0; j < len; j++)
                        sum[j] += kern_expf(xb[rdims.off + j] - acc[j]);
                for (j = 0; j < len; j++)
                    yb[j] = acc[j] + kern_logf(sum[j]);
            } else {
                for (j = 0; j < len; j++)
                    yb[j] = finalize(op, acc[j], count);
            }
        }
    }
    return KERN_OK;
}

/* ------------------------------------------------------------------ Softmax, LogSoftmax */

/* Both view x as [outer, n, inner] and take the n values of each (outer, inner) pair, `inner` apart.
 * The sum of exponentials runs in LANES partial sums: a sequential float sum over a long axis (an OCR
 * head's 18,385 classes) drifts by ~1e-5 of the result, the lanes keep it near onnxruntime's. */

/* Softmax (log_form 0) or LogSoftmax (log_form 1) of every (outer, inner) pair's n values. */
static kern_status softmax_rows(size_t outer, size_t n, size_t inner, const float *x, float *y, int log_form)
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
            const float mx = strided_max(xs, n, inner);
            if (log_form) {
                const float lse = kern_logf(run_store_exp(xs, n, inner, mx, NULL));
                for (i = 0; i < n; i++)
                    ys[i * inner] = (xs[i * inner] - mx) - lse;
            } else {
                const float inv = 1.0f / run_store_exp(xs, n, inner, mx, ys);
                for (i = 0; i < n; i++)
                    ys[i * inner] *= inv;
            }
        }
    return KERN_OK;
}

kern_status kern_softmax(size_t outer, size_t n, size_t inner, const float *x, float *y)
{
    return softmax_rows(outer, n, inner, x, y, 0);
}

kern_status kern_log_softmax(size_t outer, size_t n, size_t inner, const float *x, float *y)
{
    return softmax_rows(outer, n, inner, x, y, 1);
}

/* ------------------------------------------------------------------ normalizations */

/* Mean and 1 / sqrt(variance + epsilon) of x[0..n), two passes. */
static void moments(const float *x, size_t n, float epsilon, float *mean, float *inv_std)
{
    float acc[LANES] = {0}, mu, var;
    size_t i, l;
    mu = run_sum(MAP_ID, x, n) / (float)n;
    for (i = 0; i + LANES <= n; i += LANES)
        for (l = 0; l < LANES; l++) {
            const float dv = x[i + l] - mu;
            acc[l] += dv * dv;
        }
    for (; i < n; i++) {
        const float dv = x[i] - mu;
        acc[i % LANES] += dv * dv;
    }
    var = (((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))) / (float)n;
    *mean = mu;
    *inv_std = 1.0f / kern_sqrtf(var + epsilon);
}

kern_status kern_layer_norm(size_t outer, size_t n, float epsilon, const float *scale, const float *bias,
                            const float *x, float *y, float *mean_out, float *inv_std_out)
{
    size_t total, o, j;
    if (!kmul(outer, n, &total))
        return KERN_EOVERFLOW;
    if (n == 0 || scale == NULL)
        return KERN_EINVAL;
    for (o = 0; o < outer; o++) {
        const float *xr = x + o * n;
        float *yr = y + o * n;
        float mean, inv;
        moments(xr, n, epsilon, &mean, &inv);
        if (mean_out)
            mean_out[o] = mean;
        if (inv_std_out)
            inv_std_out[o] = inv;
        if (bias)
            for (j = 0; j < n; j++)
                yr[j] = (xr[j] - mean) * inv * scale[j] + bias[j];
        else
            for (j = 0; j < n; j++)
                yr[j] = (xr[j] - mean) * inv * scale[j];
    }
    return KERN_OK;
}

kern_status kern_group_norm(size_t batch, size_t groups, size_t cpg, size_t spatial, int per_channel, float epsilon,
                            const float *scale, const float *bias, const float *x, float *y)
{
    size_t total, len, b, g, c, s;
    if (!kmul4(batch, groups, cpg, spatial, &total) || !kmul(cpg, spatial, &len))
        return KERN_EOVERFLOW;
    if (len == 0 || scale == NULL || bias == NULL)
        return KERN_EINVAL;
    for (b = 0; b < batch; b++)
        for (g = 0; g < groups; g++) {
            const size_t base = (b * groups + g) * len;
            float mean, inv;
            moments(x + base, len, epsilon, &mean, &inv);
            for (c = 0; c < cpg; c++) {
                const size_t k = per_channel ? g * cpg + c : g;
                const float sc = inv * scale[k], bi = bias[k];
                const float *xc = x + base + c * spatial;
                float *yc = y + base + c * spatial;
                for (s = 0; s < spatial; s++)
                    yc[s] = (xc[s] - mean) * sc + bi;
            }
        }
    return KERN_OK;
}
