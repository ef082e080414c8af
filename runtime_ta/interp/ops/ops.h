/*
 * ops.h - the op layer of the interpreter (private to it): one registration per op, TFLite-Micro style.
 *
 * Every op code has one rt_op_registration (ops/table.c, one line per op) that its family file
 * (ops/<family>.c) defines beside its prepare and eval functions:
 *
 *   name, arity     min/max inputs and outputs, which inputs may be absent (RT_NO_TENSOR)
 *   prepare         runs once per partition load, from the validator (prepare.c), after the generic
 *                   checks (reserved fields, index pool range, tensor indices, outputs in the
 *                   region, arity): checks the op's shape rule and attributes, sizes its scratch
 *                   (ctx->scratch) and fills its typed data (prep->u.<family>).
 *   eval            runs the op from the prepared data alone and trusts it (no re-validation); the
 *                   kernels still check their own arguments.
 *   flags           RT_OPF_*: may run in place; is an activation a preceding Conv may fuse; fuses one.
 *   types           the type of every input and output (float32 unless the signature says otherwise).
 *
 * The prepared data of op k is record k of the body's prepared section (format.h), inside the
 * body, so it is part of the planned memory and nothing at run time can write it (no output or
 * scratch byte may overlap the body).  Its layout uses fixed-width types only, so it has the same
 * size on 32- and 64-bit targets; tensors are referred to by their pool entries, not pointers.
 *
 * Adding an op: its code in format.h (+ attribute slots), prepare + eval + registration in its
 * family file, one line in ops/table.c (and the Python writer).
 */
#ifndef ONNX_TEE_OPS_H
#define ONNX_TEE_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "../interp.h"
#include "../kernels.h"

#define RT_MAX_ATTR 0x100000 /* bound on kernel sizes, strides, pads, dilations, groups, LRN size */
#define RT_PREPARE_INPUTS 5  /* inputs handed to prepare as descriptors (BatchNormalization has 5) */

/* ------------------------------------------------------------------ typed per-op data (prepared) */

/* Window geometry of Conv, ConvTranspose, MaxPool, AveragePool (kern_conv_geom, fixed-width). */
typedef struct {
    uint32_t batch, c_in, h_in, w_in, c_out, h_out, w_out;
    uint32_t kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w;
    uint32_t pad_top, pad_left, pad_bottom, pad_right, group;
    uint32_t count_include_pad; /* AveragePool */
} rt_window_data;

/* An elementwise activation (kern_unary_attr); a Conv fusing it reads it from the next op's record. */
typedef struct {
    uint32_t kind; /* kern_unary_op */
    float alpha, beta;
} rt_act_data;

typedef struct {
    uint32_t kind;      /* kern_binary_op */
    uint32_t sum_alias; /* Sum: the input whose bytes the output takes, or RT_NO_TENSOR */
} rt_binary_data;

typedef struct {
    uint32_t m, n, k, trans_a, trans_b;
    float alpha, beta;
    uint32_t c_stride_m, c_stride_n;
} rt_gemm_data;

/* A tensor viewed as [outer, n, inner]: Softmax, LRN, BatchNormalization, global pools, Concat/Split. */
typedef struct {
    uint32_t outer, n, inner;
    uint32_t axis;      /* Concat, Split */
    uint32_t lrn_size;
    float alpha, beta, bias; /* LRN */
    float epsilon;      /* BatchNormalization */
} rt_extent_data;

/* Slice: start/step; Pad: begin/end, mode, value; Transpose: perm in `a`. */
typedef struct {
    int32_t a[RT_MAX_RANK];
    int32_t b[RT_MAX_RANK];
    uint32_t mode;
    float value;
} rt_movement_data;

typedef struct {
    uint32_t mode, coord, nearest; /* kern_resize_mode, kern_coord_mode, kern_nearest_mode */
    float scale[RT_MAX_RANK];
    float cubic_a;                 /* cubic */
    uint32_t exclude_outside;      /* cubic */
} rt_resize_data;

/* GridSample: kern_resize_mode, kern_grid_padding, align_corners (0 or 1). */
typedef struct {
    uint32_t mode, padding, align_corners;
} rt_grid_sample_data;

