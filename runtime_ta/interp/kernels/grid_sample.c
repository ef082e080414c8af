/*
 * grid_sample.c - GridSample: x sampled at the normalised positions of a grid, as onnxruntime's CPU kernel.
 *
 * Along a spatial dim of length L, the grid value g of that dim (grid[..., 0] for W, [..., 1] for H,
 * [..., 2] for D) becomes the pixel coordinate
 *   c = ((g + 1) L - 1) / 2        align_corners = 0: -1 and 1 are the outer edges of the end pixels
 *   c = (g + 1) / 2 (L - 1)        align_corners = 1: -1 and 1 are the centres of the end pixels
 * and gives the taps along the dim, with their weights:
 *   nearest   rint(c) (half to even)                  1
 *   linear    i = floor(c), i + 1                      (i + 1 - c), (c - i)
 *   cubic     floor(c) - 1 .. floor(c) + 2             Keys' weights (a = -0.75) of s = c - floor(c)
 * Padding maps a tap index t outside [0, L): zeros reads 0; border reads the index clamped into [0, L);
 * reflection reads trunc(reflect(t)), which mirrors t at lo = -0.5 and hi = L - 0.5 (align_corners:
 * lo = 0, hi = L - 1) until inside: for t < lo, d = lo - t, n = trunc(d / (hi - lo)), r = d - n (hi - lo),
 * reflect(t) = n even ? lo + r : hi - r (and symmetrically above hi); L = 1 with align_corners reads 0.
 * y blends the taps dim by dim, innermost (W) first, each dim's sum taken in tap order, as onnxruntime
 * sums them (2-D linear: wy0 (wx0 p00 + wx1 p01) + wy1 (wx0 p10 + wx1 p11)).
 *
 * Coordinates are clamped to [-2^30, 2^30] first (an infinity reads as the bound; NaN stays NaN, its taps
 * read as outside and its weights make y NaN), so every float -> index conversion is defined, and every
 * index read is inside x.
 */
#include "internal.h"
#include "../mathf.h"

/* No fused multiply-adds here: the coordinate ((g + 1) L - 1) / 2 must round as onnxruntime's, whose
 * nearest sampling of exact half-pixel positions depends on it (internal.h turns contraction on). */
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#define GRID_COORD_LIMIT 1073741824.0f /* 2^30 */
#define GRID_MAX_DIMS 3                /* spatial dims: 2 (4-D x) or 3 (5-D x) */
#define GRID_MAX_TAPS 4

/* The taps of one sample point along one spatial dim. */
typedef struct {
    size_t count;                /* 1 nearest, 2 linear, 4 cubic */
    size_t off[GRID_MAX_TAPS];   /* element offset of the tap in its (n, c) plane: index * stride */
    int inside[GRID_MAX_TAPS];   /* 0: the tap reads 0 (zeros padding, index outside) */
    float w[GRID_MAX_TAPS];
} grid_taps;

/* The pixel coordinate of grid value g along a dim of length len (onnxruntime's GsDenormalize), clamped. */
static float denormalize(float g, size_t len, int align_corners)
{
    const float c = align_corners ? (g + 1.0f) / 2.0f * (float)(len - 1) : ((g + 1.0f) * (float)len - 1.0f) / 2.0f;
    return kclampf(c, -GRID_COORD_LIMIT, GRID_COORD_LIMIT);
}

/* An integral float in [-2^30, 2^30], or NaN (read as -2^30, outside every dim), as an index. */
static long long to_index(float f)
{
    return f == f ? (long long)f : -(long long)GRID_COORD_LIMIT;
}

/* v mirrored into [lo, hi] in float arithmetic, as onnxruntime's GsReflect; hi == lo gives lo. */
static float reflect(float v, float lo, float hi)
{
    const float range = hi - lo;
    float d, r;
    long long n;
    if (v >= lo && v <= hi)
        return v;
    if (!(range > 0.0f))
        return lo;
    d = v < lo ? lo - v : v - hi; /* <= 2^31: |v| <= 2^30 + 2, range >= 1 */
    n = (long long)(d / range);
    r = d - (float)n * range;
    if (v < lo)
        return n % 2 == 0 ? lo + r : hi - r;
    return n % 2 == 0 ? hi - r : lo + r;
}

/* Tap index t after padding along a dim of length len: *index in [0, len); 0 when the tap reads 0. */
static int pad_tap(kern_grid_padding padding, long long t, size_t len, float lo, float hi, size_t *index)
{
    const long long last = (long long)len - 1;
    if (padding == KERN_GRID_ZEROS && (t < 0 || t > last)) {
        *index = 0;
        return 0;
    }
    if (padding == KERN_GRID_REFLECTION)
        t = (long long)reflect((float)t, lo, hi);
    *index = (size_t)(t < 0 ? 0 : t > last ? last : t); /* border; reflection's result is already inside */
    return 1;
}

