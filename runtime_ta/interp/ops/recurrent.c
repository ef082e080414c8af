/*
 * recurrent.c - LSTM, GRU and RNN (kernels/recurrent.c: kern_rnn).
 *
 * Inputs are ONNX's with sequence_lens resolved offline (absent, or every sequence full length):
 *   LSTM: X, W, R, [B], [initial_h], [initial_c], [P] -> [Y], [Y_h], [Y_c]
 *   GRU, RNN: X, W, R, [B], [initial_h] -> [Y], [Y_h]
 * Outputs are positional and optional (RT_OPF_OPTIONAL_OUTPUTS), at least one present.  Shapes follow
 * the layout attribute (format.h): D = 1, or 2 when bidirectional; G = 4 (LSTM), 3 (GRU), 1 (RNN):
 *   layout 0: X [T,B,I], Y [T,D,B,H], states [D,B,H];  layout 1: X [B,T,I], Y [B,T,D,H], states [B,D,H]
 *   W [D,G*H,I], R [D,G*H,H], B [D,2*G*H], P [D,3*H].
 *
 * onnxruntime's DynamicQuantizeLSTM (kernels/qrecurrent.c: kern_dqlstm), layout 0 and batch 1 only:
 *   X, W, R, [B], [initial_h], [initial_c], [P], W_scale, W_zero_point, R_scale, R_zero_point
 *   -> [Y], [Y_h], [Y_c], with W [D,I,4*H] and R [D,H,4*H] int8 / uint8 (transposed against LSTM's), each
 *   scale and zero point [D] (per tensor) or [D,4*H] (per column), a zero point of its weight's type.
 */
#include <string.h>

#include "ops.h"

static void to_rnn_attr(const rt_rnn_data *d, kern_rnn_attr *a)
{
    memset(a, 0, sizeof(*a));
    a->kind = (kern_rnn_kind)d->kind;
    a->seq_len = d->seq_len;
    a->batch = d->batch;
    a->input_size = d->input_size;
    a->hidden_size = d->hidden_size;
    a->num_directions = d->num_directions;
    a->reverse = (int)d->reverse;
    a->layout = (int)d->layout;
    a->linear_before_reset = (int)d->linear_before_reset;
    a->clip = d->clip;
}

static int dims3(const rt_tensor_desc *t, uint32_t a, uint32_t b, uint32_t c)
{
    const uint32_t dims[3] = {a, b, c};
    return rt_dims_equal(t, 3, dims);
}

static int dims2(const rt_tensor_desc *t, uint32_t a, uint32_t b)
{
    const uint32_t dims[2] = {a, b};
    return rt_dims_equal(t, 2, dims);
}

/* Output k, NULL when absent (or past the op's outputs). */
static const rt_tensor_desc *rnn_output(const rt_prepare_ctx *c, uint32_t k)
{
    return k < c->op->output_count ? rt_op_tensor(c->part, c->op, (uint32_t)c->op->input_count + k) : NULL;
}

static const rt_tensor_desc *rnn_input(const rt_prepare_ctx *c, uint32_t k)
{
    return k < c->op->input_count ? rt_op_tensor(c->part, c->op, k) : NULL;
}

