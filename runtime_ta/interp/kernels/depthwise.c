/*
 * depthwise.c - depthwise convolution (c_in / group == 1), direct; scratch only for dilated windows (below).
 *
 * Output channel oc reads input channel ic = oc / (c_out / group) alone:
 *   y[oc, oh, t] = b[oc] + sum_{ki, kj} w[oc, ki, kj] x[ic, oh sh + ki dh - pad_top, t sw + kj dw - pad_left]
 * over the taps that fall inside the input, added in (ki, kj) row-major order starting from the bias:
 * every path below computes this same float sequence per output.
 *
 * Window paths (kern_win_path: undilated square K x K windows, K in {3, 5, 7}, column stride S in
 * {1, 2}): the input rows a channel reads are copied, zero-padded and split into S column phases
 * (window.c), into a stack buffer, so that no output is an edge case (a padded tap adds w * 0 = 0,
 * which leaves the sum unchanged up to the sign of a zero) and tap (ki, kj) of output t reads phase
 * kj mod S at index t + kj div S: unit-stride loads at both strides.  dw_span then computes a run of outputs in one vector loop with the K^2 taps unrolled
 * (instantiated per (K, S)):
 * - strips (row stride == S, and at least DW_STRIP_MIN output rows or the whole channel fit): the
 *   strip's input rows are also split into S row phases, every phase plane at pitch
 *   P = w_out + (K - 1) div S; output q = r P + t of the strip reads plane (ki mod S, kj mod S) at
 *   q + (ki div S) P + kj div S, so the whole strip is one long vector loop (the positions t >= w_out
 *   of each row are computed and dropped) and 7x7 or 14x14 maps still fill whole vectors;
 * - rows (any row stride; wide maps): a ring of K padded rows, each loaded once per column chunk of
 *   at most the ring's width, and one vector loop per output row and chunk.
 * Dilated windows at stride 1 whose zero-padded plane fits the scratch (kern_dw_dilated_scratch: at most
 * KERN_DW_DIL_MAX floats with its outputs) copy each channel into that plane once; every output is then
 * interior, and each tap is one vector loop over the whole plane at the padded pitch Wp (outputs
 * q = oh Wp + t, the positions t >= w_out computed and dropped), tap (ki, kj) reading q + ki dh Wp + kj dw.
 * Every other window (other sizes, column stride > 2, or a ring too narrow for a single output) sums
 * each output's real taps, with the edge tap ranges computed once per call, the interior outputs of a
 * row a tap at a time.
 */
#include <string.h>

#include "window.h"

/* The NEON span (below): AArch64 builds under gcc-compatible compilers (its loads are inline asm),
 * unless KERN_SCALAR_PATHS asks for the portable code alone (tests/test_aarch64_neon.py). */
#if defined(__ARM_NEON) && defined(__GNUC__) && !defined(KERN_SCALAR_PATHS)
#define DW_NEON 1
#include <arm_neon.h>
#else
#define DW_NEON 0
#endif

/* The window paths' stack buffer: copied input rows (and a strip's outputs), 1.44 KiB. */
#define DW_BUF 368
/* A strip is taken when it holds at least this many output rows (or the whole channel). */
#define DW_STRIP_MIN 2
/* The activation is applied to runs of finished channels of at least this many outputs (16 KiB:
 * still in cache, and few calls for small maps). */
#define DW_ACT_RUN 4096

/* ---------------------------------------------------------------------------- the window paths */

/* Kernel rows one pass of dw_span adds (at most 3 x 7 = 21 weights held in registers). */
#define DW_PASS_ROWS 3

/* y[t] = b + sum_{ki, kj} w[ki K + kj] in[off[ki S + kj mod S] + t + kj div S] for t < n, the taps in
 * (ki, kj) order.  off[ki S + p] is where row ki's column phase p starts in `in`.  The kernel rows
 * are added DW_PASS_ROWS at a time, each pass continuing from the float the last one stored (which
 * changes no value).  K and S are constants at every call, so the tap loops unroll and the t loops
 * vectorise. */
