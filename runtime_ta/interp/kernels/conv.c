/*
 * conv.c - Conv and ConvTranspose (2-D; 1-D as H = 1).
 *
 * Conv, per batch item and group, is Y_g[c_out/g, P] = W_g[c_out/g, K] X_col[K, P] + bias with
 * K = (c_in/g) kh kw and P = h_out w_out:
 * - depthwise (c_in/g == 1): direct, no scratch.  Undilated 3x3 windows work on zero-padded copies of
 *   the input rows on the stack (no edge cases): unit stride as strips of rows computed in one vector
 *   loop each, stride 2 row by row; other windows sum each output's real taps (interior outputs
 *   unrolled / vectorised, edge tap ranges computed once per call);
 * - 1x1, stride 1, unpadded: X_col is X itself, straight to the GEMM engine, no scratch;
 * - otherwise im2col tiles of at most KERN_KC rows x KERN_NC pixels are built in scratch (packed in
 *   micro-kernel panels, columns zero-padded to KERN_PANEL) and fed to the GEMM engine, accumulating
 *   into Y: scratch = min(K, KC) * roundup(min(P, NC), PANEL) floats.
 * ConvTranspose scatters x[ih, iw] * w[kh, kw] into y[ih*s + kh*d - pad, ...], no scratch.
 */
#include <string.h>

#include "internal.h"

int kern_conv_pointwise(const kern_conv_geom *g)
{
    return g->kernel_h == 1 && g->kernel_w == 1 && g->stride_h == 1 && g->stride_w == 1 && g->pad_top == 0 &&
           g->pad_left == 0 && g->pad_bottom == 0 && g->pad_right == 0;
}

/* out == (in + pa + pb - (d (k - 1) + 1)) / s + 1, overflow-safe. */
static int conv_extent_ok(size_t in, size_t pa, size_t pb, size_t k, size_t s, size_t d, size_t out)
{
    size_t span, padded;
    if (k == 0 || s == 0 || d == 0 || !kmul(d, k - 1, &span) || span == SIZE_MAX)
        return 0;
    span += 1;
    if (pa > SIZE_MAX - in || pb > SIZE_MAX - in - pa)
        return 0;
    padded = in + pa + pb;
    return padded >= span && out == (padded - span) / s + 1;
}

/* Channel/group consistency; element counts of x, y and the weights (the Conv and ConvTranspose layouts
 * hold the same count, c_out * c_in / group * kh * kw), each checked for overflow. */
static kern_status check_common(const kern_conv_geom *g, size_t *x_n, size_t *y_n, size_t *w_n)
{
    size_t cin_g;
    if (g->group == 0 || g->c_in % g->group || g->c_out % g->group)
        return KERN_EINVAL;
    cin_g = g->c_in / g->group;
    if (!kmul4(g->batch, g->c_in, g->h_in, g->w_in, x_n) || !kmul4(g->batch, g->c_out, g->h_out, g->w_out, y_n))
        return KERN_EOVERFLOW;
    if (!kmul4(g->c_out, cin_g, g->kernel_h, g->kernel_w, w_n))
        return KERN_EOVERFLOW;
    return KERN_OK;
}

kern_status kern_conv_check(const kern_conv_geom *g)
{
    size_t x_n, y_n, w_n;
    kern_status st = check_common(g, &x_n, &y_n, &w_n);
    if (st != KERN_OK)
        return st;
    if (!conv_extent_ok(g->h_in, g->pad_top, g->pad_bottom, g->kernel_h, g->stride_h, g->dilation_h, g->h_out) ||
        !conv_extent_ok(g->w_in, g->pad_left, g->pad_right, g->kernel_w, g->stride_w, g->dilation_w, g->w_out))
        return KERN_EINVAL;
    return KERN_OK;
}

size_t kern_scratch_bytes_conv(const kern_conv_geom *g)
{
    size_t cin_g, khw, kdim, pix;
    if (g->group == 0 || g->c_in % g->group)
        return 0;
    cin_g = g->c_in / g->group;
    if (cin_g == 1 || kern_conv_pointwise(g))
        return 0;
    kdim = (!kmul(g->kernel_h, g->kernel_w, &khw) || !kmul(khw, cin_g, &kdim)) ? KERN_KC : kmin(kdim, KERN_KC);
    pix = !kmul(g->h_out, g->w_out, &pix) ? KERN_NC : kmin(pix, KERN_NC);
    return kdim * kern_panel_cols(pix) * sizeof(float);
}