/* Reduce*: the kern_reduce_op and the reduced dims (bit d = input dim d). */
typedef struct {
    uint32_t kind, axes_mask;
} rt_reduce_data;

/* LayerNormalization ([batch = outer, 1, 1, spatial = n]), InstanceNormalization and
 * GroupNormalization ([batch, groups, channels per group, spatial]). */
typedef struct {
    uint32_t batch, groups, channels_per_group, spatial, per_channel;
    float epsilon;
} rt_norm_data;
/* Gather: data viewed as [outer, n, inner], `count` indices; GatherElements: the axis. */
typedef struct {
    uint32_t outer, n, inner, count;
    uint32_t axis;
} rt_index_data;
/* ArgMax, ArgMin: X viewed as [outer, n, inner] along the axis. */
typedef struct {
    uint32_t outer, n, inner, is_min, select_last;
} rt_arg_data;
/* Comparisons, logic ops, Where: the kern_compare_op / kern_logic_op, the operands' kern_dtype. */
typedef struct {
    uint32_t kind, dtype;
} rt_logical_data;
/* LSTM, GRU, RNN (kern_rnn_attr, fixed-width); DynamicQuantizeLSTM also kern_dqlstm_attr (0 otherwise). */
typedef struct {
    uint32_t kind; /* kern_rnn_kind */
    uint32_t seq_len, batch, input_size, hidden_size, num_directions, reverse, layout, linear_before_reset;
    float clip;
    uint32_t w_type, r_type, w_scale_count, r_scale_count;
} rt_rnn_data;

/* Every record starts with this. */
typedef struct {
    uint16_t op;        /* RT_OP_* (a copy of the op record's) */
    uint16_t flags;     /* RT_PREP_* */
    uint32_t scratch;   /* scratch bytes eval uses (<= the header's scratch_size) */
    uint32_t touch_end; /* highest region byte (offset + size) the op reads or writes: tensors, scratch */
    uint32_t reserved;
} rt_prepared_head;

#define RT_PREP_FUSED 0x1u   /* eval also applies the next op, an in-place activation on this op's output */
#define RT_PREP_APPLIED 0x2u /* the op before applied this one: nothing to run */

typedef struct {
    rt_prepared_head head;
    union {
        rt_window_data window;
        rt_act_data act;
        rt_binary_data binary;
        rt_gemm_data gemm;
        rt_extent_data extent;
        rt_movement_data move;
        rt_resize_data resize;
        rt_grid_sample_data grid_sample;
        rt_reduce_data reduce;
        rt_norm_data norm;
        rt_index_data index;
        rt_rnn_data rnn;
        rt_arg_data arg;
        rt_logical_data logical;
        uint8_t bytes[RT_PREPARED_OP_SIZE - sizeof(rt_prepared_head)];
    } u;
} rt_prepared_op;

RT_STATIC_ASSERT(sizeof(rt_prepared_op) == RT_PREPARED_OP_SIZE, prepared_op_fits);
RT_STATIC_ASSERT(sizeof(rt_prepared_head) == 16, prepared_head_size);

/* ------------------------------------------------------------------ registration */

typedef struct {
    const rt_partition *part;
    uint32_t index;                               /* op index in the partition */
    const rt_op_desc *op;
    const rt_tensor_desc *in[RT_PREPARE_INPUTS];  /* the first inputs; NULL when absent */
    const rt_tensor_desc *out;                    /* the first output */
    rt_prepared_op *prep;                         /* zeroed; prepare fills u */
    uint64_t scratch;                             /* prepare sets the scratch bytes eval needs */
} rt_prepare_ctx;

typedef struct {
    const rt_partition *part;
    const rt_op_desc *op;
    const rt_prepared_op *prep;
    const rt_prepared_op *next; /* the next op's record (RT_PREP_FUSED), else NULL */
    float *scratch;
    size_t scratch_size;
} rt_eval_ctx;

typedef rt_status (*rt_prepare_fn)(rt_prepare_ctx *ctx);
typedef rt_status (*rt_eval_fn)(const rt_eval_ctx *ctx);

