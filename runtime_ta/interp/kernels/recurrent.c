/*
 * recurrent.c - ONNX LSTM, GRU and RNN layers (float32, default activations).
 *
 * Per direction and batch row the layer runs in chunks of up to KERN_RNN_TC time steps, in the
 * direction's order.  A chunk's input projection is one GEMM on the register-blocked engine:
 *     xp [G*H, n] = Wb + W [G*H, I] . xt [I, n]
 * with xt the chunk's n input rows transposed into scratch (I*n copies against G*H*I*n multiply-adds).
 * Each step then forms g = xp[:, step] + Rb + R h by dot products, eight gate rows at a time sharing
 * the loads of h in 16 partial sums each (batch-1 GEMV: the rows of R are contiguous, h stays in L1; eight
 * rows of 16 lanes fill 8 AVX-512 or 32 NEON accumulators: 1.7x the step rate of 4 x 8), applies the gates with
 * the vectorised sigmoid / tanh of vmath.c and writes the state.
 *
 * Scratch (floats): xt [I * tc] | xp [G*H * tc] | g [G*H] | h [H] | c [H] (LSTM cell; GRU r (.) Ht-1),
 * tc = min(T, KERN_RNN_TC): kern_scratch_bytes_rnn, mirrored by passes/target/scratch.py.
 *
 * Numerics follow onnxruntime's CPU kernels (the runtime's parity target): the biases and the
 * peepholes are added before the clip, the LSTM output gate's peephole reads the new cell state, GRU
 * with linear_before_reset computes r (.) (R_h Ht-1 + Rb_h) and adds Wb_h (in xp) to it.
 */
#include <string.h>

#include "internal.h"

#define RNN_LANES 16

static size_t rnn_gates(kern_rnn_kind kind) { return kind == KERN_RNN_LSTM ? 4 : kind == KERN_RNN_GRU ? 3 : 1; }

size_t kern_scratch_bytes_rnn(const kern_rnn_attr *a)
{
    const size_t tc = kmin(a->seq_len, KERN_RNN_TC);
    size_t gh, per_step, chunk, total;
    if (!kmul(rnn_gates(a->kind), a->hidden_size, &gh) || a->input_size > SIZE_MAX - gh ||
        !kmul(tc, a->input_size + gh, &chunk) || a->hidden_size > (SIZE_MAX - gh) / 2)
        return SIZE_MAX;
    per_step = gh + 2 * a->hidden_size;
    if (chunk > SIZE_MAX - per_step || !kmul(chunk + per_step, sizeof(float), &total))
        return SIZE_MAX;
    return total;
}

/* sum_p x[p] y[p] with RNN_LANES partial sums. */
static float rnn_dot(const float *x, const float *y, size_t n)
{
    float lanes[RNN_LANES], s = 0.0f;
    size_t p = 0, l;
    for (l = 0; l < RNN_LANES; l++)
        lanes[l] = 0.0f;
    for (; p + RNN_LANES <= n; p += RNN_LANES)
        for (l = 0; l < RNN_LANES; l++)
            lanes[l] += x[p + l] * y[p + l];
    for (l = 0; l < RNN_LANES; l++)
        s += lanes[l];
    for (; p < n; p++)
        s += x[p] * y[p];
    return s;
}

static void rnn_clip_n(float *v, size_t n, float clip)
{
    size_t i;
    if (clip > 0.0f)
        for (i = 0; i < n; i++)
            v[i] = kclampf(v[i], -clip, clip);
}

void kern_rnn_state_load(const kern_rnn_geom *q, size_t d, size_t bi, const float *initial_h, const float *initial_c,
                         float *h, float *c)
{
    const size_t state = d * q->s_d + bi * q->s_b;
    if (initial_h)
        memcpy(h, initial_h + state, q->H * sizeof(float));
    else
        memset(h, 0, q->H * sizeof(float));
    if (initial_c)
        memcpy(c, initial_c + state, q->H * sizeof(float));
    else
        memset(c, 0, q->H * sizeof(float));
}

void kern_lstm_gates(size_t H, float clip, const float *pd, const float *bias, float *g, float *c, float *h)
{
    float *gi = g, *go = g + H, *gf = g + 2 * H, *gc = g + 3 * H;
    size_t k;
    if (pd)
        for (k = 0; k < H; k++) {
            gi[k] += pd[k] * c[k];
            gf[k] += pd[2 * H + k] * c[k];
        }
    if (bias)
        for (k = 0; k < H; k++) {
            gi[k] += bias[k];
            gf[k] += bias[2 * H + k];
            gc[k] += bias[3 * H + k];
        }
    rnn_clip_n(gi, H, clip);
    rnn_clip_n(gf, 2 * H, clip); /* f and c~ */
    kern_sigmoid_n(gi, gi, H);
    kern_sigmoid_n(gf, gf, H);
    kern_tanh_n(gc, gc, H);
    for (k = 0; k < H; k++)
        c[k] = c[k] * gf[k] + gi[k] * gc[k];
    if (pd)
        for (k = 0; k < H; k++)
            go[k] += pd[H + k] * c[k];
    if (bias)
        for (k = 0; k < H; k++)
            go[k] += bias[H + k];
    rnn_clip_n(go, H, clip);
    kern_sigmoid_n(go, go, H);
    memcpy(gc, c, H * sizeof(float));
    kern_tanh_n(gc, gc, H);
    for (k = 0; k < H; k++)
        h[k] = go[k] * gc[k];
}

