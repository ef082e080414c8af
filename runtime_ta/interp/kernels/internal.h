/*
 * internal.h - helpers shared by the kernel sources (not part of the interpreter's API).
 */
#ifndef ONNX_TEE_KERNELS_INTERNAL_H
#define ONNX_TEE_KERNELS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "../kernels.h"

#if defined(__GNUC__) && !defined(__clang__)
/* The kernels rely on -O3's complete unrolling and vectorisation of their fixed-trip loops (the GEMM
 * micro-kernels above all), whatever the build around them uses (-O2 in the simulator, -Os in
 * OP-TEE's TA build). */
#pragma GCC optimize("O3", "fp-contract=fast")
#if defined(__AVX512F__)
/* gcc's default tuning stops at 256-bit vectors; the GEMM tile below is sized for 32 zmm registers. */
#pragma GCC target("prefer-vector-width=512")
#define KERN_VEC512 1
#endif
#endif

/* *r = a * b; 0 on overflow. */
static inline int kmul(size_t a, size_t b, size_t *r)
{
    if (a != 0 && b > SIZE_MAX / a)
        return 0;
    *r = a * b;
    return 1;
}

/* *r = a * b * c; 0 on overflow. */
static inline int kmul3(size_t a, size_t b, size_t c, size_t *r)
{
    size_t t;
    return kmul(a, b, &t) && kmul(t, c, r);
}

/* *r = a * b * c * d; 0 on overflow. */
static inline int kmul4(size_t a, size_t b, size_t c, size_t d, size_t *r)
{
    size_t t;
    return kmul3(a, b, c, &t) && kmul(t, d, r);
}

/* GEMM micro-kernel tile: KERN_MR rows x KERN_NR columns (= width of a packed B panel), by vector width.
 * Only the kernels' speed depends on it; scratch sizes depend on KERN_KC and KERN_NC alone. */
#if defined(KERN_VEC512)
#define KERN_GEMM_WIDE 1
#define KERN_MR 12 /* 24 of the 32 zmm registers hold accumulators: measured best of 4, 8, 12 */
#define KERN_NR 32
#elif defined(__AVX2__)
#define KERN_GEMM_WIDE 1
#define KERN_MR 3 /* 12 of the 16 ymm registers hold accumulators: measured best */
#define KERN_NR 32
#else
#define KERN_GEMM_WIDE 0
#define KERN_MR 4
#define KERN_NR 16
#endif

#if KERN_PANEL % KERN_NR != 0 || KERN_NC % KERN_PANEL != 0
#error "packed panels: KERN_NR must divide KERN_PANEL, which must divide KERN_NC"
#endif

/* Inlined into every caller (the GEMM micro-tile is instantiated once per constant shape); never inlined
 * (a helper with a large stack buffer keeps its own frame). */
#if defined(__GNUC__)
#define KERN_INLINE inline __attribute__((always_inline))
#define KERN_NOINLINE __attribute__((noinline))
#else
#define KERN_INLINE inline
#define KERN_NOINLINE
#endif

/* Complete unrolling of a short constant-trip loop (up to 8 iterations) that gcc's own limits would
 * leave rolled (an inner loop left rolled keeps the loop around it from vectorising). */
#if defined(__GNUC__)
#define KERN_UNROLL _Pragma("GCC unroll 8")
#else
#define KERN_UNROLL
#endif

static inline size_t kmin(size_t a, size_t b) { return a < b ? a : b; }

/* x clamped to [lo, hi] (NaN stays NaN). */
static inline float kclampf(float x, float lo, float hi) { return x < lo ? lo : x > hi ? hi : x; }

/* Keys' cubic convolution weights of the taps at offsets -1, 0, 1, 2 from floor(c), s = c - floor(c) in
 * [0, 1), coefficient a (Resize's cubic_coeff_a; GridSample's -0.75), as onnxruntime evaluates them. */
static inline void kern_cubic_weights(float s, float a, float *w)
{
    const float s1 = s + 1.0f, t = 1.0f - s, t1 = 2.0f - s;
    w[0] = ((a * s1 - 5.0f * a) * s1 + 8.0f * a) * s1 - 4.0f * a;
    w[1] = ((a + 2.0f) * s - (a + 3.0f)) * s * s + 1.0f;
    w[2] = ((a + 2.0f) * t - (a + 3.0f)) * t * t + 1.0f;
    w[3] = ((a * t1 - 5.0f * a) * t1 + 8.0f * a) * t1 - 4.0f * a;
}

