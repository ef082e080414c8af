/*
 * format.h - the one C definition of a partition body (the plaintext inside an encrypted blob).
 *
 * Spec with field tables: runtime_ta/FORMAT.md.  Python writer: passes/lower/format.py (its tests
 * compile this header and compare every size, offset and constant, so the two cannot drift).
 *
 * A body is decrypted into the TA's one region at a planned, 64-byte aligned offset and used in
 * place.  Little-endian, every section 64-byte aligned, fixed-width records:
 *
 *   +--------------------+  0
 *   | rt_body_header     |  128 bytes
 *   +--------------------+  tensor_table_offset
 *   | rt_tensor_desc[nt] |  48 bytes each
 *   +--------------------+  op_table_offset
 *   | rt_op_desc[nops]   |  128 bytes each
 *   +--------------------+  index_pool_offset
 *   | uint32_t pool[np]  |  tensor indices of every op's inputs, then its outputs
 *   +--------------------+  prepared_offset
 *   | prepared[nops]     |  RT_PREPARED_OP_SIZE bytes each: zero as written; the validator fills
 *   |                    |  it with each op's typed kernel data (interp/ops/ops.h), eval reads it
 *   +--------------------+  weights_offset
 *   | weights            |  each weight tensor 64-byte aligned, referenced in place
 *   +--------------------+  body_size
 *
 * Structs are overlaid on the aligned body bytes; the layout is fixed by the static asserts below
 * (natural alignment, no implicit padding) and is only valid on little-endian targets.
 */
#ifndef ONNX_TEE_FORMAT_H
#define ONNX_TEE_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define RT_BODY_MAGIC 0x59444254u /* "TBDY" read as a little-endian uint32 */
#define RT_FORMAT_VERSION 3u
#define RT_ALIGN 64u
#define RT_MAX_RANK 6u
#define RT_NUM_INTS 20u
#define RT_NUM_FLOATS 8u
#define RT_NO_TENSOR 0xFFFFFFFFu /* index pool entry for an absent optional input (e.g. Conv bias) */

#define RT_HEADER_SIZE 128u
#define RT_TENSOR_DESC_SIZE 48u
#define RT_OP_DESC_SIZE 128u
#define RT_PREPARED_OP_SIZE 96u /* bytes per op in the prepared section (rt_prepared_op, interp/ops/ops.h) */
#define RT_HEADER_RESERVED_WORDS 15u

/* Tensor element types (ONNX TensorProto codes), sized exactly (rt_dtype_size).  Which op reads or writes
 * which type is declared by its registration (interp/ops/ops.h: the type signature) and checked at
 * validation: float32 by default; int32 indices (Gather's), arg-reductions' outputs, booleans (0/1:
 * comparison and logic outputs, Where's condition) and integer sums (ConvInteger, MatMulInteger,
 * QLinearConv's bias); int8/uint8 quantized tensors; Copy passes any type through.  An int64 tensor
 * (token ids, an ArgMax result) and a bool one are stored as int32: the host narrows int64 inputs,
 * refusing values outside int32, and widens outputs back. */
#define RT_DTYPE_FLOAT32 1u
#define RT_DTYPE_UINT8 2u
#define RT_DTYPE_INT8 3u
#define RT_DTYPE_INT32 6u

/* Bytes per element of a dtype; 0 for a code the format does not know. */
static inline uint32_t rt_dtype_size(uint32_t dtype)
{
    return dtype == RT_DTYPE_FLOAT32 || dtype == RT_DTYPE_INT32 ? 4u
           : dtype == RT_DTYPE_UINT8 || dtype == RT_DTYPE_INT8  ? 1u
                                                                : 0u;
}

/* Where a tensor lies. */
#define RT_LOC_WEIGHT 1u /* offset is relative to the body start; read-only */
#define RT_LOC_REGION 2u /* offset is absolute in the region: arena, carried tensor or model input/output */

/* Tensor flags (informational for the host side; the interpreter checks only their consistency). */
#define RT_TFLAG_PARTITION_INPUT 0x01u  /* produced before this partition (or a model input) */
#define RT_TFLAG_PARTITION_OUTPUT 0x02u /* read after this partition (or a model output) */
#define RT_TFLAG_MODEL_INPUT 0x04u      /* io_index = position among the model's graph inputs */
#define RT_TFLAG_MODEL_OUTPUT 0x08u     /* io_index = position among the model's graph outputs */
#define RT_TFLAG_ALL 0x0Fu

