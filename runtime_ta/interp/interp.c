/*
 * interp.c - run a validated partition: dispatch each op to its kernel, count what it touches.
 *
 * A Conv followed by an in-place activation runs as one fused kernel call (fuses_activation).
 *
 * The measured high-water mark (rt_counters.max_region_end) is the highest region byte any step of
 * the partition reads or writes: the body (it was decrypted there and its tables and weights are
 * read), every REGION tensor an op reads or writes, and the scratch bytes each op's kernel may use.
 */
#include <string.h>

#include "interp.h"
#include "kernels.h"
#include "op_args.h"

static void touch(rt_counters *c, uint64_t offset, uint64_t nbytes)
{
    if (nbytes != 0 && offset + nbytes > c->max_region_end)
        c->max_region_end = offset + nbytes;
}

static rt_status from_kern(kern_status s)
{
    return s == KERN_OK ? RT_OK : s == KERN_ESCRATCH ? RT_ERR_SCRATCH_TOO_SMALL : RT_ERR_KERNEL;
}

static const rt_tensor_desc *pool_tensor(const rt_partition *p, const rt_op_desc *op, uint32_t k)
{
    return &p->tensors[p->pool[op->inputs_start + k]];
}

static void to_kshape(const rt_tensor_desc *t, kern_shape *s)
{
    size_t d;
    s->rank = t->rank;
    for (d = 0; d < KERN_MAX_RANK; d++)
        s->dim[d] = d < t->rank ? t->dims[d] : 1;
}

static kern_binary_op binary_kind(uint16_t op)
{
    return op == RT_OP_SUB ? KERN_SUB : op == RT_OP_MUL ? KERN_MUL : op == RT_OP_DIV ? KERN_DIV : KERN_ADD;
}