/* The index range [*lo, *hi) of o in [0, n) with pad <= o * stride + off < pad + len (stride >= 1):
 * the outputs (or window taps) whose input coordinate falls inside the real, unpadded input. */
static inline void kern_valid_range(size_t pad, size_t off, size_t stride, size_t len, size_t n, size_t *lo,
                                    size_t *hi)
{
    size_t l = off >= pad ? 0 : (pad - off + stride - 1) / stride;
    size_t h = pad + len <= off ? 0 : (pad + len - off + stride - 1) / stride;
    if (h > n)
        h = n;
    if (l > h)
        l = h;
    *lo = l;
    *hi = h;
}

/* Numpy broadcasting of `count` (<= KERN_BCAST_MAX) operand shapes to y's shape, walked as runs
 * (kernels/broadcast.c): y holds `runs` runs of `run` contiguous elements; run r starts at y + r * run,
 * and kern_bcast_next gives each operand's element offset of the next run, along which operand k
 * advances by stride[k][0] (0: broadcast, 1: contiguous).  Dims are merged so runs are as long as
 * possible.  Init: KERN_EINVAL unless every shape broadcasts to y, KERN_EOVERFLOW on overflow. */
#define KERN_BCAST_MAX 3
typedef struct {
    size_t count, nd;                              /* operands; merged dims, innermost first */
    size_t dim[KERN_MAX_RANK];
    size_t stride[KERN_BCAST_MAX][KERN_MAX_RANK];  /* element strides, 0 where broadcast */
    size_t idx[KERN_MAX_RANK];                     /* odometer over dims 1 .. nd - 1 */
    size_t runs, run;
} kern_bcast;
kern_status kern_bcast_init(kern_bcast *b, size_t count, const kern_shape *const *in, const kern_shape *y);
void kern_bcast_next(kern_bcast *b, size_t *offsets);

/* y[i] = EXPR over u = a[i * sa] and v = b[i * sb] for i < n, strides 0 or 1: one loop per stride
 * pattern, so that each vectorises (i, u, v are declared here). */
#define KERN_RUN2(T, y, a, sa, b, sb, n, EXPR)                                                                       \
    do {                                                                                                              \
        size_t i;                                                                                                     \
        if ((sa) && (sb))                                                                                             \
            for (i = 0; i < (n); i++) {                                                                               \
                const T u = (a)[i], v = (b)[i];                                                                       \
                (y)[i] = EXPR;                                                                                        \
            }                                                                                                         \
        else if (sb)                                                                                                  \
            for (i = 0; i < (n); i++) {                                                                               \
                const T u = (a)[0], v = (b)[i];                                                                       \
                (y)[i] = EXPR;                                                                                        \
            }                                                                                                         \
        else if (sa)                                                                                                  \
            for (i = 0; i < (n); i++) {                                                                               \
                const T u = (a)[i], v = (b)[0];                                                                       \
                (y)[i] = EXPR;                                                                                        \
            }                                                                                                         \
        else                                                                                                          \
            for (i = 0; i < (n); i++) {                                                                               \
                const T u = (a)[0], v = (b)[0];                                                                       \
                (y)[i] = EXPR;                                                                                        \
            }                                                                                                         \
    } while (0)

/* Row-major strides of a shape (elements); 0 on overflow or bad rank. */
int kern_strides(const kern_shape *s, size_t *strides);

/* C[m x n] (row stride ldc) += A B, where A(i, p) = a[i * a_rs + p * a_cs] and B(p, j) = b[p * ldb + j].
 * Cache-blocked, register-blocked.  init NULL: the caller initialises C; otherwise (k >= 1)
 * C[i][j] = init[i] + (A B)[i][j] and C is never read.  Defined in gemm.c. */
void kern_gemm_acc(size_t m, size_t n, size_t k, const float *a, size_t a_rs, size_t a_cs, const float *b, size_t ldb,
                   float *c, size_t ldc, const float *init);