/* Op codes.  Attribute layouts (ints i[], floats f[]) are listed per op in FORMAT.md. */
#define RT_OP_CONV 1u
#define RT_OP_CONV_TRANSPOSE 2u
#define RT_OP_GEMM 3u
#define RT_OP_MATMUL 4u
#define RT_OP_RELU 5u
#define RT_OP_LEAKY_RELU 6u
#define RT_OP_CLIP 7u
#define RT_OP_SIGMOID 8u
#define RT_OP_HARD_SIGMOID 9u
#define RT_OP_HARD_SWISH 10u
#define RT_OP_TANH 11u
#define RT_OP_SOFTMAX 12u
#define RT_OP_LRN 13u
#define RT_OP_BATCH_NORM 14u
#define RT_OP_MAX_POOL 15u
#define RT_OP_AVERAGE_POOL 16u
#define RT_OP_GLOBAL_AVERAGE_POOL 17u
#define RT_OP_GLOBAL_MAX_POOL 18u
#define RT_OP_ADD 19u
#define RT_OP_SUB 20u
#define RT_OP_MUL 21u
#define RT_OP_DIV 22u
#define RT_OP_SUM 23u
#define RT_OP_CONCAT 24u
#define RT_OP_SPLIT 25u
#define RT_OP_SLICE 26u
#define RT_OP_COPY 27u /* Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout: same bytes, new shape */
#define RT_OP_TRANSPOSE 28u
#define RT_OP_PAD 29u
#define RT_OP_RESIZE 30u
/* elementwise math (interp/ops/math.c) */
#define RT_OP_POW 31u              /* numpy broadcasting */
#define RT_OP_SQRT 32u
#define RT_OP_RECIPROCAL 33u
#define RT_OP_EXP 34u
#define RT_OP_LOG 35u
#define RT_OP_ABS 36u
#define RT_OP_NEG 37u
#define RT_OP_ROUND 38u            /* Floor, Ceil, Round: RT_ATTR_ROUND_MODE */
#define RT_OP_ERF 39u
#define RT_OP_GELU 40u
#define RT_OP_SOFTPLUS 41u
#define RT_OP_SOFTSIGN 42u
#define RT_OP_ELU 43u              /* Elu, Selu, Celu */
#define RT_OP_PRELU 44u            /* slope broadcast to X */
#define RT_OP_MISH 45u
#define RT_OP_THRESHOLDED_RELU 46u
#define RT_OP_MAX 47u              /* n inputs, numpy broadcasting */
#define RT_OP_MIN 48u
#define RT_OP_QUICK_GELU 49u       /* com.microsoft: x * sigmoid(alpha x); SiLU at alpha 1 (FATTR_QUICK_GELU_ALPHA) */
/* Reductions and normalizations (codes 50-69). */
#define RT_OP_REDUCE_MEAN 50u
#define RT_OP_REDUCE_SUM 51u
#define RT_OP_REDUCE_MAX 52u
#define RT_OP_REDUCE_MIN 53u
#define RT_OP_REDUCE_PROD 54u
#define RT_OP_REDUCE_L1 55u
#define RT_OP_REDUCE_L2 56u
#define RT_OP_REDUCE_LOG_SUM_EXP 57u
#define RT_OP_REDUCE_SUM_SQUARE 58u
#define RT_OP_LAYER_NORM 59u
#define RT_OP_INSTANCE_NORM 60u
#define RT_OP_GROUP_NORM 61u
#define RT_OP_LOG_SOFTMAX 62u
/* 70-89: indexing and data layout (ops/gather.c, ops/layout.c) */
#define RT_OP_GATHER 70u          /* data, int32 indices -> data gathered along an axis */
#define RT_OP_GATHER_ELEMENTS 71u /* data, int32 indices (same rank) -> one element per index */
#define RT_OP_DEPTH_TO_SPACE 72u
#define RT_OP_SPACE_TO_DEPTH 73u
#define RT_OP_EXPAND 74u          /* broadcast to the output dims */
#define RT_OP_TILE 75u            /* repeat along each dim: output dim = input dim x repeats */
#define RT_OP_GRID_SAMPLE 76u     /* x [N,C,D1..Dr], grid [N,D1'..Dr',r] (r = 2, 3) -> y [N,C,D1'..Dr'] */
#define RT_OP_LSTM 90u /* recurrent family: codes 90-99 */
#define RT_OP_GRU 91u
#define RT_OP_RNN 92u
/* 100-119: arg-reductions, trigonometry, booleans (int32 0/1 tensors) */
#define RT_OP_ARG_MAX 100u        /* float32 X -> int32 indices */
#define RT_OP_ARG_MIN 101u
#define RT_OP_SIN 102u
#define RT_OP_COS 103u
#define RT_OP_TAN 104u
#define RT_OP_ASIN 105u
#define RT_OP_ACOS 106u
#define RT_OP_ATAN 107u
#define RT_OP_SINH 108u
#define RT_OP_COSH 109u
#define RT_OP_ASINH 110u
#define RT_OP_ACOSH 111u
#define RT_OP_ATANH 112u
#define RT_OP_COMPARE 113u        /* Equal, Greater, ...: RT_ATTR_COMPARE_MODE; float32 or int32 -> 0/1 */
#define RT_OP_NOT 114u
#define RT_OP_AND 115u
#define RT_OP_OR 116u
#define RT_OP_XOR 117u
#define RT_OP_WHERE 118u          /* condition, X, Y (float32 or int32), numpy broadcasting */
/* 120-159: quantized (int8 / uint8) ops (interp/ops/quant.c); zero points have their tensor's type,
 * scales are float32, requantization is integer (interp/kernels.h) */
