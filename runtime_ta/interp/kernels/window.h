/*
 * window.h - zero-padded, phase-split copies of input rows, for the direct window convolutions
 * (depthwise.c, grouped.c); private to the kernels.
 *
 * A window path (kern_win_path: an undilated square K x K window, K in {3, 5, 7}, column stride S in
 * {1, 2}) copies the input rows its outputs read into a buffer, zero-padded, so that no output is an
 * edge case: a padded tap adds w * 0 = 0, which leaves a sum unchanged (up to the sign of a zero).
 * Each copied row is split into S column phases of P floats, phase p holding padded columns
 * (c0 + j) S + p for j < P (padded column c = input column c - pad_left), so that tap (ki, kj) of
 * output t reads phase kj mod S at index t + kj div S: unit-stride loads at both strides.  Only
 * j in [lo[p], hi[p]) lie inside the input: the columns around them are zeroed once and never written
 * again, so loading a row copies (or, for a row outside the input, zeroes) just that interior.
 */
#ifndef ONNX_TEE_KERNELS_WINDOW_H
#define ONNX_TEE_KERNELS_WINDOW_H

#include <string.h>

#include "internal.h"

/* The column layout of the copied rows of one run of output columns. */
typedef struct {
    size_t S, c0, n, P;      /* column stride, first output column, outputs, phase length n + (K-1) div S */
    size_t lo[2], hi[2];     /* the interior of each phase */
} kern_win_cols;

/* An undilated square K x K window, K in {3, 5, 7}, column stride 1 or 2. */
static inline int kern_win_path(const kern_conv_geom *g)
{
    const size_t k = g->kernel_h;
    return k == g->kernel_w && (k == 3 || k == 5 || k == 7) && g->dilation_h == 1 && g->dilation_w == 1 &&
           (g->stride_w == 1 || g->stride_w == 2);
}

/* The layout of output columns [c0, c0 + n). */
static inline void kern_win_cols_init(const kern_conv_geom *g, size_t c0, size_t n, kern_win_cols *c)
{
    size_t p;
    c->S = g->stride_w;
    c->c0 = c0;
    c->n = n;
    c->P = n + (g->kernel_w - 1) / c->S;
    for (p = 0; p < c->S; p++) /* j in [lo, hi): (c0 + j) S + p lies in [pad_left, pad_left + w_in) */
        kern_valid_range(g->pad_left, c0 * c->S + p, c->S, g->w_in, c->P, &c->lo[p], &c->hi[p]);
}

/* The interior of padded row r's phases into dst (phase p at dst + p * phase): the input's columns
 * (xc: the input channel), or zeros for a row outside the input. */
static inline void kern_win_load_row(const kern_conv_geom *g, const kern_win_cols *c, const float *xc, size_t r,
                                     float *dst, size_t phase)
{
    const int inside = r >= g->pad_top && r - g->pad_top < g->h_in;
    const float *xrow = inside ? xc + (r - g->pad_top) * g->w_in : xc;
    size_t p, j;
    for (p = 0; p < c->S; p++) {
        float *d = dst + p * phase + c->lo[p];
        const size_t len = c->hi[p] - c->lo[p];
        const float *src;
        if (!inside) {
            memset(d, 0, len * sizeof(float));
            continue;
        }
        if (len == 0)
            continue;
        src = xrow + (c->c0 + c->lo[p]) * c->S + p - g->pad_left;
        if (c->S == 1)
            memcpy(d, src, len * sizeof(float));
        else
            for (j = 0; j < len; j++)
                d[j] = src[2 * j];
    }
}

/* The S^2 phase planes of a strip of output rows: plane (pr, pc) at buf + (pr S + pc) plane, its
 * row i holding padded row S (oh0 + i) + pr at pitch P, for i < rows + (K - 1) div S. */
static inline void kern_win_load_strip(const kern_conv_geom *g, const kern_win_cols *c, const float *xc, size_t oh0,
                                       size_t rows, float *buf, size_t plane)
{
    const size_t S = c->S, E = (g->kernel_h - 1) / S;
    size_t pr, i;
    for (pr = 0; pr < S; pr++)
        for (i = 0; i < rows + E; i++)
            kern_win_load_row(g, c, xc, S * (oh0 + i) + pr, buf + pr * S * plane + i * c->P, plane);
}

/* off[ki S + pc] = where row ki's column phase pc of a strip starts in its planes: output q = r P + t
 * of the strip reads tap (ki, kj) at off[ki S + kj mod S] + q + kj div S. */
static inline void kern_win_strip_offsets(size_t K, size_t S, size_t P, size_t plane, size_t *off)
{
    size_t ki, pc;
    for (ki = 0; ki < K; ki++)
        for (pc = 0; pc < S; pc++)
            off[ki * S + pc] = ((ki % S) * S + pc) * plane + (ki / S) * P;
}

#endif /* ONNX_TEE_KERNELS_WINDOW_H */