/* Rows [k0, k0 + kb) x pixels [p0, p0 + nb) of the group's im2col matrix into dst, packed in KERN_NR-wide
 * panels (kern_gemm_packed_acc's layout); each row is assembled in a KERN_NC-float stack buffer first. */
static void im2col_tile(const kern_conv_geom *g, const float *xg, size_t k0, size_t kb, size_t p0, size_t nb,
                        float *dst)
{
    const size_t khw = g->kernel_h * g->kernel_w, hw_in = g->h_in * g->w_in;
    size_t r, ci = k0 / khw, ki = (k0 % khw) / g->kernel_w, kj = k0 % g->kernel_w;
    for (r = 0; r < kb; r++) {
        const float *xc = xg + ci * hw_in;
        const size_t off_w = kj * g->dilation_w;
        float d[KERN_NC];
        size_t oh = p0 / g->w_out, ow = p0 % g->w_out, col = 0, q, z, lo_row, hi_row;
        /* the output columns whose tap kj falls inside the input: the same for every output row */
        kern_valid_range(g->pad_left, off_w, g->stride_w, g->w_in, g->w_out, &lo_row, &hi_row);
        while (col < nb) {
            const size_t seg = kmin(g->w_out - ow, nb - col);
            const size_t ihp = oh * g->stride_h + ki * g->dilation_h;
            if (ihp < g->pad_top || ihp - g->pad_top >= g->h_in) {
                memset(d + col, 0, seg * sizeof(float));
            } else {
                const float *xrow = xc + (ihp - g->pad_top) * g->w_in;
                /* the valid columns clamped to this segment [ow, ow + seg): ow <= lo <= hi <= ow + seg */
                const size_t lo = lo_row < ow ? ow : lo_row > ow + seg ? ow + seg : lo_row;
                const size_t hi = hi_row > ow + seg ? ow + seg : hi_row < lo ? lo : hi_row;
                size_t t;
                for (t = ow; t < lo; t++)
                    d[col + t - ow] = 0.0f;
                if (g->stride_w == 1) {
                    if (hi > lo)
                        memcpy(d + col + lo - ow, xrow + lo + off_w - g->pad_left, (hi - lo) * sizeof(float));
                } else {
                    for (t = lo; t < hi; t++)
                        d[col + t - ow] = xrow[t * g->stride_w + off_w - g->pad_left];
                }
                for (t = hi; t < ow + seg; t++)
                    d[col + t - ow] = 0.0f;
            }
            col += seg;
            ow = 0;
            oh++;
        }
        for (z = nb; z < kern_panel_cols(nb); z++)
            d[z] = 0.0f;
        for (q = 0; q < nb; q += KERN_NR)
            memcpy(dst + q * kb + r * KERN_NR, d + q, KERN_NR * sizeof(float));
        if (++kj == g->kernel_w) { /* next row of the im2col matrix: (ci, ki, kj) in row-major order */
            kj = 0;
            if (++ki == g->kernel_h) {
                ki = 0;
                ci++;
            }
        }
    }
}

/* Depthwise outputs whose window sticks out of the input (the first and last few along an axis)
 * have their real tap range [lo, hi) computed once per call, not once per channel: at most
 * DW_EDGE_MAX on each side (wider pads fall back to computing it per output). */
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

/* Output (oh, t) of one depthwise channel: bias, then every real tap w[ki, kj] x[...] added in
 * (ki, kj) order (the same float sequence as every other path below). */
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

/* The nine taps of an undilated 3x3 window as named locals (kept in registers across a row) and their
 * sum b + w0 r0[p] + w1 r0[p+1] + ... + w8 r2[p+2], added in that order. */
#define DW3_WEIGHTS(wc) \
    const float w0 = (wc)[0], w1 = (wc)[1], w2 = (wc)[2], w3 = (wc)[3], w4 = (wc)[4], w5 = (wc)[5], \
                w6 = (wc)[6], w7 = (wc)[7], w8 = (wc)[8]
#define DW3_SUM(b, r0, r1, r2, p) \
    ((b) + w0 * (r0)[p] + w1 * (r0)[(p) + 1] + w2 * (r0)[(p) + 2] + w3 * (r1)[p] + w4 * (r1)[(p) + 1] + \
     w5 * (r1)[(p) + 2] + w6 * (r2)[p] + w7 * (r2)[(p) + 1] + w8 * (r2)[(p) + 2])

/* y[t] = b + the 3x3 window of rows r0..r2 at columns t .. t + 2, for n outputs over contiguous
 * input columns (unit stride: the loop vectorises). */
