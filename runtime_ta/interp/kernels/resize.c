/*
 * resize.c - Resize: nearest and N-linear interpolation with ONNX's coordinate transformations.
 *
 * For output index o along a dim (in, out, scale) the source coordinate is
 *   half_pixel            (o + 0.5) / scale - 0.5
 *   pytorch_half_pixel    out > 1 ? (o + 0.5) / scale - 0.5 : 0
 *   align_corners         out > 1 ? o (in - 1) / (out - 1) : 0
 *   asymmetric            o / scale
 *   half_pixel_symmetric  in/2 (1 - out / (scale in)) + (o + 0.5) / scale - 0.5
 * computed in float as onnxruntime does, except for half_pixel_symmetric's final sum which it computes
 * in double (the nearest rounding of exact halves depends on it).
 * Nearest rounds it (round_prefer_floor/ceil, floor, ceil) and clamps to [0, in - 1]; linear clamps
 * the coordinate to [0, in - 1] and blends the 2^d neighbours of the dims that need interpolation.
 * Cubic does not clamp the coordinate c: it blends the 4^d taps floor(c) - 1 .. floor(c) + 2 with
 * Keys' weights for s = c - floor(c) and coefficient a, each tap read at the nearest index inside
 * [0, in - 1]; exclude_outside gives taps outside weight 0 and divides by the remaining weights' sum
 * (onnxruntime's ResizeBiCubic, generalised to any dims as the ONNX reference does).
 */
#include "internal.h"

static float floor_f(float v)
{
    float t;
    if (!(v > -8388608.0f && v < 8388608.0f)) /* |v| >= 2^23 is integral (or NaN) */
        return v;
    t = (float)(long)v;
    return t > v ? t - 1.0f : t;
}

static float source_coord(kern_coord_mode mode, size_t o, float scale, size_t in, size_t out)
{
    const float of = (float)o;
    switch (mode) {
    case KERN_COORD_HALF_PIXEL:
        return (of + 0.5f) / scale - 0.5f;
    case KERN_COORD_PYTORCH_HALF_PIXEL:
        return out > 1 ? (of + 0.5f) / scale - 0.5f : 0.0f;
    case KERN_COORD_ALIGN_CORNERS:
        return out > 1 ? of * (float)(in - 1) / (float)(out - 1) : 0.0f;
    case KERN_COORD_ASYMMETRIC:
        return of / scale;
    default: { /* onnxruntime evaluates the last sum in double; matching it matters at exact halves */
        const float adjustment = (float)out / (scale * (float)in);
        const float center = (float)in / 2.0f;
        const float offset = center * (1.0f - adjustment);
        return (float)((double)offset + ((double)of + 0.5) / (double)scale - 0.5);
    }
    }
}

static size_t nearest_index(kern_nearest_mode mode, float c, size_t in)
{
    float f = floor_f(c), r;
    switch (mode) {
    case KERN_NEAREST_FLOOR:
        r = f;
        break;
    case KERN_NEAREST_CEIL:
        r = c > f ? f + 1.0f : f;
        break;
    case KERN_NEAREST_ROUND_PREFER_CEIL:
        r = c - f >= 0.5f ? f + 1.0f : f;
        break;
    default:
        r = c - f > 0.5f ? f + 1.0f : f;
        break;
    }
    if (!(r > 0.0f)) /* also NaN */
        return 0;
    if (r >= (float)(in - 1))
        return in - 1;
    return (size_t)r;
}

/* Cubic: the 4 taps (indices clamped into [0, in)) and weights of source coordinate c along one dim. */
static void cubic_taps(float c, size_t in, float a, int exclude_outside, size_t *tap, float *w)
{
    float f = floor_f(c), sum = 0.0f;
    long long base;
    int i;
    if (!(f > -1e9f && f < 1e9f)) /* NaN or absurd: read the edge (never out of bounds) */
        f = 0.0f;
    base = (long long)f;
    kern_cubic_weights(c - f, a, w);
    for (i = 0; i < 4; i++) {
        const long long p = base - 1 + i;
        const int outside = p < 0 || p >= (long long)in;
        tap[i] = p < 0 ? 0 : p >= (long long)in ? in - 1 : (size_t)p;
        if (exclude_outside && outside)
            w[i] = 0.0f;
        sum += w[i];
    }
    if (exclude_outside && sum != 0.0f)
        for (i = 0; i < 4; i++)
            w[i] /= sum;
}

