/*
 * gemm.c - matrix products: the blocked GEMM engine, Gemm and MatMul.
 *
 * Engine: C += A B by a register-blocked micro-kernel whose fixed-trip inner loops gcc -O3 turns into
 * vector multiply-adds with the accumulators in registers: MR x NR = 4 x 16 for 128-bit vectors
 * (SSE2, NEON), 3 x 32 with AVX2, 12 x 32 with AVX-512 in 512-bit vectors (chosen at compile time from
 * the target's macros; measured best of the shapes tried by benchmarks/bench_kernels.py).  The tile is
 * instantiated once per row count 1..MR (the last rows of M take an exact-height tile, not a slow
 * generic one), and with wide vectors column edges of at most NR/2 take a half-width tile.
 * B comes either packed (a KC x NC block in NR-column panels, each panel kb x NR contiguous: the
 * micro-kernel streams it sequentially from L1/L2; im2col and transposed Gemm build these in scratch)
 * or in place with rows ldb apart (1x1 convolutions, MatMul, Gemm without transB: no scratch).
 * Gemm with transB: small M (< KERN_GEMM_PACK_MIN_M, e.g. a batch-1 fully connected layer) takes dot
 * products along B's contiguous rows with 16 independent partial sums (kern_gemv, also the 1x1
 * convolution of a single pixel: a squeeze-excite FC); larger M packs transposed KC x NC blocks of B
 * into scratch.
 */
#include <string.h>

#include "internal.h"

#define MR KERN_MR
#define NR KERN_NR
#define NR_HALF (KERN_NR / 2)
#define DOT_LANES 16

/* The micro-tiles: C[mr x w] += A[mr x kc] B[kc x nr] with an mr x nr accumulator block.  Every call
 * passes constant mr, nr and masked and the functions are inlined, so the fixed-trip loops unroll
 * completely and gcc -O3 keeps the block in vector registers (each B row loaded once as nr / lanes
 * vectors, each A element broadcast).  B holds nr readable columns per row (ldb apart); only the
 * first w <= nr columns of C are read and written (masked == 0 promises w == nr); with init (one value
 * per row) the block starts from init instead of C.
 * Two spellings of the same computation, because gcc vectorises each well in a different regime:
 * tile_block (one 2-D block) when a row spans several vectors, tile_rows (one named array per row,
 * all rows updated in one column loop) when a row is a single vector or the target has 16 registers. */
#if KERN_GEMM_WIDE /* tile_block serves only the wide targets */
static KERN_INLINE void tile_block(const size_t mr, const size_t nr, const int masked, size_t w, size_t kc,
                                   const float *a, size_t a_rs, size_t a_cs, const float *b, size_t ldb, float *c,
                                   size_t ldc, const float *init)
{
    float acc[MR][NR];
    size_t p, j, r;
    for (r = 0; r < mr; r++)
        for (j = 0; j < nr; j++)
            acc[r][j] = init ? init[r] : !masked || j < w ? c[r * ldc + j] : 0.0f;
    for (p = 0; p < kc; p++) {
        const float *bp = b + p * ldb;
        for (r = 0; r < mr; r++) {
            const float av = a[r * a_rs + p * a_cs];
            for (j = 0; j < nr; j++)
                acc[r][j] += av * bp[j];
        }
    }
    for (r = 0; r < mr; r++)
        for (j = 0; j < nr; j++)
            if (!masked || j < w)
                c[r * ldc + j] = acc[r][j];
}
#endif

#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#if MR > 12
#error "tile_rows names at most 12 rows"
#endif
static KERN_INLINE void tile_rows(const size_t mr, const size_t nr, const int masked, size_t w, size_t kc,
                                  const float *a, size_t a_rs, size_t a_cs, const float *b, size_t ldb, float *c,
                                  size_t ldc, const float *init)
{
    size_t p, j;
#define ROW_DECLARE(r) float c##r[NR]; const float *a##r = a + (r < mr ? r : 0) * a_rs;
    ROWS(ROW_DECLARE)
    for (j = 0; j < nr; j++) {
        const int in = !masked || j < w;
#define ROW_LOAD(r) if (r < mr) c##r[j] = init ? init[r] : in ? c[r * ldc + j] : 0.0f;
        ROWS(ROW_LOAD)
    }
    for (p = 0; p < kc; p++) {
        const float *bp = b + p * ldb;
#define ROW_A(r) const float x##r = r < mr ? a##r[p * a_cs] : 0.0f;
        ROWS(ROW_A)
        for (j = 0; j < nr; j++) {
#define ROW_FMA(r) if (r < mr) c##r[j] += x##r * bp[j];
            ROWS(ROW_FMA)
        }
    }
    for (j = 0; j < nr; j++)
        if (!masked || j < w) {
#define ROW_STORE(r) if (r < mr) c[r * ldc + j] = c##r[j];
            ROWS(ROW_STORE)
        }
}

