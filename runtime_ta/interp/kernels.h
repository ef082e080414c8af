/*
 * kernels.h - the compute kernels of the onnx-tee interpreter.
 *
 * Pure functions over float32 buffers (int32 for indices, arg-reductions and booleans; int8 / uint8 /
 * int32 for the quantized ones): no allocation, no globals, no libm, no recursion, no VLAs, small stack
 * frames.  Every kernel checks the consistency of the shapes and attributes it is given (products
 * overflow-checked in size_t) and returns a kern_status; it never reads or writes outside the element
 * counts implied by its shapes, and never uses more scratch than the matching kern_scratch_bytes_<op>()
 * reports (which equals passes/analysis/scratch.py: scratch_bytes()).
 *
 * Conventions
 * - Layout is dense row-major (ONNX's), batch-first NCHW for spatial ops.
 * - "Resolved" attributes: Python (passes/analysis/spatial.py) turns ONNX attributes into the explicit
 *   numbers below before lowering: auto_pad SAME_UPPER/SAME_LOWER/VALID becomes explicit pads, ceil_mode
 *   is expressed by the output size, ConvTranspose output_shape becomes pads + output_padding,
 *   Slice starts/ends/axes/steps become one (start, step) per dim, Resize sizes become per-dim scales.
 * - Spatial ops (Conv, ConvTranspose, pools) take 2-D geometry; 1-D is passed as H = 1.
 * - Aliasing: y may equal x (the same pointer, same shape) for the unary ops, Softmax,
 *   BatchNormalization and kern_binary when that input has y's shape.  Every other kernel needs y
 *   disjoint from its inputs.  Sum of n inputs = kern_binary(ADD) applied n-1 times into y.
 */
#ifndef ONNX_TEE_KERNELS_H
#define ONNX_TEE_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#define KERN_MAX_RANK 6

typedef enum {
    KERN_OK = 0,
    KERN_EINVAL = 1,    /* shapes or attributes inconsistent / unsupported */
    KERN_EOVERFLOW = 2, /* a size computation overflowed size_t */
    KERN_ESCRATCH = 3,  /* scratch buffer smaller than kern_scratch_bytes_<op>() */
    KERN_EINDEX = 4     /* an index input holds a value outside the table it indexes (nothing was read) */
} kern_status;

/* A dense tensor shape; dims beyond `rank` are ignored. rank 0 = scalar (one element). */
typedef struct {
    size_t rank;
    size_t dim[KERN_MAX_RANK];
} kern_shape;

/* Element count of a shape; KERN_EOVERFLOW on overflow, KERN_EINVAL if rank > KERN_MAX_RANK. */
kern_status kern_shape_numel(const kern_shape *s, size_t *numel);

/* ---------------------------------------------------------------- elementwise */

typedef enum {
    KERN_RELU,         /* max(x, 0) */
    KERN_LEAKY_RELU,   /* x >= 0 ? x : alpha * x */
    KERN_CLIP,         /* min(max(x, lo), hi)        (lo = alpha, hi = beta) */
    KERN_SIGMOID,      /* 1 / (1 + exp(-x)) */
    KERN_HARD_SIGMOID, /* max(0, min(1, alpha * x + beta)) */
    KERN_HARD_SWISH,   /* x * max(0, min(1, x / 6 + 1 / 2)) */
    KERN_TANH,
    KERN_IDENTITY,     /* copy (Identity, Dropout at inference, Flatten/Reshape/Squeeze/Unsqueeze) */
    /* elementwise math (kernels/math.c); explicit values, a range of their own */
    KERN_SQRT = 32,
    KERN_RECIPROCAL = 33,   /* 1 / x */
    KERN_EXP = 34,
    KERN_LOG = 35,
    KERN_ABS = 36,
    KERN_NEG = 37,
    KERN_FLOOR = 38,
    KERN_CEIL = 39,
    KERN_ROUND = 40,        /* half to even */
    KERN_ERF = 41,
    KERN_GELU = 42,         /* x (1 + erf(x / sqrt 2)) / 2 */
    KERN_GELU_TANH = 43,    /* x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2 */
    KERN_SOFTPLUS = 44,     /* log(1 + exp(x)) */
    KERN_SOFTSIGN = 45,     /* x / (1 + |x|) */
    KERN_ELU = 46,          /* beta * (x > 0 ? x : alpha * (exp(x) - 1)): Elu (beta 1), Selu (beta gamma) */
    KERN_CELU = 47,         /* x > 0 ? x : alpha * (exp(x / alpha) - 1) */
    KERN_MISH = 48,         /* x tanh(softplus(x)) */
    KERN_THRESHOLDED_RELU = 49, /* x > alpha ? x : 0 */
    KERN_SIN = 50,          /* trigonometric and hyperbolic (mathf.c): any finite x reduced exactly */
    KERN_COS = 51,
    KERN_TAN = 52,
    KERN_ASIN = 53,         /* NaN outside [-1, 1] */
    KERN_ACOS = 54,
    KERN_ATAN = 55,
    KERN_SINH = 56,
    KERN_COSH = 57,
    KERN_ASINH = 58,
    KERN_ACOSH = 59,        /* NaN below 1 */
    KERN_ATANH = 60,        /* NaN outside [-1, 1], +-inf at +-1 */
    KERN_SWISH = 61,        /* x * sigmoid(alpha * x) (QuickGelu; SiLU at alpha 1) */
    KERN_UNARY_LAST = 61
} kern_unary_op;