static void dw3_span(const float *r0, const float *r1, const float *r2, const float *wc, float b, float *y, size_t n)
{
    DW3_WEIGHTS(wc);
    size_t t;
    for (t = 0; t < n; t++) {
        y[t] = DW3_SUM(b, r0, r1, r2, t);
    }
}

/* The 3x3 padded-row path: rows of up to DW_ROW floats (three padded input rows on the stack, 1.5 KiB). */
#define DW_ROW 128

/* Padded input columns the outputs of a row read. */
static size_t dw3_len(const kern_conv_geom *g) { return (g->w_out - 1) * g->stride_w + 3; }

/* One channel of an undilated 3x3 depthwise conv with short rows (dw3_len <= DW_ROW): each output row
 * reads three zero-padded copies of its input rows (a row outside the input is all zeros), so every
 * output takes the same unrolled 9-tap sum, with no edge cases.  A padded tap adds w * 0 = 0, which
 * leaves the sum unchanged (up to the sign of a zero). */
static KERN_NOINLINE void dw3_padded(const kern_conv_geom *g, const float *xc, const float *wc, float b, float *yc)
{
    float pad[3][DW_ROW];
    const size_t W = g->w_in, sw = g->stride_w, pl = g->pad_left, len = dw3_len(g);
    const size_t copy = len > pl ? kmin(W, len - pl) : 0;
    DW3_WEIGHTS(wc);
    size_t oh, ki, t;
    for (ki = 0; ki < 3; ki++) {
        for (t = 0; t < pl && t < len; t++)
            pad[ki][t] = 0.0f;
        for (t = pl + copy; t < len; t++)
            pad[ki][t] = 0.0f;
    }
    for (oh = 0; oh < g->h_out; oh++) {
        const float *r0 = pad[0], *r1 = pad[1], *r2 = pad[2];
        float *yrow = yc + oh * g->w_out;
        for (ki = 0; ki < 3; ki++) {
            const size_t i = oh * g->stride_h + ki; /* input row + pad_top */
            if (i >= g->pad_top && i - g->pad_top < g->h_in)
                memcpy(pad[ki] + pl, xc + (i - g->pad_top) * W, copy * sizeof(float));
            else
                for (t = pl; t < pl + copy; t++)
                    pad[ki][t] = 0.0f;
        }
        if (sw == 1) {
            for (t = 0; t < g->w_out; t++) {
                yrow[t] = DW3_SUM(b, r0, r1, r2, t);
            }
        } else if (sw == 2) { /* a constant stride: the loads vectorise */
            for (t = 0; t < g->w_out; t++) {
                const size_t p = 2 * t;
                yrow[t] = DW3_SUM(b, r0, r1, r2, p);
            }
        } else {
            for (t = 0; t < g->w_out; t++) {
                const size_t p = t * sw;
                yrow[t] = DW3_SUM(b, r0, r1, r2, p);
            }
        }
    }
}

/* The unit-stride 3x3 strip path: a strip of output rows at a time, a zero-padded copy of the strip's
 * input rows at pitch P = w_out + 2 (the columns the outputs read) and the strip's outputs at the same
 * pitch, both in one stack buffer of DW_STRIP floats (1.5 KiB). */
#define DW_STRIP 384

/* Output rows per strip of pitch P: (rows + 2) P + 2 input floats and rows P output floats; 0 if not
 * even one row fits. */
static size_t dw3_strip_rows(size_t pitch)
{
    return pitch > (DW_STRIP - 2) / 4 ? 0 : (DW_STRIP - 2 - 2 * pitch) / (2 * pitch);
}

/* One channel of an undilated unit-stride 3x3 depthwise conv, a strip of output rows at a time: in
 * padded coordinates output q = r P + t reads input q + ki P + kj, so a whole strip is one long
 * vector loop (the two positions of each row past w_out are computed and dropped).  A padded tap
 * adds w * 0 = 0, which leaves the sum unchanged (up to the sign of a zero). */
