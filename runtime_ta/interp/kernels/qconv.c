/*
 * qconv.c - QLinearConv and ConvInteger (2-D; 1-D as H = 1): int8/uint8 operands, exact int32 sums,
 * requantization in integers (internal.h: kern_requantize).
 *
 * Per batch item and group, with K = (c_in/g) kh kw and x_col the im2col matrix:
 *     acc[c, p] = sum_k (x_col[k, p] - x_zp) (w[c, k] - w_zp[c])
 *               = sum_k w[c, k] col_p[k] - w_zp[c] sum_k col_p[k],      col_p = x_col[., p] - x_zp
 * - depthwise (c_in/g == 1): bands of output rows over zero-padded phase planes in scratch, one
 *   contiguous loop per tap (QCONV_DW_BANDS); on maps too wide for a one-row band in
 *   KERN_QDW_BAND_MAX bytes, direct: every output's real taps (a padding tap would add
 *   (x_zp - x_zp) w = 0, as onnxruntime pads with the zero point), a row span of outputs summed tap
 *   by tap in int32 on the stack;
 * - otherwise KERN_QCOLS output pixels at a time: their columns col_p as int16 in scratch (1x1
 *   stride-1 unpadded: read straight down the input channels; else each pixel's valid window found
 *   first, so the copy tests nothing per tap), then for four output channels at a time the
 *   4 x KERN_QCOLS dot products of their raw weight rows (int8 or uint8) with them, sharing the column
 *   and the weight loads (the last channels one row at a time; the last, narrower block: one dot
 *   product per column, e.g. a fully connected layer's one row).
 * Each loop over elements is written once per element type (macros), with no type test inside.
 * |w| <= 255 and |col| <= 255, so with K <= KERN_QK_MAX every partial sum fits int32; the zero-point
 * term and the bias are added in int64.
 *
 * QLinearConv: y[c, p] = clamp(round_half_even((acc + bias[c]) * M_c) + y_zp) with M_c the float32
 * x_scale * w_scale[c] / y_scale (onnxruntime's expression), held exactly as an int32 multiplier and a
 * shift (one per output channel, first in scratch).  ConvInteger: y = acc (int32).
 */
#include <string.h>

#include "internal.h"

/* d[j] = sum_k w[k] col_j[k] for the KERN_QCOLS columns (KERN_QCOLS x kdim int16, column-major). */
#define QCONV_DOTS(name, wtype)                                                                       \
    static void name(const void *wrow, const int16_t *cols, size_t kdim, int32_t *d)                  \
    {                                                                                                 \
        const wtype *w = (const wtype *)wrow;                                                         \
        int32_t d0 = 0, d1 = 0, d2 = 0, d3 = 0;                                                       \
        size_t k;                                                                                     \
        for (k = 0; k < kdim; k++) {                                                                  \
            const int32_t wk = w[k];                                                                  \
            d0 += wk * cols[k];                                                                       \
            d1 += wk * cols[kdim + k];                                                                \
            d2 += wk * cols[2 * kdim + k];                                                            \
            d3 += wk * cols[3 * kdim + k];                                                            \
        }                                                                                             \
        d[0] = d0;                                                                                    \
        d[1] = d1;                                                                                    \
        d[2] = d2;                                                                                    \
        d[3] = d3;                                                                                    \
    }
#if KERN_QCOLS != 4
#error "QCONV_DOTS computes four columns"
#endif
QCONV_DOTS(dots_i8, int8_t)
QCONV_DOTS(dots_u8, uint8_t)

/* d[r * KERN_QCOLS + j] = sum_k w_r[k] col_j[k] for four consecutive weight rows w_r (kdim apart) and the
 * KERN_QCOLS columns: each column load serves four rows and each weight load four columns. */
