/*
 * pool.c - MaxPool, AveragePool (2-D; 1-D as H = 1), GlobalAveragePool, GlobalMaxPool.
 *
 * In padded coordinates output (oh, ow)'s window covers rows oh*s_h + i*d_h, i < k_h.  Each output row
 * is built one window tap at a time over the span of outputs where that tap is real (a unit-stride
 * span vectorises), then averages divide by their window's count.  MaxPool rows up to POOL_ROW columns
 * are separable instead: the maximum down the window rows of each input column first, then along the
 * row.  The tap spans and the interior rows are found once per call.  Real cells are
 * rows in [pad_top, pad_top + h_in); with count_include_pad the divisor counts the window's cells inside
 * [0, pad_top + h_in + pad_bottom) (so a ceil_mode window hanging past the end pad is clipped, as in
 * onnxruntime), otherwise only real cells.  MaxPool over int8 / uint8 (kern_max_pool_q) takes each
 * window's largest real tap directly.
 * GlobalAveragePool is ReduceMean over the spatial dims (reduce.c: 8-lane partial sums, vectorised);
 * GlobalMaxPool the largest non-NaN value of each plane, from -FLT_MAX.
 */
#include <float.h>

#include "internal.h"

/* Window columns whose output span [lo, hi) is computed once per call rather than once per output row. */
#define POOL_TAPS 16
/* MaxPool rows up to POOL_ROW floats take the separable path (a column maximum on the stack, 1 KiB). */
#define POOL_ROW 256

/* One MaxPool output row (yrow holds -FLT_MAX): the maximum down the window's real rows [ilo, ihi) of
 * every input column first (unit stride, vectorised), then along each window column j over the outputs
 * where it is real ([tap_lo[j], tap_hi[j])).  Every max is "v > acc ? v : acc" from -FLT_MAX, so the
 * result is the largest non-NaN value of the window, as tap by tap. */
static void max_row_separable(const kern_conv_geom *g, const float *xp, size_t ilo, size_t ihi, size_t hs,
                              const size_t *tap_lo, const size_t *tap_hi, float *yrow)
{
    float col[POOL_ROW];
    size_t i, j, c, t;
    if (ilo >= ihi)
        return;
    for (c = 0; c < g->w_in; c++)
        col[c] = -FLT_MAX;
    for (i = ilo; i < ihi; i++) {
        const float *xrow = xp + (hs + i * g->dilation_h - g->pad_top) * g->w_in;
        for (c = 0; c < g->w_in; c++)
            col[c] = xrow[c] > col[c] ? xrow[c] : col[c];
    }
    for (j = 0; j < g->kernel_w; j++) {
        const size_t off = j * g->dilation_w;
        if (g->stride_w == 1) {
            const float *cs = col + (tap_lo[j] + off - g->pad_left);
            for (t = 0; t < tap_hi[j] - tap_lo[j]; t++)
                yrow[tap_lo[j] + t] = cs[t] > yrow[tap_lo[j] + t] ? cs[t] : yrow[tap_lo[j] + t];
        } else {
            for (t = tap_lo[j]; t < tap_hi[j]; t++) {
                const float v = col[t * g->stride_w + off - g->pad_left];
                yrow[t] = v > yrow[t] ? v : yrow[t];
            }
        }
    }
}

/* A pool's geometry: positive kernel, strides, dilations; element counts and window positions far
 * from SIZE_MAX (bounded by out*stride + k*dilation); *planes = batch * c_in. */
static kern_status pool_check(const kern_conv_geom *g, size_t *planes)
{
    size_t xn, yn, a, b2;
    if (g->kernel_h == 0 || g->kernel_w == 0 || g->stride_h == 0 || g->stride_w == 0 || g->dilation_h == 0 ||
        g->dilation_w == 0)
        return KERN_EINVAL;
    if (!kmul(g->batch, g->c_in, planes) || !kmul3(*planes, g->h_in, g->w_in, &xn) ||
        !kmul3(*planes, g->h_out, g->w_out, &yn))
        return KERN_EOVERFLOW;
    if (!kmul(g->h_out, g->stride_h, &a) || !kmul(g->kernel_h, g->dilation_h, &b2) || a > SIZE_MAX / 4 ||
        b2 > SIZE_MAX / 4 || g->pad_top > SIZE_MAX / 4 || g->pad_bottom > SIZE_MAX / 4 || g->h_in > SIZE_MAX / 4)
        return KERN_EOVERFLOW;
    if (!kmul(g->w_out, g->stride_w, &a) || !kmul(g->kernel_w, g->dilation_w, &b2) || a > SIZE_MAX / 4 ||
        b2 > SIZE_MAX / 4 || g->pad_left > SIZE_MAX / 4 || g->pad_right > SIZE_MAX / 4 || g->w_in > SIZE_MAX / 4)
        return KERN_EOVERFLOW;
    return KERN_OK;
}

