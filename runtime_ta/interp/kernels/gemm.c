/*
 * gemm.c - matrix products: the blocked GEMM engine, Gemm and MatMul.
 *
 * Engine: C += A B by a register-blocked micro-kernel whose fixed-trip inner loops gcc -O3 turns into
 * vector multiply-adds with the accumulators in registers: 4 x 16 for 128-bit vectors (SSE2, NEON),
 * 3 x 32 with AVX2, 8 x 32 with AVX-512 (chosen at compile time from the target's macros; measured
 * best of the shapes tried by benchmarks/bench_kernels.py).
 * B comes either packed (a KC x NC block in 16-column panels, each panel kb x 16 contiguous: the
 * micro-kernel streams it sequentially from L1/L2; im2col and transposed Gemm build these in scratch)
 * or in place with rows ldb apart (1x1 convolutions, MatMul, Gemm without transB: no scratch).
 * Gemm with transB: small M (< KERN_GEMM_PACK_MIN_M, e.g. a batch-1 fully connected layer) takes dot
 * products along B's contiguous rows with 16 independent partial sums (vectorisable without
 * reassociating float math); larger M packs transposed KC x NC blocks of B into scratch.
 */
#include <string.h>

#include "internal.h"

#define MR KERN_MR
#define NR KERN_NR
#define DOT_LANES 16

#if KERN_GEMM_WIDE
/* Wide vector units (AVX2/AVX-512): an MR x NR accumulator tile gcc keeps in vector registers.
 * Only the first w <= NR columns of C are read and written (B holds NR readable columns). */
static void micro_full(size_t w, size_t kc, const float *a, size_t a_rs, size_t a_cs, const float *b, size_t ldb,
                       float *c, size_t ldc)
{
    float acc[MR][NR];
    size_t p, j, r;
    for (r = 0; r < MR; r++)
        for (j = 0; j < NR; j++)
            acc[r][j] = j < w ? c[r * ldc + j] : 0.0f;
    for (p = 0; p < kc; p++) {
        const float *bp = b + p * ldb;
        for (r = 0; r < MR; r++) {
            const float av = a[r * a_rs + p * a_cs];
            for (j = 0; j < NR; j++)
                acc[r][j] += av * bp[j];
        }
    }
    for (r = 0; r < MR; r++)
        for (j = 0; j < NR; j++)
            if (j < w)
                c[r * ldc + j] = acc[r][j];
}
#else
/* 128-bit vectors (SSE2, NEON): 4 x 16 in four named rows (16 vector accumulators).
 * Only the first w <= NR columns of C are read and written (B holds NR readable columns). */
static void micro_full(size_t w, size_t kc, const float *a, size_t a_rs, size_t a_cs, const float *b, size_t ldb,
                       float *c, size_t ldc)
{
    float c0[NR], c1[NR], c2[NR], c3[NR];
    const float *a0 = a, *a1 = a + a_rs, *a2 = a + 2 * a_rs, *a3 = a + 3 * a_rs;
    size_t p, j;
    for (j = 0; j < NR; j++) {
        const int in = j < w;
        c0[j] = in ? c[j] : 0.0f;
        c1[j] = in ? c[ldc + j] : 0.0f;
        c2[j] = in ? c[2 * ldc + j] : 0.0f;
        c3[j] = in ? c[3 * ldc + j] : 0.0f;
    }
    for (p = 0; p < kc; p++) {
        const float *bp = b + p * ldb;
        const float x0 = a0[p * a_cs], x1 = a1[p * a_cs], x2 = a2[p * a_cs], x3 = a3[p * a_cs];
        for (j = 0; j < NR; j++) {
            c0[j] += x0 * bp[j];
            c1[j] += x1 * bp[j];
            c2[j] += x2 * bp[j];
            c3[j] += x3 * bp[j];
        }
    }
    for (j = 0; j < NR; j++)
        if (j < w) {
            c[j] = c0[j];
            c[ldc + j] = c1[j];
            c[2 * ldc + j] = c2[j];
            c[3 * ldc + j] = c3[j];
        }
}
#endif

