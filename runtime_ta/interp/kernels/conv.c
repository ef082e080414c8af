/*
 * conv.c - Conv and ConvTranspose (2-D; 1-D as H = 1).
 *
 * Conv, per batch item and group, is Y_g[c_out/g, P] = W_g[c_out/g, K] X_col[K, P] + bias with
 * K = (c_in/g) kh kw and P = h_out w_out:
 * - depthwise (c_in/g == 1, fewer than KERN_DW_GEMM_MIN_MULT outputs per input): direct (depthwise.c), no
 *   scratch but for dilated windows at stride 1 (a zero-padded plane: kern_dw_dilated_scratch);
 * - grouped (c_in/g > 1, g > 1, up to 32 outputs per group) 3x3/5x5/7x7 windows at strides 1/2: the
 *   GEMM fed from the input copied once per strip into the scratch below (grouped.c);
 * - 1x1, stride 1, unpadded: X_col is X itself, straight to the GEMM engine, no scratch; over a single
 *   pixel (a squeeze-excite FC) dot products along the weight rows (kern_gemv); with the weights stored
 *   transposed (few pixels: kern_conv_wt_ok) the transposed product, pointwise_wt.c, whose scratch
 *   kern_scratch_bytes_conv grants to such geometries whatever the layout;
 * - otherwise im2col tiles of at most KERN_KC rows x KERN_NC pixels are built in scratch (packed in
 *   micro-kernel panels, columns zero-padded to KERN_PANEL) and fed to the GEMM engine, accumulating
 *   into Y: scratch = min(K, KC) * roundup(min(P, NC), PANEL) floats.
 * ConvTranspose, per group and tap (kh, kw): T[c_out/g, P_in] = W_tap^T[c_out/g, c_in/g] X_g[c_in/g, P_in] on the
 * GEMM engine (blocks of KERN_CT_MB channels x KERN_CT_NB input pixels in scratch), each T[oc, (ih, iw)]
 * then added into y[oc, ih*s + kh*d - pad, iw*s + kw*d - pad] where that lies inside.
 */
#include <string.h>

#include "internal.h"

/* c_in/group == 1 with fewer than KERN_DW_GEMM_MIN_MULT outputs per input channel: the direct
 * depthwise path (more outputs per input, e.g. a first conv over one input channel, run as a GEMM
 * whose K is the window: the same sums in the same order). */
static int is_depthwise(const kern_conv_geom *g)
{
    return g->c_in / g->group == 1 && g->c_out / g->group < KERN_DW_GEMM_MIN_MULT;
}

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
    if (kern_conv_wt_ok(g)) /* the transposed product's block of outputs (pointwise_wt.c) */
        return g->h_out * g->w_out * kmin(g->c_out, KERN_NC) * sizeof(float);
    if (is_depthwise(g))
        return kern_dw_dilated_scratch(g);
    if (kern_conv_pointwise(g))
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

