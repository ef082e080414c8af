/*
 * validate.c - validate a decrypted partition body in place (format: runtime_ta/FORMAT.md).
 *
 * Order of checks: the body's place in the region; the header against the envelope's fields; the sections
 * (inside the body, aligned, in order, non-overlapping, the prepared section sized for the ops); every
 * tensor (a known dtype, rank, dims, size = elements x the dtype's size, location, alignment, bounds, no
 * overlap with the body or scratch); then every op, prepared once (prepare.c: code, arity, index pool
 * range, tensor indices, shape rule, attributes, scratch need, aliasing), into the prepared section.  All
 * size arithmetic is done in uint64_t on 32-bit fields, so it cannot overflow.
 */
#include <string.h>

#include "interp.h"
#include "prepare.h"

static int ranges_overlap(uint64_t a, uint64_t a_len, uint64_t b, uint64_t b_len)
{
    return a_len != 0 && b_len != 0 && a < b + b_len && b < a + a_len;
}

static rt_status check_header(const rt_body_header *h, size_t body_size, const rt_expected *want)
{
    uint64_t end;
    uint32_t k;

    if (h->magic != RT_BODY_MAGIC)
        return RT_ERR_MAGIC;
    if (h->version != RT_FORMAT_VERSION)
        return RT_ERR_VERSION;
    if (h->header_size != RT_HEADER_SIZE)
        return RT_ERR_HEADER_SIZE;
    for (k = 0; k < RT_HEADER_RESERVED_WORDS; k++)
        if (h->reserved[k] != 0)
            return RT_ERR_HEADER_RESERVED;
    if (h->partition_index != want->partition_index || h->partition_count != want->partition_count ||
        h->partition_index >= h->partition_count || h->body_size != want->body_size || h->body_size != body_size ||
        h->region_size != want->region_size)
        return RT_ERR_HEADER_MISMATCH;
    if (h->tensor_table_offset % RT_ALIGN || h->op_table_offset % RT_ALIGN || h->index_pool_offset % RT_ALIGN ||
        h->prepared_offset % RT_ALIGN || h->weights_offset % RT_ALIGN)
        return RT_ERR_SECTION_ALIGN;
    end = RT_HEADER_SIZE;
    if (h->tensor_table_offset < end)
        return RT_ERR_SECTION_BOUNDS;
    end = (uint64_t)h->tensor_table_offset + (uint64_t)h->tensor_count * RT_TENSOR_DESC_SIZE;
    if (h->op_table_offset < end)
        return RT_ERR_SECTION_BOUNDS;
    end = (uint64_t)h->op_table_offset + (uint64_t)h->op_count * RT_OP_DESC_SIZE;
    if (h->index_pool_offset < end)
        return RT_ERR_SECTION_BOUNDS;
    end = (uint64_t)h->index_pool_offset + (uint64_t)h->index_pool_count * 4u;
    if (h->weights_offset < end || (uint64_t)h->weights_offset + h->weights_size != h->body_size)
        return RT_ERR_SECTION_BOUNDS;
    /* the prepared section: between the index pool and the weights, one record per op */
    if (h->prepared_offset < end || h->prepared_size != (uint64_t)h->op_count * RT_PREPARED_OP_SIZE ||
        (uint64_t)h->prepared_offset + h->prepared_size > h->weights_offset)
        return RT_ERR_PREPARED_BOUNDS;
    return RT_OK;
}

static rt_status check_scratch(const rt_body_header *h, size_t region_size, size_t body_offset)
{
    if (h->scratch_offset % RT_ALIGN)
        return RT_ERR_SCRATCH_BOUNDS;
    if ((uint64_t)h->scratch_offset + h->scratch_size > region_size)
        return RT_ERR_SCRATCH_BOUNDS;
    if (ranges_overlap(h->scratch_offset, h->scratch_size, body_offset, h->body_size))
        return RT_ERR_SCRATCH_BOUNDS;
    return RT_OK;
}