static rt_status run_op(const rt_partition *p, const rt_op_args *a, float *scratch, size_t scratch_size)
{
    const rt_op_desc *op = a->desc;
    uint32_t k;
    size_t offset = 0;
    kern_status s = KERN_OK;

    switch (op->op) {
    case RT_OP_CONV:
        return from_kern(kern_conv(&a->conv, a->in[0], a->in[1], a->in[2], a->out, scratch, scratch_size));
    case RT_OP_CONV_TRANSPOSE:
        return from_kern(kern_conv_transpose(&a->conv, a->in[0], a->in[1], a->in[2], a->out));
    case RT_OP_GEMM:
        return from_kern(kern_gemm(&a->gemm, a->in[0], a->in[1], a->in[2], a->out, scratch, scratch_size));
    case RT_OP_MATMUL:
        return from_kern(kern_matmul(&a->in_shape[0], a->in[0], &a->in_shape[1], a->in[1], &a->out_shape, a->out));
    case RT_OP_RELU: case RT_OP_LEAKY_RELU: case RT_OP_CLIP: case RT_OP_SIGMOID: case RT_OP_HARD_SIGMOID:
    case RT_OP_HARD_SWISH: case RT_OP_TANH:
        return from_kern(kern_unary(&a->unary, a->in[0], a->out, a->numel));
    case RT_OP_COPY:
        if ((const float *)a->out != a->in[0])
            memmove(a->out, a->in[0], a->out_t->nbytes);
        return RT_OK;
    case RT_OP_SOFTMAX:
        return from_kern(kern_softmax(a->outer, a->mid, a->inner, a->in[0], a->out));
    case RT_OP_LRN:
        return from_kern(kern_lrn(&a->lrn, a->outer, a->mid, a->inner, a->in[0], a->out));
    case RT_OP_BATCH_NORM:
        return from_kern(kern_batchnorm(a->outer, a->mid, a->inner, op->f[0], a->in[1], a->in[2], a->in[3], a->in[4],
                                        a->in[0], a->out));
    case RT_OP_MAX_POOL:
    case RT_OP_AVERAGE_POOL:
        return from_kern(kern_pool(op->op == RT_OP_MAX_POOL ? KERN_POOL_MAX : KERN_POOL_AVG, op->i[12], &a->conv,
                                   a->in[0], a->out));
    case RT_OP_GLOBAL_AVERAGE_POOL:
    case RT_OP_GLOBAL_MAX_POOL:
        return from_kern(kern_global_pool(op->op == RT_OP_GLOBAL_MAX_POOL ? KERN_POOL_MAX : KERN_POOL_AVG, a->outer,
                                          a->inner, a->in[0], a->out));
    case RT_OP_ADD: case RT_OP_SUB: case RT_OP_MUL: case RT_OP_DIV:
        return from_kern(kern_binary(binary_kind(op->op), &a->in_shape[0], a->in[0], &a->in_shape[1], a->in[1],
                                     &a->out_shape, a->out));
    case RT_OP_SUM:
        if (op->input_count == 1) {
            if ((const float *)a->out != a->in[0])
                memmove(a->out, a->in[0], a->out_t->nbytes);
            return RT_OK;
        }
        if (a->mid != RT_NO_TENSOR) { /* y already holds input a->mid: add the others into it */
            for (k = 0; k < op->input_count && s == KERN_OK; k++) {
                const rt_tensor_desc *x = pool_tensor(p, op, k);
                kern_shape xs;
                if (k == a->mid)
                    continue;
                to_kshape(x, &xs);
                s = kern_binary(KERN_ADD, &a->out_shape, a->out, &xs, rt_tensor_data(p, x), &a->out_shape, a->out);
            }
            return from_kern(s);
        }
        for (k = 1; k < op->input_count && s == KERN_OK; k++) {
            const rt_tensor_desc *x = pool_tensor(p, op, k);
            kern_shape xs;
            to_kshape(x, &xs);
            if (k == 1)
                s = kern_binary(KERN_ADD, &a->in_shape[0], a->in[0], &xs, rt_tensor_data(p, x), &a->out_shape, a->out);
            else
                s = kern_binary(KERN_ADD, &a->out_shape, a->out, &xs, rt_tensor_data(p, x), &a->out_shape, a->out);
        }
        return from_kern(s);
    case RT_OP_CONCAT:
        for (k = 0; k < op->input_count && s == KERN_OK; k++) {
            const rt_tensor_desc *x = pool_tensor(p, op, k);
            size_t part = x->dims[op->i[0]];
            s = kern_concat_part(a->outer, part, a->inner, a->mid, offset, rt_tensor_data(p, x), a->out);
            offset += part;
        }
        return from_kern(s);
    case RT_OP_SPLIT:
        for (k = 0; k < op->output_count && s == KERN_OK; k++) {
            const rt_tensor_desc *y = pool_tensor(p, op, op->input_count + k);
            size_t part = y->dims[op->i[0]];
            s = kern_split_part(a->outer, part, a->inner, a->mid, offset, a->in[0], rt_tensor_data(p, y));
            offset += part;
        }
        return from_kern(s);
    case RT_OP_SLICE:
        return from_kern(kern_slice(&a->in_shape[0], a->in[0], &a->out_shape, a->a, a->b, a->out));
    case RT_OP_TRANSPOSE:
        return from_kern(kern_transpose(&a->in_shape[0], a->in[0], a->perm, a->out));
    case RT_OP_PAD:
        return from_kern(kern_pad((kern_pad_mode)op->i[12], &a->in_shape[0], a->in[0], a->a, a->b, op->f[0],
                                  &a->out_shape, a->out));
    case RT_OP_RESIZE:
        return from_kern(kern_resize(&a->resize, &a->in_shape[0], a->in[0], &a->out_shape, a->out));
    default:
        return RT_ERR_OP_CODE;
    }
}

/* A Conv whose output the next op, an activation, rewrites in place (same tensor, and the plan put the
 * activation's output on the same bytes): the activation is applied inside the Conv, block by block
 * while the outputs are in cache (kern_conv_act), and the next op has nothing left to do.  The values
 * are exactly those of the two ops run one after the other. */
static int fuses_activation(const rt_partition *p, uint32_t k, const rt_op_args *conv, rt_op_args *next)
{
    const rt_tensor_desc *y = conv->out_t;
    if (conv->desc->op != RT_OP_CONV || k + 1 >= p->header->op_count)
        return 0;
    switch (p->ops[k + 1].op) {
    case RT_OP_RELU: case RT_OP_LEAKY_RELU: case RT_OP_CLIP: case RT_OP_SIGMOID: case RT_OP_HARD_SIGMOID:
    case RT_OP_HARD_SWISH: case RT_OP_TANH:
        break;
    default:
        return 0;
    }
    if (rt_prepare_op(p, k + 1, next) != RT_OK)
        return 0;
    return next->in_t[0] == y && y->location == RT_LOC_REGION && next->out_t->location == RT_LOC_REGION &&
           next->out_t->offset == y->offset && next->out_t->nbytes == y->nbytes;
}

