/*
 * table.c - the op table: one line per op code, naming the registration its family file defines.
 */
#include "ops.h"

#define RT_OP_TABLE(X)                                        \
    X(RT_OP_CONV, rt_op_conv)                   /* conv_pool.c */ \
    X(RT_OP_CONV_TRANSPOSE, rt_op_conv_transpose)             \
    X(RT_OP_GEMM, rt_op_gemm)                   /* gemm_matmul.c */ \
    X(RT_OP_MATMUL, rt_op_matmul)                             \
    X(RT_OP_RELU, rt_op_relu)                   /* elementwise.c */ \
    X(RT_OP_LEAKY_RELU, rt_op_leaky_relu)                     \
    X(RT_OP_CLIP, rt_op_clip)                                 \
    X(RT_OP_SIGMOID, rt_op_sigmoid)                           \
    X(RT_OP_HARD_SIGMOID, rt_op_hard_sigmoid)                 \
    X(RT_OP_HARD_SWISH, rt_op_hard_swish)                     \
    X(RT_OP_TANH, rt_op_tanh)                                 \
    X(RT_OP_SOFTMAX, rt_op_softmax)             /* normalization.c */ \
    X(RT_OP_LRN, rt_op_lrn)                                   \
    X(RT_OP_BATCH_NORM, rt_op_batch_norm)                     \
    X(RT_OP_MAX_POOL, rt_op_max_pool)           /* conv_pool.c */ \
    X(RT_OP_AVERAGE_POOL, rt_op_average_pool)                 \
    X(RT_OP_GLOBAL_AVERAGE_POOL, rt_op_global_average_pool)   \
    X(RT_OP_GLOBAL_MAX_POOL, rt_op_global_max_pool)           \
    X(RT_OP_ADD, rt_op_add)                     /* elementwise.c */ \
    X(RT_OP_SUB, rt_op_sub)                                   \
    X(RT_OP_MUL, rt_op_mul)                                   \
    X(RT_OP_DIV, rt_op_div)                                   \
    X(RT_OP_SUM, rt_op_sum)                                   \
    X(RT_OP_CONCAT, rt_op_concat)               /* movement.c */ \
    X(RT_OP_SPLIT, rt_op_split)                               \
    X(RT_OP_SLICE, rt_op_slice)                               \
    X(RT_OP_COPY, rt_op_copy)                                 \
    X(RT_OP_TRANSPOSE, rt_op_transpose)                       \
    X(RT_OP_PAD, rt_op_pad)                                   \
    X(RT_OP_RESIZE, rt_op_resize)               /* resize.c */ \
    X(RT_OP_POW, rt_op_pow)                     /* elementwise.c */ \
    X(RT_OP_SQRT, rt_op_sqrt)                   /* math.c */ \
    X(RT_OP_RECIPROCAL, rt_op_reciprocal)                     \
    X(RT_OP_EXP, rt_op_exp)                                   \
    X(RT_OP_LOG, rt_op_log)                                   \
    X(RT_OP_ABS, rt_op_abs)                                   \
    X(RT_OP_NEG, rt_op_neg)                                   \
    X(RT_OP_ROUND, rt_op_round)                               \
    X(RT_OP_ERF, rt_op_erf)                                   \
    X(RT_OP_GELU, rt_op_gelu)                                 \
    X(RT_OP_SOFTPLUS, rt_op_softplus)                         \
    X(RT_OP_SOFTSIGN, rt_op_softsign)                         \
    X(RT_OP_ELU, rt_op_elu)                                   \
    X(RT_OP_PRELU, rt_op_prelu)                 /* elementwise.c */ \
    X(RT_OP_MISH, rt_op_mish)                   /* math.c */ \
    X(RT_OP_THRESHOLDED_RELU, rt_op_thresholded_relu)         \
    X(RT_OP_MAX, rt_op_max)                     /* elementwise.c */ \
    X(RT_OP_MIN, rt_op_min)                                    \
    X(RT_OP_QUICK_GELU, rt_op_quick_gelu)       /* elementwise.c */ \
    X(RT_OP_REDUCE_MEAN, rt_op_reduce_mean)     /* reduce.c */ \
    X(RT_OP_REDUCE_SUM, rt_op_reduce_sum)                     \
    X(RT_OP_REDUCE_MAX, rt_op_reduce_max)                     \
    X(RT_OP_REDUCE_MIN, rt_op_reduce_min)                     \
    X(RT_OP_REDUCE_PROD, rt_op_reduce_prod)                   \
    X(RT_OP_REDUCE_L1, rt_op_reduce_l1)                       \
    X(RT_OP_REDUCE_L2, rt_op_reduce_l2)                       \
    X(RT_OP_REDUCE_LOG_SUM_EXP, rt_op_reduce_log_sum_exp)     \
    X(RT_OP_REDUCE_SUM_SQUARE, rt_op_reduce_sum_square)       \
    X(RT_OP_LAYER_NORM, rt_op_layer_norm)       /* normalization.c */ \
    X(RT_OP_INSTANCE_NORM, rt_op_instance_norm)               \
    X(RT_OP_GROUP_NORM, rt_op_group_norm)                     \
    X(RT_OP_LOG_SOFTMAX, rt_op_log_softmax)                    \
    X(RT_OP_GATHER, rt_op_gather)               /* gather.c */ \
    X(RT_OP_GATHER_ELEMENTS, rt_op_gather_elements)           \
    X(RT_OP_DEPTH_TO_SPACE, rt_op_depth_to_space) /* movement.c */ \
    X(RT_OP_SPACE_TO_DEPTH, rt_op_space_to_depth)             \
    X(RT_OP_EXPAND, rt_op_expand)                             \
    X(RT_OP_TILE, rt_op_tile)                                  \
    X(RT_OP_GRID_SAMPLE, rt_op_grid_sample)     /* grid_sample.c */ \
    X(RT_OP_LSTM, rt_op_lstm)                   /* recurrent.c */ \
    X(RT_OP_GRU, rt_op_gru)                                   \
    X(RT_OP_RNN, rt_op_rnn)                                   \
    X(RT_OP_ARG_MAX, rt_op_arg_max)             /* arg_reduce.c */ \
    X(RT_OP_ARG_MIN, rt_op_arg_min)                           \
    X(RT_OP_SIN, rt_op_sin)                     /* math.c */ \
    X(RT_OP_COS, rt_op_cos)                                   \
    X(RT_OP_TAN, rt_op_tan)                                   \
    X(RT_OP_ASIN, rt_op_asin)                                 \
    X(RT_OP_ACOS, rt_op_acos)                                 \
    X(RT_OP_ATAN, rt_op_atan)                                 \
    X(RT_OP_SINH, rt_op_sinh)                                 \
    X(RT_OP_COSH, rt_op_cosh)                                 \
    X(RT_OP_ASINH, rt_op_asinh)                               \
    X(RT_OP_ACOSH, rt_op_acosh)                               \
    X(RT_OP_ATANH, rt_op_atanh)                               \
    X(RT_OP_COMPARE, rt_op_compare)             /* logical.c */ \
    X(RT_OP_NOT, rt_op_not)                                   \
    X(RT_OP_AND, rt_op_and)                                   \
    X(RT_OP_OR, rt_op_or)                                     \
    X(RT_OP_XOR, rt_op_xor)                                   \
    X(RT_OP_WHERE, rt_op_where)                               \
    X(RT_OP_QUANTIZE_LINEAR, rt_op_quantize_linear) /* quant.c */ \
    X(RT_OP_DEQUANTIZE_LINEAR, rt_op_dequantize_linear)       \
    X(RT_OP_DYNAMIC_QUANTIZE_LINEAR, rt_op_dynamic_quantize_linear) \
    X(RT_OP_QLINEAR_CONV, rt_op_qlinear_conv)                 \
    X(RT_OP_CONV_INTEGER, rt_op_conv_integer)                 \
    X(RT_OP_QLINEAR_MATMUL, rt_op_qlinear_matmul)             \
    X(RT_OP_MATMUL_INTEGER, rt_op_matmul_integer)             \
    X(RT_OP_QLINEAR_ADD, rt_op_qlinear_add)     /* qlinear.c */ \
    X(RT_OP_QLINEAR_MUL, rt_op_qlinear_mul)                   \
    X(RT_OP_QLINEAR_GLOBAL_AVERAGE_POOL, rt_op_qlinear_global_average_pool) \
    X(RT_OP_QLINEAR_CONCAT, rt_op_qlinear_concat)             \
    X(RT_OP_QLINEAR_SIGMOID, rt_op_qlinear_sigmoid)           \
    X(RT_OP_QLINEAR_LEAKY_RELU, rt_op_qlinear_leaky_relu)     \
    X(RT_OP_CAST, rt_op_cast)                   /* cast.c */ \
    X(RT_OP_DYNAMIC_QUANTIZE_LSTM, rt_op_dynamic_quantize_lstm) /* recurrent.c */

#define RT_DECLARE(code, reg) extern const rt_op_registration reg;
RT_OP_TABLE(RT_DECLARE)

#define RT_ENTRY(code, reg) [code] = &reg,
static const rt_op_registration *const table[RT_OP_MAX_CODE + 1] = {RT_OP_TABLE(RT_ENTRY)};

const rt_op_registration *rt_op_lookup(uint32_t code)
{
    return code <= RT_OP_MAX_CODE ? table[code] : NULL;
}