static rt_status check_tensor(const rt_tensor_desc *t, const rt_body_header *h, size_t region_size,
                              size_t body_offset)
{
    uint64_t numel = 1;
    uint32_t d, size = rt_dtype_size(t->dtype);

    if (size == 0) /* which op may read which type: its registration's signature (prepare.c) */
        return RT_ERR_TENSOR_DTYPE;
    if (t->rank > RT_MAX_RANK)
        return RT_ERR_TENSOR_RANK;
    for (d = 0; d < RT_MAX_RANK; d++) {
        if (d < t->rank) {
            if (t->dims[d] == 0)
                return RT_ERR_TENSOR_DIMS;
            numel *= t->dims[d];
            if (numel > 0xFFFFFFFFu)
                return RT_ERR_TENSOR_DIMS;
        } else if (t->dims[d] != 0) {
            return RT_ERR_TENSOR_DIMS;
        }
    }
    if (numel * size != t->nbytes)
        return RT_ERR_TENSOR_SIZE;
    if (t->reserved != 0 || t->reserved2[0] != 0 || t->reserved2[1] != 0)
        return RT_ERR_TENSOR_FLAGS;
    if (t->flags & ~RT_TFLAG_ALL)
        return RT_ERR_TENSOR_FLAGS;
    if (t->io_index != 0 && !(t->flags & (RT_TFLAG_MODEL_INPUT | RT_TFLAG_MODEL_OUTPUT)))
        return RT_ERR_TENSOR_FLAGS;
    if (t->offset % RT_ALIGN)
        return RT_ERR_TENSOR_ALIGN;
    if (t->location == RT_LOC_WEIGHT) {
        if (t->flags != 0)
            return RT_ERR_TENSOR_FLAGS;
        if (t->offset < h->weights_offset || (uint64_t)t->offset + t->nbytes > (uint64_t)h->weights_offset + h->weights_size)
            return RT_ERR_TENSOR_BOUNDS;
    } else if (t->location == RT_LOC_REGION) {
        if ((uint64_t)t->offset + t->nbytes > region_size)
            return RT_ERR_TENSOR_BOUNDS;
        if (ranges_overlap(t->offset, t->nbytes, body_offset, h->body_size) ||
            ranges_overlap(t->offset, t->nbytes, h->scratch_offset, h->scratch_size))
            return RT_ERR_TENSOR_OVERLAP;
    } else {
        return RT_ERR_TENSOR_LOCATION;
    }
    return RT_OK;
}

rt_status rt_validate_partition(uint8_t *region, size_t region_size, size_t body_offset, size_t body_size,
                                const rt_expected *expected, rt_partition *out)
{
    uint32_t failed_op;
    return rt_validate_partition_ex(region, region_size, body_offset, body_size, expected, out, &failed_op);
}

rt_status rt_validate_partition_ex(uint8_t *region, size_t region_size, size_t body_offset, size_t body_size,
                                   const rt_expected *expected, rt_partition *out, uint32_t *failed_op)
{
    const rt_body_header *h;
    rt_status s;
    uint32_t k;

    if (failed_op == NULL)
        return RT_ERR_ARGUMENT;
    *failed_op = RT_NO_TENSOR;
    if (out == NULL)
        return RT_ERR_ARGUMENT;
    memset(out, 0, sizeof(*out));
    if (region == NULL || expected == NULL)
        return RT_ERR_ARGUMENT;
    if (body_offset > region_size || body_size > region_size - body_offset || body_size < RT_HEADER_SIZE)
        return RT_ERR_BODY_BOUNDS;
    if (body_offset % RT_ALIGN || body_size % RT_ALIGN || ((uintptr_t)(region + body_offset) % 8u) != 0)
        return RT_ERR_BODY_ALIGN;
    h = (const rt_body_header *)(const void *)(region + body_offset);
    s = check_header(h, body_size, expected);
    if (s != RT_OK)
        return s;
    if (region_size < h->region_size)
        return RT_ERR_HEADER_MISMATCH;
    s = check_scratch(h, h->region_size, body_offset);
    if (s != RT_OK)
        return s;

    out->region = region;
    out->region_size = h->region_size;
    out->body_offset = body_offset;
    out->header = h;
    out->tensors = (const rt_tensor_desc *)(const void *)(region + body_offset + h->tensor_table_offset);
    out->ops = (const rt_op_desc *)(const void *)(region + body_offset + h->op_table_offset);
    out->pool = (const uint32_t *)(const void *)(region + body_offset + h->index_pool_offset);

    for (k = 0; k < h->tensor_count; k++) {
        s = check_tensor(&out->tensors[k], h, h->region_size, body_offset);
        if (s != RT_OK)
            return s;
    }
    s = rt_prepare_ops(out, failed_op);
    if (s != RT_OK)
        return s;
    out->validated = RT_BODY_MAGIC;
    return RT_OK;
}