rt_status rt_run_partition(const rt_partition *p, rt_counters *counters)
{
    rt_counters local;
    rt_counters *c = counters ? counters : &local;
    const rt_body_header *h;
    float *scratch;
    uint32_t k, j;
    int applied = 0; /* op k was already applied by the Conv before it */

    memset(c, 0, sizeof(*c));
    c->failed_op = RT_NO_TENSOR;
    if (p == NULL)
        return RT_ERR_ARGUMENT;
    if (p->validated != RT_BODY_MAGIC || p->header == NULL)
        return RT_ERR_NOT_VALIDATED;
    h = p->header;
    scratch = (float *)(void *)(p->region + h->scratch_offset);
    touch(c, p->body_offset, h->body_size);
    for (k = 0; k < h->op_count; k++) {
        rt_op_args args, next;
        const rt_op_desc *op = &p->ops[k];
        rt_status s = rt_prepare_op(p, k, &args);
        if (s == RT_OK && args.scratch > h->scratch_size)
            s = RT_ERR_SCRATCH_TOO_SMALL;
        if (s == RT_OK && applied) {
            applied = 0;
        } else if (s == RT_OK && fuses_activation(p, k, &args, &next)) {
            s = from_kern(kern_conv_act(&args.conv, &next.unary, args.in[0], args.in[1], args.in[2], args.out, scratch,
                                        h->scratch_size));
            applied = 1;
        } else if (s == RT_OK) {
            s = run_op(p, &args, scratch, h->scratch_size);
        }
        if (s != RT_OK) {
            c->failed_op = k;
            return s;
        }
        for (j = 0; j < (uint32_t)op->input_count + op->output_count; j++) {
            uint32_t idx = p->pool[op->inputs_start + j];
            if (idx != RT_NO_TENSOR && p->tensors[idx].location == RT_LOC_REGION)
                touch(c, p->tensors[idx].offset, p->tensors[idx].nbytes);
        }
        touch(c, h->scratch_offset, args.scratch);
        c->ops_run++;
    }
    return RT_OK;
}

int rt_find_model_tensor(const rt_partition *p, uint32_t want_flag, uint32_t io_index, uint32_t *offset,
                         uint32_t *nbytes)
{
    uint32_t k;
    if (p == NULL || p->validated != RT_BODY_MAGIC ||
        (want_flag != RT_TFLAG_MODEL_INPUT && want_flag != RT_TFLAG_MODEL_OUTPUT))
        return -1;
    for (k = 0; k < p->header->tensor_count; k++) {
        const rt_tensor_desc *t = &p->tensors[k];
        if ((t->flags & want_flag) && t->io_index == io_index) {
            if (offset)
                *offset = t->offset;
            if (nbytes)
                *nbytes = t->nbytes;
            return 0;
        }
    }
    return -1;
}

uint64_t rt_op_scratch_bytes(const rt_partition *p, uint32_t op_index)
{
    rt_op_args args;
    if (p == NULL || p->validated != RT_BODY_MAGIC || op_index >= p->header->op_count)
        return 0;
    return rt_prepare_op(p, op_index, &args) == RT_OK ? args.scratch : 0;
}

const char *rt_status_name(rt_status status)
{
    static const char *const names[RT_ERR_COUNT] = {
        "RT_OK", "RT_ERR_ARGUMENT", "RT_ERR_BODY_BOUNDS", "RT_ERR_BODY_ALIGN", "RT_ERR_MAGIC", "RT_ERR_VERSION",
        "RT_ERR_HEADER_SIZE", "RT_ERR_HEADER_MISMATCH", "RT_ERR_HEADER_RESERVED", "RT_ERR_SECTION_BOUNDS",
        "RT_ERR_SECTION_ALIGN", "RT_ERR_SCRATCH_BOUNDS", "RT_ERR_TENSOR_DTYPE", "RT_ERR_TENSOR_RANK",
        "RT_ERR_TENSOR_DIMS", "RT_ERR_TENSOR_SIZE", "RT_ERR_TENSOR_LOCATION", "RT_ERR_TENSOR_ALIGN",
        "RT_ERR_TENSOR_BOUNDS", "RT_ERR_TENSOR_OVERLAP", "RT_ERR_TENSOR_FLAGS", "RT_ERR_OP_CODE", "RT_ERR_OP_ARITY",
        "RT_ERR_OP_POOL_BOUNDS", "RT_ERR_OP_TENSOR_INDEX", "RT_ERR_OP_WRITES_WEIGHT", "RT_ERR_OP_ATTRIBUTE",
        "RT_ERR_OP_SHAPE", "RT_ERR_OP_RESERVED", "RT_ERR_SCRATCH_TOO_SMALL", "RT_ERR_NOT_VALIDATED", "RT_ERR_KERNEL",
    };
    return (unsigned)status < RT_ERR_COUNT ? names[status] : "RT_ERR_UNKNOWN";
}
