/*
 * interp.c - run a validated partition: each op's registered eval on its prepared data, counting
 * what it touches.
 *
 * Nothing is re-checked here: the validator prepared every op once (prepare.c) into the body's
 * prepared section, which no op output or scratch byte can overlap.  A Conv marked RT_PREP_FUSED
 * applies the in-place activation after it (marked RT_PREP_APPLIED) itself (ops/conv_pool.c).
 *
 * The measured high-water mark (rt_counters.max_region_end) is the highest region byte any step of
 * the partition reads or writes: the body (it was decrypted there and its tables, prepared records
 * and weights are read), every REGION tensor an op reads or writes, and the scratch bytes each op's
 * kernel may use (each op's prepared touch_end).
 */
#include <string.h>

#include "interp.h"
#include "ops/ops.h"
#include "profile.h"

static void touch(rt_counters *c, uint64_t offset, uint64_t nbytes)
{
    if (nbytes != 0 && offset + nbytes > c->max_region_end)
        c->max_region_end = offset + nbytes;
}

rt_status rt_run_partition(const rt_partition *p, rt_counters *counters)
{
    rt_counters local;
    rt_counters *c = counters ? counters : &local;
    const rt_body_header *h;
    const rt_prepared_op *prep;
    rt_eval_ctx ctx;
    uint32_t k;

    memset(c, 0, sizeof(*c));
    c->failed_op = RT_NO_TENSOR;
    if (p == NULL)
        return RT_ERR_ARGUMENT;
    if (p->validated != RT_BODY_MAGIC || p->header == NULL)
        return RT_ERR_NOT_VALIDATED;
    h = p->header;
    prep = rt_prepared(p, 0);
    ctx.part = p;
    ctx.scratch = (float *)(void *)(p->region + h->scratch_offset);
    ctx.scratch_size = h->scratch_size;
    touch(c, p->body_offset, h->body_size);
    for (k = 0; k < h->op_count; k++, prep++) {
        RT_PROFILE_START(t0);
        if (!(prep->head.flags & RT_PREP_APPLIED)) {
            const rt_op_registration *reg = rt_op_lookup(prep->head.op);
            rt_status s;
            if (reg == NULL) { /* cannot happen after validation; never call through a NULL entry */
                c->failed_op = k;
                return RT_ERR_OP_CODE;
            }
            ctx.op = &p->ops[k];
            ctx.prep = prep;
            ctx.next = k + 1 < h->op_count ? prep + 1 : NULL;
            s = reg->eval(&ctx);
            if (s != RT_OK) {
                c->failed_op = k;
                return s;
            }
        }
        RT_PROFILE_STOP(t0, k, prep->head.op, prep->head.flags);
        touch(c, 0, prep->head.touch_end);
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
        "RT_ERR_PREPARED_BOUNDS", "RT_ERR_INDEX_RANGE",
    };
    return (unsigned)status < RT_ERR_COUNT ? names[status] : "RT_ERR_UNKNOWN";
}
