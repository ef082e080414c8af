/*
 * movement.c - data movement: Copy (Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout),
 * Concat, Split, Slice, Transpose, Pad; DepthToSpace, SpaceToDepth, Expand, Tile.
 */
#include <string.h>

#include "ops.h"

/* ------------------------------------------------------------------ Copy */

static rt_status prepare_copy(rt_prepare_ctx *c)
{
    if (c->in[0]->nbytes != c->out->nbytes)
        return RT_ERR_OP_SHAPE;
    if (!rt_unused_zero(c->op, 0, 0))
        return RT_ERR_OP_RESERVED;
    return RT_OK;
}

static rt_status eval_copy(const rt_eval_ctx *c)
{
    void *y = rt_eval_output_bytes(c, 0);
    const void *x = rt_eval_bytes(c, 0);
    if (y != x)
        memmove(y, x, rt_eval_tensor(c, 1)->nbytes);
    return RT_OK;
}

/* ------------------------------------------------------------------ Concat, Split */

/* The whole tensor (Concat's output, Split's input) viewed as [outer, n, inner] around the axis; the
 * parts (Concat's inputs, Split's outputs) agree with it off the axis and sum to it on the axis. */
static rt_status prepare_parts(rt_prepare_ctx *c, int split, int32_t axis, uint32_t slots_used)
{
    const rt_op_desc *op = c->op;
    const rt_tensor_desc *whole = split ? c->in[0] : c->out;
    uint32_t parts = split ? op->output_count : op->input_count;
    uint32_t first = split ? op->input_count : 0, k, d;
    rt_extent_data *e = &c->prep->u.extent;
    uint64_t total = 0;
    if (whole->rank < 1 || !rt_attr_in(axis, 0, (int32_t)whole->rank - 1))
        return RT_ERR_OP_ATTRIBUTE;
    if (!rt_unused_zero(op, slots_used, 0))
        return RT_ERR_OP_RESERVED;
    for (k = 0; k < parts; k++) {
        const rt_tensor_desc *t = rt_op_tensor(c->part, op, first + k);
        if (t->rank != whole->rank)
            return RT_ERR_OP_SHAPE;
        for (d = 0; d < whole->rank; d++)
            if (d != (uint32_t)axis && t->dims[d] != whole->dims[d])
                return RT_ERR_OP_SHAPE;
        total += t->dims[axis];
    }
    if (total != whole->dims[axis])
        return RT_ERR_OP_SHAPE;
    e->axis = (uint32_t)axis;
    e->outer = (uint32_t)rt_prod_dims(whole, 0, (uint32_t)axis);
    e->inner = (uint32_t)rt_prod_dims(whole, (uint32_t)axis + 1, RT_MAX_RANK);
    e->n = whole->dims[axis];
    return RT_OK;
}

static rt_status prepare_concat(rt_prepare_ctx *c)
{
    return prepare_parts(c, 0, c->op->i[RT_ATTR_CONCAT_AXIS], RT_ATTR_CONCAT_COUNT);
}

static rt_status prepare_split(rt_prepare_ctx *c)
{
    return prepare_parts(c, 1, c->op->i[RT_ATTR_SPLIT_AXIS], RT_ATTR_SPLIT_COUNT);
}

static rt_status eval_concat(const rt_eval_ctx *c)
{
    const rt_extent_data *e = &c->prep->u.extent;
    float *y = rt_eval_output(c, 0);
    size_t offset = 0;
    uint32_t k;
    kern_status s = KERN_OK;
    for (k = 0; k < c->op->input_count && s == KERN_OK; k++) {
        size_t part = rt_eval_tensor(c, k)->dims[e->axis];
        s = kern_concat_part(e->outer, part, e->inner, e->n, offset, rt_eval_input(c, k), y);
        offset += part;
    }
    return rt_from_kern(s);
}

static rt_status eval_split(const rt_eval_ctx *c)
{
    const rt_extent_data *e = &c->prep->u.extent;
    const float *x = rt_eval_input(c, 0);
    size_t offset = 0;
    uint32_t k;
    kern_status s = KERN_OK;
    for (k = 0; k < c->op->output_count && s == KERN_OK; k++) {
        size_t part = rt_eval_tensor(c, c->op->input_count + k)->dims[e->axis];
        s = kern_split_part(e->outer, part, e->inner, e->n, offset, x, rt_eval_output(c, k));
        offset += part;
    }
    return rt_from_kern(s);
}

/* ------------------------------------------------------------------ Slice */