typedef struct {
    kern_unary_op op;
    float alpha; /* LeakyRelu alpha, HardSigmoid alpha, Clip min (use -FLT_MAX when absent), Elu/Celu alpha,
                  * ThresholdedRelu alpha,
                  * Swish alpha */
    float beta;  /* HardSigmoid beta, Clip max (use FLT_MAX when absent), Elu scale (Selu gamma) */
} kern_unary_attr;

kern_status kern_unary(const kern_unary_attr *attr, const float *x, float *y, size_t n);

typedef enum {
    KERN_ADD, KERN_SUB, KERN_MUL, KERN_DIV,
    /* explicit values, a range of their own */
    KERN_POW = 16,   /* a^b (C99 pow); a scalar-like b of 1, 2, 0.5 or -1 takes a fast path */
    KERN_MAX = 17,   /* NaN-propagating max */
    KERN_MIN = 18,   /* NaN-propagating min */
    KERN_PRELU = 19  /* a < 0 ? a * b : a (b the slope) */
} kern_binary_op;

/* y = a (op) b with numpy broadcasting; shapes up to KERN_MAX_RANK; y's shape must be the broadcast
 * of a's and b's (checked). */
kern_status kern_binary(kern_binary_op op, const kern_shape *a_shape, const float *a, const kern_shape *b_shape,
                        const float *b, const kern_shape *y_shape, float *y);
/* The same over int32 for KERN_ADD, KERN_SUB, KERN_MUL (KERN_EINVAL for the others), modulo 2^32 as
 * onnxruntime's int32 arithmetic on two's-complement hardware (an int32 ConvInteger sum plus its int32
 * bias, as older `quantize_dynamic` writes it). */
kern_status kern_binary_i32(kern_binary_op op, const kern_shape *a_shape, const int32_t *a, const kern_shape *b_shape,
                            const int32_t *b, const kern_shape *y_shape, int32_t *y);

/* Softmax over the middle extent of a tensor viewed as [outer, n, inner].
 * opset >= 13: outer = prod(dims[:axis]), n = dims[axis], inner = prod(dims[axis+1:]).
 * opset < 13 (2-D coercion): outer = prod(dims[:axis]), n = prod(dims[axis:]), inner = 1. */
kern_status kern_softmax(size_t outer, size_t n, size_t inner, const float *x, float *y);

/* LRN across channels on [batch, channels, spatial]:
 * y = x / (bias + alpha / size * sum_{c' in window(c)} x[c']^2) ^ beta,
 * window = [c - floor((size-1)/2), c + ceil((size-1)/2)] clipped to the channels. */
typedef struct {
    size_t size;
    float alpha, beta, bias;
} kern_lrn_attr;
kern_status kern_lrn(const kern_lrn_attr *attr, size_t batch, size_t channels, size_t spatial, const float *x,
                     float *y);

/* BatchNormalization (inference) on [batch, channels, spatial]:
 * y = (x - mean[c]) / sqrt(var[c] + epsilon) * scale[c] + bias[c]. */
kern_status kern_batchnorm(size_t batch, size_t channels, size_t spatial, float epsilon, const float *scale,
                           const float *bias, const float *mean, const float *var, const float *x, float *y);

/* ---------------------------------------------------------------- convolution */

/* Geometry of a 2-D convolution / pooling window, fully resolved (see spatial.py). */
typedef struct {
    size_t batch;
    size_t c_in, h_in, w_in;
    size_t c_out, h_out, w_out;
    size_t kernel_h, kernel_w;
    size_t stride_h, stride_w;
    size_t dilation_h, dilation_w;
    size_t pad_top, pad_left, pad_bottom, pad_right;
    size_t group; /* Conv/ConvTranspose only; 1 for pools */
} kern_conv_geom;

/* Conv: x [batch, c_in, h_in, w_in], w [c_out, c_in/group, kernel_h, kernel_w], bias [c_out] or NULL,
 * y [batch, c_out, h_out, w_out]; h_out = (h_in + pad_top + pad_bottom - dilation_h*(kernel_h-1) - 1)
 * / stride_h + 1 (checked; likewise w_out).  Paths: depthwise (c_in/group == 1) direct; 1x1 stride-1
 * unpadded = GEMM on x (no scratch); otherwise GEMM over im2col tiles of at most KERN_KC rows by
 * KERN_NC output pixels, built in scratch. */
kern_status kern_conv(const kern_conv_geom *g, const float *x, const float *w, const float *bias, float *y,
                      float *scratch, size_t scratch_bytes);
/* Conv then an elementwise activation: y = act(Conv(x)), the same values as kern_conv followed by
 * kern_unary(act, y, y, n), with the activation applied to each block of outputs as soon as it is
 * final (while it is in cache).  act NULL: kern_conv. */
kern_status kern_conv_act(const kern_conv_geom *g, const kern_unary_attr *act, const float *x, const float *w,
                          const float *bias, float *y, float *scratch, size_t scratch_bytes);
size_t kern_scratch_bytes_conv(const kern_conv_geom *g);
/* Conv whose 1x1 weights are stored transposed, wt[i * c_out + o] = W[o][i] (format: RT_ATTR_CONV_W_LAYOUT
 * 1), for the geometries kern_conv_wt_ok accepts: a 1x1 convolution over few pixels computed as
 * Y^T[P, c_out] = X^T W^T, output channels along the GEMM's wide columns (full micro-tiles where the P
 * pixels would fill few of their lanes), KERN_NC channels at a time into scratch, then written back
 * transposed.  The same sums in the same order as kern_conv_act on W: the same floats.  act as there. */
kern_status kern_conv_wt_act(const kern_conv_geom *g, const kern_unary_attr *act, const float *x, const float *wt,
                             const float *bias, float *y, float *scratch, size_t scratch_bytes);