#define QCONV_DOTS_ROWS(name, wtype)                                                                  \
    static void name(const void *wrows, const int16_t *cols, size_t kdim, int32_t *d)                 \
    {                                                                                                 \
        const wtype *w0 = (const wtype *)wrows, *w1 = w0 + kdim, *w2 = w1 + kdim, *w3 = w2 + kdim;    \
        const int16_t *c0 = cols, *c1 = c0 + kdim, *c2 = c1 + kdim, *c3 = c2 + kdim;                  \
        int32_t s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;               \
        int32_t s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0;               \
        size_t k;                                                                                     \
        for (k = 0; k < kdim; k++) {                                                                  \
            const int32_t a0 = w0[k], a1 = w1[k], a2 = w2[k], a3 = w3[k];                             \
            const int32_t b0 = c0[k], b1 = c1[k], b2 = c2[k], b3 = c3[k];                             \
            s00 += a0 * b0; s01 += a0 * b1; s02 += a0 * b2; s03 += a0 * b3;                           \
            s10 += a1 * b0; s11 += a1 * b1; s12 += a1 * b2; s13 += a1 * b3;                           \
            s20 += a2 * b0; s21 += a2 * b1; s22 += a2 * b2; s23 += a2 * b3;                           \
            s30 += a3 * b0; s31 += a3 * b1; s32 += a3 * b2; s33 += a3 * b3;                           \
        }                                                                                             \
        d[0] = s00; d[1] = s01; d[2] = s02; d[3] = s03;                                               \
        d[4] = s10; d[5] = s11; d[6] = s12; d[7] = s13;                                               \
        d[8] = s20; d[9] = s21; d[10] = s22; d[11] = s23;                                             \
        d[12] = s30; d[13] = s31; d[14] = s32; d[15] = s33;                                           \
    }
QCONV_DOTS_ROWS(dots_rows_i8, int8_t)
QCONV_DOTS_ROWS(dots_rows_u8, uint8_t)

/* The dot product of a raw weight row with one column (the last pixels, fewer than KERN_QCOLS). */
#define QCONV_DOT(name, wtype)                                                                        \
    static int32_t name(const void *wrow, const int16_t *col, size_t kdim)                            \
    {                                                                                                 \
        const wtype *w = (const wtype *)wrow;                                                         \
        int32_t d = 0;                                                                                \
        size_t k;                                                                                     \
        for (k = 0; k < kdim; k++)                                                                    \
            d += (int32_t)w[k] * col[k];                                                              \
        return d;                                                                                     \
    }
QCONV_DOT(dot_i8, int8_t)
QCONV_DOT(dot_u8, uint8_t)

/* The band path of a depthwise convolution: per channel, bands of output rows whose input rows are
 * laid out as stride_h x stride_w phase planes of (x - x_zp) as int16, zero-padded (plane (i, j) holds
 * the padded rows r = i mod stride_h and columns q = j mod stride_w, at [r / stride_h][q / stride_w]).
 * Tap (ki, kj) then reads every output of the band from one plane at one offset, so the band's sums
 * over the rows x wq grid (wq = the planes' width; the columns past w_out are never stored) take one
 * contiguous multiply-add loop per tap, which vectorises however small the map, and one
 * requantization of the whole grid.  Scratch: the planes (bytes rounded up to 4), then the sums
 * (int32), then the outputs on the same grid (at most int32), whose rows are copied out. */
static size_t qdw_plane_width(const kern_conv_geom *g)
{
    return (g->w_in + g->pad_left + g->pad_right + g->stride_w - 1) / g->stride_w;
}

/* Rows of each phase plane for a band of `rows` output rows. */
static size_t qdw_plane_rows(const kern_conv_geom *g, size_t rows)
{
    return ((rows - 1) * g->stride_h + (g->kernel_h - 1) * g->dilation_h + 1 + g->stride_h - 1) / g->stride_h;
}

static size_t qdw_band_bytes(const kern_conv_geom *g, size_t rows)
{
    const size_t wq = qdw_plane_width(g), hq = qdw_plane_rows(g, rows);
    size_t planes, sums;
    if (!kmul4(g->stride_h * g->stride_w, hq, wq, sizeof(int16_t), &planes) || planes > SIZE_MAX - 3 ||
        !kmul3(rows, wq, 2 * sizeof(int32_t), &sums) || (planes = (planes + 3u) & ~(size_t)3u) > SIZE_MAX - sums)
        return SIZE_MAX;
    return planes + sums;
}

/* Output rows per band: the most (up to h_out) whose planes and sums fit KERN_QDW_BAND_MAX bytes (the
 * bytes grow with the rows), or 0 when one row's do not (very wide maps: the row path). */