#define RT_OP_QUANTIZE_LINEAR 120u         /* x (f32), scale, [zp] -> y (int8 / uint8: zp's type) */
#define RT_OP_DEQUANTIZE_LINEAR 121u       /* x (int8 / uint8 / int32), scale, [zp] -> y (f32) */
#define RT_OP_DYNAMIC_QUANTIZE_LINEAR 122u /* x (f32) -> y (uint8), y_scale, y_zp */
#define RT_OP_QLINEAR_CONV 123u            /* x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, [B int32] -> y */
#define RT_OP_CONV_INTEGER 124u            /* x, w, [x_zp], [w_zp] -> y (int32) */
#define RT_OP_QLINEAR_MATMUL 125u          /* a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp -> y */
#define RT_OP_MATMUL_INTEGER 126u          /* a, b, [a_zp], [b_zp] -> y (int32) */
/* onnxruntime's com.microsoft QOperator ops (interp/ops/qlinear.c); scales and zero points one value each */
#define RT_OP_QLINEAR_ADD 127u             /* a, a_scale, [a_zp], b, b_scale, [b_zp], y_scale, [y_zp] -> y */
#define RT_OP_QLINEAR_MUL 128u             /* as QLinearAdd */
#define RT_OP_QLINEAR_GLOBAL_AVERAGE_POOL 129u /* x, x_scale, [x_zp], y_scale, [y_zp] -> y (channels first) */
#define RT_OP_QLINEAR_CONCAT 130u          /* y_scale, y_zp, (x, x_scale, x_zp)... -> y; ATTR_CONCAT_AXIS */
#define RT_OP_QLINEAR_SIGMOID 131u         /* x, x_scale, [x_zp], y_scale, [y_zp] -> y */
#define RT_OP_QLINEAR_LEAKY_RELU 132u      /* as QLinearSigmoid; FATTR_LEAKY_RELU_ALPHA */
/* type conversion (interp/ops/cast.c) */
#define RT_OP_CAST 133u                    /* x (any type) -> y (any type, same dims); ATTR_CAST_TO_BOOL */
/* onnxruntime's DynamicQuantizeLSTM (com.microsoft; interp/ops/recurrent.c): int8 / uint8 W [D,I,4H], R [D,H,4H] */
#define RT_OP_DYNAMIC_QUANTIZE_LSTM 134u   /* x, w, r, [b], [h0], [c0], [p], w_scale, w_zp, r_scale, r_zp -> [y], [y_h], [y_c] */
#define RT_OP_MAX_CODE 134u

/* Attribute slots: RT_ATTR_<OP>_<NAME> indexes the integer attributes i[], RT_FATTR_<OP>_<NAME> the
 * float attributes f[]; an array attribute names its first slot (one slot per dim, RT_MAX_RANK of
 * them).  RT_ATTR_<OP>_COUNT / RT_FATTR_<OP>_COUNT = slots the op uses; every slot past them must be 0.
 * ONNX attributes are resolved offline (passes/lower/lowering.py), so no slot holds a default to
 * interpret.  FORMAT.md lists the same table (tests/test_format_header.py checks it against this one).
 *
 * Window ops: Conv, ConvTranspose, MaxPool, AveragePool share slots 0-10 (1-D ops are stored with
 * H = 1, rank-3 tensors; pools have group 1). */
