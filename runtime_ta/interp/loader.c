/*
 * loader.c - validate a decrypted partition body in place (format: runtime_ta/FORMAT.md).
 *
 * Order of checks: the body's place in the region; the header against the envelope's fields; the
 * sections (inside the body, aligned, in order, non-overlapping); every tensor (dtype, rank, dims,
 * size, location, alignment, bounds, no overlap with the body or scratch); every op (code, arity,
 * index pool range, tensor indices, shape rule, attributes, scratch need, aliasing).  All size
 * arithmetic is done in uint64_t on 32-bit fields, so it cannot overflow.
 */
#include <string.h>

#include "interp.h"
#include "op_args.h"

#define MAX_ATTR 0x100000 /* bound on kernel sizes, strides, pads, dilations, groups */

static int ranges_overlap(uint64_t a, uint64_t a_len, uint64_t b, uint64_t b_len)
{
    return a_len != 0 && b_len != 0 && a < b + b_len && b < a + a_len;
}

float *rt_tensor_data(const rt_partition *part, const rt_tensor_desc *t)
{
    size_t base = t->location == RT_LOC_WEIGHT ? part->body_offset : 0;
    return (float *)(void *)(part->region + base + t->offset);
}

static rt_status check_header(const rt_body_header *h, size_t body_size, const rt_expected *want)
{
    uint64_t end;

    if (h->magic != RT_BODY_MAGIC)
        return RT_ERR_MAGIC;
    if (h->version != RT_FORMAT_VERSION)
        return RT_ERR_VERSION;
    if (h->header_size != RT_HEADER_SIZE)
        return RT_ERR_HEADER_SIZE;
    if (h->reserved != 0)
        return RT_ERR_HEADER_RESERVED;
    if (h->partition_index != want->partition_index || h->partition_count != want->partition_count ||
        h->partition_index >= h->partition_count || h->body_size != want->body_size || h->body_size != body_size ||
        h->region_size != want->region_size)
        return RT_ERR_HEADER_MISMATCH;
    if (h->tensor_table_offset % RT_ALIGN || h->op_table_offset % RT_ALIGN || h->index_pool_offset % RT_ALIGN ||
        h->weights_offset % RT_ALIGN)
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
    uint32_t d;

    if (t->dtype != RT_DTYPE_FLOAT32)
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
    if (numel * 4u != t->nbytes)
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
    const rt_body_header *h;
    rt_status s;
    uint32_t k;

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
    for (k = 0; k < h->op_count; k++) {
        rt_op_args args;
        s = rt_prepare_op(out, k, &args);
        if (s != RT_OK)
            return s;
        if (args.scratch > h->scratch_size)
            return RT_ERR_SCRATCH_TOO_SMALL;
    }
    out->validated = RT_BODY_MAGIC;
    return RT_OK;
}

/* ------------------------------------------------------------------------------------------------ ops */

static void to_shape(const rt_tensor_desc *t, kern_shape *s)
{
    size_t d;
    s->rank = t->rank;
    for (d = 0; d < KERN_MAX_RANK; d++)
        s->dim[d] = d < t->rank ? t->dims[d] : 1;
}

static int same_dims(const rt_tensor_desc *a, const rt_tensor_desc *b)
{
    return a->rank == b->rank && memcmp(a->dims, b->dims, sizeof(a->dims)) == 0;
}

static uint64_t prod_dims(const rt_tensor_desc *t, uint32_t from, uint32_t to)
{
    uint64_t p = 1;
    for (; from < to && from < t->rank; from++)
        p *= t->dims[from];
    return p;
}

/* Broadcast shape of a and b (numpy rules) into out; 0 when not broadcastable. */
static int broadcast(const rt_tensor_desc *a, const rt_tensor_desc *b, uint32_t *rank, uint32_t *dims)
{
    uint32_t r = a->rank > b->rank ? a->rank : b->rank, k;
    for (k = 0; k < r; k++) {
        uint32_t da = k < r - a->rank ? 1 : a->dims[k - (r - a->rank)];
        uint32_t db = k < r - b->rank ? 1 : b->dims[k - (r - b->rank)];
        if (da != db && da != 1 && db != 1)
            return 0;
        dims[k] = da == 1 ? db : da;
    }
    *rank = r;
    return 1;
}

static int dims_equal(const rt_tensor_desc *t, uint32_t rank, const uint32_t *dims)
{
    uint32_t k;
    if (t->rank != rank)
        return 0;
    for (k = 0; k < rank; k++)
        if (t->dims[k] != dims[k])
            return 0;
    return 1;
}