static KERN_NOINLINE void dw3_strips(const kern_conv_geom *g, const float *xc, const float *wc, float b, float *yc)
{
    float buf[DW_STRIP];
    const size_t P = g->w_out + 2, pl = g->pad_left, rows_max = dw3_strip_rows(P);
    const size_t copy = P > pl ? kmin(g->w_in, P - pl) : 0;
    DW3_WEIGHTS(wc);
    size_t oh0, r, t;
    for (oh0 = 0; oh0 < g->h_out; oh0 += rows_max) {
        const size_t rows = kmin(rows_max, g->h_out - oh0), n = rows * P;
        float *in = buf, *out = buf + (rows + 2) * P + 2;
        const float *s0 = in, *s1 = in + P, *s2 = in + 2 * P;
        for (r = 0; r < (rows + 2) * P + 2; r++)
            in[r] = 0.0f;
        for (r = 0; r < rows + 2; r++) {
            const size_t i = oh0 + r; /* input row + pad_top */
            if (i >= g->pad_top && i - g->pad_top < g->h_in)
                memcpy(in + r * P + pl, xc + (i - g->pad_top) * g->w_in, copy * sizeof(float));
        }
        for (t = 0; t < n; t++) {
            out[t] = DW3_SUM(b, s0, s1, s2, t);
        }
        for (r = 0; r < rows; r++)
            memcpy(yc + (oh0 + r) * g->w_out, out + r * P, g->w_out * sizeof(float));
    }
}

/* One channel of the general depthwise path: outputs whose window lies inside the input take the
 * fast paths (3x3 unrolled, unit-stride rows vectorised), the others sum their real taps only. */
static void depthwise_general(const kern_conv_geom *g, const dw_axis *rows, const dw_axis *cols, const float *xc,
                              const float *wc, float b, float *yc)
{
    const size_t W = g->w_in, sw = g->stride_w, pl = g->pad_left;
    const int k3 = g->kernel_h == 3 && g->kernel_w == 3 && g->dilation_h == 1 && g->dilation_w == 1;
    size_t oh, ki, kj, t;
    for (oh = 0; oh < g->h_out; oh++) {
        float *yrow = yc + oh * g->w_out;
        size_t ilo, ihi;
        dw_taps(rows, oh, &ilo, &ihi);
        for (t = 0; t < cols->full_lo; t++)
            yrow[t] = dw_output(g, cols, xc, wc, b, oh, ilo, ihi, t);
        for (t = cols->full_hi; t < g->w_out; t++)
            yrow[t] = dw_output(g, cols, xc, wc, b, oh, ilo, ihi, t);
        if (k3 && ihi - ilo == 3) {
            const float *r0 = xc + (oh * g->stride_h - g->pad_top) * W, *r1 = r0 + W, *r2 = r1 + W;
            if (sw == 1 && cols->full_hi > cols->full_lo) {
                const size_t off = cols->full_lo - pl;
                dw3_span(r0 + off, r1 + off, r2 + off, wc, b, yrow + cols->full_lo, cols->full_hi - cols->full_lo);
            } else {
                DW3_WEIGHTS(wc);
                for (t = cols->full_lo; t < cols->full_hi; t++) {
                    const size_t p = t * sw - pl;
                    yrow[t] = DW3_SUM(b, r0, r1, r2, p);
                }
            }
        } else {
            for (t = cols->full_lo; t < cols->full_hi; t++) {
                const size_t p = t * sw - pl;
                float acc = b;
                for (ki = ilo; ki < ihi; ki++) {
                    const float *xrow = xc + (oh * g->stride_h + ki * g->dilation_h - g->pad_top) * W + p;
                    for (kj = 0; kj < g->kernel_w; kj++)
                        acc += wc[ki * g->kernel_w + kj] * xrow[kj * g->dilation_w];
                }
                yrow[t] = acc;
            }
        }
    }
}

/* The activation is applied to runs of finished depthwise channels of at least this many outputs
 * (16 KiB: still in cache, and few calls for small maps). */
#define DW_ACT_RUN 4096

/* c_in/group == 1: every output channel oc reads input channel oc / (c_out/group).  Per output, taps
 * accumulate in a register.  Undilated 3x3 windows take dw3_strips (unit strides) or dw3_padded when
 * their rows fit, every other window depthwise_general; act (if any) is applied to each run of
 * finished channels (DW_ACT_RUN). */