/* 1 when g may take kern_conv_wt_act: group 1, 1x1, stride 1, unpadded, 1 < P = h_out w_out <=
 * KERN_CONV_WT_MAX_PIX and P not a multiple of KERN_PANEL (P pixels fill every lane of their tiles). */
int kern_conv_wt_ok(const kern_conv_geom *g);

/* ConvTranspose: x [batch, c_in, h_in, w_in], w [c_in, c_out/group, kernel_h, kernel_w], bias [c_out] or
 * NULL, y [batch, c_out, h_out, w_out].  y[oh] collects x[ih] * w[kh] where oh = ih*stride_h + kh*dilation_h
 * - pad_top (contributions falling outside [0, h_out) are dropped), so h_out already holds output_padding
 * / output_shape: h_out = stride_h*(h_in-1) + dilation_h*(kernel_h-1) + 1 - pad_top - pad_bottom +
 * output_padding_h (checked; likewise w).  scratch: kern_scratch_bytes_conv_transpose(g) bytes (a block of
 * one tap's products, KERN_CT_MB x KERN_CT_NB floats at most). */
kern_status kern_conv_transpose(const kern_conv_geom *g, const float *x, const float *w, const float *bias, float *y,
                                float *scratch, size_t scratch_bytes);
size_t kern_scratch_bytes_conv_transpose(const kern_conv_geom *g);

/* ---------------------------------------------------------------- matrix products */

/* Gemm: y[M,N] = alpha * A' B' + beta * C, A' = transA ? A^T : A (A stored [K,M] or [M,K]), likewise B
 * ([N,K] or [K,N]).  C (may be NULL) is read as c[i * c_stride_m + j * c_stride_n], which expresses
 * unidirectional broadcasting: shape [M,N] -> (N, 1), [N] or [1,N] -> (0, 1), [M,1] -> (1, 0),
 * scalar -> (0, 0). */
typedef struct {
    size_t m, n, k;
    int trans_a, trans_b;
    float alpha, beta;
    size_t c_stride_m, c_stride_n;
} kern_gemm_attr;
kern_status kern_gemm(const kern_gemm_attr *attr, const float *a, const float *b, const float *c, float *y,
                      float *scratch, size_t scratch_bytes);
size_t kern_scratch_bytes_gemm(const kern_gemm_attr *attr);

/* MatMul with numpy semantics: rank-1 A is [1,K] (the 1 dropped from y), rank-1 B is [K,1] (dropped);
 * leading batch dims broadcast.  y_shape must be the numpy result shape (checked).  No scratch.
 * B without batch dims (weights right of a [B, S, K] operand): one [B*S, K] x [K, N] GEMM; otherwise
 * one GEMM per batch (attention's [B,H,S,D] x [B,H,D,S]), both on the GEMM micro-kernels. */
kern_status kern_matmul(const kern_shape *a_shape, const float *a, const kern_shape *b_shape, const float *b,
                        const kern_shape *y_shape, float *y);

/* ---------------------------------------------------------------- pooling */

typedef enum { KERN_POOL_MAX, KERN_POOL_AVG } kern_pool_kind;

/* MaxPool / AveragePool on x [batch, c_in, h_in, w_in] -> y [batch, c_in, h_out, w_out] (c_out = c_in,
 * group ignored).  The output size encodes ceil_mode: the last window may start inside the
 * padded input and run past its end; such a window only covers the part inside [-pad, in + pad_end).
 * count_include_pad: the divisor counts padding cells inside [-pad, in + pad_end) (onnxruntime's
 * semantics), otherwise only real cells.  A window with no real cell gives 0 (avg) / -FLT_MAX (max).
 * The output size is taken as given (only in-range cells are ever read); spatial.py computes it. */
kern_status kern_pool(kern_pool_kind kind, int count_include_pad, const kern_conv_geom *g, const float *x,
                      float *y);

/* GlobalAveragePool / GlobalMaxPool: x [planes, spatial] -> y [planes], planes = batch * channels. */
kern_status kern_global_pool(kern_pool_kind kind, size_t planes, size_t spatial, const float *x, float *y);

/* ---------------------------------------------------------------- data movement */

/* Concat / Split piece: the tensor is viewed as [outer, axis, inner].  Concat: copy input x
 * [outer, axis_part, inner] into y [outer, axis_total, inner] at axis offset `offset`.  Split: copy
 * x [outer, axis_total, inner] from `offset` into y [outer, axis_part, inner]. */
kern_status kern_concat_part(size_t outer, size_t axis_part, size_t inner, size_t axis_total, size_t offset,
                             const float *x, float *y);
kern_status kern_split_part(size_t outer, size_t axis_part, size_t inner, size_t axis_total, size_t offset,
                            const float *x, float *y);

/* Slice: y[i0..] = x[start[0] + i0*step[0], ...] for every dim (steps may be negative, never 0); every
 * index touched is checked to lie inside x. */
kern_status kern_slice(const kern_shape *x_shape, const float *x, const kern_shape *y_shape, const ptrdiff_t *start,
                       const ptrdiff_t *step, float *y);

/* Transpose: y.dim[i] = x.dim[perm[i]] (perm checked to be a permutation). */
kern_status kern_transpose(const kern_shape *x_shape, const float *x, const size_t *perm, float *y);

typedef enum { KERN_PAD_CONSTANT, KERN_PAD_REFLECT, KERN_PAD_EDGE } kern_pad_mode;

/* Pad: y.dim[i] = x.dim[i] + pad_begin[i] + pad_end[i] (checked).  Negative pads crop (any mode);
 * reflect needs pad < dim on the padded side, edge needs dim >= 1 where padding is added. */