static int attr_in(int32_t v, int32_t lo, int32_t hi) { return v >= lo && v <= hi; }

/* Unused integer / float attribute slots must be 0 (a cheap guard against misread layouts). */
static int unused_zero(const rt_op_desc *op, uint32_t ints_used, uint32_t floats_used)
{
    uint32_t k;
    for (k = ints_used; k < RT_NUM_INTS; k++)
        if (op->i[k] != 0)
            return 0;
    for (k = floats_used; k < RT_NUM_FLOATS; k++)
        if (op->f[k] != 0.0f)
            return 0;
    return 1;
}

static rt_status arity(const rt_op_desc *op, uint32_t in_min, uint32_t in_max, uint32_t out_min, uint32_t out_max)
{
    if (op->input_count < in_min || op->input_count > in_max || op->output_count < out_min ||
        op->output_count > out_max)
        return RT_ERR_OP_ARITY;
    return RT_OK;
}

/* Spatial geometry shared by Conv, ConvTranspose and the pools: x is [N, C, H, W] or [N, C, W]. */
static rt_status spatial_geom(const rt_op_desc *op, const rt_tensor_desc *x, const rt_tensor_desc *y,
                              kern_conv_geom *g)
{
    int k;
    if (x->rank != 3 && x->rank != 4)
        return RT_ERR_OP_SHAPE;
    if (y->rank != x->rank)
        return RT_ERR_OP_SHAPE;
    for (k = 0; k <= 12; k++)
        if (!attr_in(op->i[k], 0, MAX_ATTR))
            return RT_ERR_OP_ATTRIBUTE;
    if (op->i[0] < 1 || op->i[1] < 1 || op->i[2] < 1 || op->i[3] < 1 || op->i[4] < 1 || op->i[9] < 1 ||
        op->i[10] < 1)
        return RT_ERR_OP_ATTRIBUTE;
    if (x->rank == 3 && (op->i[1] != 1 || op->i[3] != 1 || op->i[5] != 0 || op->i[7] != 0 || op->i[9] != 1))
        return RT_ERR_OP_ATTRIBUTE;
    memset(g, 0, sizeof(*g));
    g->batch = x->dims[0];
    g->c_in = x->dims[1];
    g->h_in = x->rank == 4 ? x->dims[2] : 1;
    g->w_in = x->dims[x->rank - 1];
    g->c_out = y->dims[1];
    g->h_out = y->rank == 4 ? y->dims[2] : 1;
    g->w_out = y->dims[y->rank - 1];
    g->group = (size_t)op->i[0];
    g->kernel_h = (size_t)op->i[1];
    g->kernel_w = (size_t)op->i[2];
    g->stride_h = (size_t)op->i[3];
    g->stride_w = (size_t)op->i[4];
    g->pad_top = (size_t)op->i[5];
    g->pad_left = (size_t)op->i[6];
    g->pad_bottom = (size_t)op->i[7];
    g->pad_right = (size_t)op->i[8];
    g->dilation_h = (size_t)op->i[9];
    g->dilation_w = (size_t)op->i[10];
    if (y->dims[0] != x->dims[0])
        return RT_ERR_OP_SHAPE;
    return RT_OK;
}

/* Output length of a window op: floor or (ONNX) ceil mode; 0 when the window does not fit. */
static uint64_t window_out(uint64_t in, uint64_t pad_begin, uint64_t pad_end, uint64_t kernel, uint64_t stride,
                           uint64_t dilation, int ceil_mode)
{
    uint64_t span = dilation * (kernel - 1) + 1, padded = in + pad_begin + pad_end, out;
    if (padded < span)
        return 0;
    if (!ceil_mode)
        return (padded - span) / stride + 1;
    out = (padded - span + stride - 1) / stride + 1;
    if ((out - 1) * stride >= in + pad_begin) /* the last window must start inside the input or left pad */
        out--;
    return out;
}