/* The edge tile: up to MR rows x up to NR columns (mr <= MR, w <= NR), accumulators in a local tile. */
static void micro_edge(size_t mr, size_t w, size_t kc, const float *a, size_t a_rs, size_t a_cs, const float *b,
                       size_t ldb, float *c, size_t ldc)
{
    float acc[MR][NR];
    size_t p, j, r;
    for (r = 0; r < mr; r++)
        for (j = 0; j < w; j++)
            acc[r][j] = c[r * ldc + j];
    for (p = 0; p < kc; p++) {
        const float *bp = b + p * ldb;
        for (r = 0; r < mr; r++) {
            const float av = a[r * a_rs + p * a_cs];
            for (j = 0; j < w; j++)
                acc[r][j] += av * bp[j];
        }
    }
    for (r = 0; r < mr; r++)
        for (j = 0; j < w; j++)
            c[r * ldc + j] = acc[r][j];
}

/* Unpacked B (rows ldb apart): each 16-column slice of a KU-deep block is swept by every row panel
 * of A while it sits in L1 (KU rows x 64 bytes = 8 KiB, small enough to survive the cache-set
 * conflicts a large power-of-two-ish ldb causes). */
#define KU 128

void kern_gemm_acc(size_t m, size_t n, size_t k, const float *a, size_t a_rs, size_t a_cs, const float *b, size_t ldb,
                   float *c, size_t ldc)
{
    size_t j0, p0, i, j;
    for (j0 = 0; j0 < n; j0 += KERN_NC) {
        const size_t nb = kmin(KERN_NC, n - j0);
        for (p0 = 0; p0 < k; p0 += KU) {
            const size_t kb = kmin(KU, k - p0);
            const float *bb = b + p0 * ldb + j0;
            const float *ap = a + p0 * a_cs;
            float *cb = c + j0;
            for (j = 0; j + NR <= nb; j += NR) {
                for (i = 0; i + MR <= m; i += MR)
                    micro_full(NR, kb, ap + i * a_rs, a_rs, a_cs, bb + j, ldb, cb + i * ldc + j, ldc);
                if (i < m)
                    micro_edge(m - i, NR, kb, ap + i * a_rs, a_rs, a_cs, bb + j, ldb, cb + i * ldc + j, ldc);
            }
            if (j < nb) {
                /* Edge columns: the full-width tile reads NR columns of each B row, i.e. up to NR - w
                 * elements into the next row (discarded lanes), which stays inside B except on B's very
                 * last row: that one row goes through the edge kernel. */
                const size_t w = nb - j, full_rows = ldb < NR ? 0 : p0 + kb < k ? kb : kb - 1;
                for (i = 0; i < m; i += MR) {
                    const size_t mr = kmin(MR, m - i);
                    const float *ai = ap + i * a_rs;
                    float *ci = cb + i * ldc + j;
                    if (mr == MR && full_rows > 0)
                        micro_full(w, full_rows, ai, a_rs, a_cs, bb + j, ldb, ci, ldc);
                    else
                        micro_edge(mr, w, full_rows, ai, a_rs, a_cs, bb + j, ldb, ci, ldc);
                    micro_edge(mr, w, kb - full_rows, ai + full_rows * a_cs, a_rs, a_cs, bb + full_rows * ldb + j, ldb,
                               ci, ldc);
                }
            }
        }
    }
}