kern_status kern_pad(kern_pad_mode mode, const kern_shape *x_shape, const float *x, const ptrdiff_t *pad_begin,
                     const ptrdiff_t *pad_end, float value, const kern_shape *y_shape, float *y);

typedef enum { KERN_RESIZE_NEAREST, KERN_RESIZE_LINEAR, KERN_RESIZE_CUBIC } kern_resize_mode;
typedef enum {
    KERN_COORD_HALF_PIXEL,         /* (o + 0.5) / scale - 0.5 */
    KERN_COORD_PYTORCH_HALF_PIXEL, /* out_len > 1 ? (o + 0.5) / scale - 0.5 : 0 */
    KERN_COORD_ALIGN_CORNERS,      /* out_len > 1 ? o * (in_len - 1) / (out_len - 1) : 0 */
    KERN_COORD_ASYMMETRIC,         /* o / scale */
    KERN_COORD_HALF_PIXEL_SYMMETRIC
} kern_coord_mode;
typedef enum {
    KERN_NEAREST_ROUND_PREFER_FLOOR,
    KERN_NEAREST_ROUND_PREFER_CEIL,
    KERN_NEAREST_FLOOR,
    KERN_NEAREST_CEIL
} kern_nearest_mode;

/* Resize (nearest, N-linear or N-cubic over every dim whose scale != 1 or whose length changes), with
 * the scales per dim (sizes given -> scale = out / in, computed in Python).  Linear clamps source
 * coordinates to [0, in - 1]; nearest clamps indices to [0, in - 1].  Cubic (Keys, coefficient
 * cubic_a) takes the 4 taps floor(c) - 1 .. floor(c) + 2 of the unclamped coordinate, reading taps
 * outside [0, in) at the nearest edge, or with exclude_outside giving them weight 0 and renormalising
 * the others (onnxruntime's rules).  Not supported: tf_crop_and_resize, antialias,
 * keep_aspect_ratio_policy other than stretch. */
typedef struct {
    kern_resize_mode mode;
    kern_coord_mode coord;
    kern_nearest_mode nearest;
    float scale[KERN_MAX_RANK];
    float cubic_a;       /* cubic only (onnxruntime's default -0.75) */
    int exclude_outside; /* cubic only: 0 or 1 */
} kern_resize_attr;
kern_status kern_resize(const kern_resize_attr *attr, const kern_shape *x_shape, const float *x,
                        const kern_shape *y_shape, float *y);

/* GridSample (kernels/grid_sample.c): x [N, C, D1..Dr] sampled at the grid [N, D1'..Dr', r] (r = 2 or 3;
 * grid[..., 0] indexes the last dim, W) into y [N, C, D1'..Dr'].  A grid value g in [-1, 1] maps to the
 * pixel coordinate ((g + 1) len - 1) / 2, or (g + 1) / 2 (len - 1) with align_corners; nearest rounds it
 * half to even, linear blends the 2^r neighbours, cubic (r = 2 only) the 4x4 taps with Keys' weights
 * (a = -0.75).  Padding applies to each tap index: zeros reads 0 outside, border clamps into [0, len),
 * reflection mirrors the index at -0.5 and len - 0.5 (align_corners: 0 and len - 1), onnxruntime's rules. */
typedef enum { KERN_GRID_ZEROS, KERN_GRID_BORDER, KERN_GRID_REFLECTION } kern_grid_padding;
typedef struct {
    kern_resize_mode mode; /* KERN_RESIZE_NEAREST, _LINEAR, _CUBIC */
    kern_grid_padding padding;
    int align_corners;     /* 0 or 1 */
} kern_grid_sample_attr;
kern_status kern_grid_sample(const kern_grid_sample_attr *attr, const kern_shape *x_shape, const float *x,
                             const float *grid, const kern_shape *y_shape, float *y);

/* ---------------------------------------------------------------- reductions, normalizations (kernels/reduce.c)
 *
 * Sums accumulate in float32 in 8 independent partial sums (lanes), combined at the end, so each
 * sum of n terms carries a relative error of at most about (n / 8 + 3) u sum|t| / |sum t|, u = 2^-24
 * (about sqrt(n / 8) u in the mean for random data); max/min are exact; mean = sum / n.  The
 * normalizations take mean and variance in two passes (var = sum (x - mean)^2 / n, no cancellation
 * of E[x^2] - mean^2).  None uses scratch: the row accumulators live on the stack (<= 512 bytes). */

/* Reduce*, in the order of their op codes (RT_OP_REDUCE_MEAN + kind). */
typedef enum {
    KERN_REDUCE_MEAN,
    KERN_REDUCE_SUM,
    KERN_REDUCE_MAX,
    KERN_REDUCE_MIN,
    KERN_REDUCE_PROD,
    KERN_REDUCE_L1,          /* sum |x| */
    KERN_REDUCE_L2,          /* sqrt(sum x^2) */
    KERN_REDUCE_LOG_SUM_EXP, /* max + log(sum exp(x - max)) */
    KERN_REDUCE_SUM_SQUARE   /* sum x^2 */
} kern_reduce_op;

/* y = reduction of x over the dims whose bit is set in axes_mask (bit d = dim d, bits < rank).  y holds
 * the kept dims in order (keepdims only changes y's shape, not its bytes).  axes_mask 0: no dim is
 * reduced, each y[i] is the reduction of x[i] alone (ONNX noop_with_empty_axes; onnxruntime's
 * semantics: L1 |x|, L2 |x|, SumSquare x^2, the others x).  y must not alias x. */
kern_status kern_reduce(kern_reduce_op op, const kern_shape *x_shape, unsigned axes_mask, const float *x, float *y);

