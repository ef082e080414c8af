/*
 * pointwise_wt.c - 1x1 convolution over few pixels with its weights stored transposed.
 *
 * A 1x1 convolution (group 1, stride 1, unpadded) is Y[c_out, P] = W[c_out, c_in] X[c_in, P] + b.
 * conv.c runs it with the P pixels along the GEMM's wide columns, which on small maps fill few of
 * their lanes: P = 49 (7x7) takes two 32-column tiles, 64 lanes for 49 columns (77%).  Here the same
 * product is taken transposed,
 *     Y^T[P, c_out] = X^T[P, c_in] W^T[c_in, c_out] + b,
 * the output channels along the columns (full tiles but at the last) and the pixels as rows: X^T's
 * element (q, i) is x[i P + q] (A with row step 1 and column step P), and W^T must be rows of output
 * channels, which is the transposed layout lowering stores (wt[i c_out + o] = W[o][i]).  Per block of
 * KERN_NC output channels: S[P, nb] = b (every row), S += X^T W^T[:, block] (kern_gemm_acc), then
 * Y[o, q] = S[q, o] and the activation over the block.
 * Every output is the sum kern_conv_act forms: it starts from b[o] (or 0) and adds x[i, q] W[o, i] for
 * i = 0 .. c_in - 1 in order, in the same micro-kernels; so the floats are the same.
 * Scratch: P * min(c_out, KERN_NC) floats (kern_scratch_bytes_conv).
 */
#include "internal.h"

int kern_conv_wt_ok(const kern_conv_geom *g)
{
    const size_t pix = g->h_out * g->w_out; /* h_out, w_out <= 64 checked before the product */
    return g->group == 1 && kern_conv_pointwise(g) && g->h_out <= KERN_CONV_WT_MAX_PIX &&
           g->w_out <= KERN_CONV_WT_MAX_PIX && pix > 1 && pix <= KERN_CONV_WT_MAX_PIX && pix % KERN_PANEL != 0;
}

kern_status kern_conv_wt_act(const kern_conv_geom *g, const kern_unary_attr *act, const float *x, const float *wt,
                             const float *bias, float *y, float *scratch, size_t scratch_bytes)
{
    size_t pix, b, j0, q, o;
    kern_status st = kern_conv_check(g);
    if (st != KERN_OK)
        return st;
    if (!kern_conv_wt_ok(g) || !kern_conv_act_ok(act))
        return KERN_EINVAL;
    if (scratch_bytes < kern_scratch_bytes_conv(g))
        return KERN_ESCRATCH;
    pix = g->h_out * g->w_out;
    for (b = 0; b < g->batch; b++) {
        const float *xb = x + b * g->c_in * pix;
        float *yb = y + b * g->c_out * pix;
        for (j0 = 0; j0 < g->c_out; j0 += KERN_NC) {
            const size_t nb = kmin(KERN_NC, g->c_out - j0);
            for (q = 0; q < pix; q++)
                for (o = 0; o < nb; o++)
                    scratch[q * nb + o] = bias ? bias[j0 + o] : 0.0f;
            kern_gemm_acc(pix, nb, g->c_in, xb, 1, pix, wt + j0, g->c_out, scratch, nb, NULL);
            for (o = 0; o < nb; o++)
                for (q = 0; q < pix; q++)
                    yb[(j0 + o) * pix + q] = scratch[q * nb + o];
            if (act)
                kern_unary(act, yb + j0 * pix, yb + j0 * pix, nb * pix);
        }
    }
    return KERN_OK;
}