static rt_status prepare_conv(const rt_op_desc *op, rt_op_args *a, int transpose)
{
    const rt_tensor_desc *x = a->in_t[0], *w = a->in_t[1], *b = a->in_t[2], *y = a->out_t;
    kern_conv_geom *g = &a->conv;
    uint64_t expect_h, expect_w, cg;
    rt_status s = spatial_geom(op, x, y, g);
    if (s != RT_OK)
        return s;
    if (!unused_zero(op, transpose ? 13 : 11, 0))
        return RT_ERR_OP_RESERVED;
    if (w == NULL || w->rank != x->rank || g->c_in % g->group || g->c_out % g->group)
        return RT_ERR_OP_SHAPE;
    cg = transpose ? g->c_out / g->group : g->c_in / g->group;
    if (w->dims[0] != (transpose ? g->c_in : g->c_out) || w->dims[1] != cg ||
        (x->rank == 4 && w->dims[2] != g->kernel_h) || w->dims[w->rank - 1] != g->kernel_w)
        return RT_ERR_OP_SHAPE;
    if (b != NULL && (b->rank != 1 || b->dims[0] != g->c_out))
        return RT_ERR_OP_SHAPE;
    if (!transpose) {
        expect_h = window_out(g->h_in, g->pad_top, g->pad_bottom, g->kernel_h, g->stride_h, g->dilation_h, 0);
        expect_w = window_out(g->w_in, g->pad_left, g->pad_right, g->kernel_w, g->stride_w, g->dilation_w, 0);
        a->scratch = kern_scratch_bytes_conv(g);
    } else {
        uint64_t full_h = (uint64_t)g->stride_h * (g->h_in - 1) + g->dilation_h * (g->kernel_h - 1) + 1 +
                          (uint64_t)op->i[11];
        uint64_t full_w = (uint64_t)g->stride_w * (g->w_in - 1) + g->dilation_w * (g->kernel_w - 1) + 1 +
                          (uint64_t)op->i[12];
        if (x->rank == 3 && op->i[11] != 0)
            return RT_ERR_OP_ATTRIBUTE;
        expect_h = full_h > (uint64_t)g->pad_top + g->pad_bottom ? full_h - g->pad_top - g->pad_bottom : 0;
        expect_w = full_w > (uint64_t)g->pad_left + g->pad_right ? full_w - g->pad_left - g->pad_right : 0;
        a->scratch = kern_scratch_bytes_conv_transpose(g);
    }
    if (expect_h == 0 || expect_w == 0 || expect_h != g->h_out || expect_w != g->w_out)
        return RT_ERR_OP_SHAPE;
    return RT_OK;
}

static rt_status prepare_pool(const rt_op_desc *op, rt_op_args *a, int average)
{
    const rt_tensor_desc *x = a->in_t[0], *y = a->out_t;
    kern_conv_geom *g = &a->conv;
    rt_status s = spatial_geom(op, x, y, g);
    if (s != RT_OK)
        return s;
    if (op->i[0] != 1 || !attr_in(op->i[11], 0, 1) || !attr_in(op->i[12], 0, average))
        return RT_ERR_OP_ATTRIBUTE;
    if (!unused_zero(op, 13, 0))
        return RT_ERR_OP_RESERVED;
    if (g->c_out != g->c_in ||
        window_out(g->h_in, g->pad_top, g->pad_bottom, g->kernel_h, g->stride_h, g->dilation_h, op->i[11]) != g->h_out ||
        window_out(g->w_in, g->pad_left, g->pad_right, g->kernel_w, g->stride_w, g->dilation_w, op->i[11]) != g->w_out ||
        g->h_out == 0 || g->w_out == 0)
        return RT_ERR_OP_SHAPE;
    return RT_OK;
}

static rt_status prepare_gemm(const rt_op_desc *op, rt_op_args *a)
{
    const rt_tensor_desc *A = a->in_t[0], *B = a->in_t[1], *C = a->in_t[2], *y = a->out_t;
    kern_gemm_attr *g = &a->gemm;
    uint32_t m, k, kb, n;
    if (!attr_in(op->i[0], 0, 1) || !attr_in(op->i[1], 0, 1))
        return RT_ERR_OP_ATTRIBUTE;
    if (!unused_zero(op, 2, 2))
        return RT_ERR_OP_RESERVED;
    if (B == NULL || A->rank != 2 || B->rank != 2 || y->rank != 2)
        return RT_ERR_OP_SHAPE;
    m = op->i[0] ? A->dims[1] : A->dims[0];
    k = op->i[0] ? A->dims[0] : A->dims[1];
    kb = op->i[1] ? B->dims[1] : B->dims[0];
    n = op->i[1] ? B->dims[0] : B->dims[1];
    if (k != kb || y->dims[0] != m || y->dims[1] != n)
        return RT_ERR_OP_SHAPE;
    memset(g, 0, sizeof(*g));
    g->m = m;
    g->n = n;
    g->k = k;
    g->trans_a = op->i[0];
    g->trans_b = op->i[1];
    g->alpha = op->f[0];
    g->beta = op->f[1];
    if (C != NULL) {
        /* unidirectional broadcast of C to [M, N] */
        uint32_t cm = C->rank == 2 ? C->dims[0] : 1, cn = C->rank >= 1 ? C->dims[C->rank - 1] : 1;
        if (C->rank > 2 || (cm != 1 && cm != m) || (cn != 1 && cn != n))
            return RT_ERR_OP_SHAPE;
        g->c_stride_m = cm == 1 ? 0 : cn;
        g->c_stride_n = cn == 1 ? 0 : 1;
    }
    a->scratch = kern_scratch_bytes_gemm(g);
    return RT_OK;
}