static KERN_INLINE void dw_span(const size_t K, const size_t S, const float *restrict in, const size_t *off,
                                const float *restrict w, float b, float *restrict y, size_t n)
{
    size_t t, r0, ki, kj;
    KERN_UNROLL
    for (r0 = 0; r0 < K; r0 += DW_PASS_ROWS) {
        const size_t r1 = r0 + DW_PASS_ROWS < K ? r0 + DW_PASS_ROWS : K;
        for (t = 0; t < n; t++) {
            float acc = r0 == 0 ? b : y[t];
            KERN_UNROLL
            for (ki = r0; ki < r1; ki++)
                KERN_UNROLL
                for (kj = 0; kj < K; kj++)
                    acc += w[ki * K + kj] * in[off[ki * S + kj % S] + t + kj / S];
            y[t] = acc;
        }
    }
}

#if DW_NEON
/* LD1 / ST1 of four floats need only element alignment, also with alignment checking on; under the
 * TA's -mstrict-align gcc splits vld1q_f32 / vst1q_f32 of an address it cannot prove 16-byte aligned
 * into four scalar moves each, so the span says LD1 / ST1 itself. */
static KERN_INLINE float32x4_t dw_ld4(const float *p)
{
    float32x4_t v;
    __asm__("ld1 {%0.4s}, %1" : "=w"(v) : "Q"(*(const float(*)[4])p));
    return v;
}

static KERN_INLINE void dw_st4(float *p, float32x4_t v)
{
    __asm__("st1 {%1.4s}, %0" : "=Q"(*(float(*)[4])p) : "w"(v));
}

/* AArch64: dw_span four outputs per NEON vector.  The TA is built with -mstrict-align, under which
 * gcc does not vectorise dw_span's loop (its tap loads have run-time misalignments it cannot peel
 * for all at once); LD1 needs only element alignment, so the span loads them as they are.  Each
 * lane adds the taps in the same (ki, kj) order as dw_span, fused (vfmaq_f32) as gcc contracts
 * dw_span's `acc += w * x` under internal.h's fp-contract=fast: the same floats bit for bit
 * (tests/test_aarch64_neon.py); the n mod 4 last outputs take dw_span's own loop. */
static KERN_INLINE void dw_span_neon(const size_t K, const size_t S, const float *restrict in, const size_t *off,
                                     const float *restrict w, float b, float *restrict y, size_t n)
{
    const size_t n4 = n - n % 4;
    size_t t, r0, ki, kj;
    for (r0 = 0; r0 < K; r0 += DW_PASS_ROWS) {
        const size_t r1 = r0 + DW_PASS_ROWS < K ? r0 + DW_PASS_ROWS : K;
        const float *tap[DW_PASS_ROWS * 7]; /* where tap (ki, kj) of the pass reads for output 0 */
        for (ki = r0; ki < r1; ki++)
            for (kj = 0; kj < K; kj++)
                tap[(ki - r0) * K + kj] = in + off[ki * S + kj % S] + kj / S;
        for (ki = r1 - r0; ki < DW_PASS_ROWS; ki++)   /* rows past K: never read, set for the compiler */
            for (kj = 0; kj < K; kj++)
                tap[ki * K + kj] = in;
        for (t = 0; t < n4; t += 4) {
            float32x4_t acc = r0 == 0 ? vdupq_n_f32(b) : dw_ld4(y + t);
            KERN_UNROLL
            for (ki = r0; ki < r1; ki++)
                KERN_UNROLL
                for (kj = 0; kj < K; kj++)
                    acc = vfmaq_n_f32(acc, dw_ld4(tap[(ki - r0) * K + kj] + t), w[ki * K + kj]);
            dw_st4(y + t, acc);
        }
    }
    if (n4 < n) {
        size_t o[7 * 2], i;
        for (i = 0; i < K * S; i++)
            o[i] = off[i] + n4;
        dw_span(K, S, in, o, w, b, y + n4, n - n4);
    }
}
#define DW_SPAN dw_span_neon
#else
#define DW_SPAN dw_span
#endif

/* dw_span for the run-time (k, s) of a window path: one function per instantiation (each its own
 * small frame). */
#define DW_SPAN_FN(K, S) \
    static KERN_NOINLINE void dw_span_##K##_##S(const float *in, const size_t *off, const float *w, float b, \
                                                float *y, size_t n) \
    { \
        DW_SPAN(K, S, in, off, w, b, y, n); \
    }