#define RT_ATTR_CONV_GROUP 0
#define RT_ATTR_CONV_KERNEL_H 1
#define RT_ATTR_CONV_KERNEL_W 2
#define RT_ATTR_CONV_STRIDE_H 3
#define RT_ATTR_CONV_STRIDE_W 4
#define RT_ATTR_CONV_PAD_TOP 5      /* auto_pad resolved into explicit pads */
#define RT_ATTR_CONV_PAD_LEFT 6
#define RT_ATTR_CONV_PAD_BOTTOM 7
#define RT_ATTR_CONV_PAD_RIGHT 8
#define RT_ATTR_CONV_DILATION_H 9
#define RT_ATTR_CONV_DILATION_W 10
#define RT_ATTR_CONV_COUNT 11
#define RT_ATTR_CONV_W_LAYOUT 11   /* Conv only: 0 W in ONNX order; 1 a 1x1 W stored transposed (FORMAT.md) */
#define RT_ATTR_CONV_OP_COUNT 12   /* Conv's slots: the window's, then the weight layout */
#define RT_ATTR_CONV_TRANSPOSE_OUTPUT_PADDING_H 11 /* output_shape resolved into pads + output_padding */
#define RT_ATTR_CONV_TRANSPOSE_OUTPUT_PADDING_W 12
#define RT_ATTR_CONV_TRANSPOSE_COUNT 13
#define RT_ATTR_POOL_CEIL_MODE 11              /* MaxPool, AveragePool: 0 or 1 */
#define RT_ATTR_POOL_COUNT_INCLUDE_PAD 12      /* AveragePool only: 0 or 1 (MaxPool: 0) */
#define RT_ATTR_POOL_COUNT 13
/* Gemm */
#define RT_ATTR_GEMM_TRANS_A 0
#define RT_ATTR_GEMM_TRANS_B 1
#define RT_ATTR_GEMM_COUNT 2
#define RT_FATTR_GEMM_ALPHA 0
#define RT_FATTR_GEMM_BETA 1
#define RT_FATTR_GEMM_COUNT 2
/* Activations */
#define RT_FATTR_LEAKY_RELU_ALPHA 0
#define RT_FATTR_LEAKY_RELU_COUNT 1
#define RT_FATTR_CLIP_MIN 0
#define RT_FATTR_CLIP_MAX 1
#define RT_FATTR_CLIP_COUNT 2
#define RT_FATTR_HARD_SIGMOID_ALPHA 0
#define RT_FATTR_HARD_SIGMOID_BETA 1
#define RT_FATTR_HARD_SIGMOID_COUNT 2
#define RT_FATTR_QUICK_GELU_ALPHA 0
#define RT_FATTR_QUICK_GELU_COUNT 1
/* Softmax: the axis normalised to [0, rank); coerce_2d = 1 for the opset < 13 semantics */
#define RT_ATTR_SOFTMAX_AXIS 0
#define RT_ATTR_SOFTMAX_COERCE_2D 1
#define RT_ATTR_SOFTMAX_COUNT 2
/* LRN, BatchNormalization */
#define RT_ATTR_LRN_SIZE 0
#define RT_ATTR_LRN_COUNT 1
#define RT_FATTR_LRN_ALPHA 0
#define RT_FATTR_LRN_BETA 1
#define RT_FATTR_LRN_BIAS 2
#define RT_FATTR_LRN_COUNT 3
#define RT_FATTR_BATCH_NORM_EPSILON 0
#define RT_FATTR_BATCH_NORM_COUNT 1
/* Concat, Split: the axis normalised to [0, rank); Split's part sizes are its outputs' dims */
#define RT_ATTR_CONCAT_AXIS 0
#define RT_ATTR_CONCAT_COUNT 1
#define RT_ATTR_SPLIT_AXIS 0
#define RT_ATTR_SPLIT_COUNT 1
/* Slice: one start and one step (never 0) per dim; the output dims give the lengths */
#define RT_ATTR_SLICE_START 0
#define RT_ATTR_SLICE_STEP 6
#define RT_ATTR_SLICE_COUNT 12
/* Transpose: perm, one slot per dim */
#define RT_ATTR_TRANSPOSE_PERM 0
#define RT_ATTR_TRANSPOSE_COUNT 6
/* Pad: pads at the start and at the end of each dim (negative crops), the mode (RT_PAD_*) */
#define RT_ATTR_PAD_BEGIN 0
#define RT_ATTR_PAD_END 6
#define RT_ATTR_PAD_MODE 12
#define RT_ATTR_PAD_COUNT 13
#define RT_FATTR_PAD_VALUE 0
#define RT_FATTR_PAD_COUNT 1
/* Resize: RT_RESIZE_*, RT_COORD_*, RT_NEAREST_*; one scale per dim; cubic: exclude_outside, coefficient a */
#define RT_ATTR_RESIZE_MODE 0
#define RT_ATTR_RESIZE_COORD 1
#define RT_ATTR_RESIZE_NEAREST 2
#define RT_ATTR_RESIZE_EXCLUDE_OUTSIDE 3 /* cubic only: 0 or 1 */
#define RT_ATTR_RESIZE_COUNT 4
#define RT_FATTR_RESIZE_SCALE 0
/* Elementwise math: Floor/Ceil/Round (RT_ROUND_*); Gelu approximate="tanh"; Elu/Selu/Celu: alpha,
 * gamma (Selu's scale, 1 for Elu and Celu), celu = 1 for Celu's alpha * (exp(x / alpha) - 1) */