kern_status kern_pool(kern_pool_kind kind, int count_include_pad, const kern_conv_geom *g, const float *x, float *y)
{
    size_t planes, pl, oh, ow, i, j, in_lo, in_hi, rows_lo, rows_hi;
    size_t tap_lo[POOL_TAPS], tap_hi[POOL_TAPS];
    kern_status st;
    if (kind != KERN_POOL_MAX && kind != KERN_POOL_AVG)
        return KERN_EINVAL;
    st = pool_check(g, &planes);
    if (st != KERN_OK)
        return st;
    /* outputs whose window lies inside the real input along w (all kernel_w taps real):
     * pad_left <= ow * stride_w and ow * stride_w + span - 1 < pad_left + w_in */
    {
        const size_t span = (g->kernel_w - 1) * g->dilation_w + 1;
        kern_valid_range(g->pad_left, 0, g->stride_w, g->w_in >= span ? g->w_in - span + 1 : 0, g->w_out, &in_lo,
                         &in_hi);
    }
    /* likewise the output rows whose window rows are all real */
    {
        const size_t span = (g->kernel_h - 1) * g->dilation_h + 1;
        kern_valid_range(g->pad_top, 0, g->stride_h, g->h_in >= span ? g->h_in - span + 1 : 0, g->h_out, &rows_lo,
                         &rows_hi);
    }
    /* the outputs where window column j is real */
    for (j = 0; j < g->kernel_w && j < POOL_TAPS; j++)
        kern_valid_range(g->pad_left, j * g->dilation_w, g->stride_w, g->w_in, g->w_out, &tap_lo[j], &tap_hi[j]);
    for (pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * g->h_in * g->w_in;
        float *yp = y + pl * g->h_out * g->w_out;
        for (oh = 0; oh < g->h_out; oh++) {
            const size_t hs = oh * g->stride_h;
            float *yrow = yp + oh * g->w_out;
            size_t ilo = 0, ihi = g->kernel_h, plo = 0, phi = g->kernel_h;
            if (oh < rows_lo || oh >= rows_hi) {
                kern_valid_range(g->pad_top, hs, g->dilation_h, g->h_in, g->kernel_h, &ilo, &ihi);
                kern_valid_range(0, hs, g->dilation_h, g->pad_top + g->h_in + g->pad_bottom, g->kernel_h, &plo, &phi);
            }
            for (ow = 0; ow < g->w_out; ow++)
                yrow[ow] = kind == KERN_POOL_MAX ? -FLT_MAX : 0.0f;
            if (kind == KERN_POOL_MAX && g->w_in <= POOL_ROW && g->kernel_w <= POOL_TAPS) {
                max_row_separable(g, xp, ilo, ihi, hs, tap_lo, tap_hi, yrow);
                continue;
            }
            /* one window tap (i, j) at a time over the output row's span where it is real */
            for (i = ilo; i < ihi; i++) {
                const float *xrow = xp + (hs + i * g->dilation_h - g->pad_top) * g->w_in;
                for (j = 0; j < g->kernel_w; j++) {
                    const size_t off = j * g->dilation_w;
                    size_t lo, hi, t;
                    if (j < POOL_TAPS) {
                        lo = tap_lo[j];
                        hi = tap_hi[j];
                    } else {
                        kern_valid_range(g->pad_left, off, g->stride_w, g->w_in, g->w_out, &lo, &hi);
                    }
                    if (kind == KERN_POOL_MAX) {
                        if (g->stride_w == 1) {
                            const float *xs = xrow + (lo + off - g->pad_left);
                            for (t = 0; t < hi - lo; t++)
                                yrow[lo + t] = xs[t] > yrow[lo + t] ? xs[t] : yrow[lo + t];
                        } else {
                            for (t = lo; t < hi; t++) {
                                const float v = xrow[t * g->stride_w + off - g->pad_left];
                                yrow[t] = v > yrow[t] ? v : yrow[t];
                            }
                        }
                    } else if (g->stride_w == 1) {
                        const float *xs = xrow + (lo + off - g->pad_left);
                        for (t = 0; t < hi - lo; t++)
                            yrow[lo + t] += xs[t];
                    } else {
                        for (t = lo; t < hi; t++)
                            yrow[t] += xrow[t * g->stride_w + off - g->pad_left];
                    }
                }
            }
            if (kind == KERN_POOL_AVG) {
                /* divisor: taps per window, constant in the interior [in_lo, in_hi) */
                const size_t rows = count_include_pad ? phi - plo : ihi - ilo;
                for (ow = 0; ow < g->w_out; ow++) {
                    size_t cols = g->kernel_w, cnt;
                    if (ow < in_lo || ow >= in_hi) {
                        size_t jlo, jhi;
                        if (count_include_pad)
                            kern_valid_range(0, ow * g->stride_w, g->dilation_w, g->pad_left + g->w_in + g->pad_right,
                                             g->kernel_w, &jlo, &jhi);
                        else
                            kern_valid_range(g->pad_left, ow * g->stride_w, g->dilation_w, g->w_in, g->kernel_w, &jlo,
                                             &jhi);
                        cols = jhi - jlo;
                    }
                    cnt = rows * cols;
                    yrow[ow] = cnt ? yrow[ow] / (float)cnt : 0.0f;
                }
            }
        }
    }
    return KERN_OK;
}