DW_SPAN_FN(3, 1) DW_SPAN_FN(3, 2) DW_SPAN_FN(5, 1) DW_SPAN_FN(5, 2) DW_SPAN_FN(7, 1) DW_SPAN_FN(7, 2)
#undef DW_SPAN_FN

static void dw_span_ks(size_t k, size_t s, const float *in, const size_t *off, const float *w, float b, float *y,
                       size_t n)
{
    if (k == 3)
        (s == 1 ? dw_span_3_1 : dw_span_3_2)(in, off, w, b, y, n);
    else if (k == 5)
        (s == 1 ? dw_span_5_1 : dw_span_5_2)(in, off, w, b, y, n);
    else
        (s == 1 ? dw_span_7_1 : dw_span_7_2)(in, off, w, b, y, n);
}

/* Output rows per strip: S^2 planes of (rows + E) P + E floats plus rows P outputs fit DW_BUF
 * (E = (K - 1) div S); 0 if not even one row does. */
static size_t dw_strip_rows(size_t k, size_t s, size_t w_out)
{
    const size_t e = (k - 1) / s, p = w_out + e, fixed = s * s * (e * p + e);
    return fixed >= DW_BUF ? 0 : (DW_BUF - fixed) / (p * (s * s + 1));
}

/* One channel, a strip of rows_max output rows at a time (see the file comment): buf holds the S^2
 * planes, each of (rows_max + E) P + E floats whatever the strip's height (so their zero columns
 * stay in place from one strip and channel to the next), then the strip's outputs. */
static KERN_NOINLINE void dw_strips(const kern_conv_geom *g, const kern_win_cols *c, size_t rows_max, float *buf,
                                    const float *xc, const float *wc, float b, float *yc)
{
    const size_t K = g->kernel_h, S = c->S, E = (K - 1) / S, P = c->P, plane = (rows_max + E) * P + E;
    float *out = buf + S * S * plane;
    size_t off[7 * 2], oh0, r;
    kern_win_strip_offsets(K, S, P, plane, off);
    for (oh0 = 0; oh0 < g->h_out; oh0 += rows_max) {
        const size_t rows = kmin(rows_max, g->h_out - oh0);
        kern_win_load_strip(g, c, xc, oh0, rows, buf, plane);
        dw_span_ks(K, S, buf, off, wc, b, out, rows * P);
        for (r = 0; r < rows; r++)
            memcpy(yc + (oh0 + r) * g->w_out, out + r * P, g->w_out * sizeof(float));
    }
}

/* Output columns per chunk of the ring path: K rows of S phases of chunk + E floats fit DW_BUF. */
static size_t dw_ring_cols(size_t k, size_t s)
{
    const size_t e = (k - 1) / s, p = DW_BUF / (k * s);
    return p > e ? p - e : 0;
}

/* One channel's columns c of every output row, the K padded rows a row reads held in a ring in buf
 * (padded row r in slot r mod K, each slot S phases of P floats), each row loaded once. */
static KERN_NOINLINE void dw_rows(const kern_conv_geom *g, const kern_win_cols *c, float *buf, const float *xc,
                                  const float *wc, float b, float *yc)
{
    const size_t K = g->kernel_h, S = c->S, P = c->P, slot = S * P;
    size_t off[7 * 2], loaded = 0, oh, r, ki, pc; /* padded rows [first row of the window, loaded) are in */
    for (oh = 0; oh < g->h_out; oh++) {
        const size_t first = oh * g->stride_h;
        for (r = first > loaded ? first : loaded; r < first + K; r++)
            kern_win_load_row(g, c, xc, r, buf + (r % K) * slot, P);
        loaded = first + K;
        for (ki = 0; ki < K; ki++)
            for (pc = 0; pc < S; pc++)
                off[ki * S + pc] = ((first + ki) % K) * slot + pc * P;
        dw_span_ks(K, S, buf, off, wc, b, yc + oh * g->w_out + c->c0, c->n);
    }
}

/* ------------------------------------------------------------------------------ the general path */