static rt_status prepare_matmul(rt_op_args *a)
{
    const rt_tensor_desc *A = a->in_t[0], *B = a->in_t[1], *y = a->out_t;
    uint32_t dims[RT_MAX_RANK], rank = 0, ra, rb, r, k;
    uint32_t m, ka, kb, n;
    if (B == NULL || A->rank < 1 || B->rank < 1)
        return RT_ERR_OP_SHAPE;
    ra = A->rank;
    rb = B->rank;
    m = ra >= 2 ? A->dims[ra - 2] : 1;
    ka = A->dims[ra - 1];
    kb = rb >= 2 ? B->dims[rb - 2] : B->dims[0];
    n = rb >= 2 ? B->dims[rb - 1] : 1;
    if (ka != kb)
        return RT_ERR_OP_SHAPE;
    /* batch dims: numpy broadcast of A[:-2] and B[:-2] */
    {
        uint32_t ba = ra > 2 ? ra - 2 : 0, bb = rb > 2 ? rb - 2 : 0;
        r = ba > bb ? ba : bb;
        for (k = 0; k < r; k++) {
            uint32_t da = k < r - ba ? 1 : A->dims[k - (r - ba)];
            uint32_t db = k < r - bb ? 1 : B->dims[k - (r - bb)];
            if (da != db && da != 1 && db != 1)
                return RT_ERR_OP_SHAPE;
            dims[rank++] = da == 1 ? db : da;
        }
    }
    if (ra >= 2)
        dims[rank++] = m;
    if (rb >= 2)
        dims[rank++] = n;
    if (rank > RT_MAX_RANK || !dims_equal(y, rank, dims))
        return RT_ERR_OP_SHAPE;
    to_shape(B, &a->in_shape[1]);
    return RT_OK;
}

uint32_t rt_sum_alias(const rt_partition *p, const rt_op_desc *op)
{
    const rt_tensor_desc *y = &p->tensors[p->pool[op->inputs_start + op->input_count]];
    uint32_t k;
    for (k = 0; k < op->input_count; k++) {
        const rt_tensor_desc *x = &p->tensors[p->pool[op->inputs_start + k]];
        if (x->location == RT_LOC_REGION && x->offset == y->offset && same_dims(x, y))
            return k;
    }
    return RT_NO_TENSOR;
}

static rt_status prepare_binary(const rt_partition *p, const rt_op_desc *op, rt_op_args *a)
{
    uint32_t dims[RT_MAX_RANK], rank, k;
    const rt_tensor_desc *y = a->out_t;
    if (op->op == RT_OP_SUM) {
        /* When y takes the bytes of an input (in place), y += every other input (each must
         * broadcast into y); otherwise y = x0 + x1 (their broadcast must be y), then y += xk. */
        if (op->input_count == 1) {
            if (!same_dims(a->in_t[0], y))
                return RT_ERR_OP_SHAPE;
            return RT_OK;
        }
        a->mid = rt_sum_alias(p, op);
        for (k = 0; k < op->input_count && a->mid != RT_NO_TENSOR; k++) {
            const rt_tensor_desc *x = &p->tensors[p->pool[op->inputs_start + k]];
            if (!broadcast(y, x, &rank, dims) || !dims_equal(y, rank, dims))
                return RT_ERR_OP_SHAPE;
        }
        for (k = 0; k < op->input_count && a->mid == RT_NO_TENSOR; k++) {
            const rt_tensor_desc *x = &p->tensors[p->pool[op->inputs_start + k]];
            if (k == 1) {
                if (!broadcast(a->in_t[0], x, &rank, dims) || !dims_equal(y, rank, dims))
                    return RT_ERR_OP_SHAPE;
            } else if (k > 1) {
                if (!broadcast(y, x, &rank, dims) || !dims_equal(y, rank, dims))
                    return RT_ERR_OP_SHAPE;
            }
        }
        return RT_OK;
    }
    if (a->in_t[1] == NULL || !broadcast(a->in_t[0], a->in_t[1], &rank, dims) || !dims_equal(y, rank, dims))
        return RT_ERR_OP_SHAPE;
    to_shape(a->in_t[1], &a->in_shape[1]);
    return RT_OK;
}