static size_t qdw_band_rows(const kern_conv_geom *g)
{
    size_t lo = 0, hi = g->h_out;
    while (lo < hi) {
        const size_t mid = lo + (hi - lo + 1) / 2;
        if (qdw_band_bytes(g, mid) <= KERN_QDW_BAND_MAX)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

static int qtype_ok(kern_qtype t) { return t == KERN_UINT8 || t == KERN_INT8; }

size_t kern_scratch_bytes_qconv(const kern_conv_geom *g, const kern_qconv_attr *q)
{
    size_t table = 0, cin_g, cols;
    if (g->group == 0 || g->c_in % g->group)
        return 0;
    if (q->y_type != KERN_INT32 && !kmul(g->c_out, sizeof(kern_requant), &table))
        return SIZE_MAX;
    cin_g = g->c_in / g->group;
    if (cin_g == 1) {
        const size_t band = qdw_band_rows(g);
        return band ? table + qdw_band_bytes(g, band) : table;
    }
    if (!kmul4(cin_g, g->kernel_h, g->kernel_w, KERN_QCOLS * sizeof(int16_t), &cols) || cols > SIZE_MAX - table)
        return SIZE_MAX;
    return table + cols;
}

/* Store the run of n exact sums acc[j] + b (b: the bias) at output indices i .. i + n - 1: requantized
 * through rq (QLinearConv) or as int32 (ConvInteger); one type test per run. */
static void store_run(const kern_qconv_attr *q, void *y, size_t i, const int32_t *acc, size_t n, int64_t b,
                      const kern_requant *rq, int32_t y_zp)
{
    size_t j;
    if (q->y_type == KERN_INT32)
        for (j = 0; j < n; j++)
            ((int32_t *)y)[i + j] = (int32_t)(acc[j] + b);
    else if (q->y_type == KERN_UINT8)
        kern_requantize_run_u8(acc, n, b, *rq, y_zp, (uint8_t *)y + i);
    else
        kern_requantize_run_i8(acc, n, b, *rq, y_zp, (int8_t *)y + i);
}

/* Depthwise outputs are summed QDW_SPAN output columns at a time in int32 accumulators on the stack. */
#define QDW_SPAN 64

/* Output channels [0, c_out) of one batch item, depthwise: input channel c / (c_out / c_in).  Per output
 * row, a span of columns accumulates tap by tap over the taps' valid columns (kern_valid_range: a padding
 * tap would add (x_zp - x_zp) w = 0, as onnxruntime pads with the zero point), each tap a run along the
 * input row that the compiler vectorises; the sums are exact, so their order does not matter. */
#define QCONV_DEPTHWISE(name, xtype, wtype)                                                                 \
    static void name(const kern_conv_geom *g, const kern_qconv_attr *q, const xtype *x, int32_t x_zp,        \
                     const wtype *w, const void *w_zp, const int32_t *bias, const kern_requant *rq,          \
                     int32_t y_zp, void *y, size_t y_base)                                                   \
    {                                                                                                        \
        const size_t mult = g->c_out / g->c_in, hw_in = g->h_in * g->w_in, pix = g->h_out * g->w_out;        \
        const size_t khw = g->kernel_h * g->kernel_w;                                                        \
        int32_t acc[QDW_SPAN];                                                                               \
        size_t c, oh, ow0, ow, ki, kj, j;                                                                    \
        for (c = 0; c < g->c_out; c++) {                                                                     \
            const xtype *xc = x + (c / mult) * hw_in;                                                        \
            const wtype *wc = w + c * khw;                                                                   \
            const int32_t wz = kern_qzero(q->w_type, w_zp, q->w_zp_count > 1 ? c : 0);                       \
            const int64_t b = bias ? bias[c] : 0;                                                            \
            for (oh = 0; oh < g->h_out; oh++) {                                                              \
                size_t ilo, ihi;                                                                             \
                kern_valid_range(g->pad_top, oh * g->stride_h, g->dilation_h, g->h_in, g->kernel_h, &ilo, &ihi); \
                for (ow0 = 0; ow0 < g->w_out; ow0 += QDW_SPAN) {                                             \
                    const size_t n = kmin(QDW_SPAN, g->w_out - ow0);                                         \
                    for (j = 0; j < n; j++)                                                                  \
                        acc[j] = 0;                                                                          \
                    for (ki = ilo; ki < ihi; ki++) {                                                         \
                        const xtype *row = xc + (oh * g->stride_h + ki * g->dilation_h - g->pad_top) * g->w_in; \
                        for (kj = 0; kj < g->kernel_w; kj++) {                                               \
                            const int32_t wk = (int32_t)wc[ki * g->kernel_w + kj] - wz;                      \
                            size_t lo, hi;                                                                   \
                            kern_valid_range(g->pad_left, kj * g->dilation_w, g->stride_w, g->w_in, g->w_out, &lo, &hi); \
                            const xtype *tap = row + kj * g->dilation_w - g->pad_left; /* tap[ow * stride] */ \
                            lo = lo > ow0 ? lo : ow0;                                                        \
                            hi = kmin(hi, ow0 + n);                                                          \
                            if (g->stride_w == 1) /* contiguous: vectorises */                               \
                                for (ow = lo; ow < hi; ow++)                                                 \
                                    acc[ow - ow0] += ((int32_t)tap[ow] - x_zp) * wk;                         \
                            else                                                                             \
                                for (ow = lo; ow < hi; ow++)                                                 \
                                    acc[ow - ow0] += ((int32_t)tap[ow * g->stride_w] - x_zp) * wk;           \
                        }                                                                                    \
                    }                                                                                        \
                    store_run(q, y, y_base + c * pix + oh * g->w_out + ow0, acc, n, b,                       \
                              q->y_type == KERN_INT32 ? NULL : &rq[c], y_zp);                                \
                }                                                                                            \
            }                                                                                                \
        }                                                                                                    \
    }
QCONV_DEPTHWISE(depthwise_u8_i8, uint8_t, int8_t)
QCONV_DEPTHWISE(depthwise_u8_u8, uint8_t, uint8_t)
QCONV_DEPTHWISE(depthwise_i8_i8, int8_t, int8_t)
QCONV_DEPTHWISE(depthwise_i8_u8, int8_t, uint8_t)

#define QCONV_DW_BANDS(name, xtype, wtype)                                                                    \
    static void name(const kern_conv_geom *g, const kern_qconv_attr *q, const xtype *x, int32_t x_zp,        \
                     const wtype *w, const void *w_zp, const int32_t *bias, const kern_requant *rq,          \
                     int32_t y_zp, void *y, size_t y_base, size_t band, int16_t *planes)                     \
    {                                                                                                        \
        const size_t mult = g->c_out / g->c_in, hw_in = g->h_in * g->w_in, pix = g->h_out * g->w_out;        \
        const size_t sh = g->stride_h, sw = g->stride_w, span = (g->kernel_h - 1) * g->dilation_h + 1;       \
        const size_t wq = qdw_plane_width(g), plane = qdw_plane_rows(g, band) * wq, phases = sh * sw * plane;  \
        int32_t *sums = (int32_t *)(void *)((char *)planes + ((phases * sizeof(int16_t) + 3u) & ~(size_t)3u)); \
        uint8_t *out = (uint8_t *)(sums + band * wq); /* the band's outputs, as the sums' grid */            \
        const size_t esize = q->y_type == KERN_INT32 ? sizeof(int32_t) : 1;                                 \
        size_t c, r0, r, i, iw, j, ki, kj, oh;                                                               \
        for (c = 0; c < g->c_out; c++) {                                                                     \
            const xtype *xc = x + (c / mult) * hw_in;                                                        \
            const wtype *wc = w + c * g->kernel_h * g->kernel_w;                                             \
            const int32_t wz = kern_qzero(q->w_type, w_zp, q->w_zp_count > 1 ? c : 0);                       \
            const int64_t b = bias ? bias[c] : 0;                                                            \
            for (r0 = 0; r0 < g->h_out; r0 += band) {                                                        \
                const size_t rows = kmin(band, g->h_out - r0), count = (rows - 1) * sh + span;               \
                const size_t n = (rows - 1) * wq + g->w_out;                                                 \
                for (i = 0; i < phases; i++)                                                                 \
                    planes[i] = 0;                                                                           \
                for (r = 0; r < count; r++) {                                                                \
                    const size_t padded = r0 * sh + r; /* row of the padded input */                         \
                    int16_t *prow = planes + (r % sh) * sw * plane + (r / sh) * wq;                          \
                    const xtype *xrow;                                                                       \
                    if (padded < g->pad_top || padded - g->pad_top >= g->h_in)                               \
                        continue;                                                                            \
                    xrow = xc + (padded - g->pad_top) * g->w_in;                                             \
                    if (sw == 1) /* contiguous: vectorises */                                                \
                        for (iw = 0; iw < g->w_in; iw++)                                                     \
                            prow[g->pad_left + iw] = (int16_t)((int32_t)xrow[iw] - x_zp);                    \
                    else /* column phase j: padded columns q0, q0 + sw, ... (q0 mod sw = j) */              \
                        for (j = 0; j < sw; j++) {                                                           \
                            const size_t q0 = g->pad_left + (j + sw - g->pad_left % sw) % sw;                \
                            const size_t cnt = q0 - g->pad_left < g->w_in ?                                  \
                                (g->w_in - (q0 - g->pad_left) + sw - 1) / sw : 0;                            \
                            int16_t *dst = prow + j * plane + q0 / sw;                                       \
                            const xtype *src = xrow + (q0 - g->pad_left);                                    \
                            for (iw = 0; iw < cnt; iw++)                                                     \
                                dst[iw] = (int16_t)((int32_t)src[iw * sw] - x_zp);                           \
                        }                                                                                    \
                }                                                                                            \
                for (i = 0; i < n; i++)                                                                      \
                    sums[i] = 0;                                                                             \
                for (ki = 0; ki < g->kernel_h; ki++)                                                         \
                    for (kj = 0; kj < g->kernel_w; kj++) {                                                   \
                        const size_t a = ki * g->dilation_h, d = kj * g->dilation_w;                         \
                        const int16_t *src = planes + ((a % sh) * sw + d % sw) * plane + (a / sh) * wq + d / sw; \
                        const int32_t wk = (int32_t)wc[ki * g->kernel_w + kj] - wz;                          \
                        for (i = 0; i < n; i++)                                                              \
                            sums[i] += wk * src[i];                                                          \
                    }                                                                                        \
                store_run(q, out, 0, sums, n, b, q->y_type == KERN_INT32 ? NULL : &rq[c], y_zp);             \
                for (oh = 0; oh < rows; oh++) /* the grid's rows without their columns past w_out */         \
                    memcpy((uint8_t *)y + (y_base + c * pix + (r0 + oh) * g->w_out) * esize,                  \
                           out + oh * wq * esize, g->w_out * esize);                                          \
            }                                                                                                \
        }                                                                                                    \
    }
QCONV_DW_BANDS(bands_u8_i8, uint8_t, int8_t)
QCONV_DW_BANDS(bands_u8_u8, uint8_t, uint8_t)
QCONV_DW_BANDS(bands_i8_i8, int8_t, int8_t)
QCONV_DW_BANDS(bands_i8_u8, int8_t, uint8_t)

/* A depthwise convolution of one batch item: the band path (band > 0 output rows per band, planes in
 * scratch), else the row path. */
static void depthwise(const kern_conv_geom *g, const kern_qconv_attr *q, const void *x, size_t x_base,
                      int32_t x_zp, const void *w, const void *w_zp, const int32_t *bias, const kern_requant *rq,
                      int32_t y_zp, void *y, size_t y_base, size_t band, int16_t *planes)
{
    const int xu = q->x_type == KERN_UINT8, wu = q->w_type == KERN_UINT8;
    if (band && xu && !wu)
        bands_u8_i8(g, q, (const uint8_t *)x + x_base, x_zp, w, w_zp, bias, rq, y_zp, y, y_base, band, planes);
    else if (band && xu)
        bands_u8_u8(g, q, (const uint8_t *)x + x_base, x_zp, w, w_zp, bias, rq, y_zp, y, y_base, band, planes);
    else if (band && !wu)
        bands_i8_i8(g, q, (const int8_t *)x + x_base, x_zp, w, w_zp, bias, rq, y_zp, y, y_base, band, planes);
    else if (band)
        bands_i8_u8(g, q, (const int8_t *)x + x_base, x_zp, w, w_zp, bias, rq, y_zp, y, y_base, band, planes);
    else if (xu && !wu)
        depthwise_u8_i8(g, q, (const uint8_t *)x + x_base, x_zp, w, w_zp, bias, rq, y_zp, y, y_base);
    else if (xu)
        depthwise_u8_u8(g, q, (const uint8_t *)x + x_base, x_zp, w, w_zp, bias, rq, y_zp, y, y_base);
    else if (!wu)
        depthwise_i8_i8(g, q, (const int8_t *)x + x_base, x_zp, w, w_zp, bias, rq, y_zp, y, y_base);
    else
        depthwise_i8_u8(g, q, (const int8_t *)x + x_base, x_zp, w, w_zp, bias, rq, y_zp, y, y_base);
}

/* Columns p0 .. p0 + nc - 1 (pixels) of one group's im2col matrix minus x_zp into cols (column j at
 * cols + j * kdim) and their sums into sums[j].  A pixel's valid window rows and columns come first
 * (kern_valid_range), so the loops over the taps test nothing; padding taps are 0 (x_zp - x_zp). */
#define QCONV_PACK(name, xtype)                                                                              \
    static void name(const kern_conv_geom *g, const xtype *xg, int32_t x_zp, size_t p0, size_t nc, size_t kdim, \
                     int16_t *cols, int32_t *sums)                                                           \
    {                                                                                                        \
        const size_t cin_g = g->c_in / g->group, hw_in = g->h_in * g->w_in;                                  \
        size_t j, ci, ki, kj;                                                                                \
        if (kern_conv_pointwise(g)) {                                                                        \
            for (j = 0; j < nc; j++)                                                                         \
                sums[j] = 0;                                                                                 \
            for (ci = 0; ci < cin_g; ci++)                                                                   \
                for (j = 0; j < nc; j++) {                                                                   \
                    const int32_t v = (int32_t)xg[ci * hw_in + p0 + j] - x_zp;                               \
                    cols[j * kdim + ci] = (int16_t)v;                                                        \
                    sums[j] += v;                                                                            \
                }                                                                                            \
            return;                                                                                          \
        }                                                                                                    \
        for (j = 0; j < nc; j++) {                                                                           \
            const size_t oh = (p0 + j) / g->w_out, ow = (p0 + j) % g->w_out;                                 \
            int16_t *col = cols + j * kdim;                                                                  \
            size_t ilo, ihi, jlo, jhi, k = 0;                                                                \
            int32_t sum = 0;                                                                                 \
            kern_valid_range(g->pad_top, oh * g->stride_h, g->dilation_h, g->h_in, g->kernel_h, &ilo, &ihi); \
            kern_valid_range(g->pad_left, ow * g->stride_w, g->dilation_w, g->w_in, g->kernel_w, &jlo, &jhi); \
            for (ci = 0; ci < cin_g; ci++)                                                                   \
                for (ki = 0; ki < g->kernel_h; ki++) {                                                       \
                    const xtype *row;                                                                        \
                    if (ki < ilo || ki >= ihi) {                                                             \
                        for (kj = 0; kj < g->kernel_w; kj++)                                                 \
                            col[k++] = 0;                                                                    \
                        continue;                                                                            \
                    }                                                                                        \
                    row = xg + ci * hw_in + (oh * g->stride_h + ki * g->dilation_h - g->pad_top) * g->w_in;  \
                    for (kj = 0; kj < jlo; kj++)                                                             \
                        col[k++] = 0;                                                                        \
                    for (; kj < jhi; kj++) {                                                                 \
                        const int32_t v = (int32_t)row[ow * g->stride_w + kj * g->dilation_w - g->pad_left] - x_zp; \
                        col[k++] = (int16_t)v;                                                               \
                        sum += v;                                                                            \
                    }                                                                                        \
                    for (; kj < g->kernel_w; kj++)                                                           \
                        col[k++] = 0;                                                                        \
                }                                                                                            \
            sums[j] = sum;                                                                                   \
        }                                                                                                    \
    }
QCONV_PACK(pack_u8, uint8_t)
QCONV_PACK(pack_i8, int8_t)

kern_status kern_qconv(const kern_conv_geom *g, const kern_qconv_attr *q, const void *x, const void *x_zp,
                       const void *w, const void *w_zp, const int32_t *bias, const float *x_scale,
                       const float *w_scale, const float *y_scale, const void *y_zp, void *y, void *scratch,
                       size_t scratch_bytes)
{
    const int requant = q->y_type != KERN_INT32;
    size_t cin_g, cout_g, kdim, pix, hw_in, b, grp, c, p0, j, m, band;
    kern_requant *rq = (kern_requant *)scratch;
    int16_t *cols;
    int32_t xz, yz;
    kern_status st = kern_conv_check(g);
    if (st != KERN_OK)
        return st;
    if (!qtype_ok(q->x_type) || !qtype_ok(q->w_type) || !(qtype_ok(q->y_type) || q->y_type == KERN_INT32) ||
        (q->w_zp_count != 1 && q->w_zp_count != g->c_out) ||
        (requant && q->w_scale_count != 1 && q->w_scale_count != g->c_out))
        return KERN_EINVAL;
    cin_g = g->c_in / g->group;
    cout_g = g->c_out / g->group;
    kdim = cin_g * g->kernel_h * g->kernel_w;
    if (kdim > KERN_QK_MAX)
        return KERN_EINVAL;
    if (scratch_bytes < kern_scratch_bytes_qconv(g, q))
        return KERN_ESCRATCH;
    for (c = 0; requant && c < g->c_out; c++)
        if (kern_requant_from_scale(x_scale[0] * w_scale[q->w_scale_count > 1 ? c : 0] / y_scale[0], &rq[c]) !=
            KERN_OK)
            return KERN_EINVAL;
    cols = (int16_t *)(void *)((char *)scratch + (requant ? g->c_out * sizeof(kern_requant) : 0));
    band = cin_g == 1 ? qdw_band_rows(g) : 0;
    xz = kern_qzero(q->x_type, x_zp, 0);
    yz = requant ? kern_qzero(q->y_type, y_zp, 0) : 0;
    pix = g->h_out * g->w_out;
    hw_in = g->h_in * g->w_in;
    for (b = 0; b < g->batch; b++) {
        const size_t xb = b * g->c_in * hw_in, yb = b * g->c_out * pix;
        if (cin_g == 1) {
            depthwise(g, q, x, xb, xz, w, w_zp, bias, rq, yz, y, yb, band, cols);
            continue;
        }
        for (grp = 0; grp < g->group; grp++) {
            const size_t xg = xb + grp * cin_g * hw_in;
            for (p0 = 0; p0 < pix; p0 += KERN_QCOLS) {
                const size_t nc = kmin(KERN_QCOLS, pix - p0);
                int32_t sums[KERN_QCOLS], d[4 * KERN_QCOLS];
                size_t rows;
                if (q->x_type == KERN_UINT8)
                    pack_u8(g, (const uint8_t *)x + xg, xz, p0, nc, kdim, cols, sums);
                else
                    pack_i8(g, (const int8_t *)x + xg, xz, p0, nc, kdim, cols, sums);
                for (m = 0; m < cout_g; m += rows) {
                    const size_t oc = grp * cout_g + m;
                    const void *wrow = (const uint8_t *)w + oc * kdim; /* one byte per weight */
                    size_t r;
                    rows = nc == KERN_QCOLS && cout_g - m >= 4 ? 4 : 1;
                    if (rows == 4 && q->w_type == KERN_INT8)
                        dots_rows_i8(wrow, cols, kdim, d);
                    else if (rows == 4)
                        dots_rows_u8(wrow, cols, kdim, d);
                    else if (nc == KERN_QCOLS && q->w_type == KERN_INT8)
                        dots_i8(wrow, cols, kdim, d);
                    else if (nc == KERN_QCOLS)
                        dots_u8(wrow, cols, kdim, d);
                    else
                        for (j = 0; j < nc; j++)
                            d[j] = q->w_type == KERN_INT8 ? dot_i8(wrow, cols + j * kdim, kdim)
                                                          : dot_u8(wrow, cols + j * kdim, kdim);
                    for (r = 0; r < rows; r++) {
                        const int64_t wz = kern_qzero(q->w_type, w_zp, q->w_zp_count > 1 ? oc + r : 0);
                        int32_t *dr = d + r * KERN_QCOLS;
                        for (j = 0; j < nc; j++)   /* the exact sum of (col - 0)(w - w_zp): within int32 */
                            dr[j] = (int32_t)((int64_t)dr[j] - wz * sums[j]);
                        store_run(q, y, yb + (oc + r) * pix + p0, dr, nc, bias ? bias[oc + r] : 0,
                                  requant ? &rq[oc + r] : NULL, yz);
                    }
                }
            }
        }
    }
    return KERN_OK;
}