/* Outputs whose window sticks out of the input (the first and last few along an axis) have their
 * real tap range [lo, hi) computed once per call, not once per channel: at most DW_EDGE_MAX on each
 * side (wider pads fall back to computing it per output). */
#define DW_EDGE_MAX 8

typedef struct {
    size_t full_lo, full_hi; /* outputs in [full_lo, full_hi) have all k taps real */
    size_t n;                /* outputs along the axis */
    size_t pad, stride, dilation, in, k;
    size_t lo[2 * DW_EDGE_MAX], hi[2 * DW_EDGE_MAX]; /* tap ranges of the first / last edge outputs */
    int cached;
} dw_axis;

static void dw_axis_init(dw_axis *a, size_t pad, size_t stride, size_t dilation, size_t in, size_t k, size_t n)
{
    const size_t span = (k - 1) * dilation + 1;
    size_t o, e = 0;
    a->n = n;
    a->pad = pad;
    a->stride = stride;
    a->dilation = dilation;
    a->in = in;
    a->k = k;
    kern_valid_range(pad, 0, stride, in >= span ? in - span + 1 : 0, n, &a->full_lo, &a->full_hi);
    if (a->full_hi <= a->full_lo) /* no output has every tap real: one edge range [0, n) */
        a->full_lo = a->full_hi = n;
    a->cached = a->full_lo <= DW_EDGE_MAX && n - a->full_hi <= DW_EDGE_MAX;
    if (!a->cached)
        return;
    for (o = 0; o < a->full_lo; o++, e++)
        kern_valid_range(pad, o * stride, dilation, in, k, &a->lo[e], &a->hi[e]);
    for (o = a->full_hi; o < n; o++, e++)
        kern_valid_range(pad, o * stride, dilation, in, k, &a->lo[e], &a->hi[e]);
}

/* The real taps [*lo, *hi) of output o along the axis. */
static void dw_taps(const dw_axis *a, size_t o, size_t *lo, size_t *hi)
{
    if (o >= a->full_lo && o < a->full_hi) {
        *lo = 0;
        *hi = a->k;
    } else if (a->cached) {
        const size_t e = o < a->full_lo ? o : a->full_lo + (o - a->full_hi);
        *lo = a->lo[e];
        *hi = a->hi[e];
    } else {
        kern_valid_range(a->pad, o * a->stride, a->dilation, a->in, a->k, lo, hi);
    }
}

/* Output (oh, t) of one channel from its real taps [ilo, ihi) x dw_taps(cols, t). */
static float dw_output(const kern_conv_geom *g, const dw_axis *cols, const float *xc, const float *wc, float b,
                       size_t oh, size_t ilo, size_t ihi, size_t t)
{
    const size_t ws = t * g->stride_w;
    float acc = b;
    size_t ki, kj, jlo, jhi;
    dw_taps(cols, t, &jlo, &jhi);
    for (ki = ilo; ki < ihi; ki++) {
        const float *xrow = xc + (oh * g->stride_h + ki * g->dilation_h - g->pad_top) * g->w_in;
        for (kj = jlo; kj < jhi; kj++)
            acc += wc[ki * g->kernel_w + kj] * xrow[ws + kj * g->dilation_w - g->pad_left];
    }
    return acc;
}

/* y[t] += w x[t s] for t < n: one tap over a run of outputs (a vector loop at s = 1). */
static void dw_add_tap(float *restrict y, const float *restrict x, size_t n, size_t s, float w)
{
    size_t t;
    if (s == 1)
        for (t = 0; t < n; t++)
            y[t] += w * x[t];
    else
        for (t = 0; t < n; t++)
            y[t] += w * x[t * s];
}

/* One channel of the general path: the outputs whose columns have every tap real sum them without
 * range checks, a tap at a time over the row's run of them (each output still adds the bias, then its
 * taps in (ki, kj) order: the same floats), the others their real taps only. */