static rt_status prepare_concat_split(const rt_partition *p, const rt_op_desc *op, rt_op_args *a, int split)
{
    const rt_tensor_desc *whole = split ? a->in_t[0] : a->out_t;
    uint32_t parts = split ? op->output_count : op->input_count;
    uint32_t first = op->inputs_start + (split ? op->input_count : 0), k, d;
    uint64_t total = 0;
    if (whole->rank < 1 || !attr_in(op->i[0], 0, (int32_t)whole->rank - 1))
        return RT_ERR_OP_ATTRIBUTE;
    if (!unused_zero(op, 1, 0))
        return RT_ERR_OP_RESERVED;
    for (k = 0; k < parts; k++) {
        const rt_tensor_desc *t = &p->tensors[p->pool[first + k]];
        if (t->rank != whole->rank)
            return RT_ERR_OP_SHAPE;
        for (d = 0; d < whole->rank; d++)
            if (d != (uint32_t)op->i[0] && t->dims[d] != whole->dims[d])
                return RT_ERR_OP_SHAPE;
        total += t->dims[op->i[0]];
    }
    if (total != whole->dims[op->i[0]])
        return RT_ERR_OP_SHAPE;
    a->outer = (size_t)prod_dims(whole, 0, (uint32_t)op->i[0]);
    a->inner = (size_t)prod_dims(whole, (uint32_t)op->i[0] + 1, RT_MAX_RANK);
    a->mid = whole->dims[op->i[0]];
    return RT_OK;
}

static rt_status prepare_slice(const rt_op_desc *op, rt_op_args *a)
{
    const rt_tensor_desc *x = a->in_t[0], *y = a->out_t;
    uint32_t d;
    if (x->rank != y->rank)
        return RT_ERR_OP_SHAPE;
    for (d = 0; d < RT_MAX_RANK; d++) {
        int64_t start = op->i[d], step = op->i[RT_MAX_RANK + d], last;
        if (d >= x->rank) {
            if (start != 0 || step != 0)
                return RT_ERR_OP_RESERVED;
            continue;
        }
        if (step == 0 || start < 0 || start >= (int64_t)x->dims[d])
            return RT_ERR_OP_ATTRIBUTE;
        last = start + ((int64_t)y->dims[d] - 1) * step;
        if (last < 0 || last >= (int64_t)x->dims[d])
            return RT_ERR_OP_SHAPE;
        a->a[d] = (ptrdiff_t)start;
        a->b[d] = (ptrdiff_t)step;
    }
    if (!unused_zero(op, 2 * RT_MAX_RANK, 0))
        return RT_ERR_OP_RESERVED;
    return RT_OK;
}

static rt_status prepare_transpose(const rt_op_desc *op, rt_op_args *a)
{
    const rt_tensor_desc *x = a->in_t[0], *y = a->out_t;
    uint32_t seen = 0, d;
    if (x->rank != y->rank)
        return RT_ERR_OP_SHAPE;
    for (d = 0; d < x->rank; d++) {
        if (!attr_in(op->i[d], 0, (int32_t)x->rank - 1) || (seen & (1u << op->i[d])))
            return RT_ERR_OP_ATTRIBUTE;
        seen |= 1u << op->i[d];
        if (y->dims[d] != x->dims[op->i[d]])
            return RT_ERR_OP_SHAPE;
        a->perm[d] = (size_t)op->i[d];
    }
    if (!unused_zero(op, x->rank, 0))
        return RT_ERR_OP_RESERVED;
    return RT_OK;
}

static rt_status prepare_pad(const rt_op_desc *op, rt_op_args *a)
{
    const rt_tensor_desc *x = a->in_t[0], *y = a->out_t;
    uint32_t d;
    if (x->rank != y->rank || x->rank < 1)
        return RT_ERR_OP_SHAPE;
    if (!attr_in(op->i[12], RT_PAD_CONSTANT, RT_PAD_EDGE))
        return RT_ERR_OP_ATTRIBUTE;
    for (d = 0; d < RT_MAX_RANK; d++) {
        int64_t begin = op->i[d], end = op->i[RT_MAX_RANK + d], len;
        if (d >= x->rank) {
            if (begin != 0 || end != 0)
                return RT_ERR_OP_RESERVED;
            continue;
        }
        len = (int64_t)x->dims[d] + begin + end;
        if (len != (int64_t)y->dims[d])
            return RT_ERR_OP_SHAPE;
        if (op->i[12] == RT_PAD_REFLECT && (begin >= (int64_t)x->dims[d] || end >= (int64_t)x->dims[d]))
            return RT_ERR_OP_ATTRIBUTE;
        if (-begin >= (int64_t)x->dims[d] || -end >= (int64_t)x->dims[d])
            return RT_ERR_OP_ATTRIBUTE;
        a->a[d] = (ptrdiff_t)begin;
        a->b[d] = (ptrdiff_t)end;
    }
    if (!unused_zero(op, 13, 1))
        return RT_ERR_OP_RESERVED;
    return RT_OK;
}