/* One instantiation of tile() per row count 1..MR. */
#define TILE_ROWS(tile, nr, masked)                                                                            \
    switch (mr) {                                                                                              \
    TILE_CASE(tile, 1, nr, masked) TILE_CASE(tile, 2, nr, masked) TILE_CASE(tile, 3, nr, masked)               \
    TILE_CASE_4_PLUS(tile, nr, masked)                                                                         \
    default: break;                                                                                            \
    }
#define TILE_CASE(tile, rows, nr, masked)                                                                      \
    case rows:                                                                                                 \
        tile(rows, nr, masked, w, kc, a, a_rs, a_cs, b, ldb, c, ldc, init);                                    \
        break;
#if MR == 3
#define TILE_CASE_4_PLUS(tile, nr, masked)
#elif MR == 4
#define TILE_CASE_4_PLUS(tile, nr, masked) TILE_CASE(tile, 4, nr, masked)
#elif MR == 8
#define TILE_CASE_4_PLUS(tile, nr, masked)                                                                         \
    TILE_CASE(tile, 4, nr, masked) TILE_CASE(tile, 5, nr, masked) TILE_CASE(tile, 6, nr, masked) TILE_CASE(tile, 7, nr, masked)        \
    TILE_CASE(tile, 8, nr, masked)
#elif MR == 12
#define TILE_CASE_4_PLUS(tile, nr, masked)                                                                         \
    TILE_CASE(tile, 4, nr, masked) TILE_CASE(tile, 5, nr, masked) TILE_CASE(tile, 6, nr, masked) TILE_CASE(tile, 7, nr, masked)        \
    TILE_CASE(tile, 8, nr, masked) TILE_CASE(tile, 9, nr, masked) TILE_CASE(tile, 10, nr, masked) TILE_CASE(tile, 11, nr, masked)      \
    TILE_CASE(tile, 12, nr, masked)
#else
#error "KERN_MR must be 3, 4, 8 or 12"
#endif

/* Columns of each B row micro() reads for a w-column tile: the full tile when w == NR, else the
 * narrowest masked tile that covers w. */
static size_t micro_cols(size_t w)
{
#if KERN_GEMM_WIDE
    return w <= NR_HALF ? NR_HALF : NR;
#else
    (void)w;
    return NR;
#endif
}

/* C[mr x w] += A B for mr <= MR rows and w <= NR columns, B holding micro_cols(w) readable columns per
 * row; with init, C[r][j] = init[r] + (A B)[r][j] instead (C is not read). */
static void micro(size_t mr, size_t w, size_t kc, const float *a, size_t a_rs, size_t a_cs, const float *b,
                  size_t ldb, float *c, size_t ldc, const float *init)
{
#if KERN_GEMM_WIDE
    if (w == NR) {
        TILE_ROWS(tile_block, NR, 0)
    } else if (w <= NR_HALF) {
#if defined(KERN_VEC512)
        TILE_ROWS(tile_rows, NR_HALF, 1) /* a half row is one vector */
#else
        TILE_ROWS(tile_block, NR_HALF, 1)
#endif
    } else {
        TILE_ROWS(tile_block, NR, 1)
    }
#else
    if (w == NR) {
        TILE_ROWS(tile_rows, NR, 0)
    } else {
        TILE_ROWS(tile_rows, NR, 1)
    }
#endif
}

/* The same for B holding only w readable columns per row (narrow B, or its very last row): one
 * column at a time, an mr x 1 tile whose mr accumulators stay in registers (independent chains, each
 * the same sequential sum as the wide tiles'). */
