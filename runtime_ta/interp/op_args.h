/*
 * op_args.h - one op of a partition resolved into kernel arguments (private to the interpreter).
 *
 * rt_prepare_op() is the single place where an op record is checked against its shape rule and
 * turned into the numbers the kernels take.  The validator calls it for every op before anything
 * runs; the runner calls it again to get the arguments (the body cannot change in between: no
 * output may overlap the body, which the validator checks).
 */
#ifndef ONNX_TEE_OP_ARGS_H
#define ONNX_TEE_OP_ARGS_H

#include <stddef.h>
#include <stdint.h>

#include "interp.h"
#include "kernels.h"

typedef struct {
    const rt_op_desc *desc;
    const float *in[5];      /* first inputs (NULL when absent) */
    const rt_tensor_desc *in_t[5];
    float *out;              /* first output */
    const rt_tensor_desc *out_t;
    kern_shape in_shape[2];
    kern_shape out_shape;
    size_t numel;            /* elements of the first output */
    size_t outer, inner;     /* Concat/Split views, Softmax, LRN, BatchNorm extents */
    size_t mid;              /* Sum: the input the output aliases (rt_sum_alias) */
    kern_conv_geom conv;     /* Conv, ConvTranspose, pools */
    kern_gemm_attr gemm;
    kern_unary_attr unary;
    kern_lrn_attr lrn;
    kern_resize_attr resize;
    ptrdiff_t a[KERN_MAX_RANK]; /* Slice start / Pad begin */
    ptrdiff_t b[KERN_MAX_RANK]; /* Slice step / Pad end */
    size_t perm[KERN_MAX_RANK];
    uint64_t scratch;        /* bytes of scratch the kernel needs */
} rt_op_args;

/* Check op `index` of a partition whose header, tables and tensors already validated, and resolve it. */
rt_status rt_prepare_op(const rt_partition *part, uint32_t index, rt_op_args *args);

/* Sum: the input whose bytes the output takes (same offset and shape), or RT_NO_TENSOR. */
uint32_t rt_sum_alias(const rt_partition *part, const rt_op_desc *op);

/* Pointer to a (validated) tensor's first element. */
float *rt_tensor_data(const rt_partition *part, const rt_tensor_desc *t);

#endif
