/*
 * qmatmul.c - QLinearMatMul and MatMulInteger (numpy matmul semantics, batch dims broadcast as in
 * kern_matmul): int8/uint8 operands, exact int32 sums, requantization in integers.
 *
 * Row i of A against column j of B:
 *     acc[i, j] = sum_k (a[i, k] - a_zp) (b[k, j] - b_zp[j]) = sum_k a'[k] b[k, j] - b_zp[j] sum_k a'[k]
 * with a' = a - a_zp: each row accumulates a' times the raw rows of B into up to QMM_COLS int32 sums on
 * the stack (a vector loop along B's rows), then subtracts the zero-point term in int64.  |a'| <= 255
 * and |b| <= 255, so with K <= KERN_QK_MAX every partial sum fits int32.
 *
 * QLinearMatMul: y[i, j] = clamp(round_half_even(acc * M_j) + y_zp), M_j the float32 a_scale *
 * b_scale[j] / y_scale (onnxruntime's expression) held exactly as an int32 multiplier and a shift (one
 * per column of B, in scratch).  MatMulInteger: y = acc (int32).
 */
#include "internal.h"

#define QMM_COLS 64 /* columns of y accumulated at a time (256 bytes of stack) */

/* acc[j] += a * b[j] for j < n, b the raw int8 / uint8 values of one row of B. */
#define QMM_AXPY(name, btype)                                                             \
    static void name(int32_t a, const void *brow, int32_t *acc, size_t n)                 \
    {                                                                                     \
        const btype *b = (const btype *)brow;                                             \
        size_t j;                                                                         \
        for (j = 0; j < n; j++)                                                           \
            acc[j] += a * (int32_t)b[j];                                                  \
    }
QMM_AXPY(axpy_i8, int8_t)
QMM_AXPY(axpy_u8, uint8_t)

static int qtype_ok(kern_qtype t) { return t == KERN_UINT8 || t == KERN_INT8; }

size_t kern_scratch_bytes_qmatmul(const kern_qmatmul_attr *q)
{
    size_t table;
    if (q->y_type == KERN_INT32)
        return 0;
    return kmul(q->b_scale_count, sizeof(kern_requant), &table) ? table : SIZE_MAX;
}

kern_status kern_qmatmul(const kern_qmatmul_attr *q, const kern_shape *a_shape, const void *a, const void *a_zp,
                         const kern_shape *b_shape, const void *b, const void *b_zp, const float *a_scale,
                         const float *b_scale, const float *y_scale, const void *y_zp, const kern_shape *y_shape,
                         void *y, void *scratch, size_t scratch_bytes)
{
    const int requant = q->y_type != KERN_INT32;
    kern_requant *rq = (kern_requant *)scratch;
    kern_matmul_dims md;
    size_t i, r, kk, n0, j, oa, ob;
    int32_t az, yz;
    kern_status st = kern_matmul_shape(a_shape, b_shape, y_shape, &md);
    if (st != KERN_OK)
        return st;
    if (!qtype_ok(q->a_type) || !qtype_ok(q->b_type) || !(qtype_ok(q->y_type) || q->y_type == KERN_INT32) ||
        (q->b_zp_count != 1 && q->b_zp_count != md.n) ||
        (requant && q->b_scale_count != 1 && q->b_scale_count != md.n) || md.k > KERN_QK_MAX)
        return KERN_EINVAL;
    if (scratch_bytes < kern_scratch_bytes_qmatmul(q))
        return KERN_ESCRATCH;
    for (j = 0; requant && j < q->b_scale_count; j++)
        if (kern_requant_from_scale(a_scale[0] * b_scale[j] / y_scale[0], &rq[j]) != KERN_OK)
            return KERN_EINVAL;
    az = kern_qzero(q->a_type, a_zp, 0);
    yz = requant ? kern_qzero(q->y_type, y_zp, 0) : 0;
    for (i = 0; i < md.batches; i++) {
        kern_matmul_batch(&md, i, &oa, &ob);
        for (r = 0; r < md.m; r++) {
            const size_t arow = oa + r * md.k, yrow = (i * md.m + r) * md.n;
            int64_t asum = 0;
            for (kk = 0; kk < md.k; kk++)
                asum += kern_qload(q->a_type, a, arow + kk) - az;
            for (n0 = 0; n0 < md.n; n0 += QMM_COLS) {
                const size_t nt = kmin(QMM_COLS, md.n - n0);
                int32_t acc[QMM_COLS] = {0};
                for (kk = 0; kk < md.k; kk++) {
                    const int32_t av = kern_qload(q->a_type, a, arow + kk) - az;
                    const size_t brow = ob + kk * md.n + n0;
                    if (q->b_type == KERN_INT8)
                        axpy_i8(av, (const int8_t *)b + brow, acc, nt);
                    else
                        axpy_u8(av, (const uint8_t *)b + brow, acc, nt);
                }
                for (j = 0; j < nt; j++) {
                    const size_t col = n0 + j;
                    const int64_t v = acc[j] - kern_qzero(q->b_type, b_zp, q->b_zp_count > 1 ? col : 0) * asum;
                    if (!requant)
                        ((int32_t *)y)[yrow + col] = (int32_t)v;
                    else if (q->y_type == KERN_UINT8)
                        ((uint8_t *)y)[yrow + col] =
                            (uint8_t)kern_requantize(v, rq[q->b_scale_count > 1 ? col : 0], yz, 0, 255);
                    else
                        ((int8_t *)y)[yrow + col] =
                            (int8_t)kern_requantize(v, rq[q->b_scale_count > 1 ? col : 0], yz, -128, 127);
                }
            }
        }
    }
    return KERN_OK;
}