static kern_status resize_cubic(const kern_resize_attr *at, const kern_shape *xs, const float *x, const kern_shape *ys,
                                float *y, const size_t *xstr, size_t yn)
{
    size_t idx[KERN_MAX_RANK], tap[KERN_MAX_RANK][4], act_dim[KERN_MAX_RANK], r = xs->rank, d, o;
    float w[KERN_MAX_RANK][4];
    for (d = 0; d < r; d++)
        idx[d] = 0;
    for (o = 0; o < yn; o++) {
        size_t base = 0, active = 0, combo, combos = 1;
        float acc = 0.0f;
        for (d = 0; d < r; d++) {
            const size_t in = xs->dim[d], out = ys->dim[d];
            if (in == out && at->scale[d] == 1.0f) {
                base += idx[d] * xstr[d];
                continue;
            }
            cubic_taps(source_coord(at->coord, idx[d], at->scale[d], in, out), in, at->cubic_a, at->exclude_outside,
                       tap[d], w[d]);
            act_dim[active++] = d;
            combos *= 4;
        }
        /* blend the 4^active taps: base-4 digit b of combo picks the tap along act_dim[b] */
        for (combo = 0; combo < combos; combo++) {
            size_t off = base, b, c = combo;
            float wt = 1.0f;
            for (b = 0; b < active; b++, c >>= 2) {
                const size_t dd = act_dim[b];
                off += tap[dd][c & 3u] * xstr[dd];
                wt *= w[dd][c & 3u];
            }
            acc += wt * x[off];
        }
        y[o] = acc;
        for (d = r; d-- > 0;) {
            if (++idx[d] < ys->dim[d])
                break;
            idx[d] = 0;
        }
    }
    return KERN_OK;
}

kern_status kern_resize(const kern_resize_attr *at, const kern_shape *xs, const float *x, const kern_shape *ys,
                        float *y)
{
    size_t xstr[KERN_MAX_RANK], idx[KERN_MAX_RANK], lo[KERN_MAX_RANK], hi[KERN_MAX_RANK];
    float wt[KERN_MAX_RANK];
    size_t r = xs->rank, d, xn, yn, o;
    if (r != ys->rank || r > KERN_MAX_RANK || !kern_strides(xs, xstr) ||
        (at->mode != KERN_RESIZE_NEAREST && at->mode != KERN_RESIZE_LINEAR && at->mode != KERN_RESIZE_CUBIC) ||
        at->coord > KERN_COORD_HALF_PIXEL_SYMMETRIC || at->nearest > KERN_NEAREST_CEIL ||
        (at->mode == KERN_RESIZE_CUBIC && at->exclude_outside != 0 && at->exclude_outside != 1))
        return KERN_EINVAL;
    if (kern_shape_numel(xs, &xn) != KERN_OK || kern_shape_numel(ys, &yn) != KERN_OK)
        return KERN_EOVERFLOW;
    for (d = 0; d < r; d++) {
        if (!(at->scale[d] > 0.0f) || (xs->dim[d] == 0 && ys->dim[d] != 0))
            return KERN_EINVAL;
        idx[d] = 0;
    }
    if (yn == 0)
        return KERN_OK;
    for (d = 0; d < r; d++)
        if (xs->dim[d] == 0)
            return KERN_EINVAL;
    if (at->mode == KERN_RESIZE_CUBIC)
        return resize_cubic(at, xs, x, ys, y, xstr, yn);
    for (o = 0; o < yn; o++) {
        size_t base = 0, active = 0, mask;
        size_t act_dim[KERN_MAX_RANK];
        float acc = 0.0f;
        for (d = 0; d < r; d++) {
            const size_t in = xs->dim[d], out = ys->dim[d];
            const float c = source_coord(at->coord, idx[d], at->scale[d], in, out);
            if (in == out && at->scale[d] == 1.0f) {
                lo[d] = hi[d] = idx[d];
                wt[d] = 0.0f;
            } else if (at->mode == KERN_RESIZE_NEAREST) {
                lo[d] = hi[d] = nearest_index(at->nearest, c, in);
                wt[d] = 0.0f;
            } else {
                float cc = c < 0.0f ? 0.0f : c;
                float f;
                if (!(cc <= (float)(in - 1)))
                    cc = (float)(in - 1);
                f = floor_f(cc);
                lo[d] = (size_t)f;
                if (lo[d] > in - 1)
                    lo[d] = in - 1;
                hi[d] = lo[d] + 1 < in ? lo[d] + 1 : lo[d];
                wt[d] = cc - f;
            }
            base += lo[d] * xstr[d];
            if (hi[d] != lo[d] && wt[d] != 0.0f)
                act_dim[active++] = d;
        }
        /* blend the 2^active corners: bit b of mask picks hi along act_dim[b] */
        for (mask = 0; mask < ((size_t)1 << active); mask++) {
            size_t off = base, b;
            float w = 1.0f;
            for (b = 0; b < active; b++) {
                const size_t dd = act_dim[b];
                if ((mask >> b) & 1u) {
                    off += (hi[dd] - lo[dd]) * xstr[dd];
                    w *= wt[dd];
                } else {
                    w *= 1.0f - wt[dd];
                }
            }
            acc += w * x[off];
        }
        y[o] = acc;
        for (d = r; d-- > 0;) {
            if (++idx[d] < ys->dim[d])
                break;
            idx[d] = 0;
        }
    }
    return KERN_OK;
}