/* g[j] = xp[j * ld] + rb[j] + R_j . h for rows j of [0, rows): RNN_ROWS rows at a time share each
 * load of h, RNN_ROW_LANES partial sums per row. */
#define RNN_ROWS 8
#define RNN_ROW_LANES 16
static void rnn_recurrent(size_t rows, size_t hidden, const float *xp, size_t ld, const float *rb, const float *r,
                          const float *h, float *g)
{
    size_t j = 0, p, l, q;
    for (; j + RNN_ROWS <= rows; j += RNN_ROWS) {
        float acc[RNN_ROWS][RNN_ROW_LANES], sum[RNN_ROWS];
        const float *rj = r + j * hidden;
        for (q = 0; q < RNN_ROWS; q++)
            for (l = 0; l < RNN_ROW_LANES; l++)
                acc[q][l] = 0.0f;
        for (p = 0; p + RNN_ROW_LANES <= hidden; p += RNN_ROW_LANES)
            for (q = 0; q < RNN_ROWS; q++)
                for (l = 0; l < RNN_ROW_LANES; l++)
                    acc[q][l] += rj[q * hidden + p + l] * h[p + l];
        for (q = 0; q < RNN_ROWS; q++) {
            float s = 0.0f;
            for (l = 0; l < RNN_ROW_LANES; l++)
                s += acc[q][l];
            sum[q] = s;
        }
        for (; p < hidden; p++)
            for (q = 0; q < RNN_ROWS; q++)
                sum[q] += rj[q * hidden + p] * h[p];
        for (q = 0; q < RNN_ROWS; q++)
            g[j + q] = (rb ? xp[(j + q) * ld] + rb[j + q] : xp[(j + q) * ld]) + sum[q];
    }
    for (; j < rows; j++) {
        float v = xp[j * ld];
        if (rb)
            v += rb[j];
        g[j] = v + rnn_dot(r + j * hidden, h, hidden);
    }
}

/* One direction of one batch row. */
static void rnn_run(const kern_rnn_attr *a, const kern_rnn_geom *q, size_t d, size_t bi, int rev, const float *x,
                    const float *w, const float *r, const float *b, const float *initial_h, const float *initial_c,
                    const float *p, float *y, float *y_h, float *y_c, float *scratch)
{
    const size_t T = q->T, I = q->I, H = q->H, GH = q->GH, tc = kmin(T, KERN_RNN_TC);
    const float clip = a->clip;
    const float *wd = w + d * GH * I, *rd = r + d * GH * H;
    const float *wb = b ? b + d * 2 * GH : NULL, *rb = b ? b + d * 2 * GH + GH : NULL;
    const float *pd = p ? p + d * 3 * H : NULL;
    const size_t state = d * q->s_d + bi * q->s_b;
    float *xt = scratch, *xp = xt + I * tc, *g = xp + GH * tc, *h = g + GH, *c = h + H;
    size_t s0, j, k, i;

    kern_rnn_state_load(q, d, bi, initial_h, a->kind == KERN_RNN_LSTM ? initial_c : NULL, h, c);

    for (s0 = 0; s0 < T; s0 += tc) {
        const size_t n = kmin(tc, T - s0);
        /* xt [I, n]: the chunk's input rows, transposed, in step order */
        for (j = 0; j < n; j++) {
            const size_t t = rev ? T - 1 - (s0 + j) : s0 + j;
            const float *row = x + t * q->x_t + bi * q->x_b;
            for (i = 0; i < I; i++)
                xt[i * n + j] = row[i];
        }
        if (wb == NULL)
            memset(xp, 0, GH * n * sizeof(float));
        kern_gemm_acc(GH, n, I, wd, I, 1, xt, n, xp, n, wb);

        for (j = 0; j < n; j++) {
            const size_t t = rev ? T - 1 - (s0 + j) : s0 + j;
            const float *xj = xp + j;
            if (a->kind == KERN_RNN_LSTM) {
                /* g = [i | o | f | c~] pre-activations, the biases included; c holds C(t-1) */
                rnn_recurrent(GH, H, xj, n, rb, rd, h, g);
                kern_lstm_gates(H, clip, pd, NULL, g, c, h);
            } else if (a->kind == KERN_RNN_GRU) {
                /* g = [z | r | h~] pre-activations */
                float *gz = g, *gr = g + H, *gh = g + 2 * H;
                rnn_recurrent(2 * H, H, xj, n, rb, rd, h, g);
                rnn_clip_n(g, 2 * H, clip);
                kern_sigmoid_n(g, g, 2 * H);
                if (a->linear_before_reset) {
                    for (k = 0; k < H; k++) {
                        float lin = rnn_dot(rd + (2 * H + k) * H, h, H);
                        if (rb)
                            lin += rb[2 * H + k];
                        gh[k] = xj[(2 * H + k) * n] + gr[k] * lin;
                    }
                } else {
                    for (k = 0; k < H; k++)
                        c[k] = gr[k] * h[k];
                    rnn_recurrent(H, H, xj + 2 * H * n, n, rb ? rb + 2 * H : NULL, rd + 2 * H * H, c, gh);
                }
                rnn_clip_n(gh, H, clip);
                kern_tanh_n(gh, gh, H);
                for (k = 0; k < H; k++)
                    h[k] = (1.0f - gz[k]) * gh[k] + gz[k] * h[k];
            } else {
                rnn_recurrent(H, H, xj, n, rb, rd, h, g);
                rnn_clip_n(g, H, clip);
                kern_tanh_n(g, g, H);
                memcpy(h, g, H * sizeof(float));
            }
            if (y)
                memcpy(y + t * q->y_t + d * q->y_d + bi * q->y_b, h, H * sizeof(float));
        }
    }
    if (y_h)
        memcpy(y_h + state, h, H * sizeof(float));
    if (y_c && a->kind == KERN_RNN_LSTM)
        memcpy(y_c + state, c, H * sizeof(float));
}