#define RT_ATTR_ROUND_MODE 0
#define RT_ATTR_ROUND_COUNT 1
#define RT_ATTR_GELU_TANH 0
#define RT_ATTR_GELU_COUNT 1
#define RT_ATTR_ELU_CELU 0
#define RT_ATTR_ELU_COUNT 1
#define RT_FATTR_ELU_ALPHA 0
#define RT_FATTR_ELU_GAMMA 1
#define RT_FATTR_ELU_COUNT 2
#define RT_FATTR_THRESHOLDED_RELU_ALPHA 0
#define RT_FATTR_THRESHOLDED_RELU_COUNT 1
#define RT_ROUND_FLOOR 0
#define RT_ROUND_CEIL 1
#define RT_ROUND_HALF_EVEN 2
/* Reduce*: one flag per input dim (1 = reduced; all 0 = noop_with_empty_axes: an element-wise map),
 * keepdims (0 or 1; the output drops or keeps the reduced dims as 1) */
#define RT_ATTR_REDUCE_AXES 0
#define RT_ATTR_REDUCE_KEEPDIMS 6
#define RT_ATTR_REDUCE_COUNT 7
/* LayerNormalization: the first normalized dim, normalised to [0, rank); epsilon */
#define RT_ATTR_LAYER_NORM_AXIS 0
#define RT_ATTR_LAYER_NORM_COUNT 1
#define RT_FATTR_LAYER_NORM_EPSILON 0
#define RT_FATTR_LAYER_NORM_COUNT 1
/* InstanceNormalization: epsilon */
#define RT_FATTR_INSTANCE_NORM_EPSILON 0
#define RT_FATTR_INSTANCE_NORM_COUNT 1
/* GroupNormalization: num_groups, scale/bias per channel (1, opset 21) or per group (0, opset 18); epsilon */
#define RT_ATTR_GROUP_NORM_GROUPS 0
#define RT_ATTR_GROUP_NORM_PER_CHANNEL 1
#define RT_ATTR_GROUP_NORM_COUNT 2
#define RT_FATTR_GROUP_NORM_EPSILON 0
#define RT_FATTR_GROUP_NORM_COUNT 1
/* LogSoftmax: as Softmax (the same slots) */
#define RT_ATTR_LOG_SOFTMAX_AXIS 0
#define RT_ATTR_LOG_SOFTMAX_COERCE_2D 1
#define RT_ATTR_LOG_SOFTMAX_COUNT 2
#define RT_FATTR_RESIZE_CUBIC_A 6        /* cubic only (nearest, linear: 0) */
#define RT_FATTR_RESIZE_COUNT 7
/* Gather, GatherElements: the axis normalised to [0, rank of data) */
#define RT_ATTR_GATHER_AXIS 0
#define RT_ATTR_GATHER_COUNT 1
/* DepthToSpace, SpaceToDepth (opset 28 mode, default DCR): blocksize >= 1, mode RT_DEPTH_TO_SPACE_* */
#define RT_ATTR_DEPTH_TO_SPACE_BLOCKSIZE 0
#define RT_ATTR_DEPTH_TO_SPACE_MODE 1
#define RT_ATTR_DEPTH_TO_SPACE_COUNT 2
#define RT_ATTR_SPACE_TO_DEPTH_BLOCKSIZE 0
#define RT_ATTR_SPACE_TO_DEPTH_MODE 1
#define RT_ATTR_SPACE_TO_DEPTH_COUNT 2
#define RT_DEPTH_TO_SPACE_DCR 0
#define RT_DEPTH_TO_SPACE_CRD 1
/* LSTM, GRU, RNN (and DynamicQuantizeLSTM: layout 0, batch 1): direction 0 forward, 1 reverse, 2
 * bidirectional; layout 0 (X [T,B,I]) or 1 (X [B,T,I]);
 * GRU linear_before_reset 0 or 1 (0 for LSTM and RNN); clip > 0 bounds every gate pre-activation to
 * [-clip, clip], 0 = no clip.  Activations are the ONNX defaults (sigmoid gates, tanh). */