/* LogSoftmax on [outer, n, inner] (views as kern_softmax): y = (x - max) - log(sum exp(x - max)).
 * y may equal x. */
kern_status kern_log_softmax(size_t outer, size_t n, size_t inner, const float *x, float *y);

/* LayerNormalization: x [outer, n] (n = prod of the normalized dims); per row
 * y = (x - mean) / sqrt(var + epsilon) * scale[j] + bias[j]; scale, bias [n]; bias may be NULL.
 * mean, inv_std: [outer] or NULL (ONNX's optional outputs Mean and InvStdDev; the interpreter computes
 * Y only).  y may equal x. */
kern_status kern_layer_norm(size_t outer, size_t n, float epsilon, const float *scale, const float *bias,
                            const float *x, float *y, float *mean, float *inv_std);

/* GroupNormalization on x [batch, groups * channels_per_group, spatial]: mean and variance per
 * (batch, group) over channels_per_group * spatial values; y = (x - mean) / sqrt(var + epsilon) *
 * scale[k] + bias[k], k = the channel (per_channel, opset 21; scale/bias [channels]) or the group
 * (opset 18; [groups]).  InstanceNormalization: groups = channels, channels_per_group = 1.
 * y may equal x. */
kern_status kern_group_norm(size_t batch, size_t groups, size_t channels_per_group, size_t spatial, int per_channel,
                            float epsilon, const float *scale, const float *bias, const float *x, float *y);
/* Expand / Tile: y[i_0, ..] = x[i_0 mod x.dim[0], ..] with x's shape left-padded with 1s to y's rank;
 * every y.dim must be a multiple of the matching x.dim (Expand: x.dim is 1 or y.dim; Tile: y.dim =
 * x.dim * repeats). */
kern_status kern_tile(const kern_shape *x_shape, const float *x, const kern_shape *y_shape, float *y);

/* ---------------------------------------------------------------- indexing (int32 indices) */

/* Gather: x viewed as [outer, n, inner], idx[count] (negative values count from n):
 * y[o, j, :] = x[o, idx[j], :], y viewed as [outer, count, inner].  x and y hold 4-byte elements (float32
 * or int32), copied bit for bit.  Every index is checked against [-n, n) before anything is copied:
 * KERN_EINDEX when one is outside. */
kern_status kern_gather(size_t outer, size_t n, size_t inner, const void *x, const int32_t *idx, size_t count,
                        void *y);

/* GatherElements: y[i] = x[i with i[axis] replaced by idx[i]] for every index i of idx's shape (= y's
 * shape, rank = x's rank, idx.dim[d] <= x.dim[d] off the axis); negative values count from
 * x.dim[axis]; 4-byte elements as Gather's.  Every index is checked first: KERN_EINDEX when one is outside
 * [-x.dim[axis], x.dim[axis]). */
kern_status kern_gather_elements(const kern_shape *x_shape, const void *x, const kern_shape *idx_shape,
                                 const int32_t *idx, size_t axis, void *y);
/* ---------------------------------------------------------------- arg-reductions (kernels/arg_reduce.c) */

/* ArgMax / ArgMin of x viewed as [outer, n, inner] along n: y[o, j] = the index (int32) of the first
 * (select_last 0) or last (select_last 1) largest / smallest of x[o, 0..n-1, j].  An element replaces
 * the running best only if it compares greater (ArgMax; less for ArgMin, or equal with select_last),
 * so a NaN never does and a NaN at index 0 stays (onnxruntime's semantics).  n >= 1 and n - 1 fits
 * int32.  No scratch; y must not alias x. */
kern_status kern_arg_reduce(int is_min, int select_last, size_t outer, size_t n, size_t inner, const float *x,
                            int32_t *y);

/* ---------------------------------------------------------------- comparisons, logic, Where (kernels/logical.c)
 *
 * Booleans are int32 0/1; a boolean operand counts as true when it is not 0 (whatever the normal world
 * wrote into a boolean model input).  All broadcast with numpy's rules, as kern_binary. */

typedef enum { KERN_F32, KERN_I32 } kern_dtype; /* the element type of a float-or-integer operand */

/* In the order of RT_COMPARE_* (format.h). */
typedef enum { KERN_EQUAL, KERN_GREATER, KERN_GREATER_OR_EQUAL, KERN_LESS, KERN_LESS_OR_EQUAL } kern_compare_op;

/* y = (a op b) as 0/1; a and b both float32 or both int32 (`type`).  NaN compares false (Equal too). */
kern_status kern_compare(kern_compare_op op, kern_dtype type, const kern_shape *a_shape, const void *a,
                         const kern_shape *b_shape, const void *b, const kern_shape *y_shape, int32_t *y);

typedef enum { KERN_AND, KERN_OR, KERN_XOR } kern_logic_op;

/* y = (a != 0) op (b != 0) as 0/1.  y may equal a or b when that operand has y's shape. */
kern_status kern_logic(kern_logic_op op, const kern_shape *a_shape, const int32_t *a, const kern_shape *b_shape,
                       const int32_t *b, const kern_shape *y_shape, int32_t *y);

/* y = (x == 0) as 0/1 (Not).  y may equal x. */
kern_status kern_not(const int32_t *x, int32_t *y, size_t n);

/* y = c != 0 ? a : b; a, b and y all float32 or all int32 (`type`), each element copied unchanged. */
kern_status kern_where(kern_dtype type, const kern_shape *c_shape, const int32_t *c, const kern_shape *a_shape,
                       const void *a, const kern_shape *b_shape, const void *b, const kern_shape *y_shape, void *y);

/* ---------------------------------------------------------------- recurrent layers (LSTM, GRU, RNN) */