static rt_status prepare_slice(rt_prepare_ctx *c)
{
    const rt_op_desc *op = c->op;
    const rt_tensor_desc *x = c->in[0], *y = c->out;
    rt_movement_data *m = &c->prep->u.move;
    uint32_t d;
    if (x->rank != y->rank)
        return RT_ERR_OP_SHAPE;
    for (d = 0; d < RT_MAX_RANK; d++) {
        int64_t start = op->i[RT_ATTR_SLICE_START + d], step = op->i[RT_ATTR_SLICE_STEP + d], last;
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
        m->a[d] = (int32_t)start;
        m->b[d] = (int32_t)step;
    }
    if (!rt_unused_zero(op, RT_ATTR_SLICE_COUNT, 0))
        return RT_ERR_OP_RESERVED;
    return RT_OK;
}

static void to_ptrdiff(const int32_t *v, ptrdiff_t *out)
{
    size_t d;
    for (d = 0; d < KERN_MAX_RANK; d++)
        out[d] = (ptrdiff_t)v[d];
}

static rt_status eval_slice(const rt_eval_ctx *c)
{
    kern_shape xs, ys;
    ptrdiff_t start[KERN_MAX_RANK], step[KERN_MAX_RANK];
    rt_kshape(rt_eval_tensor(c, 0), &xs);
    rt_kshape(rt_eval_tensor(c, 1), &ys);
    to_ptrdiff(c->prep->u.move.a, start);
    to_ptrdiff(c->prep->u.move.b, step);
    return rt_from_kern(kern_slice(&xs, rt_eval_input(c, 0), &ys, start, step, rt_eval_output(c, 0)));
}

/* ------------------------------------------------------------------ Transpose */

static rt_status prepare_transpose(rt_prepare_ctx *c)
{
    const rt_op_desc *op = c->op;
    const rt_tensor_desc *x = c->in[0], *y = c->out;
    uint32_t seen = 0, d;
    if (x->rank != y->rank)
        return RT_ERR_OP_SHAPE;
    for (d = 0; d < x->rank; d++) {
        int32_t p = op->i[RT_ATTR_TRANSPOSE_PERM + d];
        if (!rt_attr_in(p, 0, (int32_t)x->rank - 1) || (seen & (1u << p)))
            return RT_ERR_OP_ATTRIBUTE;
        seen |= 1u << p;
        if (y->dims[d] != x->dims[p])
            return RT_ERR_OP_SHAPE;
        c->prep->u.move.a[d] = p;
    }
    if (!rt_unused_zero(op, RT_ATTR_TRANSPOSE_PERM + x->rank, 0))
        return RT_ERR_OP_RESERVED;
    return RT_OK;
}

static rt_status eval_transpose(const rt_eval_ctx *c)
{
    kern_shape xs;
    size_t perm[KERN_MAX_RANK], d;
    rt_kshape(rt_eval_tensor(c, 0), &xs);
    for (d = 0; d < KERN_MAX_RANK; d++)
        perm[d] = (size_t)c->prep->u.move.a[d];
    return rt_from_kern(kern_transpose(&xs, rt_eval_input(c, 0), perm, rt_eval_output(c, 0)));
}

/* ------------------------------------------------------------------ Pad */

static rt_status prepare_pad(rt_prepare_ctx *c)
{
    const rt_op_desc *op = c->op;
    const rt_tensor_desc *x = c->in[0], *y = c->out;
    rt_movement_data *m = &c->prep->u.move;
    int32_t mode = op->i[RT_ATTR_PAD_MODE];
    uint32_t d;
    if (x->rank != y->rank || x->rank < 1)
        return RT_ERR_OP_SHAPE;
    if (!rt_attr_in(mode, RT_PAD_CONSTANT, RT_PAD_EDGE))
        return RT_ERR_OP_ATTRIBUTE;
    for (d = 0; d < RT_MAX_RANK; d++) {
        int64_t begin = op->i[RT_ATTR_PAD_BEGIN + d], end = op->i[RT_ATTR_PAD_END + d], len;
        if (d >= x->rank) {
            if (begin != 0 || end != 0)
                return RT_ERR_OP_RESERVED;
            continue;
        }
        len = (int64_t)x->dims[d] + begin + end;
        if (len != (int64_t)y->dims[d])
            return RT_ERR_OP_SHAPE;
        if (mode == RT_PAD_REFLECT && (begin >= (int64_t)x->dims[d] || end >= (int64_t)x->dims[d]))
            return RT_ERR_OP_ATTRIBUTE;
        if (-begin >= (int64_t)x->dims[d] || -end >= (int64_t)x->dims[d])
            return RT_ERR_OP_ATTRIBUTE;
        m->a[d] = (int32_t)begin;
        m->b[d] = (int32_t)end;
    }
    if (!rt_unused_zero(op, RT_ATTR_PAD_COUNT, RT_FATTR_PAD_COUNT))
        return RT_ERR_OP_RESERVED;
    m->mode = (uint32_t)mode;
    m->value = op->f[RT_FATTR_PAD_VALUE];
    return RT_OK;
}