static void dw_general(const kern_conv_geom *g, const dw_axis *rows, const dw_axis *cols, const float *xc,
                       const float *wc, float b, float *yc)
{
    const size_t W = g->w_in, sw = g->stride_w, pl = g->pad_left;
    size_t oh, ki, kj, t;
    for (oh = 0; oh < g->h_out; oh++) {
        float *yrow = yc + oh * g->w_out;
        size_t ilo, ihi;
        dw_taps(rows, oh, &ilo, &ihi);
        for (t = 0; t < cols->full_lo; t++)
            yrow[t] = dw_output(g, cols, xc, wc, b, oh, ilo, ihi, t);
        for (t = cols->full_hi; t < g->w_out; t++)
            yrow[t] = dw_output(g, cols, xc, wc, b, oh, ilo, ihi, t);
        if (cols->full_hi <= cols->full_lo)
            continue;
        for (t = cols->full_lo; t < cols->full_hi; t++)
            yrow[t] = b;
        for (ki = ilo; ki < ihi; ki++) {
            const float *xrow = xc + (oh * g->stride_h + ki * g->dilation_h - g->pad_top) * W;
            for (kj = 0; kj < g->kernel_w; kj++)   /* output full_lo's tap kj reads column full_lo sw + kj dw - pl */
                dw_add_tap(yrow + cols->full_lo, xrow + (cols->full_lo * sw + kj * g->dilation_w - pl),
                           cols->full_hi - cols->full_lo, sw, wc[ki * g->kernel_w + kj]);
        }
    }
}

/* ---------------------------------------------------------------------------------- the channels */

/* The activation, if any, on the channels [done, oc] once they hold at least DW_ACT_RUN outputs or
 * oc is the last; returns the first channel it has not been applied to. */
static size_t dw_activate(const kern_conv_geom *g, const kern_unary_attr *act, float *yb, size_t done, size_t oc)
{
    const size_t pix = g->h_out * g->w_out;
    if (act == NULL || ((oc + 1 - done) * pix < DW_ACT_RUN && oc + 1 < g->c_out))
        return done;
    kern_unary(act, yb + done * pix, yb + done * pix, (oc + 1 - done) * pix);
    return oc + 1;
}

/* Every channel on the general path (the edge tap ranges computed once). */
static KERN_NOINLINE void dw_general_channels(const kern_conv_geom *g, const kern_unary_attr *act, const float *xb,
                                              const float *w, const float *bias, float *yb)
{
    const size_t mult = g->c_out / g->group, khw = g->kernel_h * g->kernel_w, pix = g->h_out * g->w_out;
    dw_axis rows, cols;
    size_t oc, done = 0;
    dw_axis_init(&rows, g->pad_top, g->stride_h, g->dilation_h, g->h_in, g->kernel_h, g->h_out);
    dw_axis_init(&cols, g->pad_left, g->stride_w, g->dilation_w, g->w_in, g->kernel_w, g->w_out);
    for (oc = 0; oc < g->c_out; oc++) {
        dw_general(g, &rows, &cols, xb + (oc / mult) * g->h_in * g->w_in, w + oc * khw, bias ? bias[oc] : 0.0f,
                   yb + oc * pix);
        done = dw_activate(g, act, yb, done, oc);
    }
}

/* ---------------------------------------------------------------------- dilated, zero-padded plane */

size_t kern_dw_dilated_scratch(const kern_conv_geom *g)
{
    size_t hp, wp, plane, outs;
    if ((g->dilation_h < 2 && g->dilation_w < 2) || g->stride_h != 1 || g->stride_w != 1 ||
        g->pad_top > KERN_DW_DIL_MAX || g->pad_bottom > KERN_DW_DIL_MAX || g->pad_left > KERN_DW_DIL_MAX ||
        g->pad_right > KERN_DW_DIL_MAX || g->h_in > KERN_DW_DIL_MAX || g->w_in > KERN_DW_DIL_MAX ||
        g->h_out > KERN_DW_DIL_MAX)
        return 0;
    hp = g->h_in + g->pad_top + g->pad_bottom;
    wp = g->w_in + g->pad_left + g->pad_right;
    if (!kmul(hp, wp, &plane) || !kmul(g->h_out, wp, &outs) || plane > KERN_DW_DIL_MAX ||
        outs > KERN_DW_DIL_MAX - plane)
        return 0;
    return (plane + outs) * sizeof(float);
}

