/*
 * grouped.c - grouped convolution (group > 1, c_in / group > 1, at most GW_MAX_COUT_G outputs per
 * group) on a window path: the GEMM engine fed from zero-padded, phase-split input rows instead of
 * im2col tiles.
 *
 * Per group, Y_g[cout_g, q] = W_g[cout_g, K] B[K, q] + b with K = cin_g kh kw in (ci, ki, kj) order, as
 * on conv.c's im2col path; only B is built differently.  The input rows a strip of output rows reads
 * are copied once per strip, zero-padded and phase-split (window.h), for every input channel of the
 * group; B's row (ci, ki, kj) over the strip's positions q = r P + t is then the contiguous run
 * planes(ci) + off(ki, kj) + q, so each KERN_NR-column panel of B is a copy of K runs (not the
 * per-output-row segments, clipping and zero fills of an im2col tile, which cost several times the
 * GEMM itself when cout_g is 8 or 16).  The panels go to kern_gemm_packed_acc, K in blocks of
 * KERN_KC as on the im2col path: the same micro-kernels and the same sums, so the same floats bit for
 * bit.  Strip positions t >= w_out of each row are computed and dropped, as in the depthwise strips.
 *
 * Scratch: the bytes kern_scratch_bytes_conv grants the im2col path (no more) hold the strip's
 * planes, one packed panel and the strip's outputs; a layer whose strip of a single row does not fit
 * takes the im2col path.
 */
#include <string.h>

#include "window.h"

/* Groups of more output channels than this keep the im2col path: its 128-pixel blocks reuse each
 * weight row over 4x the columns of a panel here (measured: 32 and fewer gain 1.2-2.4x, 64 and more
 * lose 2-20%, e.g. AlexNet's two groups of 128 and 192). */
#define GW_MAX_COUT_G 32

/* The strip geometry: output rows per strip, the floats of one input channel's S^2 planes (each
 * (rows + E) P + E: window.h), and where the panel and the outputs start in scratch. */
typedef struct {
    size_t rows, plane, cstride, panel, out;
} gw_strip;

/* The tallest strip whose planes (cin_g S^2 of them), panel (kb x KERN_NR) and outputs
 * (cout_g x rows P) fit `avail` floats; rows 0 when not even one row does. */
static gw_strip gw_plan(const kern_conv_geom *g, size_t cin_g, size_t cout_g, size_t kb, size_t P, size_t avail)
{
    const size_t S = g->stride_w, E = (g->kernel_h - 1) / S;
    const size_t base = cin_g * S * S * (E * P + E) + kb * KERN_NR, per_row = P * (cin_g * S * S + cout_g);
    gw_strip st;
    st.rows = base >= avail ? 0 : kmin((avail - base) / per_row, g->h_out);
    st.plane = (st.rows + E) * P + E;
    st.cstride = S * S * st.plane;
    st.panel = cin_g * st.cstride;
    st.out = st.panel + kb * KERN_NR;
    return st;
}

/* Rows [k0, k0 + kb) x strip positions [q0, q0 + nb) of B into one packed panel (KERN_NR floats a row,
 * zero past nb): row k = (ci, ki, kj) is planes + ci cstride + toff[ki kw + kj] + q0 onwards. */
static void gw_pack(const float *planes, size_t cstride, const size_t *toff, size_t taps, size_t k0, size_t kb,
                    size_t q0, size_t nb, float *panel)
{
    size_t k, j, t = k0 % taps;                                 /* row k0 + k = (ci, t): no division per row */
    const float *channel = planes + (k0 / taps) * cstride + q0;
    for (k = 0; k < kb; k++) {
        const float *src = channel + toff[t];
        float *dst = panel + k * KERN_NR;
        if (nb == KERN_NR) { /* a full panel: a fixed-length copy */
            for (j = 0; j < KERN_NR; j++)
                dst[j] = src[j];
        } else {
            for (j = 0; j < nb; j++)
                dst[j] = src[j];
            for (; j < KERN_NR; j++)
                dst[j] = 0.0f;
        }
        if (++t == taps) {
            t = 0;
            channel += cstride;
        }
    }
}

int kern_grouped(const kern_conv_geom *g, const kern_unary_attr *act, const float *xb, const float *w,
                 const float *bias, float *yb, float *scratch)
{
    const size_t cin_g = g->c_in / g->group, cout_g = g->c_out / g->group, K = g->kernel_h, S = g->stride_w;
    const size_t taps = K * K, kdim = cin_g * taps, hw_in = g->h_in * g->w_in, pix = g->h_out * g->w_out;
    size_t off[7 * 2], toff[7 * 7], grp, ci, oh0, q0, k0, r, i, ki, kj;
    kern_win_cols cols;
    gw_strip st;
    if (g->group < 2 || cin_g < 2 || cout_g > GW_MAX_COUT_G || !kern_win_path(g) || g->stride_h != S)
        return 0;
    kern_win_cols_init(g, 0, g->w_out, &cols);
    st = gw_plan(g, cin_g, cout_g, kmin(kdim, KERN_KC), cols.P, kern_scratch_bytes_conv(g) / sizeof(float));
    if (st.rows == 0)
        return 0;
    memset(scratch, 0, st.panel * sizeof(float)); /* the planes' zero columns stay zero (window.h) */
    kern_win_strip_offsets(K, S, cols.P, st.plane, off);
    for (ki = 0; ki < K; ki++)
        for (kj = 0; kj < K; kj++)
            toff[ki * K + kj] = off[ki * S + kj % S] + kj / S;
    for (grp = 0; grp < g->group; grp++) {
        const float *xg = xb + grp * cin_g * hw_in, *wg = w + grp * cout_g * kdim;
        const float *init = bias ? bias + grp * cout_g : NULL;
        float *yg = yb + grp * cout_g * pix, *out = scratch + st.out;
        for (oh0 = 0; oh0 < g->h_out; oh0 += st.rows) {
            const size_t rows = kmin(st.rows, g->h_out - oh0), n = rows * cols.P;
            for (ci = 0; ci < cin_g; ci++)
                kern_win_load_strip(g, &cols, xg + ci * hw_in, oh0, rows, scratch + ci * st.cstride, st.plane);
            if (!init)
                memset(out, 0, cout_g * n * sizeof(float));
            for (q0 = 0; q0 < n; q0 += KERN_NR) {
                const size_t nb = kmin(KERN_NR, n - q0);
                for (k0 = 0; k0 < kdim; k0 += KERN_KC) {
                    const size_t kb = kmin(KERN_KC, kdim - k0);
                    gw_pack(scratch, st.cstride, toff, taps, k0, kb, q0, nb, scratch + st.panel);
                    kern_gemm_packed_acc(cout_g, nb, kb, wg + k0, kdim, 1, scratch + st.panel, out + q0, n,
                                         k0 == 0 ? init : NULL);
                }
            }
            for (r = 0; r < cout_g; r++) {
                float *yo = yg + r * pix + oh0 * g->w_out;
                for (i = 0; i < rows; i++)
                    memcpy(yo + i * g->w_out, out + r * n + i * cols.P, g->w_out * sizeof(float));
                if (act)
                    kern_unary(act, yo, yo, rows * g->w_out);
            }
        }
    }
    return 1;
}
