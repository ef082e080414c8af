/*
 * qrecurrent.c - onnxruntime's DynamicQuantizeLSTM (com.microsoft): an LSTM whose W and R are int8 /
 * uint8, each GEMM's float operand quantized dynamically, the rest float32.
 *
 * In onnxruntime's order of operations (dynamic_quantize_lstm.cc, uni_directional_lstm.cc and the
 * quantized ComputeGemm of rnn_helpers.cc), per direction d:
 *     x_s, x_zp = DynamicQuantizeLinear's parameters of the whole X (min / max with 0; every step)
 *     xw[t, j]  = (float)(sum_i (xq[t, i] - x_zp) (W[d, i, j] - w_zp)) * (x_s * w_scale[d, j])
 *   per step, h the hidden state (initial_h or zeros at the first step):
 *     h_s, h_zp = the same parameters of h;  hq = QuantizeLinear(h, h_s, h_zp)
 *     g[j]      = xw[t, j] + (float)(sum_k (hq[k] - h_zp) (R[d, k, j] - r_zp)) * (h_s * r_scale[d, j])
 *   then kern_lstm_gates (recurrent.c): g += peepholes, g += Wb + Rb (summed once, as onnxruntime's
 *   fused bias), clip, sigmoid / tanh, the cell and hidden states.
 * w_scale / r_scale hold one value per direction or one per column j (4H); w_zp / r_zp as many, and
 * onnxruntime uses the direction's first: int8 weights must have zero points 0, uint8 weights one zero
 * point for the whole tensor (checked here each run, KERN_EINVAL otherwise).  The int32 sums are exact
 * (kern_qmatmul), so xw and g equal onnxruntime's up to the order of its float additions.
 *
 * The input projection runs in chunks of up to KERN_RNN_TC steps (as kern_rnn): each chunk's rows are
 * quantized with X's parameters into xq, then one kern_qmatmul gives their int32 sums.  Batch 1 only:
 * onnxruntime quantizes the hidden states of a batch together, in row blocks its thread count decides.
 *
 * Scratch, tc = min(T, KERN_RNN_TC): int32 accx [tc * 4H] | int32 acch [4H] | float g [4H] | float
 * bias [4H] | float h [H] | float c [H] | uint8 xq [tc * I] | uint8 hq [H].
 */
#include <string.h>

#include "internal.h"

#define DQ_GATES 4

size_t kern_scratch_bytes_dqlstm(const kern_rnn_attr *a)
{
    const size_t tc = kmin(a->seq_len, KERN_RNN_TC), H = a->hidden_size;
    size_t gh, words, bytes, xq;
    /* 4H fits size_t once gh does, so 2H does too; tc + 3 <= KERN_RNN_TC + 3 */
    if (!kmul(DQ_GATES, H, &gh) || !kmul(tc + 3, gh, &words) || words > SIZE_MAX - 2 * H)
        return SIZE_MAX;
    words += 2 * H;
    if (!kmul(words, 4, &bytes) || !kmul(tc, a->input_size, &xq) || xq > SIZE_MAX - bytes ||
        H > SIZE_MAX - bytes - xq)
        return SIZE_MAX;
    return bytes + xq + H;
}

/* int8 weights: every zero point 0; uint8: all equal (onnxruntime's checks, over the whole tensor). */
static int dq_zero_points_ok(kern_qtype t, const void *zp, size_t n)
{
    const int32_t first = kern_qzero(t, zp, 0);
    size_t i;
    if (t == KERN_INT8 && first != 0)
        return 0;
    for (i = 1; i < n; i++)
        if (kern_qzero(t, zp, i) != first)
            return 0;
    return 1;
}

/* acc [m, n] = the exact int32 sums of (a - a_zp) (b - b_zp): a uint8 [m, k], b [k, n] of type t. */
static kern_status dq_gemm(size_t m, size_t k, size_t n, const uint8_t *a, const uint8_t *a_zp, kern_qtype t,
                           const void *b, const void *b_zp, int32_t *acc)
{
    kern_qmatmul_attr q;
    kern_shape as, bs, ys;
    q.a_type = KERN_UINT8;
    q.b_type = t;
    q.y_type = KERN_INT32;
    q.b_zp_count = 1;
    q.b_scale_count = 1;
    as.rank = bs.rank = ys.rank = 2;
    as.dim[0] = m;
    as.dim[1] = k;
    bs.dim[0] = k;
    bs.dim[1] = n;
    ys.dim[0] = m;
    ys.dim[1] = n;
    return kern_qmatmul(&q, &as, a, a_zp, &bs, b, b_zp, NULL, NULL, NULL, NULL, &ys, acc, NULL, 0);
}

typedef struct {
    int32_t *accx, *acch;
    float *g, *bias, *h, *c;
    uint8_t *xq, *hq;
} dq_scratch;

static void dq_carve(const kern_rnn_geom *q, size_t tc, void *scratch, dq_scratch *s)
{
    s->accx = (int32_t *)scratch;
    s->acch = s->accx + tc * q->GH;
    s->g = (float *)(void *)(s->acch + q->GH);
    s->bias = s->g + q->GH;
    s->h = s->bias + q->GH;
    s->c = s->h + q->H;
    s->xq = (uint8_t *)(void *)(s->c + q->H);
    s->hq = s->xq + tc * q->I;
}