/* y[i] = init[i] + A_i . x for i < m (init NULL: 0 +), A_i = a + i * lda contiguous, x[p * xs]: 16-lane
 * dot products (a batch-1 fully connected layer).  Defined in gemm.c. */
void kern_gemv(size_t m, size_t k, const float *a, size_t lda, const float *x, size_t xs, float *y,
               const float *init);

/* Columns a packed block of nb columns occupies: nb rounded up to KERN_PANEL (zero columns pad it). */
static inline size_t kern_panel_cols(size_t nb) { return (nb + KERN_PANEL - 1) / KERN_PANEL * KERN_PANEL; }

/* C[m x nb] (row stride ldc) += A B for one KC x NC block of B packed in KERN_NR-column panels: the
 * panel of columns j .. j + NR - 1 holds B(p, j + t) at bp[j*kb + p*NR + t], zero past column nb
 * (kern_panel_cols(nb) columns in all).  init as for kern_gemm_acc (one value per row of C, or NULL). */
void kern_gemm_packed_acc(size_t m, size_t nb, size_t kb, const float *a, size_t a_rs, size_t a_cs, const float *bp,
                          float *c, size_t ldc, const float *init);

/* One batch item of a depthwise Conv (c_in / group == 1): xb [c_in, h_in, w_in] -> yb [c_out, h_out, w_out],
 * the geometry checked by kern_conv_act; act (if not NULL) applied to every output.  Defined in
 * depthwise.c. */
void kern_depthwise(const kern_conv_geom *g, const kern_unary_attr *act, const float *xb, const float *w,
                    const float *bias, float *yb, float *scratch);
/* Scratch bytes of a depthwise Conv on the zero-padded-plane path (dilated, stride 1, the plane and its
 * outputs at most KERN_DW_DIL_MAX floats), 0 when it does not take that path.  Defined in depthwise.c. */
size_t kern_dw_dilated_scratch(const kern_conv_geom *g);

/* One batch item of a grouped Conv (group > 1, c_in / group > 1, few outputs per group) on a window
 * path, if it takes one:
 * returns 1 when it computed yb (act, if not NULL, applied), 0 when the layer is not for it (then
 * nothing was written).  scratch holds kern_scratch_bytes_conv(g) bytes.  Defined in grouped.c. */
int kern_grouped(const kern_conv_geom *g, const kern_unary_attr *act, const float *xb, const float *w,
                 const float *bias, float *yb, float *scratch);

/* y[i] = sigmoid(x[i]), tanh(x[i]), erf(x[i]) for i < n, vectorised float code within 2.5e-7 relative
 * (y may equal x).  Defined in vmath.c. */
void kern_sigmoid_n(const float *x, float *y, size_t n);
void kern_tanh_n(const float *x, float *y, size_t n);
void kern_erf_n(const float *x, float *y, size_t n);
/* Sum of e^(x[i] - shift), i < n, every x[i] - shift <= 0 (softmax: shift = the max), in
 * KERN_EXP_LANES partial sums (lane i % KERN_EXP_LANES, summed pairwise at the end); y, unless NULL,
 * gets the exponentials (y may equal x). */
#define KERN_EXP_LANES 8
float kern_exp_sum_n(const float *x, float shift, float *y, size_t n);

/* Elementwise math (kernels/math.c): kern_unary for the kern_unary_op values from KERN_SQRT on, and
 * the fast paths of a Pow whose exponent is one value for a run (returns 0 when it has none; then y
 * is untouched).  The binary maps below are NaN-propagating (NaN in either operand gives NaN). */
kern_status kern_unary_math(const kern_unary_attr *at, const float *x, float *y, size_t n);
int kern_pow_scalar(const float *a, size_t sa, float e, float *y, size_t n);
/* numpy matmul's shapes (kernels/gemm.c): A [.., M, K] (rank 1: [1, K]), B [.., K, N] (rank 1: [K, 1]), the
 * batch dims broadcast (right-aligned) to y's; every size and batches * M * N fit size_t. */