/* transposed: W [D, I, G*H] and R [D, H, G*H] (DynamicQuantizeLSTM's), else ONNX's [D, G*H, I] / [D, G*H, H]. */
static rt_status prepare_rnn(rt_prepare_ctx *c, kern_rnn_kind kind, uint32_t gates, int transposed)
{
    const rt_op_desc *op = c->op;
    const rt_tensor_desc *X = c->in[0], *W = c->in[1], *R = c->in[2], *B = rnn_input(c, 3);
    const rt_tensor_desc *h0 = rnn_input(c, 4), *c0 = rnn_input(c, 5), *P = rnn_input(c, 6);
    const rt_tensor_desc *Y = rnn_output(c, 0), *Yh = rnn_output(c, 1), *Yc = rnn_output(c, 2);
    rt_rnn_data *d = &c->prep->u.rnn;
    const int32_t direction = op->i[RT_ATTR_RNN_DIRECTION], layout = op->i[RT_ATTR_RNN_LAYOUT];
    const int32_t lbr = op->i[RT_ATTR_RNN_LINEAR_BEFORE_RESET];
    const float clip = op->f[RT_FATTR_RNN_CLIP];
    uint32_t T, N, I, H, D, sa, sb;
    kern_rnn_attr attr;
    size_t need;

    if (!rt_attr_in(direction, 0, 2) || !rt_attr_in(layout, 0, 1) || !rt_attr_in(lbr, 0, 1) ||
        (lbr && kind != KERN_RNN_GRU) || !(clip >= 0.0f))
        return RT_ERR_OP_ATTRIBUTE;
    if (!rt_unused_zero(op, RT_ATTR_RNN_COUNT, RT_FATTR_RNN_COUNT))
        return RT_ERR_OP_RESERVED;
    if (Y == NULL && Yh == NULL && Yc == NULL)
        return RT_ERR_OP_TENSOR_INDEX;
    if (X == NULL || W == NULL || R == NULL || X->rank != 3 || W->rank != 3)
        return RT_ERR_OP_SHAPE;
    T = layout == 0 ? X->dims[0] : X->dims[1];
    N = layout == 0 ? X->dims[1] : X->dims[0];
    I = X->dims[2];
    D = direction == 2 ? 2 : 1;
    if (W->dims[transposed ? 2 : 1] % gates != 0)
        return RT_ERR_OP_SHAPE;
    H = W->dims[transposed ? 2 : 1] / gates;
    if (transposed ? !dims3(W, D, I, gates * H) || !dims3(R, D, H, gates * H)
                   : !dims3(W, D, gates * H, I) || !dims3(R, D, gates * H, H))
        return RT_ERR_OP_SHAPE;
    if (B && !dims2(B, D, 2 * gates * H))
        return RT_ERR_OP_SHAPE;
    sa = layout == 0 ? D : N; /* states: [D, N, H] or [N, D, H] */
    sb = layout == 0 ? N : D;
    if ((h0 && !dims3(h0, sa, sb, H)) || (c0 && !dims3(c0, sa, sb, H)) || (P && !dims2(P, D, 3 * H)))
        return RT_ERR_OP_SHAPE;
    if ((Yh && !dims3(Yh, sa, sb, H)) || (Yc && !dims3(Yc, sa, sb, H)))
        return RT_ERR_OP_SHAPE;
    if (Y) {
        const uint32_t y0[4] = {T, D, N, H}, y1[4] = {N, T, D, H};
        if (!rt_dims_equal(Y, 4, layout == 0 ? y0 : y1))
            return RT_ERR_OP_SHAPE;
    }
    d->kind = (uint32_t)kind;
    d->seq_len = T;
    d->batch = N;
    d->input_size = I;
    d->hidden_size = H;
    d->num_directions = D;
    d->reverse = direction == 1;
    d->layout = (uint32_t)layout;
    d->linear_before_reset = (uint32_t)lbr;
    d->clip = clip;
    to_rnn_attr(d, &attr);
    need = kern_scratch_bytes_rnn(&attr);
    c->scratch = need == SIZE_MAX ? UINT64_MAX : (uint64_t)need;
    return RT_OK;
}

static rt_status prepare_lstm(rt_prepare_ctx *c) { return prepare_rnn(c, KERN_RNN_LSTM, 4, 0); }
static rt_status prepare_gru(rt_prepare_ctx *c) { return prepare_rnn(c, KERN_RNN_GRU, 3, 0); }
static rt_status prepare_simple_rnn(rt_prepare_ctx *c) { return prepare_rnn(c, KERN_RNN_SIMPLE, 1, 0); }

/* A scale or zero point of DynamicQuantizeLSTM: [D] or [D, G*H]; its count per direction, 0 if neither. */
static uint32_t dq_param_count(const rt_tensor_desc *t, uint32_t D, uint32_t gh)
{
    if (t->rank == 1 && t->dims[0] == D)
        return 1;
    return dims2(t, D, gh) ? gh : 0;
}

static rt_status prepare_dynamic_quantize_lstm(rt_prepare_ctx *c)
{
    const rt_tensor_desc *W = c->in[1], *R = c->in[2];
    const rt_tensor_desc *ws = rnn_input(c, 7), *wz = rnn_input(c, 8), *rs = rnn_input(c, 9), *rz = rnn_input(c, 10);
    rt_rnn_data *d = &c->prep->u.rnn;
    kern_rnn_attr attr;
    uint32_t gh;
    size_t need;
    rt_status st;
    if (c->op->i[RT_ATTR_RNN_LAYOUT] != 0 || c->op->i[RT_ATTR_RNN_LINEAR_BEFORE_RESET] != 0)
        return RT_ERR_OP_ATTRIBUTE;
    st = prepare_rnn(c, KERN_RNN_LSTM, 4, 1);
    if (st != RT_OK)
        return st;
    if (ws == NULL || wz == NULL || rs == NULL || rz == NULL || d->batch != 1 || d->input_size > KERN_QK_MAX ||
        d->hidden_size > KERN_QK_MAX)
        return RT_ERR_OP_SHAPE;
    gh = 4 * d->hidden_size;
    d->w_type = W->dtype;
    d->r_type = R->dtype;
    d->w_scale_count = dq_param_count(ws, d->num_directions, gh);
    d->r_scale_count = dq_param_count(rs, d->num_directions, gh);
    if (d->w_scale_count == 0 || d->r_scale_count == 0 || !rt_same_dims(ws, wz) || !rt_same_dims(rs, rz))
        return RT_ERR_OP_SHAPE;
    to_rnn_attr(d, &attr);
    need = kern_scratch_bytes_dqlstm(&attr);
    c->scratch = need == SIZE_MAX ? UINT64_MAX : (uint64_t)need;
    return RT_OK;
}