/* The taps and weights of grid value g along a dim of length len whose elements are `stride` apart. */
static void dim_taps(const kern_grid_sample_attr *at, float g, size_t len, size_t stride, grid_taps *taps)
{
    const float c = denormalize(g, len, at->align_corners);
    const float lo = at->align_corners ? 0.0f : -0.5f;
    const float hi = at->align_corners ? (float)len - 1.0f : (float)len - 0.5f;
    long long first;
    size_t k, index;
    if (at->mode == KERN_RESIZE_NEAREST) {
        taps->count = 1;
        taps->w[0] = 1.0f;
        first = to_index(kern_rintf(c));
    } else if (at->mode == KERN_RESIZE_LINEAR) {
        const float f = kern_floorf(c);
        taps->count = 2;
        taps->w[0] = (f + 1.0f) - c;
        taps->w[1] = c - f;
        first = to_index(f);
    } else {
        const float f = kern_floorf(c);
        taps->count = 4;
        kern_cubic_weights((c - (f - 1.0f)) - 1.0f, -0.75f, taps->w); /* s as onnxruntime rounds it */
        first = to_index(f) - 1;
    }
    for (k = 0; k < taps->count; k++) {
        taps->inside[k] = pad_tap(at->padding, first + (long long)k, len, lo, hi, &index);
        taps->off[k] = index * stride;
    }
}

/* The taps of the last two dims (H, W) blended, W first: sum_i wy[i] (sum_j wx[j] p[i][j]), each sum in tap
 * order from 0; every tap reads 0 when `inside` is 0 (an outer dim's tap outside, zeros padding). */
static float blend_2d(const grid_taps *ty, const grid_taps *tx, const float *x, int inside)
{
    float acc = 0.0f;
    size_t i, j;
    for (i = 0; i < ty->count; i++) {
        float row = 0.0f;
        for (j = 0; j < tx->count; j++)
            row += tx->w[j] * (inside & ty->inside[i] & tx->inside[j] ? x[ty->off[i] + tx->off[j]] : 0.0f);
        acc += ty->w[i] * row;
    }
    return acc;
}

/* The taps of r = 2 or 3 dims (outermost first) blended innermost first, as onnxruntime sums them
 * (3-D: wz0 (2-D blend at z0) + wz1 (2-D blend at z1)). */
static float blend(const grid_taps *taps, size_t r, const float *x)
{
    float acc = 0.0f;
    size_t k;
    if (r == 2)
        return blend_2d(&taps[0], &taps[1], x, 1);
    for (k = 0; k < taps[0].count; k++)
        acc += taps[0].w[k] * blend_2d(&taps[1], &taps[2], x + taps[0].off[k], taps[0].inside[k]);
    return acc;
}

kern_status kern_grid_sample(const kern_grid_sample_attr *at, const kern_shape *xs, const float *x,
                             const float *grid, const kern_shape *ys, float *y)
{
    size_t stride[GRID_MAX_DIMS];
    grid_taps taps[GRID_MAX_DIMS];
    size_t r, d, xn, yn, gn, batch, channels, in_plane = 1, out_plane = 1, n, p, ch;
    if (xs->rank != ys->rank || xs->rank < 4 || xs->rank > 2 + GRID_MAX_DIMS ||
        (at->mode != KERN_RESIZE_NEAREST && at->mode != KERN_RESIZE_LINEAR && at->mode != KERN_RESIZE_CUBIC) ||
        (at->padding != KERN_GRID_ZEROS && at->padding != KERN_GRID_BORDER &&
         at->padding != KERN_GRID_REFLECTION) ||
        (at->align_corners != 0 && at->align_corners != 1) || (at->mode == KERN_RESIZE_CUBIC && xs->rank != 4) ||
        xs->dim[0] != ys->dim[0] || xs->dim[1] != ys->dim[1])
        return KERN_EINVAL;
    r = xs->rank - 2;
    batch = xs->dim[0];
    channels = xs->dim[1];
    for (d = r; d-- > 0;) {
        stride[d] = in_plane;
        if (!kmul(in_plane, xs->dim[2 + d], &in_plane) || !kmul(out_plane, ys->dim[2 + d], &out_plane))
            return KERN_EOVERFLOW;
    }
    if (kern_shape_numel(xs, &xn) != KERN_OK || kern_shape_numel(ys, &yn) != KERN_OK ||
        !kmul3(batch, out_plane, r, &gn)) /* the grid's element count */
        return KERN_EOVERFLOW;
    if (yn == 0)
        return KERN_OK;
    for (d = 0; d < r; d++)
        if (xs->dim[2 + d] == 0 || xs->dim[2 + d] > ((size_t)1 << 30))
            return KERN_EINVAL; /* nothing to sample from; indices stay far inside long long */
    for (n = 0; n < batch; n++)
        for (p = 0; p < out_plane; p++) {
            const float *g = grid + (n * out_plane + p) * r;
            for (d = 0; d < r; d++)
                dim_taps(at, g[r - 1 - d], xs->dim[2 + d], stride[d], &taps[d]);
            for (ch = 0; ch < channels; ch++)
                y[(n * channels + ch) * out_plane + p] = blend(taps, r, x + (n * channels + ch) * in_plane);
        }
    return KERN_OK;
}