kern_status kern_max_pool_q(kern_qtype t, const kern_conv_geom *g, const void *x, void *y)
{
    size_t planes, pl, oh, ow, i, j, ilo, ihi, jlo, jhi;
    kern_status st = t == KERN_UINT8 || t == KERN_INT8 ? pool_check(g, &planes) : KERN_EINVAL;
    if (st != KERN_OK)
        return st;
    for (pl = 0; pl < planes; pl++) {
        const size_t xp = pl * g->h_in * g->w_in, yp = pl * g->h_out * g->w_out;
        for (oh = 0; oh < g->h_out; oh++) {
            kern_valid_range(g->pad_top, oh * g->stride_h, g->dilation_h, g->h_in, g->kernel_h, &ilo, &ihi);
            for (ow = 0; ow < g->w_out; ow++) {
                int32_t acc = kern_qmin(t);
                kern_valid_range(g->pad_left, ow * g->stride_w, g->dilation_w, g->w_in, g->kernel_w, &jlo, &jhi);
                for (i = ilo; i < ihi; i++) {
                    const size_t row = xp + (oh * g->stride_h + i * g->dilation_h - g->pad_top) * g->w_in;
                    for (j = jlo; j < jhi; j++) {
                        const int32_t v = kern_qload(t, x, row + ow * g->stride_w + j * g->dilation_w - g->pad_left);
                        acc = v > acc ? v : acc;
                    }
                }
                if (t == KERN_UINT8)
                    ((uint8_t *)y)[yp + oh * g->w_out + ow] = (uint8_t)acc;
                else
                    ((int8_t *)y)[yp + oh * g->w_out + ow] = (int8_t)acc;
            }
        }
    }
    return KERN_OK;
}

kern_status kern_global_pool(kern_pool_kind kind, size_t planes, size_t spatial, const float *x, float *y)
{
    size_t total, p, s;
    if (kind != KERN_POOL_MAX && kind != KERN_POOL_AVG)
        return KERN_EINVAL;
    if (!kmul(planes, spatial, &total))
        return KERN_EOVERFLOW;
    if (kind == KERN_POOL_AVG && total > 0) { /* ReduceMean over the spatial dims: 8-lane partial sums */
        kern_shape shape;
        shape.rank = 2;
        shape.dim[0] = planes;
        shape.dim[1] = spatial;
        return kern_reduce(KERN_REDUCE_MEAN, &shape, 2u, x, y);
    }
    for (p = 0; p < planes; p++) {
        const float *xp = x + p * spatial;
        float acc = kind == KERN_POOL_MAX ? -FLT_MAX : 0.0f;
        for (s = 0; s < spatial; s++) {
            if (kind == KERN_POOL_MAX)
                acc = xp[s] > acc ? xp[s] : acc;
            else
                acc += xp[s];
        }
        y[p] = kind == KERN_POOL_AVG && spatial ? acc / (float)spatial : acc;
    }
    return KERN_OK;
}