typedef struct {
    const char *name;             /* ONNX name ("Conv"); COPY: "Copy" */
    uint16_t min_inputs, max_inputs;
    uint16_t min_outputs, max_outputs;
    uint16_t optional_inputs;     /* bit k: input k may be RT_NO_TENSOR */
    uint16_t flags;               /* RT_OPF_* */
    rt_prepare_fn prepare;
    rt_eval_fn eval;
    const char *in_types;         /* type signature (below): "f", "f" for an op over float32 only */
    const char *out_types;
} rt_op_registration;

#define RT_OPF_IN_PLACE 0x1u         /* an input may share the output's bytes: same offset, same dims */
#define RT_OPF_IN_PLACE_RESHAPE 0x2u /* an input may share the output's bytes: same offset, any dims */
#define RT_OPF_ACTIVATION 0x4u       /* elementwise activation (u.act) that a preceding Conv may fuse */
#define RT_OPF_FUSES_ACTIVATION 0x8u /* eval applies a following activation itself under RT_PREP_FUSED */
#define RT_OPF_OPTIONAL_OUTPUTS 0x10u /* any output may be RT_NO_TENSOR (not computed; ctx->out may be NULL) */

/* Type signature: one character per input (in_types) and per output (out_types), the last one
 * standing for every later entry (variadic ops); prepare.c checks every present tensor against it
 * before the op's prepare runs, so a kernel never sees a type it does not handle.
 *   'f' float32   'i' int32   'b' int8   'u' uint8   'q' int8 or uint8   'n' int8, uint8 or int32
 *   'a' float32, int8 or uint8 (real values, quantized or not)   'w' float32 or int32   'x' any type
 *   '0'..'9' the type of input k (a required input)
 * passes/target/signature.py reads the same codes (OpTarget.types). */
#define RT_ARITY_MANY 0xFFFFu
#define RT_OPTIONAL(k) (1u << (k))

/* The registration of an op code, or NULL (ops/table.c). */
const rt_op_registration *rt_op_lookup(uint32_t code);

/* Op index's prepared record of a partition whose header validated. */
static inline rt_prepared_op *rt_prepared(const rt_partition *p, uint32_t index)
{
    return (rt_prepared_op *)(void *)(p->region + p->body_offset + p->header->prepared_offset) + index;
}

/* ------------------------------------------------------------------ helpers for prepare and eval */

/* Pool entry k of an op (its inputs, then its outputs) as a tensor; NULL when absent. */
static inline const rt_tensor_desc *rt_op_tensor(const rt_partition *p, const rt_op_desc *op, uint32_t k)
{
    uint32_t idx = p->pool[op->inputs_start + k];
    return idx == RT_NO_TENSOR ? NULL : &p->tensors[idx];
}

/* A (validated) tensor's first byte, whatever its type (the one the op's signature checked). */
static inline void *rt_tensor_ptr(const rt_partition *p, const rt_tensor_desc *t)
{
    size_t base = t->location == RT_LOC_WEIGHT ? p->body_offset : 0;
    return (void *)(p->region + base + t->offset);
}

/* A (validated) int32 tensor's first element (one the registration's signature declares int32). */
static inline int32_t *rt_tensor_ints(const rt_partition *p, const rt_tensor_desc *t)
{
    return (int32_t *)rt_tensor_ptr(p, t);
}

/* A (validated) float32 tensor's first element. */
static inline float *rt_tensor_data(const rt_partition *p, const rt_tensor_desc *t)
{
    return (float *)rt_tensor_ptr(p, t);
}

static inline const rt_tensor_desc *rt_eval_tensor(const rt_eval_ctx *c, uint32_t k)
{
    return rt_op_tensor(c->part, c->op, k);
}

/* Input k's bytes (any type), NULL when absent (k past the op's inputs, or an absent optional input). */
static inline const void *rt_eval_bytes(const rt_eval_ctx *c, uint32_t k)
{
    const rt_tensor_desc *t = k < c->op->input_count ? rt_op_tensor(c->part, c->op, k) : NULL;
    return t ? rt_tensor_ptr(c->part, t) : NULL;
}

