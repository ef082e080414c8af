/*
 * prepare.c - op preparation: the checks every op gets, then its registration's prepare, once per
 * partition load (the validator calls rt_prepare_ops after the header, sections and tensors passed).
 *
 * Per op, in order: the code has a registration; reserved fields are 0; it has inputs and outputs; its
 * inputs and outputs lie inside the index pool; every entry names a tensor (or is an absent optional
 * input, or an absent output of an op flagged RT_OPF_OPTIONAL_OUTPUTS); outputs lie in the region, not in
 * the read-only weights; the arity fits the registration; every tensor has the type the registration's
 * signature gives it; the registration's prepare (shape rule, attributes, scratch size, typed data);
 * outputs overlap inputs only as the registration's in-place flags allow; the scratch need fits the
 * partition's scratch buffer.  Then Conv + in-place activation pairs are marked for fusion.
 *
 * The results go to the body's prepared section (ops/ops.h: rt_prepared_op), which rt_run_partition
 * reads; nothing is stored anywhere else.
 */
#include <string.h>

#include "prepare.h"
#include "ops/ops.h"

static int ranges_overlap(uint64_t a, uint64_t a_len, uint64_t b, uint64_t b_len)
{
    return a_len != 0 && b_len != 0 && a < b + b_len && b < a + a_len;
}

/* Outputs may share bytes with inputs only where the op allows it, on exactly the same tensor extent. */
static rt_status check_aliasing(const rt_partition *p, const rt_op_desc *op, uint16_t flags)
{
    uint32_t total = (uint32_t)op->input_count + op->output_count, o, k;
    for (o = op->input_count; o < total; o++) {
        const rt_tensor_desc *y = rt_op_tensor(p, op, o);
        if (y == NULL) /* an absent output (RT_OPF_OPTIONAL_OUTPUTS) */
            continue;
        for (k = 0; k < total; k++) {
            const rt_tensor_desc *t;
            if (k == o || (t = rt_op_tensor(p, op, k)) == NULL)
                continue;
            if (t->location != RT_LOC_REGION || !ranges_overlap(t->offset, t->nbytes, y->offset, y->nbytes))
                continue;
            if (k < op->input_count && t->offset == y->offset &&
                ((flags & RT_OPF_IN_PLACE_RESHAPE) || ((flags & RT_OPF_IN_PLACE) && rt_same_dims(t, y))))
                continue;
            return RT_ERR_TENSOR_OVERLAP;
        }
    }
    return RT_OK;
}

/* Whether a tensor of type `dtype` meets signature code `code` (ops.h) in op `op`. */
static int type_matches(const rt_partition *p, const rt_op_desc *op, char code, uint8_t dtype)
{
    const rt_tensor_desc *ref;
    switch (code) {
    case 'f': return dtype == RT_DTYPE_FLOAT32;
    case 'i': return dtype == RT_DTYPE_INT32;
    case 'b': return dtype == RT_DTYPE_INT8;
    case 'u': return dtype == RT_DTYPE_UINT8;
    case 'q': return dtype == RT_DTYPE_INT8 || dtype == RT_DTYPE_UINT8;
    case 'a': return dtype == RT_DTYPE_FLOAT32 || dtype == RT_DTYPE_INT8 || dtype == RT_DTYPE_UINT8;
    case 'n': return dtype == RT_DTYPE_INT8 || dtype == RT_DTYPE_UINT8 || dtype == RT_DTYPE_INT32;
    case 'w': return dtype == RT_DTYPE_FLOAT32 || dtype == RT_DTYPE_INT32;
    case 'x': return 1; /* validate.c admitted only known types */
    default:
        if (code < '0' || code > '9' || (uint32_t)(code - '0') >= op->input_count)
            return 0;
        ref = rt_op_tensor(p, op, (uint32_t)(code - '0'));
        return ref != NULL && ref->dtype == dtype;
    }
}

/* Signature code of entry k of `types`, a non-empty string (the last code stands for every later entry). */
static char type_code(const char *types, uint32_t k)
{
    uint32_t n = 0;
    while (n < k && types[n + 1] != '\0')
        n++;
    return types[n];
}

/* Every present input and output has the type the registration's signature gives it. */
static rt_status check_types(const rt_partition *p, const rt_op_desc *op, const rt_op_registration *reg)
{
    uint32_t total = (uint32_t)op->input_count + op->output_count, k;
    for (k = 0; k < total; k++) {
        const rt_tensor_desc *t = rt_op_tensor(p, op, k);
        char code = k < op->input_count ? type_code(reg->in_types, k) : type_code(reg->out_types, k - op->input_count);
        if (t != NULL && !type_matches(p, op, code, t->dtype))
            return RT_ERR_TENSOR_DTYPE;
    }
    return RT_OK;
}

static void touch(uint64_t *end, uint64_t offset, uint64_t nbytes)
{
    if (nbytes != 0 && offset + nbytes > *end)
        *end = offset + nbytes;
}