int kern_conv_act_ok(const kern_unary_attr *act)
{
    /* an elementwise map, not a copy or an unknown code */
    return !act || (unsigned)act->op <= (unsigned)KERN_TANH || (act->op >= KERN_SQRT && act->op <= KERN_UNARY_LAST);
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

/* The one tap (ki kw + kj) of a stride-1 convolution that keeps the input's size whose every other
 * tap lies outside the input for every output (a DeepLab ASPP branch dilated past its map) and which
 * reads the input unshifted, or kernel_h kernel_w when there is no such tap.  The others' im2col rows
 * are all zero padding: they add w * 0 to each sum, which changes no value (up to the sign of a zero). */
static size_t only_tap(const kern_conv_geom *g)
{
    const size_t none = g->kernel_h * g->kernel_w;
    size_t ki, kj;
    if (g->stride_h != 1 || g->stride_w != 1 || g->h_out != g->h_in || g->w_out != g->w_in ||
        g->pad_top % g->dilation_h != 0 || g->pad_left % g->dilation_w != 0)
        return none;
    ki = g->pad_top / g->dilation_h;
    kj = g->pad_left / g->dilation_w;
    /* another tap of a row (column) shifts the input by at least the dilation: past the map iff d >= size */
    if (ki >= g->kernel_h || kj >= g->kernel_w || (g->kernel_h > 1 && g->dilation_h < g->h_in) ||
        (g->kernel_w > 1 && g->dilation_w < g->w_in))
        return none;
    return ki * g->kernel_w + kj;
}

kern_status kern_conv_act(const kern_conv_geom *g, const kern_unary_attr *act, const float *x, const float *w,
                          const float *bias, float *y, float *scratch, size_t scratch_bytes)
{
    size_t cin_g, cout_g, khw, kdim, pix, hw_in, tap, b, grp, t;
    kern_status st = kern_conv_check(g);
    if (st != KERN_OK)
        return st;
    if (!kern_conv_act_ok(act))
        return KERN_EINVAL;
    if (scratch_bytes < kern_scratch_bytes_conv(g))
        return KERN_ESCRATCH;
    cin_g = g->c_in / g->group;
    cout_g = g->c_out / g->group;
    khw = g->kernel_h * g->kernel_w;
    kdim = cin_g * khw;
    pix = g->h_out * g->w_out;
    hw_in = g->h_in * g->w_in;
    tap = kern_conv_pointwise(g) ? 0 : only_tap(g);
    for (b = 0; b < g->batch; b++) {
        const float *xb = x + b * g->c_in * hw_in;
        float *yb = y + b * g->c_out * pix;
        if (is_depthwise(g)) {
            kern_depthwise(g, act, xb, w, bias, yb, scratch);
            continue;
        }
        if (kern_grouped(g, act, xb, w, bias, yb, scratch))
            continue;
        for (grp = 0; grp < g->group; grp++) {
            const float *wg = w + grp * cout_g * kdim, *xg = xb + grp * cin_g * hw_in;
            const float *init = bias ? bias + grp * cout_g : NULL; /* the GEMM starts each row from its bias */
            float *yg = yb + grp * cout_g * pix;
            if (!init)
                for (t = 0; t < cout_g * pix; t++)
                    yg[t] = 0.0f;
            if (kern_conv_pointwise(g) && pix == 1) { /* one pixel: a fully connected layer */
                kern_gemv(cout_g, cin_g, wg, kdim, xg, 1, yg, init);
                if (act)
                    kern_unary(act, yg, yg, cout_g);
            } else if (kern_conv_pointwise(g) || tap < khw) {
                size_t j0;
                for (j0 = 0; j0 < pix; j0 += KERN_NC) {
                    const size_t nb = kmin(KERN_NC, pix - j0);
                    kern_gemm_acc(cout_g, nb, cin_g, wg + tap, kdim, khw, xg + j0, pix, yg + j0, pix, init);
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

/* ConvTranspose blocks: up to KERN_CT_MB output channels of a group x KERN_CT_NB input pixels. */
static size_t ct_rows(const kern_conv_geom *g) { return kmin(g->c_out / g->group, KERN_CT_MB); }
static size_t ct_cols(const kern_conv_geom *g) { return kmin(g->h_in * g->w_in, KERN_CT_NB); }

size_t kern_scratch_bytes_conv_transpose(const kern_conv_geom *g)
{
    if (g->group == 0 || g->c_out % g->group)
        return 0;
    return ct_rows(g) * ct_cols(g) * sizeof(float);
}

/* Add T's block (rows = output channels oc0.., columns = input pixels p0 .. p0 + nb) of tap (ki, kj)
 * into y: pixel (ih, iw) lands on (ih*s_h + ki*d_h - pad_top, iw*s_w + kj*d_w - pad_left), if inside. */
static void ct_scatter(const kern_conv_geom *g, const float *t, size_t mb, size_t p0, size_t nb, size_t ki, size_t kj,
                       float *yc)
{
    const size_t pix = g->h_out * g->w_out, off_w = kj * g->dilation_w;
    size_t lo, hi, p, i, iw;
    kern_valid_range(g->pad_left, off_w, g->stride_w, g->w_out, g->w_in, &lo, &hi);
    for (p = p0; p < p0 + nb;) {
        const size_t ih = p / g->w_in, t0 = p % g->w_in, t1 = kmin(g->w_in, t0 + (p0 + nb - p));
        const size_t ohp = ih * g->stride_h + ki * g->dilation_h, a = lo > t0 ? lo : t0, e = kmin(hi, t1);
        if (ohp >= g->pad_top && ohp - g->pad_top < g->h_out && a < e)
            for (i = 0; i < mb; i++) {
                const float *trow = t + i * nb + (p - p0) - t0;
                float *yrow = yc + i * pix + (ohp - g->pad_top) * g->w_out + off_w - g->pad_left;
                for (iw = a; iw < e; iw++)
                    yrow[iw * g->stride_w] += trow[iw];
            }
        p += t1 - t0;
    }
}

kern_status kern_conv_transpose(const kern_conv_geom *g, const float *x, const float *w, const float *bias, float *y,
                                float *scratch, size_t scratch_bytes)
{
    static const float zeros[KERN_CT_MB];
    size_t x_n, y_n, w_n, cin_g, cout_g, khw, hw_in, pix, b, grp, oc, oc0, p0, ki, kj, t;
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
    if (scratch_bytes < kern_scratch_bytes_conv_transpose(g))
        return KERN_ESCRATCH;
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
    if (hw_in == 0)
        return KERN_OK;
    for (b = 0; b < g->batch; b++)
        for (grp = 0; grp < g->group; grp++) {
            const float *xg = x + (b * g->c_in + grp * cin_g) * hw_in;
            for (oc0 = 0; oc0 < cout_g; oc0 += KERN_CT_MB) {
                const size_t mb = kmin(KERN_CT_MB, cout_g - oc0);
                /* A(i, p) = w[grp*cin_g + p][oc0 + i][tap]: rows khw apart, columns cout_g khw apart */
                const float *wg = w + (grp * cin_g * cout_g + oc0) * khw;
                float *yc = y + (b * g->c_out + grp * cout_g + oc0) * pix;
                for (p0 = 0; p0 < hw_in; p0 += KERN_CT_NB) {
                    const size_t nb = kmin(KERN_CT_NB, hw_in - p0);
                    for (ki = 0; ki < g->kernel_h; ki++)
                        for (kj = 0; kj < g->kernel_w; kj++) {
                            kern_gemm_acc(mb, nb, cin_g, wg + ki * g->kernel_w + kj, khw, cout_g * khw, xg + p0, hw_in,
                                          scratch, nb, zeros);
                            ct_scatter(g, scratch, mb, p0, nb, ki, kj, yc);
                        }
                }
            }
        }
    return KERN_OK;
}