typedef enum { KERN_RNN_LSTM, KERN_RNN_GRU, KERN_RNN_SIMPLE } kern_rnn_kind;

/* One ONNX LSTM / GRU / RNN layer with the default activations (gates sigmoid, cell / candidate / RNN
 * hidden tanh), gates in ONNX order (LSTM i o f c, GRU z r h), G = 4 / 3 / 1 of them; D = num_directions.
 *   x [T,B,I] (layout 0) or [B,T,I] (layout 1); w [D, G*H, I]; r [D, G*H, H]; b [D, 2*G*H] (Wb then Rb)
 *   or NULL; initial_h / initial_c [D,B,H] (layout 0) or [B,D,H] (layout 1), NULL = zeros; p (LSTM
 *   peepholes i o f) [D, 3*H] or NULL; y [T,D,B,H] / [B,T,D,H], y_h / y_c like initial_h; any output
 *   may be NULL (not computed).  Every sequence has the full length T.
 * Direction d = 1 of a bidirectional layer (and a reverse layer) runs from step T-1 down to 0.  Per
 * direction and batch row, the input projection of up to KERN_RNN_TC steps is one GEMM (W times the
 * transposed steps, Wb as its initial value) into scratch; each step then adds Rb and R h (16-lane
 * dot products) and applies the gates.  clip > 0 clips every gate pre-activation to [-clip, clip]
 * (onnxruntime's placement: after the biases and peepholes; GRU linear_before_reset clips the sum
 * Xt Wh + Wbh + r (Ht-1 Rh + Rbh)).  Outputs must not overlap the inputs or each other. */
typedef struct {
    kern_rnn_kind kind;
    size_t seq_len, batch, input_size, hidden_size;
    size_t num_directions;   /* 1 or 2 */
    int reverse;             /* num_directions 1: 1 = reverse direction */
    int layout;              /* 0 or 1, as above */
    int linear_before_reset; /* GRU: 0 or 1; LSTM, RNN: 0 */
    float clip;              /* >= 0; 0 = no clip */
} kern_rnn_attr;
kern_status kern_rnn(const kern_rnn_attr *attr, const float *x, const float *w, const float *r, const float *b,
                     const float *initial_h, const float *initial_c, const float *p, float *y, float *y_h, float *y_c,
                     float *scratch, size_t scratch_bytes);
/* (tc * (I + G*H) + G*H + 2*H) floats, tc = min(T, KERN_RNN_TC); SIZE_MAX on overflow. */
size_t kern_scratch_bytes_rnn(const kern_rnn_attr *attr);

/* ---------------------------------------------------------------- quantized (int8 / uint8) */

/* Element types of quantized tensors: the ONNX codes (format.h's RT_DTYPE_*).  A zero point has its
 * tensor's type and NULL means 0; a scale is float32. */
typedef enum { KERN_UINT8 = 2, KERN_INT8 = 3, KERN_INT32 = 6 } kern_qtype;

/* QuantizeLinear on x viewed as [outer, channels, inner] (channels = 1: per tensor), as onnxruntime
 * computes it: v = x / scale[c] (IEEE division), clamped to [qmin - zp[c], qmax - zp[c]] (NaN to the low
 * end), y = round_half_even(v) + zp[c]; y_type KERN_UINT8 or KERN_INT8. */
kern_status kern_quantize(kern_qtype y_type, size_t outer, size_t channels, size_t inner, const float *x,
                          const float *scale, const void *zp, void *y);

/* DequantizeLinear: y = (float)(x - zp[c]) * scale[c] on [outer, channels, inner]; x_type KERN_UINT8,
 * KERN_INT8 or KERN_INT32 (x - zp exact in int64, then rounded to float). */
kern_status kern_dequantize(kern_qtype x_type, size_t outer, size_t channels, size_t inner, const void *x,
                            const float *scale, const void *zp, float *y);

/* DynamicQuantizeLinear (uint8), as onnxruntime: lo = min(0, min x), hi = max(0, max x) (NaN ignored),
 * scale = hi == lo ? 1 : (hi - lo) / 255, zp = round_half_even(clamp(0 - lo / scale, 0, 255)), then
 * kern_quantize with them.  n >= 1. */
kern_status kern_dynamic_quantize(size_t n, const float *x, uint8_t *y, float *y_scale, uint8_t *y_zp);
/* The scale and zero point alone (DynamicQuantizeLSTM quantizes with them in parts).  n >= 1. */
kern_status kern_dynamic_qparams(size_t n, const float *x, float *scale, uint8_t *zp);

/* onnxruntime's DynamicQuantizeLSTM (kernels/qrecurrent.c): an LSTM (attr: kind KERN_RNN_LSTM, layout 0,
 * batch 1) whose w [D, I, 4H] and r [D, H, 4H] are int8 / uint8, ONNX gate order i o f c; x, b,
 * initial_h / initial_c, p and the outputs as kern_rnn's.  Each GEMM's float operand is quantized
 * dynamically to uint8 (kern_dynamic_qparams: all of X once, the hidden state every step), its int32
 * sums exact, dequantized with x_scale * w_scale[j] (h_scale * r_scale[j]); the rest is kern_rnn's LSTM
 * in onnxruntime's order (the file's header).  w_scale / w_zp [D, w_scale_count], w_scale_count 1 or 4H
 * (r likewise); onnxruntime's zero-point rules (int8: 0; uint8: one value) give KERN_EINVAL otherwise. */