static void micro_exact(size_t mr, size_t w, size_t kc, const float *a, size_t a_rs, size_t a_cs,
                        const float *b_cols, size_t ldb, float *c_cols, size_t ldc, const float *init)
{
    size_t j;
    for (j = 0; j < w; j++) {
        const float *b = b_cols + j;
        float *c = c_cols + j;
        TILE_ROWS(tile_rows, 1, 0)
    }
}

/* Unpacked B (rows ldb apart): each 16-column slice of a KU-deep block is swept by every row panel
 * of A while it sits in L1 (KU rows x 64 bytes = 8 KiB, small enough to survive the cache-set
 * conflicts a large power-of-two-ish ldb causes). */
#define KU 128

void kern_gemm_acc(size_t m, size_t n, size_t k, const float *a, size_t a_rs, size_t a_cs, const float *b, size_t ldb,
                   float *c, size_t ldc, const float *init)
{
    size_t j0, p0, i, j;
    for (j0 = 0; j0 < n; j0 += KERN_NC) {
        const size_t nb = kmin(KERN_NC, n - j0);
        for (p0 = 0; p0 < k; p0 += KU) {
            const size_t kb = kmin(KU, k - p0);
            const float *bb = b + p0 * ldb + j0;
            const float *ap = a + p0 * a_cs, *first = p0 == 0 ? init : NULL;
            float *cb = c + j0;
            for (j = 0; j + NR <= nb; j += NR)
                for (i = 0; i < m; i += MR)
                    micro(kmin(MR, m - i), NR, kb, ap + i * a_rs, a_rs, a_cs, bb + j, ldb, cb + i * ldc + j, ldc,
                          first ? first + i : NULL);
            if (j < nb) {
                /* Edge columns: the tile reads micro_cols(w) columns of each B row, i.e. over = that - w
                 * elements into the next row (discarded lanes), which stays inside B (over <= ldb) except
                 * on B's very last row: unless over == 0, that one row is done column by column
                 * (micro_exact), and every row when B is too narrow to read past (over > ldb: a GEMV,
                 * a 1x1 conv over a few pixels). */
                const size_t w = nb - j, over = micro_cols(w) - w;
                const size_t full_rows = over == 0 ? kb : over > ldb ? 0 : p0 + kb < k ? kb : kb - 1;
                for (i = 0; i < m; i += MR) {
                    const size_t mr = kmin(MR, m - i);
                    const float *ai = ap + i * a_rs;
                    float *ci = cb + i * ldc + j;
                    if (full_rows > 0)
                        micro(mr, w, full_rows, ai, a_rs, a_cs, bb + j, ldb, ci, ldc, first ? first + i : NULL);
                    if (full_rows < kb)
                        micro_exact(mr, w, kb - full_rows, ai + full_rows * a_cs, a_rs, a_cs, bb + full_rows * ldb + j,
                                    ldb, ci, ldc, full_rows == 0 && first ? first + i : NULL);
                }
            }
        }
    }
}

