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
    X(RT_OP_LSTM, rt_op_lstm)                   /* recurrent.c */ \
    X(RT_OP_GRU, rt_op_gru)                                   \
    X(RT_OP_RNN, rt_op_rnn)

#define RT_DECLARE(code, reg) extern const rt_op_registration reg;
RT_OP_TABLE(RT_DECLARE)

#define RT_ENTRY(code, reg) [code] = &reg,
static const rt_op_registration *const table[RT_OP_MAX_CODE + 1] = {RT_OP_TABLE(RT_ENTRY)};

const rt_op_registration *rt_op_lookup(uint32_t code)
{
    return code <= RT_OP_MAX_CODE ? table[code] : NULL;
}