static rt_status prepare_resize(const rt_op_desc *op, rt_op_args *a)
{
    const rt_tensor_desc *x = a->in_t[0], *y = a->out_t;
    uint32_t d;
    if (x->rank != y->rank)
        return RT_ERR_OP_SHAPE;
    if (!attr_in(op->i[0], RT_RESIZE_NEAREST, RT_RESIZE_LINEAR) ||
        !attr_in(op->i[1], RT_COORD_HALF_PIXEL, RT_COORD_HALF_PIXEL_SYMMETRIC) ||
        !attr_in(op->i[2], RT_NEAREST_ROUND_PREFER_FLOOR, RT_NEAREST_CEIL))
        return RT_ERR_OP_ATTRIBUTE;
    if (!unused_zero(op, 3, x->rank))
        return RT_ERR_OP_RESERVED;
    memset(&a->resize, 0, sizeof(a->resize));
    a->resize.mode = op->i[0] == RT_RESIZE_NEAREST ? KERN_RESIZE_NEAREST : KERN_RESIZE_LINEAR;
    a->resize.coord = (kern_coord_mode)op->i[1];
    a->resize.nearest = (kern_nearest_mode)op->i[2];
    for (d = 0; d < x->rank; d++) {
        float s = op->f[d];
        if (!(s > 0.0f && s < 1e9f)) /* also rejects NaN */
            return RT_ERR_OP_ATTRIBUTE;
        a->resize.scale[d] = s;
    }
    for (; d < KERN_MAX_RANK; d++)
        a->resize.scale[d] = 1.0f;
    return RT_OK;
}

/* Outputs may share bytes with inputs only for kernels that allow it, on exactly the same tensor extent. */
static rt_status check_aliasing(const rt_partition *p, const rt_op_desc *op)
{
    uint32_t total = (uint32_t)op->input_count + op->output_count, o, k;
    int in_place = 0;
    switch (op->op) {
    case RT_OP_RELU: case RT_OP_LEAKY_RELU: case RT_OP_CLIP: case RT_OP_SIGMOID: case RT_OP_HARD_SIGMOID:
    case RT_OP_HARD_SWISH: case RT_OP_TANH: case RT_OP_SOFTMAX: case RT_OP_BATCH_NORM: case RT_OP_ADD:
    case RT_OP_SUB: case RT_OP_MUL: case RT_OP_DIV: case RT_OP_SUM: case RT_OP_COPY:
        in_place = 1;
        break;
    default:
        break;
    }
    for (o = op->input_count; o < total; o++) {
        const rt_tensor_desc *y = &p->tensors[p->pool[op->inputs_start + o]];
        for (k = 0; k < total; k++) {
            uint32_t idx = p->pool[op->inputs_start + k];
            const rt_tensor_desc *t;
            if (k == o || idx == RT_NO_TENSOR)
                continue;
            t = &p->tensors[idx];
            if (t->location != RT_LOC_REGION || !ranges_overlap(t->offset, t->nbytes, y->offset, y->nbytes))
                continue;
            if (k < op->input_count && in_place && t->offset == y->offset &&
                (op->op == RT_OP_COPY || same_dims(t, y)))
                continue;
            return RT_ERR_TENSOR_OVERLAP;
        }
    }
    return RT_OK;
}