void kern_gemm_packed_acc(size_t m, size_t nb, size_t kb, const float *a, size_t a_rs, size_t a_cs, const float *bp,
                          float *c, size_t ldc, const float *init)
{
    size_t i, j;
    for (j = 0; j < nb; j += NR) {
        const size_t w = kmin(NR, nb - j);
        const float *panel = bp + j * kb;
        for (i = 0; i < m; i += MR)
            micro(kmin(MR, m - i), w, kb, a + i * a_rs, a_rs, a_cs, panel, NR, c + i * ldc + j, ldc,
                  init ? init + i : NULL);
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

void kern_gemv(size_t m, size_t k, const float *a, size_t lda, const float *x, size_t xs, float *y,
               const float *init)
{
    size_t i;
    for (i = 0; i < m; i++)
        y[i] = init ? init[i] + dot(x, xs, a + i * lda, k) : dot(x, xs, a + i * lda, k);
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
        kern_gemm_acc(m, n, k, a, a_rs, a_cs, b, n, y, n, NULL);
    } else if (m < KERN_GEMM_PACK_MIN_M) {
        for (i = 0; i < m; i++)
            kern_gemv(n, k, b, k, a + i * a_rs, a_cs, y + i * n, NULL);
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
                kern_gemm_packed_acc(m, nb, kb, a + p0 * a_cs, a_rs, a_cs, scratch, y + j0, n, NULL);
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

kern_status kern_matmul_shape(const kern_shape *as, const kern_shape *bs, const kern_shape *ys,
                              kern_matmul_dims *md)
{
    size_t ab_rank, bb_rank, br, expect_rank, d, mk, kn, mn, sa, sb;
    if (as->rank < 1 || bs->rank < 1 || as->rank > KERN_MAX_RANK || bs->rank > KERN_MAX_RANK ||
        ys->rank > KERN_MAX_RANK)
        return KERN_EINVAL;
    md->m = as->rank == 1 ? 1 : as->dim[as->rank - 2];
    md->k = as->dim[as->rank - 1];
    md->n = bs->rank == 1 ? 1 : bs->dim[bs->rank - 1];
    if (md->k != (bs->rank == 1 ? bs->dim[0] : bs->dim[bs->rank - 2]))
        return KERN_EINVAL;
    ab_rank = as->rank >= 2 ? as->rank - 2 : 0;
    bb_rank = bs->rank >= 2 ? bs->rank - 2 : 0;
    br = ab_rank > bb_rank ? ab_rank : bb_rank;
    expect_rank = br + (as->rank >= 2) + (bs->rank >= 2);
    if (ys->rank != expect_rank)
        return KERN_EINVAL;
    if (!kmul(md->m, md->k, &mk) || !kmul(md->k, md->n, &kn) || !kmul(md->m, md->n, &mn))
        return KERN_EOVERFLOW;
    /* broadcast batch dims (right-aligned), matrix-sized strides, 0 where broadcast */
    md->rank = br;
    md->batches = 1;
    md->b_batched = bb_rank > 0;
    sa = mk;
    sb = kn;
    for (d = br; d-- > 0;) {
        const size_t off_a = br - ab_rank, off_b = br - bb_rank;
        const size_t da = d >= off_a ? as->dim[d - off_a] : 1;
        const size_t db = d >= off_b ? bs->dim[d - off_b] : 1;
        if (da != db && da != 1 && db != 1)
            return KERN_EINVAL;
        md->dim[d] = da > db ? da : db;
        if (da == 0 || db == 0)
            md->dim[d] = 0;
        if (ys->dim[d] != md->dim[d])
            return KERN_EINVAL;
        md->a_stride[d] = da == 1 ? 0 : sa;
        md->b_stride[d] = db == 1 ? 0 : sb;
        if (!kmul(sa, da, &sa) || !kmul(sb, db, &sb) || !kmul(md->batches, md->dim[d], &md->batches))
            return KERN_EOVERFLOW;
    }
    if (as->rank >= 2 && ys->dim[br] != md->m)
        return KERN_EINVAL;
    if (bs->rank >= 2 && ys->dim[ys->rank - 1] != md->n)
        return KERN_EINVAL;
    if (!kmul(md->batches, mn, &mn))
        return KERN_EOVERFLOW;
    return KERN_OK;
}

void kern_matmul_batch(const kern_matmul_dims *md, size_t i, size_t *oa, size_t *ob)
{
    size_t d;
    *oa = *ob = 0;
    for (d = md->rank; d-- > 0;) {
        const size_t at = i % md->dim[d];
        i /= md->dim[d];
        *oa += at * md->a_stride[d];
        *ob += at * md->b_stride[d];
    }
}

kern_status kern_matmul(const kern_shape *as, const float *a, const kern_shape *bs, const float *b,
                        const kern_shape *ys, float *y)
{
    kern_matmul_dims md;
    size_t i, oa, ob;
    kern_status st = kern_matmul_shape(as, bs, ys, &md);
    if (st != KERN_OK)
        return st;
    memset(y, 0, md.batches * md.m * md.n * sizeof(float));
    if (!md.b_batched) {
        /* B has no batch dims (weights on the right of a rank > 2 operand, e.g. a Linear layer on
         * [B, S, D]): the batches of A and y are consecutive rows, so it is one [batches * M, K] x
         * [K, N] product (full-height micro-tiles across batch boundaries). */
        kern_gemm_acc(md.batches * md.m, md.n, md.k, a, md.k, 1, b, md.n, y, md.n, NULL);
        return KERN_OK;
    }
    for (i = 0; i < md.batches; i++) {
        kern_matmul_batch(&md, i, &oa, &ob);
        kern_gemm_acc(md.m, md.n, md.k, a + oa, md.k, 1, b + ob, md.n, y + i * md.m * md.n, md.n, NULL);
    }
    return KERN_OK;
}