static rt_status eval_pad(const rt_eval_ctx *c)
{
    const rt_movement_data *m = &c->prep->u.move;
    kern_shape xs, ys;
    ptrdiff_t begin[KERN_MAX_RANK], end[KERN_MAX_RANK];
    rt_kshape(rt_eval_tensor(c, 0), &xs);
    rt_kshape(rt_eval_tensor(c, 1), &ys);
    to_ptrdiff(m->a, begin);
    to_ptrdiff(m->b, end);
    return rt_from_kern(kern_pad((kern_pad_mode)m->mode, &xs, rt_eval_input(c, 0), begin, end, m->value, &ys,
                                 rt_eval_output(c, 0)));
}

/* ------------------------------------------------------------------ DepthToSpace, SpaceToDepth */

/* Both are one 6-D transpose of a view of x [N, C, H, W] (prepared: perm in `a`, the view's dims in `b`):
 *   DepthToSpace DCR  [N, b, b, C/b^2, H, W]  perm 0 3 4 1 5 2 -> [N, C/b^2, H, b, W, b] = y [N, C/b^2, H b, W b]
 *   DepthToSpace CRD  [N, C/b^2, b, b, H, W]  perm 0 1 4 2 5 3 -> the same
 *   SpaceToDepth DCR  [N, C, H/b, b, W/b, b]  perm 0 3 5 1 2 4 -> [N, b, b, C, H/b, W/b] = y [N, C b^2, H/b, W/b]
 *   SpaceToDepth CRD  the same view           perm 0 1 3 5 2 4 -> [N, C, b, b, H/b, W/b] = y */
static rt_status prepare_block_shuffle(rt_prepare_ctx *c, int to_space)
{
    static const int32_t dcr[6] = {0, 3, 4, 1, 5, 2}, crd[6] = {0, 1, 4, 2, 5, 3};
    static const int32_t s2d_dcr[6] = {0, 3, 5, 1, 2, 4}, s2d_crd[6] = {0, 1, 3, 5, 2, 4};
    const rt_op_desc *op = c->op;
    const rt_tensor_desc *x = c->in[0], *y = c->out;
    rt_movement_data *m = &c->prep->u.move;
    const int32_t b = op->i[to_space ? RT_ATTR_DEPTH_TO_SPACE_BLOCKSIZE : RT_ATTR_SPACE_TO_DEPTH_BLOCKSIZE];
    const int32_t mode = op->i[to_space ? RT_ATTR_DEPTH_TO_SPACE_MODE : RT_ATTR_SPACE_TO_DEPTH_MODE];
    const int32_t *perm;
    uint64_t n, ch, h, w, bb;
    uint32_t d;
    if (!rt_attr_in(b, 1, 0xFFFF) || !rt_attr_in(mode, RT_DEPTH_TO_SPACE_DCR, RT_DEPTH_TO_SPACE_CRD))
        return RT_ERR_OP_ATTRIBUTE;
    if (!rt_unused_zero(op, to_space ? RT_ATTR_DEPTH_TO_SPACE_COUNT : RT_ATTR_SPACE_TO_DEPTH_COUNT, 0))
        return RT_ERR_OP_RESERVED;
    if (x->rank != 4 || y->rank != 4)
        return RT_ERR_OP_SHAPE;
    n = x->dims[0], ch = x->dims[1], h = x->dims[2], w = x->dims[3], bb = (uint64_t)b * (uint64_t)b;
    if (to_space) {
        uint32_t want[4];
        if (ch % bb != 0)
            return RT_ERR_OP_SHAPE;
        want[0] = (uint32_t)n, want[1] = (uint32_t)(ch / bb), want[2] = (uint32_t)(h * b), want[3] = (uint32_t)(w * b);
        if (h * b > 0xFFFFFFFFu || w * b > 0xFFFFFFFFu || !rt_dims_equal(y, 4, want))
            return RT_ERR_OP_SHAPE;
        if (mode == RT_DEPTH_TO_SPACE_DCR) {
            m->b[0] = (int32_t)n, m->b[1] = b, m->b[2] = b, m->b[3] = (int32_t)(ch / bb);
            perm = dcr;
        } else {
            m->b[0] = (int32_t)n, m->b[1] = (int32_t)(ch / bb), m->b[2] = b, m->b[3] = b;
            perm = crd;
        }
        m->b[4] = (int32_t)h, m->b[5] = (int32_t)w;
    } else {
        uint32_t want[4];
        if (h % (uint64_t)b != 0 || w % (uint64_t)b != 0)
            return RT_ERR_OP_SHAPE;
        want[0] = (uint32_t)n, want[1] = (uint32_t)(ch * bb), want[2] = (uint32_t)(h / b), want[3] = (uint32_t)(w / b);
        if (ch * bb > 0xFFFFFFFFu || !rt_dims_equal(y, 4, want))
            return RT_ERR_OP_SHAPE;
        m->b[0] = (int32_t)n, m->b[1] = (int32_t)ch, m->b[2] = (int32_t)(h / b), m->b[3] = b;
        m->b[4] = (int32_t)(w / b), m->b[5] = b;
        perm = mode == RT_DEPTH_TO_SPACE_DCR ? s2d_dcr : s2d_crd;
    }
    for (d = 0; d < 6; d++) {
        if (m->b[d] < 1) /* a dim past INT32_MAX cannot be stored in the record */
            return RT_ERR_OP_SHAPE;
        m->a[d] = perm[d];
    }
    m->mode = (uint32_t)mode;
    return RT_OK;
}