typedef struct {
    size_t m, k, n;
    size_t batches, rank;      /* product and number of the broadcast batch dims */
    size_t dim[KERN_MAX_RANK]; /* broadcast batch dims */
    size_t a_stride[KERN_MAX_RANK], b_stride[KERN_MAX_RANK]; /* elements per step of each (0: broadcast) */
    int b_batched;             /* B has batch dims of its own */
} kern_matmul_dims;
kern_status kern_matmul_shape(const kern_shape *a_shape, const kern_shape *b_shape, const kern_shape *y_shape,
                              kern_matmul_dims *md);
/* Element offsets of the A and B matrices of batch i (row-major over the broadcast batch dims). */
void kern_matmul_batch(const kern_matmul_dims *md, size_t i, size_t *oa, size_t *ob);

/* Conv geometry (kernels/conv.c): channels divide into the groups, x / y / w element counts fit size_t,
 * h_out and w_out are the window rule's; KERN_EINVAL / KERN_EOVERFLOW otherwise. */
kern_status kern_conv_check(const kern_conv_geom *g);
/* 1x1 kernel, stride 1, no padding: the im2col matrix is the input itself. */
int kern_conv_pointwise(const kern_conv_geom *g);
/* act (NULL or) an elementwise map kern_conv_act may fuse: not a copy or an unknown code. */
int kern_conv_act_ok(const kern_unary_attr *act);

/* Requantization (kernels/quant.c): a float32 scale s held exactly as s = multiplier * 2^-shift, the
 * multiplier's magnitude in [2^30, 2^31) (0 when s is 0); the 24-bit significand of s shifted left by 7. */
typedef struct {
    int32_t multiplier, shift;
} kern_requant;

/* s as a kern_requant; KERN_EINVAL when s is infinite or NaN. */
kern_status kern_requant_from_scale(float s, kern_requant *r);

/* The requantized value of an exact sum v (|v| < 2^32):
 *     y = clamp(round_half_even(v * multiplier / 2^shift) + zp, lo, hi)
 * in 64-bit integers: |v * multiplier| < 2^63, so the product is exact and only the final division
 * by 2^shift rounds, half to even (branch-free: the floor, plus one past the half or at an odd half),
 * as onnxruntime's float requantization; it rounds v * s in float first, so the two can differ by one
 * where v * s lies within 2^-15 of a half-integer. */
static inline int32_t kern_requantize(int64_t v, kern_requant r, int32_t zp, int32_t lo, int32_t hi)
{
    int64_t p = v * r.multiplier, q;
    if (r.shift <= 0) { /* |s| >= 2^30: any v != 0 saturates */
        q = p > 0 ? (int64_t)hi - zp : p < 0 ? (int64_t)lo - zp : 0;
    } else if (r.shift >= 64) { /* |p| / 2^shift < 1/2 */
        q = 0;
    } else { /* q = floor(p / 2^shift) from p + 2^63 >= 0 in unsigned arithmetic; rem = p mod 2^shift */
        const unsigned s = (unsigned)r.shift;
        const uint64_t rem = (uint64_t)p & (((uint64_t)1 << s) - 1u), half = (uint64_t)1 << (s - 1);
        q = (int64_t)((((uint64_t)p) ^ ((uint64_t)1 << 63)) >> s) - (int64_t)((uint64_t)1 << (63 - s));
        q += (int64_t)((rem > half) | ((rem == half) & ((uint64_t)q & 1u)));
    }
    q += zp;
    return (int32_t)(q < lo ? lo : q > hi ? hi : q);
}

/* y[j] = kern_requantize(acc[j] + b, r, zp, lo, hi) for the n sums of one run sharing r (one output
 * channel), stored as `type`.  The shift's range is decided once per run, so the loop over the run
 * is branch-free and vectorises: v * multiplier = acc[j] * multiplier (a 32 x 32 -> 64-bit product)
 * + b * multiplier (once), each term below 2^62 in magnitude, then the same floor and half-to-even
 * correction as kern_requantize. */