static rt_status prepare_op(const rt_partition *p, uint32_t index, rt_prepared_op *prep)
{
    const rt_body_header *h = p->header;
    const rt_op_desc *op = &p->ops[index];
    const rt_op_registration *reg = rt_op_lookup(op->op);
    uint64_t end = (uint64_t)op->inputs_start + op->input_count + op->output_count, touched = 0;
    uint32_t total = (uint32_t)op->input_count + op->output_count, k;
    rt_prepare_ctx ctx;
    rt_status s;

    memset(prep, 0, sizeof(*prep));
    memset(&ctx, 0, sizeof(ctx));
    if (reg == NULL)
        return RT_ERR_OP_CODE;
    if (op->reserved != 0 || op->reserved2 != 0)
        return RT_ERR_OP_RESERVED;
    if (op->input_count == 0 || op->output_count == 0)
        return RT_ERR_OP_ARITY;
    if (end > h->index_pool_count)
        return RT_ERR_OP_POOL_BOUNDS;
    for (k = 0; k < total; k++) {
        uint32_t idx = p->pool[op->inputs_start + k];
        const rt_tensor_desc *t;
        if (idx == RT_NO_TENSOR) {
            if (k >= op->input_count ? !(reg->flags & RT_OPF_OPTIONAL_OUTPUTS)
                                     : k >= 16 || !(reg->optional_inputs & (1u << k)))
                return RT_ERR_OP_TENSOR_INDEX;
            continue;
        }
        if (idx >= h->tensor_count)
            return RT_ERR_OP_TENSOR_INDEX;
        t = &p->tensors[idx];
        if (k >= op->input_count && t->location != RT_LOC_REGION)
            return RT_ERR_OP_WRITES_WEIGHT;
        if (k < RT_PREPARE_INPUTS && k < op->input_count)
            ctx.in[k] = t;
        if (t->location == RT_LOC_REGION)
            touch(&touched, t->offset, t->nbytes);
    }
    if (op->input_count < reg->min_inputs || op->input_count > reg->max_inputs ||
        op->output_count < reg->min_outputs || op->output_count > reg->max_outputs)
        return RT_ERR_OP_ARITY;
    s = check_types(p, op, reg);
    if (s != RT_OK)
        return s;
    ctx.part = p;
    ctx.index = index;
    ctx.op = op;
    ctx.out = rt_op_tensor(p, op, op->input_count);
    ctx.prep = prep;
    s = reg->prepare(&ctx);
    if (s == RT_OK)
        s = check_aliasing(p, op, reg->flags);
    if (s == RT_OK && ctx.scratch > h->scratch_size)
        s = RT_ERR_SCRATCH_TOO_SMALL;
    if (s != RT_OK)
        return s;
    touch(&touched, h->scratch_offset, ctx.scratch);
    prep->head.op = op->op;
    prep->head.scratch = (uint32_t)ctx.scratch;
    prep->head.touch_end = (uint32_t)touched; /* every extent was checked to lie inside the region */
    return RT_OK;
}

/* Op k (RT_OPF_FUSES_ACTIVATION) and op k + 1 (RT_OPF_ACTIVATION) whose only input is op k's output
 * and whose output lies on exactly the same bytes: op k's eval applies the activation to each block
 * of its output while it is in cache, and op k + 1 has nothing left to do. */
static void mark_fusion(const rt_partition *p, uint32_t k, rt_prepared_op *prep)
{
    const rt_op_desc *op = &p->ops[k], *next = &p->ops[k + 1];
    const rt_tensor_desc *y, *x, *z;
    if (!(rt_op_lookup(op->op)->flags & RT_OPF_FUSES_ACTIVATION) ||
        !(rt_op_lookup(next->op)->flags & RT_OPF_ACTIVATION) || (prep[0].head.flags & RT_PREP_APPLIED))
        return;
    y = rt_op_tensor(p, op, op->input_count);
    x = rt_op_tensor(p, next, 0);
    z = rt_op_tensor(p, next, next->input_count);
    if (x == y && y->location == RT_LOC_REGION && z->location == RT_LOC_REGION && z->offset == y->offset &&
        z->nbytes == y->nbytes) {
        prep[0].head.flags |= RT_PREP_FUSED;
        prep[1].head.flags |= RT_PREP_APPLIED;
    }
}

rt_status rt_prepare_ops(const rt_partition *p, uint32_t *failed_op)
{
    const rt_body_header *h = p->header;
    uint32_t k;
    for (k = 0; k < h->op_count; k++) {
        rt_status s = prepare_op(p, k, rt_prepared(p, k));
        if (s != RT_OK) {
            *failed_op = k;
            return s;
        }
    }
    for (k = 0; k + 1 < h->op_count; k++)
        mark_fusion(p, k, rt_prepared(p, k));
    return RT_OK;
}

uint64_t rt_op_scratch_bytes(const rt_partition *p, uint32_t op_index)
{
    if (p == NULL || p->validated != RT_BODY_MAGIC || op_index >= p->header->op_count)
        return 0;
    return rt_prepared(p, op_index)->head.scratch;
}

const char *rt_op_name(uint32_t code)
{
    const rt_op_registration *reg = rt_op_lookup(code);
    return reg ? reg->name : "?";
}