#define RT_ATTR_RNN_DIRECTION 0
#define RT_ATTR_RNN_LAYOUT 1
#define RT_ATTR_RNN_LINEAR_BEFORE_RESET 2
#define RT_ATTR_RNN_COUNT 3
#define RT_FATTR_RNN_CLIP 0
#define RT_FATTR_RNN_COUNT 1
/* ArgMax, ArgMin: the axis normalised to [0, rank), keepdims, select_last_index (each 0 or 1) */
#define RT_ATTR_ARG_AXIS 0
#define RT_ATTR_ARG_KEEPDIMS 1
#define RT_ATTR_ARG_SELECT_LAST 2
#define RT_ATTR_ARG_COUNT 3
/* Comparisons: RT_COMPARE_* */
#define RT_ATTR_COMPARE_MODE 0
#define RT_ATTR_COMPARE_COUNT 1
#define RT_COMPARE_EQUAL 0
#define RT_COMPARE_GREATER 1
#define RT_COMPARE_GREATER_OR_EQUAL 2
#define RT_COMPARE_LESS 3
#define RT_COMPARE_LESS_OR_EQUAL 4
/* QuantizeLinear, DequantizeLinear: the axis of a per-axis scale (1-D, one value per x.dims[axis]),
 * normalised to [0, rank); 0 for a per-tensor scale (one element).  QLinearConv and ConvInteger use the
 * window slots RT_ATTR_CONV_*. */
#define RT_ATTR_QUANT_AXIS 0
#define RT_ATTR_QUANT_COUNT 1
/* Cast: 1 when the target is bool (held as int32: y = x != 0), else 0 (the output's dtype is the target) */
#define RT_ATTR_CAST_TO_BOOL 0
#define RT_ATTR_CAST_COUNT 1
/* GridSample: mode RT_RESIZE_* (cubic for 4-D x only), padding RT_GRID_PADDING_*, align_corners 0 or 1 */
#define RT_ATTR_GRID_SAMPLE_MODE 0
#define RT_ATTR_GRID_SAMPLE_PADDING 1
#define RT_ATTR_GRID_SAMPLE_ALIGN_CORNERS 2
#define RT_ATTR_GRID_SAMPLE_COUNT 3
#define RT_PAD_CONSTANT 0
#define RT_PAD_REFLECT 1
#define RT_PAD_EDGE 2
#define RT_RESIZE_NEAREST 0
#define RT_RESIZE_LINEAR 1
#define RT_RESIZE_CUBIC 2
#define RT_COORD_HALF_PIXEL 0
#define RT_COORD_PYTORCH_HALF_PIXEL 1
#define RT_COORD_ALIGN_CORNERS 2
#define RT_COORD_ASYMMETRIC 3
#define RT_COORD_HALF_PIXEL_SYMMETRIC 4
#define RT_NEAREST_ROUND_PREFER_FLOOR 0
#define RT_NEAREST_ROUND_PREFER_CEIL 1
#define RT_NEAREST_FLOOR 2
#define RT_NEAREST_CEIL 3
#define RT_GRID_PADDING_ZEROS 0
#define RT_GRID_PADDING_BORDER 1
#define RT_GRID_PADDING_REFLECTION 2