#define KERN_REQUANTIZE_RUN(name, type, lo, hi)                                                             \
    static inline void name(const int32_t *acc, size_t n, int64_t b, kern_requant r, int32_t zp, type *y)  \
    {                                                                                                      \
        size_t j;                                                                                          \
        if (r.shift <= 0 || r.shift >= 64) {                                                               \
            for (j = 0; j < n; j++)                                                                        \
                y[j] = (type)kern_requantize(acc[j] + b, r, zp, lo, hi);                                   \
            return;                                                                                        \
        }                                                                                                  \
        {                                                                                                  \
            const unsigned s = (unsigned)r.shift;                                                          \
            const uint64_t mask = ((uint64_t)1 << s) - 1u, half = (uint64_t)1 << (s - 1);                  \
            const int64_t floor_bias = (int64_t)((uint64_t)1 << (63 - s)), bm = b * r.multiplier;         \
            for (j = 0; j < n; j++) {                                                                      \
                const int64_t p = (int64_t)acc[j] * r.multiplier + bm;                                     \
                const uint64_t rem = (uint64_t)p & mask;                                                   \
                int64_t q = (int64_t)((((uint64_t)p) ^ ((uint64_t)1 << 63)) >> s) - floor_bias;            \
                q += (rem > half ? 1 : rem == half ? (int64_t)((uint64_t)q & 1u) : 0) + zp; /* vectorises */ \
                y[j] = (type)(q < (lo) ? (lo) : q > (hi) ? (hi) : q);                                      \
            }                                                                                              \
        }                                                                                                  \
    }
KERN_REQUANTIZE_RUN(kern_requantize_run_u8, uint8_t, 0, 255)
KERN_REQUANTIZE_RUN(kern_requantize_run_i8, int8_t, -128, 127)

/* Zero point of a quantized tensor (NULL: 0) at index k, as an int32 in its own type's range. */
static inline int32_t kern_qzero(kern_qtype t, const void *zp, size_t k)
{
    if (zp == NULL)
        return 0;
    return t == KERN_UINT8 ? (int32_t)((const uint8_t *)zp)[k] : (int32_t)((const int8_t *)zp)[k];
}
/* Element i of a quantized tensor as an int32 in its own type's range. */
static inline int32_t kern_qload(kern_qtype t, const void *x, size_t i)
{
    return t == KERN_UINT8 ? (int32_t)((const uint8_t *)x)[i] : (int32_t)((const int8_t *)x)[i];
}
/* The range of a quantized output type. */
static inline int32_t kern_qmin(kern_qtype t) { return t == KERN_UINT8 ? 0 : -128; }
static inline int32_t kern_qmax(kern_qtype t) { return t == KERN_UINT8 ? 255 : 127; }

/* ---- recurrent layers (kernels/recurrent.c), shared by LSTM / GRU / RNN and DynamicQuantizeLSTM */

/* The geometry of one call, in elements. */
typedef struct {
    size_t T, B, I, H, D, G, GH;
    size_t x_t, x_b;        /* X row (t, b) starts at t * x_t + b * x_b (rows of I) */
    size_t y_t, y_d, y_b;   /* Y (t, d, b) */
    size_t s_d, s_b;        /* states (d, b) */
} kern_rnn_geom;

/* Checks the attributes and that every extent of the call (X, W, R, B, Y) fits size_t, and fills q;
 * KERN_EINVAL / KERN_EOVERFLOW otherwise. */
kern_status kern_rnn_geometry(const kern_rnn_attr *a, kern_rnn_geom *q);

/* h, c [H] <- direction d, batch row bi of initial_h / initial_c (zeros when NULL). */
void kern_rnn_state_load(const kern_rnn_geom *q, size_t d, size_t bi, const float *initial_h, const float *initial_c,
                         float *h, float *c);

/* One LSTM step from its gate pre-activations g = [i | o | f | c~] (the projections, and the biases
 * unless `bias` is given): the peepholes pd [3H] (i o f; NULL = none) are added, then bias [4H] (NULL =
 * none), the clip (> 0) bounds them, sigmoid / tanh apply, c (C(t-1)) becomes C(t) = f C(t-1) + i c~
 * and h becomes o tanh(C(t)); the output gate's peephole reads C(t).  g is overwritten. */
void kern_lstm_gates(size_t H, float clip, const float *pd, const float *bias, float *g, float *c, float *h);

#define KERN_MAXF(u, v) ((u) > (v) || (u) != (u) ? (u) : (v))
#define KERN_MINF(u, v) ((u) < (v) || (u) != (u) ? (u) : (v))
#define KERN_PRELUF(u, v) ((u) < 0.0f ? (u) * (v) : (u))

#endif