kern_status kern_rnn_geometry(const kern_rnn_attr *a, kern_rnn_geom *q)
{
    size_t n;
    if (a->kind != KERN_RNN_LSTM && a->kind != KERN_RNN_GRU && a->kind != KERN_RNN_SIMPLE)
        return KERN_EINVAL;
    if (a->seq_len == 0 || a->batch == 0 || a->input_size == 0 || a->hidden_size == 0 ||
        (a->num_directions != 1 && a->num_directions != 2) || (a->reverse != 0 && a->reverse != 1) ||
        (a->num_directions == 2 && a->reverse) || (a->layout != 0 && a->layout != 1) ||
        (a->linear_before_reset != 0 && a->linear_before_reset != 1) ||
        (a->linear_before_reset && a->kind != KERN_RNN_GRU) || !(a->clip >= 0.0f))
        return KERN_EINVAL;
    q->T = a->seq_len;
    q->B = a->batch;
    q->I = a->input_size;
    q->H = a->hidden_size;
    q->D = a->num_directions;
    q->G = rnn_gates(a->kind);
    /* every extent the call touches: X, W, R, B, Y (the largest products) */
    if (!kmul(q->G, q->H, &q->GH) || !kmul3(q->T, q->B, q->I, &n) || !kmul3(q->D, q->GH, q->I, &n) ||
        !kmul3(q->D, q->GH, q->H, &n) || !kmul3(q->D, q->GH, 2, &n) || !kmul4(q->T, q->D, q->B, q->H, &n))
        return KERN_EOVERFLOW;
    if (a->layout == 0) {
        q->x_t = q->B * q->I;
        q->x_b = q->I;
        q->y_t = q->D * q->B * q->H;
        q->y_d = q->B * q->H;
        q->y_b = q->H;
        q->s_d = q->B * q->H;
        q->s_b = q->H;
    } else {
        q->x_t = q->I;
        q->x_b = q->T * q->I;
        q->y_t = q->D * q->H;
        q->y_d = q->H;
        q->y_b = q->T * q->D * q->H;
        q->s_d = q->H;
        q->s_b = q->D * q->H;
    }
    return KERN_OK;
}

kern_status kern_rnn(const kern_rnn_attr *a, const float *x, const float *w, const float *r, const float *b,
                     const float *initial_h, const float *initial_c, const float *p, float *y, float *y_h, float *y_c,
                     float *scratch, size_t scratch_bytes)
{
    kern_rnn_geom q;
    size_t d, bi;
    kern_status st;
    if ((a->kind != KERN_RNN_LSTM && (initial_c || p || y_c)) || !x || !w || !r)
        return KERN_EINVAL;
    st = kern_rnn_geometry(a, &q);
    if (st != KERN_OK)
        return st;
    if (kern_scratch_bytes_rnn(a) == SIZE_MAX)
        return KERN_EOVERFLOW;
    if (scratch_bytes < kern_scratch_bytes_rnn(a) || scratch == NULL)
        return KERN_ESCRATCH;
    for (d = 0; d < q.D; d++)
        for (bi = 0; bi < q.B; bi++)
            rnn_run(a, &q, d, bi, q.D == 2 ? d == 1 : a->reverse, x, w, r, b, initial_h, initial_c, p, y, y_h, y_c,
                    scratch);
    return KERN_OK;
}