void kern_gemm_packed_acc(size_t m, size_t nb, size_t kb, const float *a, size_t a_rs, size_t a_cs, const float *bp,
                          float *c, size_t ldc)
{
    size_t i, j;
    for (j = 0; j < nb; j += NR) {
        const size_t w = kmin(NR, nb - j);
        const float *panel = bp + j * kb;
        for (i = 0; i + MR <= m; i += MR)
            micro_full(w, kb, a + i * a_rs, a_rs, a_cs, panel, NR, c + i * ldc + j, ldc);
        if (i < m)
            micro_edge(m - i, w, kb, a + i * a_rs, a_rs, a_cs, panel, NR, c + i * ldc + j, ldc);
    }
}

/* sum_p x[p * xs] * y[p], with DOT_LANES independent partial sums when x is contiguous. */
static float dot(const float *x, size_t xs, const float *y, size_t n)
{
    float lanes[DOT_LANES];
    float s = 0.0f;
    size_t p = 0, l;
    if (xs == 1) {
        for (l = 0; l < DOT_LANES; l++)
            lanes[l] = 0.0f;
        for (; p + DOT_LANES <= n; p += DOT_LANES)
            for (l = 0; l < DOT_LANES; l++)
                lanes[l] += x[p + l] * y[p + l];
        for (l = 0; l < DOT_LANES; l++)
            s += lanes[l];
    }
    for (; p < n; p++)
        s += x[p * xs] * y[p];
    return s;
}

size_t kern_scratch_bytes_gemm(const kern_gemm_attr *attr)
{
    if (!attr->trans_b || attr->m < KERN_GEMM_PACK_MIN_M)
        return 0;
    return kmin(attr->k, KERN_KC) * kern_panel_cols(kmin(attr->n, KERN_NC)) * sizeof(float);
}

kern_status kern_gemm(const kern_gemm_attr *at, const float *a, const float *b, const float *c, float *y,
                      float *scratch, size_t scratch_bytes)
{
    const size_t m = at->m, n = at->n, k = at->k;
    const size_t a_rs = at->trans_a ? 1 : k, a_cs = at->trans_a ? m : 1;
    size_t mn, mk, kn, i, j;
    if (!kmul(m, n, &mn) || !kmul(m, k, &mk) || !kmul(k, n, &kn))
        return KERN_EOVERFLOW;
    if (scratch_bytes < kern_scratch_bytes_gemm(at))
        return KERN_ESCRATCH;
    if (c && at->beta != 0.0f && ((m > 1 && at->c_stride_m > n) || (n > 1 && at->c_stride_n > 1)))
        return KERN_EINVAL;
    memset(y, 0, mn * sizeof(float));
    if (!at->trans_b) {
        kern_gemm_acc(m, n, k, a, a_rs, a_cs, b, n, y, n);
    } else if (m < KERN_GEMM_PACK_MIN_M) {
        for (i = 0; i < m; i++)
            for (j = 0; j < n; j++)
                y[i * n + j] = dot(a + i * a_rs, a_cs, b + j * k, k);
    } else {
        size_t j0, p0, p;
        for (j0 = 0; j0 < n; j0 += KERN_NC) {
            const size_t nb = kmin(KERN_NC, n - j0);
            for (p0 = 0; p0 < k; p0 += KERN_KC) {
                const size_t kb = kmin(KERN_KC, k - p0);
                const size_t padded = (nb + KERN_PANEL - 1) / KERN_PANEL * KERN_PANEL;
                for (j = 0; j < padded; j++) {
                    const size_t q = j / NR * NR;
                    float *dst = scratch + q * kb + (j - q);
                    if (j < nb) {
                        const float *src = b + (j0 + j) * k + p0;
                        for (p = 0; p < kb; p++)
                            dst[p * NR] = src[p];
                    } else {
                        for (p = 0; p < kb; p++)
                            dst[p * NR] = 0.0f;
                    }
                }
                kern_gemm_packed_acc(m, nb, kb, a + p0 * a_cs, a_rs, a_cs, scratch, y + j0, n);
            }
        }
    }
    if (at->alpha != 1.0f || (c && at->beta != 0.0f)) {
        for (i = 0; i < m; i++)
            for (j = 0; j < n; j++) {
                float v = at->alpha * y[i * n + j];
                if (c && at->beta != 0.0f)
                    v += at->beta * c[i * at->c_stride_m + j * at->c_stride_n];
                y[i * n + j] = v;
            }
    }
    return KERN_OK;
}