/* One direction (batch row 0). */
static kern_status dq_run(const kern_rnn_attr *a, const kern_dqlstm_attr *qa, const kern_rnn_geom *q, size_t d,
                          int rev, const float *x, float x_s, uint8_t x_zp, const void *w, const void *r,
                          const float *b, const float *initial_h, const float *initial_c, const float *p,
                          const float *w_scale, const void *w_zp, const float *r_scale, const void *r_zp, float *y,
                          float *y_h, float *y_c, const dq_scratch *s)
{
    const size_t T = q->T, I = q->I, H = q->H, GH = q->GH, tc = kmin(T, KERN_RNN_TC);
    /* int8 and uint8 are one byte: element offsets are byte offsets */
    const void *wd = (const uint8_t *)w + d * I * GH, *rd = (const uint8_t *)r + d * H * GH;
    const void *wz = (const uint8_t *)w_zp + d * qa->w_scale_count;
    const void *rz = (const uint8_t *)r_zp + d * qa->r_scale_count;
    const float *ws = w_scale + d * qa->w_scale_count, *rs = r_scale + d * qa->r_scale_count;
    const float *pd = p ? p + d * 3 * H : NULL;
    size_t s0, j, k;
    kern_status st;

    kern_rnn_state_load(q, d, 0, initial_h, initial_c, s->h, s->c);
    if (b)
        for (k = 0; k < GH; k++)
            s->bias[k] = b[d * 2 * GH + k] + b[d * 2 * GH + GH + k];
    for (s0 = 0; s0 < T; s0 += tc) {
        const size_t n = kmin(tc, T - s0);
        for (j = 0; j < n; j++) {
            const size_t t = rev ? T - 1 - (s0 + j) : s0 + j;
            st = kern_quantize(KERN_UINT8, 1, 1, I, x + t * q->x_t, &x_s, &x_zp, s->xq + j * I);
            if (st != KERN_OK)
                return st;
        }
        st = dq_gemm(n, I, GH, s->xq, &x_zp, qa->w_type, wd, wz, s->accx);
        if (st != KERN_OK)
            return st;
        for (j = 0; j < n; j++) {
            const size_t t = rev ? T - 1 - (s0 + j) : s0 + j;
            const int32_t *ax = s->accx + j * GH;
            float h_s;
            uint8_t h_zp;
            st = kern_dynamic_quantize(H, s->h, s->hq, &h_s, &h_zp);
            if (st == KERN_OK)
                st = dq_gemm(1, H, GH, s->hq, &h_zp, qa->r_type, rd, rz, s->acch);
            if (st != KERN_OK)
                return st;
            for (k = 0; k < GH; k++) {
                const float xw = (float)ax[k] * (x_s * ws[qa->w_scale_count > 1 ? k : 0]);
                s->g[k] = xw + (float)s->acch[k] * (h_s * rs[qa->r_scale_count > 1 ? k : 0]);
            }
            kern_lstm_gates(H, a->clip, pd, b ? s->bias : NULL, s->g, s->c, s->h);
            if (y)
                memcpy(y + t * q->y_t + d * q->y_d, s->h, H * sizeof(float));
        }
    }
    if (y_h)
        memcpy(y_h + d * q->s_d, s->h, H * sizeof(float));
    if (y_c)
        memcpy(y_c + d * q->s_d, s->c, H * sizeof(float));
    return KERN_OK;
}

kern_status kern_dqlstm(const kern_rnn_attr *a, const kern_dqlstm_attr *qa, const float *x, const void *w,
                        const void *r, const float *b, const float *initial_h, const float *initial_c, const float *p,
                        const float *w_scale, const void *w_zp, const float *r_scale, const void *r_zp, float *y,
                        float *y_h, float *y_c, void *scratch, size_t scratch_bytes)
{
    kern_rnn_geom q;
    dq_scratch s;
    size_t d, n;
    float x_s;
    uint8_t x_zp;
    kern_status st;
    if (a->kind != KERN_RNN_LSTM || a->batch != 1 || a->layout != 0 || !x || !w || !r || !w_scale || !w_zp ||
        !r_scale || !r_zp || (qa->w_type != KERN_UINT8 && qa->w_type != KERN_INT8) ||
        (qa->r_type != KERN_UINT8 && qa->r_type != KERN_INT8))
        return KERN_EINVAL;
    st = kern_rnn_geometry(a, &q);
    if (st != KERN_OK)
        return st;
    if ((qa->w_scale_count != 1 && qa->w_scale_count != q.GH) || (qa->r_scale_count != 1 && qa->r_scale_count != q.GH) ||
        q.I > KERN_QK_MAX || q.H > KERN_QK_MAX)
        return KERN_EINVAL;
    if (!dq_zero_points_ok(qa->w_type, w_zp, q.D * qa->w_scale_count) ||
        !dq_zero_points_ok(qa->r_type, r_zp, q.D * qa->r_scale_count))
        return KERN_EINVAL;
    if (kern_scratch_bytes_dqlstm(a) == SIZE_MAX)
        return KERN_EOVERFLOW;
    if (scratch_bytes < kern_scratch_bytes_dqlstm(a) || scratch == NULL)
        return KERN_ESCRATCH;
    dq_carve(&q, kmin(q.T, KERN_RNN_TC), scratch, &s);
    if (!kmul(q.T, q.I, &n))
        return KERN_EOVERFLOW;
    st = kern_dynamic_qparams(n, x, &x_s, &x_zp);
    for (d = 0; st == KERN_OK && d < q.D; d++)
        st = dq_run(a, qa, &q, d, q.D == 2 ? d == 1 : a->reverse, x, x_s, x_zp, w, r, b, initial_h, initial_c, p,
                    w_scale, w_zp, r_scale, r_zp, y, y_h, y_c, &s);
    return st;
}