/* Every channel through the zero-padded plane (module comment); scratch holds
 * kern_dw_dilated_scratch(g) bytes: the plane, then the outputs at pitch Wp. */
static KERN_NOINLINE void dw_dilated_channels(const kern_conv_geom *g, const kern_unary_attr *act, const float *xb,
                                              const float *w, const float *bias, float *yb, float *scratch)
{
    const size_t mult = g->c_out / g->group, khw = g->kernel_h * g->kernel_w, pix = g->h_out * g->w_out;
    const size_t wp = g->w_in + g->pad_left + g->pad_right, hp = g->h_in + g->pad_top + g->pad_bottom;
    const size_t n = (g->h_out - 1) * wp + g->w_out; /* flat extent of the outputs at pitch wp */
    float *plane = scratch, *out = scratch + hp * wp;
    size_t oc, r, ki, kj, q, done = 0;
    memset(plane, 0, hp * wp * sizeof(float));
    for (oc = 0; oc < g->c_out; oc++) {
        const float *xc = xb + (oc / mult) * g->h_in * g->w_in, *wc = w + oc * khw;
        const float b = bias ? bias[oc] : 0.0f;
        float *yc = yb + oc * pix;
        if (oc % mult == 0)
            for (r = 0; r < g->h_in; r++)
                memcpy(plane + (r + g->pad_top) * wp + g->pad_left, xc + r * g->w_in, g->w_in * sizeof(float));
        for (q = 0; q < n; q++)
            out[q] = b;
        for (ki = 0; ki < g->kernel_h; ki++)
            for (kj = 0; kj < g->kernel_w; kj++)
                dw_add_tap(out, plane + ki * g->dilation_h * wp + kj * g->dilation_w, n, 1, wc[ki * g->kernel_w + kj]);
        for (r = 0; r < g->h_out; r++)
            memcpy(yc + r * g->w_out, out + r * wp, g->w_out * sizeof(float));
        done = dw_activate(g, act, yb, done, oc);
    }
}

void kern_depthwise(const kern_conv_geom *g, const kern_unary_attr *act, const float *xb, const float *w,
                    const float *bias, float *yb, float *scratch)
{
    const size_t mult = g->c_out / g->group, khw = g->kernel_h * g->kernel_w;
    const size_t hw_in = g->h_in * g->w_in, pix = g->h_out * g->w_out;
    const int window = kern_win_path(g);
    const size_t strip_rows = window && g->stride_h == g->stride_w ?
                              kmin(dw_strip_rows(g->kernel_h, g->stride_w, g->w_out), g->h_out) : 0;
    const int strips = strip_rows >= DW_STRIP_MIN || (strip_rows > 0 && strip_rows == g->h_out);
    const size_t chunk = window ? dw_ring_cols(g->kernel_h, g->stride_w) : 0;
    float buf[DW_BUF];
    kern_win_cols cols;
    size_t oc, c0, done = 0;
    if (kern_dw_dilated_scratch(g) > 0) {
        dw_dilated_channels(g, act, xb, w, bias, yb, scratch);
        return;
    }
    if (!strips && chunk == 0) {
        dw_general_channels(g, act, xb, w, bias, yb);
        return;
    }
    memset(buf, 0, sizeof(buf));
    if (strips || chunk >= g->w_out)
        kern_win_cols_init(g, 0, g->w_out, &cols);
    for (oc = 0; oc < g->c_out; oc++) {
        const float *xc = xb + (oc / mult) * hw_in, *wc = w + oc * khw;
        const float b = bias ? bias[oc] : 0.0f;
        if (strips) {
            dw_strips(g, &cols, strip_rows, buf, xc, wc, b, yb + oc * pix);
        } else if (chunk >= g->w_out) {
            dw_rows(g, &cols, buf, xc, wc, b, yb + oc * pix);
        } else {
            for (c0 = 0; c0 < g->w_out; c0 += chunk) { /* each chunk has its own zero columns */
                memset(buf, 0, sizeof(buf));
                kern_win_cols_init(g, c0, kmin(chunk, g->w_out - c0), &cols);
                dw_rows(g, &cols, buf, xc, wc, b, yb + oc * pix);
            }
        }
        done = dw_activate(g, act, yb, done, oc);
    }
}