typedef struct {
    uint32_t magic;               /* RT_BODY_MAGIC */
    uint16_t version;             /* RT_FORMAT_VERSION */
    uint16_t header_size;         /* RT_HEADER_SIZE */
    uint16_t partition_index;     /* must equal the authenticated envelope header's */
    uint16_t partition_count;
    uint32_t tensor_count;
    uint32_t op_count;
    uint32_t index_pool_count;    /* uint32 entries */
    uint32_t tensor_table_offset; /* all section offsets relative to the body start, 64-aligned */
    uint32_t op_table_offset;
    uint32_t index_pool_offset;
    uint32_t weights_offset;
    uint32_t weights_size;
    uint32_t body_size;           /* bytes of the whole body, a multiple of RT_ALIGN */
    uint32_t region_size;         /* the region the offsets were planned for */
    uint32_t scratch_offset;      /* absolute region offset of this partition's scratch buffer */
    uint32_t scratch_size;        /* bytes; every op's scratch need is checked against it */
    uint32_t prepared_offset;     /* the prepared section: after the index pool, before the weights */
    uint32_t prepared_size;       /* = op_count * RT_PREPARED_OP_SIZE */
    uint32_t reserved[RT_HEADER_RESERVED_WORDS]; /* 0 */
} rt_body_header;

typedef struct {
    uint8_t dtype;      /* RT_DTYPE_* */
    uint8_t rank;       /* 0..RT_MAX_RANK */
    uint8_t location;   /* RT_LOC_* */
    uint8_t flags;      /* RT_TFLAG_* */
    uint16_t io_index;  /* model input/output position when flagged, else 0 */
    uint16_t reserved;  /* 0 */
    uint32_t offset;    /* RT_LOC_WEIGHT: from the body start; RT_LOC_REGION: absolute */
    uint32_t nbytes;    /* = product(dims) * rt_dtype_size(dtype) */
    uint32_t dims[RT_MAX_RANK]; /* unused dims are 0 */
    uint32_t reserved2[2];      /* 0 */
} rt_tensor_desc;

typedef struct {
    uint16_t op;                  /* RT_OP_* */
    uint16_t reserved;            /* 0 */
    uint16_t input_count;
    uint16_t output_count;
    uint32_t inputs_start;        /* index pool position of the first input; outputs follow the inputs */
    uint32_t reserved2;           /* 0 */
    int32_t i[RT_NUM_INTS];       /* integer attributes (per-op layout in FORMAT.md); unused are 0 */
    float f[RT_NUM_FLOATS];       /* float attributes; unused are 0 */
} rt_op_desc;

#define RT_STATIC_ASSERT(cond, name) typedef char rt_static_assert_##name[(cond) ? 1 : -1]
RT_STATIC_ASSERT(sizeof(rt_body_header) == RT_HEADER_SIZE, header_size);
RT_STATIC_ASSERT(sizeof(rt_tensor_desc) == RT_TENSOR_DESC_SIZE, tensor_desc_size);
RT_STATIC_ASSERT(sizeof(rt_op_desc) == RT_OP_DESC_SIZE, op_desc_size);
RT_STATIC_ASSERT(RT_PREPARED_OP_SIZE % 16u == 0, prepared_op_size);
/* per-dim slot arrays hold RT_MAX_RANK slots and fit the record */
RT_STATIC_ASSERT(RT_ATTR_SLICE_STEP == RT_MAX_RANK && RT_ATTR_PAD_END == RT_MAX_RANK && RT_ATTR_PAD_MODE == 2 * RT_MAX_RANK &&
                     RT_ATTR_SLICE_COUNT <= RT_NUM_INTS && RT_ATTR_PAD_COUNT <= RT_NUM_INTS &&
                     RT_FATTR_RESIZE_SCALE + RT_MAX_RANK <= RT_FATTR_RESIZE_CUBIC_A &&
                     RT_FATTR_RESIZE_COUNT <= RT_NUM_FLOATS,
                 per_dim_slots);
RT_STATIC_ASSERT(RT_ATTR_REDUCE_KEEPDIMS == RT_MAX_RANK && RT_ATTR_LOG_SOFTMAX_AXIS == RT_ATTR_SOFTMAX_AXIS &&
                     RT_ATTR_LOG_SOFTMAX_COERCE_2D == RT_ATTR_SOFTMAX_COERCE_2D,
                 reduce_slots);
RT_STATIC_ASSERT(sizeof(float) == 4, float_size);

#endif /* ONNX_TEE_FORMAT_H */