typedef struct {
    kern_qtype w_type, r_type;           /* KERN_UINT8 or KERN_INT8 */
    size_t w_scale_count, r_scale_count; /* per direction: 1 or 4H */
} kern_dqlstm_attr;
kern_status kern_dqlstm(const kern_rnn_attr *attr, const kern_dqlstm_attr *q, const float *x, const void *w,
                        const void *r, const float *b, const float *initial_h, const float *initial_c, const float *p,
                        const float *w_scale, const void *w_zp, const float *r_scale, const void *r_zp, float *y,
                        float *y_h, float *y_c, void *scratch, size_t scratch_bytes);
/* 4 * (tc * 4H + 3 * 4H + 2H) + tc * I + H bytes, tc = min(T, KERN_RNN_TC); SIZE_MAX on overflow. */
size_t kern_scratch_bytes_dqlstm(const kern_rnn_attr *attr);

/* Cast (kernels/cast.c): the TA's types, bool a target of its own (int32 0/1 out; as a source an int32). */
typedef enum { KERN_CAST_F32, KERN_CAST_I32, KERN_CAST_U8, KERN_CAST_I8, KERN_CAST_BOOL } kern_cast_type;

/* y[i] = x[i] converted as onnxruntime does on x86-64: float -> integer truncates toward zero, a value
 * outside [-2^31, 2^31) or NaN gives INT32_MIN, then every integer narrows to its low bits (two's
 * complement); integer -> float rounds to nearest; -> bool is x != 0.  y may equal x when both types
 * have one size. */
kern_status kern_cast(kern_cast_type from, kern_cast_type to, size_t n, const void *x, void *y);

/* Quantized convolution: QLinearConv (y_type KERN_UINT8 / KERN_INT8) and ConvInteger (KERN_INT32).
 *   acc[c, p] = sum_k (x[k, p] - x_zp) (w[c, k] - w_zp[c])      int8/uint8 operands, int32 sums
 *   QLinearConv: y = clamp(round_half_even((acc + bias[c]) * M_c) + y_zp), where M_c is the float32
 *   value x_scale * w_scale[c] / y_scale (onnxruntime's), applied exactly as an int32 multiplier and
 *   a right shift (kern_requantize); ConvInteger: y = acc.
 * Layouts and geometry as kern_conv (padding takes x_zp: it adds 0); w_zp / w_scale hold 1 or c_out
 * values, bias (int32, QLinearConv only) c_out or NULL.  Every sum is exact: K = c_in/group * kernel_h *
 * kernel_w <= KERN_QK_MAX keeps it inside int32.  Paths: depthwise (c_in/group == 1) over bands of
 * output rows whose zero-padded input rows sit in scratch as stride_h x stride_w phase planes (at most
 * KERN_QDW_BAND_MAX bytes; direct when one row's do not fit); otherwise KERN_QCOLS output pixels at a time gathered as int16 (x - x_zp) columns in
 * scratch (1x1 stride-1 unpadded: straight from the input rows), each output channel's weight row
 * dotted with them.  Scratch also holds the per-channel requantization (kern_scratch_bytes_qconv).
 * KERN_EINVAL when a requantization scale is not finite. */
typedef struct {
    kern_qtype x_type, w_type; /* KERN_UINT8 or KERN_INT8 */
    kern_qtype y_type;         /* KERN_UINT8 / KERN_INT8: QLinearConv; KERN_INT32: ConvInteger */
    size_t w_zp_count;         /* 1 or c_out */
    size_t w_scale_count;      /* QLinearConv: 1 or c_out; ConvInteger: ignored */
} kern_qconv_attr;
kern_status kern_qconv(const kern_conv_geom *g, const kern_qconv_attr *q, const void *x, const void *x_zp,
                       const void *w, const void *w_zp, const int32_t *bias, const float *x_scale,
                       const float *w_scale, const float *y_scale, const void *y_zp, void *y, void *scratch,
                       size_t scratch_bytes);
size_t kern_scratch_bytes_qconv(const kern_conv_geom *g, const kern_qconv_attr *q);

/* Quantized MatMul (numpy semantics and batch broadcasting as kern_matmul): QLinearMatMul (y_type
 * KERN_UINT8 / KERN_INT8) and MatMulInteger (KERN_INT32).
 *   acc[i, j] = sum_k (a[i, k] - a_zp) (b[k, j] - b_zp[j])
 *   QLinearMatMul: y = clamp(round_half_even(acc * M_j) + y_zp), M_j = a_scale * b_scale[j] / y_scale
 *   (float32, as onnxruntime) applied as in kern_qconv; MatMulInteger: y = acc.
 * b_zp / b_scale hold 1 value or one per column of B (b_zp_count, b_scale_count = 1 or N).  K <=
 * KERN_QK_MAX.  Scratch: the per-column requantization (kern_scratch_bytes_qmatmul). */
typedef struct {
    kern_qtype a_type, b_type; /* KERN_UINT8 or KERN_INT8 */
    kern_qtype y_type;         /* KERN_UINT8 / KERN_INT8: QLinearMatMul; KERN_INT32: MatMulInteger */
    size_t b_zp_count, b_scale_count;
} kern_qmatmul_attr;
kern_status kern_qmatmul(const kern_qmatmul_attr *q, const kern_shape *a_shape, const void *a, const void *a_zp,
                         const kern_shape *b_shape, const void *b, const void *b_zp, const float *a_scale,
                         const float *b_scale, const float *y_scale, const void *y_zp, const kern_shape *y_shape,
                         void *y, void *scratch, size_t scratch_bytes);
size_t kern_scratch_bytes_qmatmul(const kern_qmatmul_attr *q);

/* MaxPool over an int8 / uint8 tensor (t KERN_INT8 / KERN_UINT8), geometry as kern_pool: each window's
 * largest real tap (the stored values order like the real ones, the scale being positive); a window
 * without one gives the type's minimum.  onnxruntime's quantized MaxPool, value for value. */