static rt_status prepare_depth_to_space(rt_prepare_ctx *c) { return prepare_block_shuffle(c, 1); }
static rt_status prepare_space_to_depth(rt_prepare_ctx *c) { return prepare_block_shuffle(c, 0); }

static rt_status eval_block_shuffle(const rt_eval_ctx *c)
{
    const rt_movement_data *m = &c->prep->u.move;
    kern_shape view;
    size_t perm[KERN_MAX_RANK], d;
    view.rank = 6;
    for (d = 0; d < KERN_MAX_RANK; d++) {
        view.dim[d] = (size_t)m->b[d];
        perm[d] = (size_t)m->a[d];
    }
    return rt_from_kern(kern_transpose(&view, rt_eval_input(c, 0), perm, rt_eval_output(c, 0)));
}

/* ------------------------------------------------------------------ Expand, Tile */

/* x left-padded with 1s to y's rank; Expand: each x dim is 1 or y's; Tile (same rank): y dim = x dim * k. */
static rt_status prepare_repeat(rt_prepare_ctx *c, int tile)
{
    const rt_tensor_desc *x = c->in[0], *y = c->out;
    uint32_t d, lead;
    if (!rt_unused_zero(c->op, 0, 0))
        return RT_ERR_OP_RESERVED;
    if (y->rank < x->rank || (tile && y->rank != x->rank))
        return RT_ERR_OP_SHAPE;
    lead = (uint32_t)y->rank - x->rank;
    for (d = 0; d < y->rank; d++) {
        const uint32_t xd = d < lead ? 1u : x->dims[d - lead];
        if (tile ? y->dims[d] % xd != 0 : (xd != 1 && xd != y->dims[d]))
            return RT_ERR_OP_SHAPE;
    }
    return RT_OK;
}

static rt_status prepare_expand(rt_prepare_ctx *c) { return prepare_repeat(c, 0); }
static rt_status prepare_tile(rt_prepare_ctx *c) { return prepare_repeat(c, 1); }

static rt_status eval_repeat(const rt_eval_ctx *c)
{
    kern_shape xs, ys;
    rt_kshape(rt_eval_tensor(c, 0), &xs);
    rt_kshape(rt_eval_tensor(c, 1), &ys);
    return rt_from_kern(kern_tile(&xs, rt_eval_input(c, 0), &ys, rt_eval_output(c, 0)));
}

/* name, inputs min/max, outputs min/max, optional inputs, flags, prepare, eval, input and output types */
const rt_op_registration rt_op_copy = {"Copy", 1, 1, 1, 1, 0, RT_OPF_IN_PLACE_RESHAPE, prepare_copy, eval_copy,
                                       "x", "0"};
const rt_op_registration rt_op_concat = {"Concat", 1, RT_ARITY_MANY, 1, 1, 0, 0, prepare_concat, eval_concat, "f", "f"};
const rt_op_registration rt_op_split = {"Split", 1, 1, 1, RT_ARITY_MANY, 0, 0, prepare_split, eval_split, "f", "f"};
const rt_op_registration rt_op_slice = {"Slice", 1, 1, 1, 1, 0, 0, prepare_slice, eval_slice, "f", "f"};
const rt_op_registration rt_op_transpose = {"Transpose", 1, 1, 1, 1, 0, 0, prepare_transpose, eval_transpose, "f", "f"};
const rt_op_registration rt_op_pad = {"Pad", 1, 1, 1, 1, 0, 0, prepare_pad, eval_pad, "f", "f"};
const rt_op_registration rt_op_depth_to_space = {"DepthToSpace", 1, 1, 1, 1, 0, 0, prepare_depth_to_space,
                                                eval_block_shuffle, "f", "f"};
const rt_op_registration rt_op_space_to_depth = {"SpaceToDepth", 1, 1, 1, 1, 0, 0, prepare_space_to_depth,
                                                eval_block_shuffle, "f", "f"};
const rt_op_registration rt_op_expand = {"Expand", 1, 1, 1, 1, 0, 0, prepare_expand, eval_repeat, "f", "f"};
const rt_op_registration rt_op_tile = {"Tile", 1, 1, 1, 1, 0, 0, prepare_tile, eval_repeat, "f", "f"};