rt_status rt_prepare_op(const rt_partition *p, uint32_t index, rt_op_args *a)
{
    const rt_body_header *h = p->header;
    const rt_op_desc *op = &p->ops[index];
    uint64_t end = (uint64_t)op->inputs_start + op->input_count + op->output_count;
    uint32_t k, unary_floats = 0;
    rt_status s;

    memset(a, 0, sizeof(*a));
    a->desc = op;
    if (op->op < 1 || op->op > RT_OP_MAX_CODE)
        return RT_ERR_OP_CODE;
    if (op->reserved != 0 || op->reserved2 != 0)
        return RT_ERR_OP_RESERVED;
    if (op->input_count == 0 || op->output_count == 0)
        return RT_ERR_OP_ARITY;
    if (end > h->index_pool_count)
        return RT_ERR_OP_POOL_BOUNDS;
    for (k = 0; k < (uint32_t)op->input_count + op->output_count; k++) {
        uint32_t idx = p->pool[op->inputs_start + k];
        const rt_tensor_desc *t;
        if (idx == RT_NO_TENSOR) {
            int optional = k == 2 && op->input_count == 3 &&
                           (op->op == RT_OP_CONV || op->op == RT_OP_CONV_TRANSPOSE || op->op == RT_OP_GEMM);
            if (!optional)
                return RT_ERR_OP_TENSOR_INDEX;
            continue;
        }
        if (idx >= h->tensor_count)
            return RT_ERR_OP_TENSOR_INDEX;
        t = &p->tensors[idx];
        if (k >= op->input_count && t->location != RT_LOC_REGION)
            return RT_ERR_OP_WRITES_WEIGHT;
        if (k < 5 && k < op->input_count) {
            a->in_t[k] = t;
            a->in[k] = rt_tensor_data(p, t);
        }
    }
    a->out_t = &p->tensors[p->pool[op->inputs_start + op->input_count]];
    a->out = rt_tensor_data(p, a->out_t);
    to_shape(a->in_t[0], &a->in_shape[0]);
    to_shape(a->out_t, &a->out_shape);
    a->numel = a->out_t->nbytes / 4u;

    switch (op->op) {
    case RT_OP_CONV:
    case RT_OP_CONV_TRANSPOSE:
        s = arity(op, 2, 3, 1, 1);
        if (s == RT_OK)
            s = prepare_conv(op, a, op->op == RT_OP_CONV_TRANSPOSE);
        break;
    case RT_OP_GEMM:
        s = arity(op, 2, 3, 1, 1);
        if (s == RT_OK)
            s = prepare_gemm(op, a);
        break;
    case RT_OP_MATMUL:
        s = arity(op, 2, 2, 1, 1);
        if (s == RT_OK)
            s = unused_zero(op, 0, 0) ? prepare_matmul(a) : RT_ERR_OP_RESERVED;
        break;
    case RT_OP_LEAKY_RELU:
    case RT_OP_CLIP:
    case RT_OP_HARD_SIGMOID:
        unary_floats = op->op == RT_OP_LEAKY_RELU ? 1 : 2;
        /* fall through */
    case RT_OP_RELU:
    case RT_OP_SIGMOID:
    case RT_OP_HARD_SWISH:
    case RT_OP_TANH:
        s = arity(op, 1, 1, 1, 1);
        if (s == RT_OK && !same_dims(a->in_t[0], a->out_t))
            s = RT_ERR_OP_SHAPE;
        if (s == RT_OK && !unused_zero(op, 0, unary_floats))
            s = RT_ERR_OP_RESERVED;
        if (s == RT_OK && op->op == RT_OP_CLIP && !(op->f[0] <= op->f[1]))
            s = RT_ERR_OP_ATTRIBUTE;
        a->unary.op = op->op == RT_OP_RELU ? KERN_RELU : op->op == RT_OP_LEAKY_RELU ? KERN_LEAKY_RELU
                    : op->op == RT_OP_CLIP ? KERN_CLIP : op->op == RT_OP_SIGMOID ? KERN_SIGMOID
                    : op->op == RT_OP_HARD_SIGMOID ? KERN_HARD_SIGMOID : op->op == RT_OP_HARD_SWISH ? KERN_HARD_SWISH
                    : KERN_TANH;
        a->unary.alpha = op->f[0];
        a->unary.beta = op->f[1];
        break;
    case RT_OP_COPY:
        s = arity(op, 1, 1, 1, 1);
        if (s == RT_OK && a->in_t[0]->nbytes != a->out_t->nbytes)
            s = RT_ERR_OP_SHAPE;
        if (s == RT_OK && !unused_zero(op, 0, 0))
            s = RT_ERR_OP_RESERVED;
        break;
    case RT_OP_SOFTMAX:
        s = arity(op, 1, 1, 1, 1);
        if (s == RT_OK && (!same_dims(a->in_t[0], a->out_t) || a->out_t->rank < 1))
            s = RT_ERR_OP_SHAPE;
        if (s == RT_OK && (!attr_in(op->i[0], 0, (int32_t)a->out_t->rank - 1) || !attr_in(op->i[1], 0, 1)))
            s = RT_ERR_OP_ATTRIBUTE;
        if (s == RT_OK && !unused_zero(op, 2, 0))
            s = RT_ERR_OP_RESERVED;
        if (s == RT_OK) {
            a->outer = (size_t)prod_dims(a->out_t, 0, (uint32_t)op->i[0]);
            a->mid = op->i[1] ? (size_t)prod_dims(a->out_t, (uint32_t)op->i[0], RT_MAX_RANK)
                              : a->out_t->dims[op->i[0]];
            a->inner = op->i[1] ? 1 : (size_t)prod_dims(a->out_t, (uint32_t)op->i[0] + 1, RT_MAX_RANK);
        }
        break;
    case RT_OP_LRN:
    case RT_OP_BATCH_NORM:
        s = arity(op, op->op == RT_OP_LRN ? 1 : 5, op->op == RT_OP_LRN ? 1 : 5, 1, 1);
        if (s == RT_OK && (!same_dims(a->in_t[0], a->out_t) || a->out_t->rank < 2))
            s = RT_ERR_OP_SHAPE;
        if (s == RT_OK) {
            a->outer = a->out_t->dims[0];
            a->mid = a->out_t->dims[1];
            a->inner = (size_t)prod_dims(a->out_t, 2, RT_MAX_RANK);
        }
        if (s == RT_OK && op->op == RT_OP_LRN) {
            if (!attr_in(op->i[0], 1, MAX_ATTR))
                s = RT_ERR_OP_ATTRIBUTE;
            else if (!unused_zero(op, 1, 3))
                s = RT_ERR_OP_RESERVED;
            a->lrn.size = (size_t)op->i[0];
            a->lrn.alpha = op->f[0];
            a->lrn.beta = op->f[1];
            a->lrn.bias = op->f[2];
        } else if (s == RT_OK) {
            for (k = 1; k < 5 && s == RT_OK; k++)
                if (a->in_t[k]->rank != 1 || a->in_t[k]->dims[0] != a->mid)
                    s = RT_ERR_OP_SHAPE;
            if (s == RT_OK && !unused_zero(op, 0, 1))
                s = RT_ERR_OP_RESERVED;
        }
        break;
    case RT_OP_MAX_POOL:
    case RT_OP_AVERAGE_POOL:
        s = arity(op, 1, 1, 1, 1);
        if (s == RT_OK)
            s = prepare_pool(op, a, op->op == RT_OP_AVERAGE_POOL);
        break;
    case RT_OP_GLOBAL_AVERAGE_POOL:
    case RT_OP_GLOBAL_MAX_POOL:
        s = arity(op, 1, 1, 1, 1);
        if (s == RT_OK && (a->in_t[0]->rank < 3 || a->out_t->rank != a->in_t[0]->rank ||
                           a->out_t->dims[0] != a->in_t[0]->dims[0] || a->out_t->dims[1] != a->in_t[0]->dims[1] ||
                           prod_dims(a->out_t, 2, RT_MAX_RANK) != 1))
            s = RT_ERR_OP_SHAPE;
        if (s == RT_OK && !unused_zero(op, 0, 0))
            s = RT_ERR_OP_RESERVED;
        a->outer = (size_t)prod_dims(a->in_t[0], 0, 2);
        a->inner = (size_t)prod_dims(a->in_t[0], 2, RT_MAX_RANK);
        break;
    case RT_OP_ADD:
    case RT_OP_SUB:
    case RT_OP_MUL:
    case RT_OP_DIV:
    case RT_OP_SUM:
        s = op->op == RT_OP_SUM ? arity(op, 1, 0xFFFF, 1, 1) : arity(op, 2, 2, 1, 1);
        if (s == RT_OK)
            s = unused_zero(op, 0, 0) ? prepare_binary(p, op, a) : RT_ERR_OP_RESERVED;
        break;
    case RT_OP_CONCAT:
        s = arity(op, 1, 0xFFFF, 1, 1);
        if (s == RT_OK)
            s = prepare_concat_split(p, op, a, 0);
        break;
    case RT_OP_SPLIT:
        s = arity(op, 1, 1, 1, 0xFFFF);
        if (s == RT_OK)
            s = prepare_concat_split(p, op, a, 1);
        break;
    case RT_OP_SLICE:
        s = arity(op, 1, 1, 1, 1);
        if (s == RT_OK)
            s = prepare_slice(op, a);
        break;
    case RT_OP_TRANSPOSE:
        s = arity(op, 1, 1, 1, 1);
        if (s == RT_OK)
            s = prepare_transpose(op, a);
        break;
    case RT_OP_PAD:
        s = arity(op, 1, 1, 1, 1);
        if (s == RT_OK)
            s = prepare_pad(op, a);
        break;
    case RT_OP_RESIZE:
        s = arity(op, 1, 1, 1, 1);
        if (s == RT_OK)
            s = prepare_resize(op, a);
        break;
    default:
        s = RT_ERR_OP_CODE;
        break;
    }
    if (s != RT_OK)
        return s;
    return check_aliasing(p, op);
}