kern_status kern_max_pool_q(kern_qtype t, const kern_conv_geom *g, const void *x, void *y);

/* onnxruntime's elementwise QOperator ops (kernels/qlinear.c); a, b, x, y of one type t (KERN_UINT8 or
 * KERN_INT8), scales float32 (one value), zero points of t (NULL: 0).
 *
 * Lookup tables (QLinearSigmoid, QLinearLeakyRelu, QLinearConcat's rescaling), built as onnxruntime
 * builds its own: the 256 values of x dequantized (kern_dequantize), mapped in float32 (identity;
 * sigmoid, kern_sigmoid_n; leaky relu, x >= 0 ? x : x * alpha), quantized to y's type (kern_quantize):
 * table[b] is y's byte for x's byte b.  work: 512 floats.  kern_qlut_apply: y[i] = table[x[i]]. */
typedef enum { KERN_QLUT_IDENTITY = 0, KERN_QLUT_SIGMOID = 1, KERN_QLUT_LEAKY_RELU = 2 } kern_qlut_fn;
#define KERN_QLUT_SCRATCH (256u + 512u * sizeof(float)) /* a table and its work floats */
kern_status kern_qlut_build(kern_qlut_fn fn, float alpha, kern_qtype x_type, const float *x_scale, const void *x_zp,
                            kern_qtype y_type, const float *y_scale, const void *y_zp, uint8_t *table, float *work);
void kern_qlut_apply(const uint8_t *table, const uint8_t *x, uint8_t *y, size_t n);

/* QLinearAdd (mul 0), QLinearMul (mul 1) with numpy broadcasting (as kern_binary):
 *   Add: y = clamp(round_half_even((a - a_zp) * Ra + (b - b_zp) * Rb) + y_zp), Ra = a_scale / y_scale,
 *        Rb = b_scale / y_scale
 *   Mul: y = clamp(round_half_even((a - a_zp) * (b - b_zp) * M) + y_zp), M = a_scale * b_scale / y_scale
 * the ratios float32 (onnxruntime's), applied as exact integers: each ratio is m * 2^-s (kern_requant), an
 * Add's two terms are brought to one shift (at most QADD_ALIGN_MAX bits apart: a term smaller than that
 * is rounded to it, 2^-22 of the other's unit), and the one rounding is half to even.  onnxruntime
 * rounds its float sum, so the two may differ by one step at a tie.  scratch: KERN_QBINARY_SCRATCH bytes
 * (the terms of every input byte), 8-aligned.  KERN_EINVAL when a ratio is not finite. */
#define KERN_QBINARY_SCRATCH (2u * 256u * sizeof(int64_t))
kern_status kern_qbinary(int mul, kern_qtype t, const kern_shape *as, const void *a, const float *a_scale,
                         const void *a_zp, const kern_shape *bs, const void *b, const float *b_scale,
                         const void *b_zp, const kern_shape *ys, const float *y_scale, const void *y_zp, void *y,
                         int64_t *scratch, size_t scratch_bytes);

/* QLinearGlobalAveragePool, channels first: x [outer, inner] -> y [outer],
 *   y = clamp(round_half_even((sum_i x[o, i] - inner * x_zp) * M) + y_zp), M = x_scale / (y_scale * inner)
 * (float32, onnxruntime's), exact in integers as kern_requantize; 1 <= inner <= KERN_QPOOL_MAX. */
#define KERN_QPOOL_MAX (1u << 23)
kern_status kern_qglobal_average_pool(kern_qtype t, size_t outer, size_t inner, const void *x, const float *x_scale,
                                      const void *x_zp, const float *y_scale, const void *y_zp, void *y);

/* One input of QLinearConcat: x [outer, axis_part, inner] mapped through its table (kern_qlut_build,
 * KERN_QLUT_IDENTITY: its scale and zero point to the output's) into y [outer, axis_total, inner] at
 * offset along the axis. */
kern_status kern_qconcat_part(size_t outer, size_t axis_part, size_t inner, size_t axis_total, size_t offset,
                              const uint8_t *table, const uint8_t *x, uint8_t *y);

/* ---------------------------------------------------------------- tiling constants (mirrored in scratch.py) */

#define KERN_KC 256 /* im2col / packed-B rows per tile (reduction depth) */
#define KERN_NC 128 /* im2col / packed-B columns per tile (output pixels / N) */
#define KERN_PANEL 32 /* packed-B column counts round up to this (zero padding for full-width micro-tiles) */
#define KERN_DW_DIL_MAX 16384 /* dilated depthwise: floats of the zero-padded plane and its outputs */
#define KERN_CT_MB 64  /* ConvTranspose: output channels per block of one tap's products */
#define KERN_CT_NB 512 /* ConvTranspose: input pixels per block of one tap's products */
#define KERN_CONV_WT_MAX_PIX 64 /* 1x1 convolutions over at most this many pixels may store W transposed */
#define KERN_GEMM_PACK_MIN_M 8 /* Gemm packs B (transB) only when M >= this */
#define KERN_DW_GEMM_MIN_MULT 8 /* c_in/group == 1 with at least this many outputs per input channel (a
                                 * first conv over one input channel): the GEMM path, not depthwise */
#define KERN_RNN_TC 32 /* recurrent layers: time steps per input-projection GEMM */
#define KERN_QCOLS 4 /* quantized convolution: output pixels per int16 column block */
#define KERN_QDW_BAND_MAX 65536 /* quantized depthwise: bytes of a band's phase planes and sums */
#define KERN_QK_MAX 33025 /* quantized products: sums of at most this many |255 x 255| terms fit int32 */

#endif