kern_status kern_matmul(const kern_shape *as, const float *a, const kern_shape *bs, const float *b,
                        const kern_shape *ys, float *y)
{
    size_t m, k, k2, n, mk, kn, mn, nbatch = 1, i, d;
    size_t ab_rank, bb_rank, br, expect_rank;
    size_t bdim[KERN_MAX_RANK], astr[KERN_MAX_RANK], bstr[KERN_MAX_RANK], idx[KERN_MAX_RANK];
    if (as->rank < 1 || bs->rank < 1 || as->rank > KERN_MAX_RANK || bs->rank > KERN_MAX_RANK ||
        ys->rank > KERN_MAX_RANK)
        return KERN_EINVAL;
    m = as->rank == 1 ? 1 : as->dim[as->rank - 2];
    k = as->dim[as->rank - 1];
    k2 = bs->rank == 1 ? bs->dim[0] : bs->dim[bs->rank - 2];
    n = bs->rank == 1 ? 1 : bs->dim[bs->rank - 1];
    if (k != k2)
        return KERN_EINVAL;
    ab_rank = as->rank >= 2 ? as->rank - 2 : 0;
    bb_rank = bs->rank >= 2 ? bs->rank - 2 : 0;
    br = ab_rank > bb_rank ? ab_rank : bb_rank;
    expect_rank = br + (as->rank >= 2) + (bs->rank >= 2);
    if (ys->rank != expect_rank)
        return KERN_EINVAL;
    if (!kmul(m, k, &mk) || !kmul(k, n, &kn) || !kmul(m, n, &mn))
        return KERN_EOVERFLOW;
    /* broadcast batch dims (right-aligned), matrix-sized strides, 0 where broadcast */
    {
        size_t sa = mk, sb = kn;
        for (d = br; d-- > 0;) {
            const size_t off_a = br - ab_rank, off_b = br - bb_rank;
            const size_t da = d >= off_a ? as->dim[d - off_a] : 1;
            const size_t db = d >= off_b ? bs->dim[d - off_b] : 1;
            if (da != db && da != 1 && db != 1)
                return KERN_EINVAL;
            bdim[d] = da > db ? da : db;
            if (da == 0 || db == 0)
                bdim[d] = 0;
            if (ys->dim[d] != bdim[d])
                return KERN_EINVAL;
            astr[d] = da == 1 ? 0 : sa;
            bstr[d] = db == 1 ? 0 : sb;
            if (!kmul(sa, da, &sa) || !kmul(sb, db, &sb) || !kmul(nbatch, bdim[d], &nbatch))
                return KERN_EOVERFLOW;
        }
    }
    if (as->rank >= 2 && ys->dim[br] != m)
        return KERN_EINVAL;
    if (bs->rank >= 2 && ys->dim[ys->rank - 1] != n)
        return KERN_EINVAL;
    {
        size_t total;
        if (!kmul(nbatch, mn, &total))
            return KERN_EOVERFLOW;
        memset(y, 0, total * sizeof(float));
    }
    for (d = 0; d < br; d++)
        idx[d] = 0;
    for (i = 0; i < nbatch; i++) {
        size_t oa = 0, ob = 0;
        for (d = 0; d < br; d++) {
            oa += idx[d] * astr[d];
            ob += idx[d] * bstr[d];
        }
        kern_gemm_acc(m, n, k, a + oa, k, 1, b + ob, n, y + i * mn, n);
        for (d = br; d-- > 0;) {
            if (++idx[d] < bdim[d])
                break;
            idx[d] = 0;
        }
    }
    return KERN_OK;
}
