/*
 * gemm_matmul.c - Gemm and MatMul.
 */
#include <string.h>

#include "ops.h"

static void to_gemm_attr(const rt_gemm_data *d, kern_gemm_attr *g)
{
    memset(g, 0, sizeof(*g));
    g->m = d->m;
    g->n = d->n;
    g->k = d->k;
    g->trans_a = (int)d->trans_a;
    g->trans_b = (int)d->trans_b;
    g->alpha = d->alpha;
    g->beta = d->beta;
    g->c_stride_m = d->c_stride_m;
    g->c_stride_n = d->c_stride_n;
}

static rt_status prepare_gemm(rt_prepare_ctx *c)
{
    const rt_op_desc *op = c->op;
    const rt_tensor_desc *A = c->in[0], *B = c->in[1], *C = c->in[2], *y = c->out;
    rt_gemm_data *g = &c->prep->u.gemm;
    int32_t trans_a = op->i[RT_ATTR_GEMM_TRANS_A], trans_b = op->i[RT_ATTR_GEMM_TRANS_B];
    kern_gemm_attr attr;
    uint32_t m, k, kb, n;
    if (!rt_attr_in(trans_a, 0, 1) || !rt_attr_in(trans_b, 0, 1))
        return RT_ERR_OP_ATTRIBUTE;
    if (!rt_unused_zero(op, RT_ATTR_GEMM_COUNT, RT_FATTR_GEMM_COUNT))
        return RT_ERR_OP_RESERVED;
    if (B == NULL || A->rank != 2 || B->rank != 2 || y->rank != 2)
        return RT_ERR_OP_SHAPE;
    m = trans_a ? A->dims[1] : A->dims[0];
    k = trans_a ? A->dims[0] : A->dims[1];
    kb = trans_b ? B->dims[1] : B->dims[0];
    n = trans_b ? B->dims[0] : B->dims[1];
    if (k != kb || y->dims[0] != m || y->dims[1] != n)
        return RT_ERR_OP_SHAPE;
    g->m = m;
    g->n = n;
    g->k = k;
    g->trans_a = (uint32_t)trans_a;
    g->trans_b = (uint32_t)trans_b;
    g->alpha = op->f[RT_FATTR_GEMM_ALPHA];
    g->beta = op->f[RT_FATTR_GEMM_BETA];
    if (C != NULL) {
        /* unidirectional broadcast of C to [M, N] */
        uint32_t cm = C->rank == 2 ? C->dims[0] : 1, cn = C->rank >= 1 ? C->dims[C->rank - 1] : 1;
        if (C->rank > 2 || (cm != 1 && cm != m) || (cn != 1 && cn != n))
            return RT_ERR_OP_SHAPE;
        g->c_stride_m = cm == 1 ? 0 : cn;
        g->c_stride_n = cn == 1 ? 0 : 1;
    }
    to_gemm_attr(g, &attr);
    c->scratch = kern_scratch_bytes_gemm(&attr);
    return RT_OK;
}

static rt_status eval_gemm(const rt_eval_ctx *c)
{
    kern_gemm_attr attr;
    to_gemm_attr(&c->prep->u.gemm, &attr);
    return rt_from_kern(kern_gemm(&attr, rt_eval_input(c, 0), rt_eval_input(c, 1), rt_eval_input(c, 2),
                                  rt_eval_output(c, 0), c->scratch, c->scratch_size));
}

rt_status rt_matmul_shape(const rt_tensor_desc *A, const rt_tensor_desc *B, const rt_tensor_desc *y)
{
    uint32_t dims[RT_MAX_RANK], rank = 0, ra, rb, r, k, ba, bb;
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
    ba = ra > 2 ? ra - 2 : 0;
    bb = rb > 2 ? rb - 2 : 0;
    r = ba > bb ? ba : bb;
    for (k = 0; k < r; k++) {
        uint32_t da = k < r - ba ? 1 : A->dims[k - (r - ba)];
        uint32_t db = k < r - bb ? 1 : B->dims[k - (r - bb)];
        if (da != db && da != 1 && db != 1)
            return RT_ERR_OP_SHAPE;
        dims[rank++] = da == 1 ? db : da;
    }
    if (ra >= 2)
        dims[rank++] = m;
    if (rb >= 2)
        dims[rank++] = n;
    if (rank > RT_MAX_RANK || !rt_dims_equal(y, rank, dims))
        return RT_ERR_OP_SHAPE;
    return RT_OK;
}

static rt_status prepare_matmul(rt_prepare_ctx *c)
{
    if (!rt_unused_zero(c->op, 0, 0))
        return RT_ERR_OP_RESERVED;
    return rt_matmul_shape(c->in[0], c->in[1], c->out);
}

static rt_status eval_matmul(const rt_eval_ctx *c)
{
    kern_shape a, b, y;
    rt_kshape(rt_eval_tensor(c, 0), &a);
    rt_kshape(rt_eval_tensor(c, 1), &b);
    rt_kshape(rt_eval_tensor(c, 2), &y);
    return rt_from_kern(kern_matmul(&a, rt_eval_input(c, 0), &b, rt_eval_input(c, 1), &y, rt_eval_output(c, 0)));
}

/* name, inputs min/max, outputs min/max, optional inputs, flags, prepare, eval, input and output types */
const rt_op_registration rt_op_gemm = {"Gemm", 2, 3, 1, 1, RT_OPTIONAL(2), 0, prepare_gemm, eval_gemm, "f", "f"};
const rt_op_registration rt_op_matmul = {"MatMul", 2, 2, 1, 1, 0, 0, prepare_matmul, eval_matmul, "f", "f"};