static void depthwise(const kern_conv_geom *g, const kern_unary_attr *act, const float *xb, const float *w,
                      const float *bias, float *yb)
{
    const size_t mult = g->c_out / g->group, khw = g->kernel_h * g->kernel_w;
    const size_t hw_in = g->h_in * g->w_in, pix = g->h_out * g->w_out, sw = g->stride_w, pl = g->pad_left;
    const int k3 = g->kernel_h == 3 && g->kernel_w == 3 && g->dilation_h == 1 && g->dilation_w == 1;
    const int strips = k3 && sw == 1 && g->stride_h == 1 && pl <= 2 && dw3_strip_rows(g->w_out + 2) > 0;
    const int padded = k3 && g->w_out <= DW_ROW && pl < DW_ROW && dw3_len(g) <= DW_ROW;
    dw_axis rows, cols;
    size_t oc, pending = 0; /* finished outputs act has not been applied to yet */
    if (!strips && !padded) {
        dw_axis_init(&rows, g->pad_top, g->stride_h, g->dilation_h, g->h_in, g->kernel_h, g->h_out);
        dw_axis_init(&cols, pl, sw, g->dilation_w, g->w_in, g->kernel_w, g->w_out);
    }
    for (oc = 0; oc < g->c_out; oc++) {
        const float *xc = xb + (oc / mult) * hw_in, *wc = w + oc * khw;
        const float b = bias ? bias[oc] : 0.0f;
        float *yc = yb + oc * pix;
        if (strips)
            dw3_strips(g, xc, wc, b, yc);
        else if (padded)
            dw3_padded(g, xc, wc, b, yc);
        else
            depthwise_general(g, &rows, &cols, xc, wc, b, yc);
        if (act) {
            pending += pix;
            if (pending >= DW_ACT_RUN || oc + 1 == g->c_out) {
                kern_unary(act, yc + pix - pending, yc + pix - pending, pending);
                pending = 0;
            }
        }
    }
}

kern_status kern_conv(const kern_conv_geom *g, const float *x, const float *w, const float *bias, float *y,
                      float *scratch, size_t scratch_bytes)
{
    return kern_conv_act(g, NULL, x, w, bias, y, scratch, scratch_bytes);
}

/* act applied to rows [0, m) x columns [0, n) of a block with rows ld apart (one call when the rows are
 * contiguous). */
static void act_block(const kern_unary_attr *act, float *c, size_t m, size_t n, size_t ld)
{
    size_t i;
    if (n == ld) {
        kern_unary(act, c, c, m * n);
        return;
    }
    for (i = 0; i < m; i++)
        kern_unary(act, c + i * ld, c + i * ld, n);
}

kern_status kern_conv_act(const kern_conv_geom *g, const kern_unary_attr *act, const float *x, const float *w,
                          const float *bias, float *y, float *scratch, size_t scratch_bytes)
{
    size_t cin_g, cout_g, kdim, pix, hw_in, b, grp, t;
    kern_status st = kern_conv_check(g);
    if (st != KERN_OK)
        return st;
    if (act && (unsigned)act->op > (unsigned)KERN_TANH &&
        !(act->op >= KERN_SQRT && act->op <= KERN_UNARY_LAST)) /* an elementwise map, not a copy or an unknown code */
        return KERN_EINVAL;
    if (scratch_bytes < kern_scratch_bytes_conv(g))
        return KERN_ESCRATCH;
    cin_g = g->c_in / g->group;
    cout_g = g->c_out / g->group;
    kdim = cin_g * g->kernel_h * g->kernel_w;
    pix = g->h_out * g->w_out;
    hw_in = g->h_in * g->w_in;
    for (b = 0; b < g->batch; b++) {
        const float *xb = x + b * g->c_in * hw_in;
        float *yb = y + b * g->c_out * pix;
        if (cin_g == 1) {
            depthwise(g, act, xb, w, bias, yb);
            continue;
        }
        for (grp = 0; grp < g->group; grp++) {
            const float *wg = w + grp * cout_g * kdim, *xg = xb + grp * cin_g * hw_in;
            const float *init = bias ? bias + grp * cout_g : NULL; /* the GEMM starts each row from its bias */
            float *yg = yb + grp * cout_g * pix;
            if (!init)
                for (t = 0; t < cout_g * pix; t++)
                    yg[t] = 0.0f;
            if (kern_conv_pointwise(g)) {
                size_t j0;
                for (j0 = 0; j0 < pix; j0 += KERN_NC) {
                    const size_t nb = kmin(KERN_NC, pix - j0);
                    kern_gemm_acc(cout_g, nb, cin_g, wg, kdim, 1, xg + j0, pix, yg + j0, pix, init);
                    if (act)
                        act_block(act, yg + j0, cout_g, nb, pix);
                }
            } else {
                size_t p0, k0;
                for (p0 = 0; p0 < pix; p0 += KERN_NC) {
                    const size_t nb = kmin(KERN_NC, pix - p0);
                    for (k0 = 0; k0 < kdim; k0 += KERN_KC) {
                        const size_t kb = kmin(KERN_KC, kdim - k0);
                        im2col_tile(g, xg, k0, kb, p0, nb, scratch);
                        kern_gemm_packed_acc(cout_g, nb, kb, wg + k0, kdim, 1, scratch, yg + p0, pix,
                                             k0 == 0 ? init : NULL);
                    }
                    if (act)
                        act_block(act, yg + p0, cout_g, nb, pix);
                }
            }
        }
    }
    return KERN_OK;
}

