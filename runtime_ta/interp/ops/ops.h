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
/* LSTM, GRU, RNN (kern_rnn_attr, fixed-width). */
typedef struct {
    uint32_t kind; /* kern_rnn_kind */
    uint32_t seq_len, batch, input_size, hidden_size, num_directions, reverse, layout, linear_before_reset;
    float clip;
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
} rt_op_registration;

#define RT_OPF_IN_PLACE 0x1u         /* an input may share the output's bytes: same offset, same dims */
#define RT_OPF_IN_PLACE_RESHAPE 0x2u /* an input may share the output's bytes: same offset, any dims */
#define RT_OPF_ACTIVATION 0x4u       /* elementwise activation (u.act) that a preceding Conv may fuse */
#define RT_OPF_FUSES_ACTIVATION 0x8u /* eval applies a following activation itself under RT_PREP_FUSED */
/* Tensor types (prepare.c checks them before the op's prepare): every input and output is float32,
 * except as these flags say, the first that applies to a tensor deciding:
 *   RT_OPF_INT_OUTPUTS  every output is int32 (ArgMax: indices; comparisons, logic ops: 0/1)
 *   RT_OPF_INT_INPUTS   every input is int32 (the logic ops' booleans)
 *   RT_OPF_CONDITION    input 0 is an int32 condition, and the reference type below is input 1's (Where)
 *   RT_OPF_SAME_DTYPE   every other tensor has the reference type: input 0's (input 1's with
 *                       RT_OPF_CONDITION), float32 or int32 (Copy, comparisons, Where)
 *   RT_OPF_INT_INDICES  input 1 is int32 indices (Gather, GatherElements) */
#define RT_OPF_INT_INDICES 0x100u
#define RT_OPF_SAME_DTYPE 0x200u
#define RT_OPF_INT_OUTPUTS 0x400u
#define RT_OPF_INT_INPUTS 0x800u
#define RT_OPF_CONDITION 0x1000u
#define RT_OPF_OPTIONAL_OUTPUTS 0x10u /* any output may be RT_NO_TENSOR (not computed; ctx->out may be NULL) */

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

/* A (validated) tensor's first byte, whatever its type. */
static inline void *rt_tensor_ptr(const rt_partition *p, const rt_tensor_desc *t)
{
    size_t base = t->location == RT_LOC_WEIGHT ? p->body_offset : 0;
    return (void *)(p->region + base + t->offset);
}

/* A (validated) int32 tensor's first element (one the registration's flags declare int32). */
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

/* Input k's data, NULL when absent (k past the op's inputs, or an absent optional input). */
static inline const float *rt_eval_input(const rt_eval_ctx *c, uint32_t k)
{
    const rt_tensor_desc *t = k < c->op->input_count ? rt_op_tensor(c->part, c->op, k) : NULL;
    return t ? rt_tensor_data(c->part, t) : NULL;
}

/* Output k's data. */
static inline float *rt_eval_output(const rt_eval_ctx *c, uint32_t k)
{
    return rt_tensor_data(c->part, rt_op_tensor(c->part, c->op, (uint32_t)c->op->input_count + k));
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

#endif /* ONNX_TEE_OPS_H */