/* Input k's float32 data, NULL when absent. */
static inline const float *rt_eval_input(const rt_eval_ctx *c, uint32_t k)
{
    return (const float *)rt_eval_bytes(c, k);
}

/* Output k's bytes (any type). */
static inline void *rt_eval_output_bytes(const rt_eval_ctx *c, uint32_t k)
{
    return rt_tensor_ptr(c->part, rt_op_tensor(c->part, c->op, (uint32_t)c->op->input_count + k));
}

/* Output k's float32 data. */
static inline float *rt_eval_output(const rt_eval_ctx *c, uint32_t k)
{
    return (float *)rt_eval_output_bytes(c, k);
}

static inline void rt_kshape(const rt_tensor_desc *t, kern_shape *s)
{
    size_t d;
    s->rank = t->rank;
    for (d = 0; d < KERN_MAX_RANK; d++)
        s->dim[d] = d < t->rank ? t->dims[d] : 1;
}

static inline rt_status rt_from_kern(kern_status s)
{
    return s == KERN_OK ? RT_OK : s == KERN_ESCRATCH ? RT_ERR_SCRATCH_TOO_SMALL : RT_ERR_KERNEL;
}

static inline int rt_attr_in(int32_t v, int32_t lo, int32_t hi) { return v >= lo && v <= hi; }

/* Shape-rule helpers (ops/common.c). */
int rt_same_dims(const rt_tensor_desc *a, const rt_tensor_desc *b);
uint64_t rt_prod_dims(const rt_tensor_desc *t, uint32_t from, uint32_t to);
int rt_broadcast(const rt_tensor_desc *a, const rt_tensor_desc *b, uint32_t *rank, uint32_t *dims);
int rt_dims_equal(const rt_tensor_desc *t, uint32_t rank, const uint32_t *dims);
/* Integer slots from ints_used and float slots from floats_used on are all 0. */
int rt_unused_zero(const rt_op_desc *op, uint32_t ints_used, uint32_t floats_used);

/* A map y[i] = f(x[i]) (kern_unary: the activations and the unary math ops): y has x's dims, slots past
 * ints_used / floats_used are 0; alpha, beta are the map's parameters. */
rt_status rt_prepare_unary(rt_prepare_ctx *c, kern_unary_op kind, uint32_t ints_used, uint32_t floats_used,
                           float alpha, float beta);
rt_status rt_eval_unary(const rt_eval_ctx *c);

/* numpy matmul's shape rule (ops/gemm_matmul.c): rank-1 A is [1, K], rank-1 B is [K, 1] (dropped from y);
 * the batch dims broadcast. */
rt_status rt_matmul_shape(const rt_tensor_desc *A, const rt_tensor_desc *B, const rt_tensor_desc *y);

/* Window geometry (ops/window.c): slots 0-12 and the x / y dims into g (ranges checked, not the output size). */
rt_status rt_window_geom(const rt_op_desc *op, const rt_tensor_desc *x, const rt_tensor_desc *y, rt_window_data *g);
/* The kernels' form of a window geometry. */
void rt_kern_geom(const rt_window_data *w, kern_conv_geom *g);
/* Output length of a window op: floor or (ONNX) ceil mode; 0 when the window does not fit. */
uint64_t rt_window_out(uint64_t in, uint64_t pad_begin, uint64_t pad_end, uint64_t kernel, uint64_t stride,
                       uint64_t dilation, int ceil_mode);
/* The Conv (transpose 0) / ConvTranspose (1) shape rule: geometry, unused slots 0, w [c_out, c_in/group, kh,
 * kw] (ConvTranspose: [c_in, c_out/group, kh, kw]), b NULL or [c_out], y's spatial size. */
rt_status rt_conv_shape(const rt_op_desc *op, const rt_tensor_desc *x, const rt_tensor_desc *w,
                        const rt_tensor_desc *b, const rt_tensor_desc *y, int transpose, rt_window_data *g);

#endif /* ONNX_TEE_OPS_H */