/* Output k's data, NULL when absent. */
static float *rnn_eval_output(const rt_eval_ctx *c, uint32_t k)
{
    const rt_tensor_desc *t =
        k < c->op->output_count ? rt_op_tensor(c->part, c->op, (uint32_t)c->op->input_count + k) : NULL;
    return t ? rt_tensor_data(c->part, t) : NULL;
}

static rt_status eval_rnn(const rt_eval_ctx *c)
{
    kern_rnn_attr attr;
    to_rnn_attr(&c->prep->u.rnn, &attr);
    return rt_from_kern(kern_rnn(&attr, rt_eval_input(c, 0), rt_eval_input(c, 1), rt_eval_input(c, 2),
                                 rt_eval_input(c, 3), rt_eval_input(c, 4), rt_eval_input(c, 5), rt_eval_input(c, 6),
                                 rnn_eval_output(c, 0), rnn_eval_output(c, 1), rnn_eval_output(c, 2), c->scratch,
                                 c->scratch_size));
}

static rt_status eval_dynamic_quantize_lstm(const rt_eval_ctx *c)
{
    const rt_rnn_data *d = &c->prep->u.rnn;
    kern_rnn_attr attr;
    kern_dqlstm_attr q;
    to_rnn_attr(d, &attr);
    q.w_type = (kern_qtype)d->w_type;
    q.r_type = (kern_qtype)d->r_type;
    q.w_scale_count = d->w_scale_count;
    q.r_scale_count = d->r_scale_count;
    return rt_from_kern(kern_dqlstm(&attr, &q, rt_eval_input(c, 0), rt_eval_bytes(c, 1), rt_eval_bytes(c, 2),
                                    rt_eval_input(c, 3), rt_eval_input(c, 4), rt_eval_input(c, 5), rt_eval_input(c, 6),
                                    rt_eval_input(c, 7), rt_eval_bytes(c, 8), rt_eval_input(c, 9), rt_eval_bytes(c, 10),
                                    rnn_eval_output(c, 0), rnn_eval_output(c, 1), rnn_eval_output(c, 2), c->scratch,
                                    c->scratch_size));
}

/* name, inputs min/max, outputs min/max, optional inputs, flags, prepare, eval, input and output types */
const rt_op_registration rt_op_lstm = {"LSTM", 3, 7, 1, 3,
                                       RT_OPTIONAL(3) | RT_OPTIONAL(4) | RT_OPTIONAL(5) | RT_OPTIONAL(6),
                                       RT_OPF_OPTIONAL_OUTPUTS, prepare_lstm, eval_rnn, "f", "f"};
const rt_op_registration rt_op_gru = {"GRU", 3, 5, 1, 2, RT_OPTIONAL(3) | RT_OPTIONAL(4), RT_OPF_OPTIONAL_OUTPUTS,
                                      prepare_gru, eval_rnn, "f", "f"};
const rt_op_registration rt_op_rnn = {"RNN", 3, 5, 1, 2, RT_OPTIONAL(3) | RT_OPTIONAL(4), RT_OPF_OPTIONAL_OUTPUTS,
                                      prepare_simple_rnn, eval_rnn, "f", "f"};
const rt_op_registration rt_op_dynamic_quantize_lstm = {
    "DynamicQuantizeLSTM", 11, 11, 1, 3, RT_OPTIONAL(3) | RT_OPTIONAL(4) | RT_OPTIONAL(5) | RT_OPTIONAL(6),
    RT_OPF_OPTIONAL_OUTPUTS, prepare_dynamic_quantize_lstm, eval_dynamic_quantize_lstm, "fq1fffff1f1", "f"};