size_t kern_scratch_bytes_conv_transpose(const kern_conv_geom *g)
{
    (void)g;
    return 0;
}

kern_status kern_conv_transpose(const kern_conv_geom *g, const float *x, const float *w, const float *bias, float *y)
{
    size_t x_n, y_n, w_n, cin_g, cout_g, khw, hw_in, pix, b, grp, ic, oc, ki, kj, ih, t, i;
    kern_status st = check_common(g, &x_n, &y_n, &w_n);
    if (st != KERN_OK)
        return st;
    if (g->kernel_h == 0 || g->kernel_w == 0 || g->stride_h == 0 || g->stride_w == 0 || g->dilation_h == 0 ||
        g->dilation_w == 0)
        return KERN_EINVAL;
    {
        /* full extent s (in - 1) + d (k - 1) + 1 must not exceed out + pads (the rest is output padding) */
        size_t fh, fw, th, tw;
        if (!kmul(g->stride_h, g->h_in ? g->h_in - 1 : 0, &fh) || !kmul(g->dilation_h, g->kernel_h - 1, &th) ||
            !kmul(g->stride_w, g->w_in ? g->w_in - 1 : 0, &fw) || !kmul(g->dilation_w, g->kernel_w - 1, &tw))
            return KERN_EOVERFLOW;
        if (g->pad_top > SIZE_MAX / 4 || g->pad_bottom > SIZE_MAX / 4 || g->pad_left > SIZE_MAX / 4 ||
            g->pad_right > SIZE_MAX / 4 || g->h_out > SIZE_MAX / 4 || g->w_out > SIZE_MAX / 4 ||
            fh > SIZE_MAX / 4 || th > SIZE_MAX / 4 || fw > SIZE_MAX / 4 || tw > SIZE_MAX / 4)
            return KERN_EOVERFLOW;
        if (fh + th + 1 > g->h_out + g->pad_top + g->pad_bottom || fw + tw + 1 > g->w_out + g->pad_left + g->pad_right)
            return KERN_EINVAL;
    }
    cin_g = g->c_in / g->group;
    cout_g = g->c_out / g->group;
    khw = g->kernel_h * g->kernel_w;
    hw_in = g->h_in * g->w_in;
    pix = g->h_out * g->w_out;
    for (b = 0; b < g->batch; b++)
        for (oc = 0; oc < g->c_out; oc++) {
            const float v = bias ? bias[oc] : 0.0f;
            float *yc = y + (b * g->c_out + oc) * pix;
            for (t = 0; t < pix; t++)
                yc[t] = v;
        }
    for (b = 0; b < g->batch; b++)
        for (grp = 0; grp < g->group; grp++)
            for (ic = 0; ic < cin_g; ic++) {
                const size_t cin = grp * cin_g + ic;
                const float *xc = x + (b * g->c_in + cin) * hw_in;
                for (i = 0; i < cout_g; i++) {
                    const size_t cout = grp * cout_g + i;
                    const float *wk = w + (cin * cout_g + i) * khw;
                    float *yc = y + (b * g->c_out + cout) * pix;
                    for (ki = 0; ki < g->kernel_h; ki++)
                        for (kj = 0; kj < g->kernel_w; kj++) {
                            const float wv = wk[ki * g->kernel_w + kj];
                            const size_t off_w = kj * g->dilation_w;
                            size_t lo, hi;
                            kern_valid_range(g->pad_left, off_w, g->stride_w, g->w_out, g->w_in, &lo, &hi);
                            for (ih = 0; ih < g->h_in; ih++) {
                                const size_t ohp = ih * g->stride_h + ki * g->dilation_h;
                                const float *xrow = xc + ih * g->w_in;
                                float *yrow;
                                if (ohp < g->pad_top || ohp - g->pad_top >= g->h_out)
                                    continue;
                                yrow = yc + (ohp - g->pad_top) * g->w_out;
                                for (t = lo; t < hi; t++)
                                    yrow[t * g->stride_w + off_w - g->pad_left] += wv * xrow[t];
                            }
                        }
                }
            }
    return KERN_OK;
}
