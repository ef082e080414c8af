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
 * Nearest and linear run in blocks of COL_BLOCK columns of the last dim, every row of a block in
 * turn: the last dim's taps once per block, the leading dims' once per row, the same values blended
 * in the same order as computing every output's taps afresh.
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

/* Nearest / linear along dim d for output index o: the source index lo, the second tap hi (== lo when
 * there is none) and hi's weight. */
static void axis_taps(const kern_resize_attr *at, size_t d, size_t o, size_t in, size_t out, size_t *lo, size_t *hi,
                      float *wt)
{
    const float c = source_coord(at->coord, o, at->scale[d], in, out);
    if (in == out && at->scale[d] == 1.0f) {
        *lo = *hi = o;
        *wt = 0.0f;
    } else if (at->mode == KERN_RESIZE_NEAREST) {
        *lo = *hi = nearest_index(at->nearest, c, in);
        *wt = 0.0f;
    } else {
        float cc = c < 0.0f ? 0.0f : c;
        float f;
        if (!(cc <= (float)(in - 1)))
            cc = (float)(in - 1);
        f = floor_f(cc);
        *lo = (size_t)f;
        if (*lo > in - 1)
            *lo = in - 1;
        *hi = *lo + 1 < in ? *lo + 1 : *lo;
        *wt = cc - f;
    }
}

#define COL_BLOCK 64 /* last-dim taps computed once per block of this many columns (stack) */

/* Columns [j0, j0 + n) of one output row (the last dim), their taps lo_w/hi_w/wt_w: the leading dims'
 * taps are lo/hi/wt[0 .. r-2], act_dim[0 .. active) the ones that blend, xr points at their lo corner.
 * Each output blends the 2^k corners, bit b of the corner mask picking hi along the b-th blending dim
 * in dim order, its weight the product of the factors in that order (the last dim's last), summed in
 * mask order: the values and order of computing every output's taps afresh. */
static void resize_cols(const kern_resize_attr *at, const float *xr, const size_t *xstr, size_t r,
                        const size_t *lo, const size_t *hi, const float *wt, const size_t *act_dim, size_t active,
                        const uint32_t *lo_w, const uint32_t *hi_w, const float *wt_w, size_t n, float *yr)
{
    const size_t corners = (size_t)1 << active, step = xstr[r - 1];
    float lead_w[(size_t)1 << (KERN_MAX_RANK - 1)];
    size_t lead_off[(size_t)1 << (KERN_MAX_RANK - 1)], j, mask, b;
    if (active == 0 && at->mode == KERN_RESIZE_NEAREST) {
        for (j = 0; j < n; j++)
            yr[j] = xr[lo_w[j] * step];
        return;
    }
    for (mask = 0; mask < corners; mask++) { /* the leading dims' share of each corner */
        float w = 1.0f;
        size_t off = 0;
        for (b = 0; b < active; b++) {
            const size_t dd = act_dim[b];
            if ((mask >> b) & 1u) {
                off += (hi[dd] - lo[dd]) * xstr[dd];
                w *= wt[dd];
            } else {
                w *= 1.0f - wt[dd];
            }
        }
        lead_w[mask] = w;
        lead_off[mask] = off;
    }
    if (active <= 1) { /* up to 2 corners: the same sums, with the blend chosen per column by a select */
        const float l0 = lead_w[0], l1 = active ? lead_w[1] : 0.0f;
        const size_t o1 = active ? lead_off[1] : 0;
        for (j = 0; j < n; j++) {
            const float *xc = xr + lo_w[j] * step, *xh = xr + hi_w[j] * step, a = 1.0f - wt_w[j], t = wt_w[j];
            float blend = 0.0f, plain = 0.0f;
            blend += l0 * a * xc[0];
            if (active)
                blend += l1 * a * xc[o1];
            blend += l0 * t * xh[0];
            if (active)
                blend += l1 * t * xh[o1];
            plain += l0 * xc[0];
            if (active)
                plain += l1 * xc[o1];
            yr[j] = hi_w[j] != lo_w[j] && t != 0.0f ? blend : plain;
        }
        return;
    }
    for (j = 0; j < n; j++) {
        const float *xc = xr + lo_w[j] * step;
        float acc = 0.0f;
        if (hi_w[j] != lo_w[j] && wt_w[j] != 0.0f) {
            const float *xh = xr + hi_w[j] * step;
            for (mask = 0; mask < corners; mask++)
                acc += lead_w[mask] * (1.0f - wt_w[j]) * xc[lead_off[mask]];
            for (mask = 0; mask < corners; mask++)
                acc += lead_w[mask] * wt_w[j] * xh[lead_off[mask]];
        } else {
            for (mask = 0; mask < corners; mask++)
                acc += lead_w[mask] * xc[lead_off[mask]];
        }
        yr[j] = acc;
    }
}

kern_status kern_resize(const kern_resize_attr *at, const kern_shape *xs, const float *x, const kern_shape *ys,
                        float *y)
{
    size_t xstr[KERN_MAX_RANK], idx[KERN_MAX_RANK], lo[KERN_MAX_RANK], hi[KERN_MAX_RANK];
    uint32_t lo_w[COL_BLOCK], hi_w[COL_BLOCK]; /* source indices: a dim of a tensor in the region is < 2^32 */
    float wt[KERN_MAX_RANK], wt_w[COL_BLOCK];
    size_t r = xs->rank, d, xn, yn, o, j0, j;
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
    if (r == 0) {
        y[0] = x[0];
        return KERN_OK;
    }
    if (xs->dim[r - 1] > UINT32_MAX) /* the last dim's source indices are held in 32 bits */
        return KERN_EOVERFLOW;
    /* column blocks of every row: the last dim's taps once per block, the leading dims' once per row */
    for (j0 = 0; j0 < ys->dim[r - 1]; j0 += COL_BLOCK) {
        const size_t n = ys->dim[r - 1] - j0 < COL_BLOCK ? ys->dim[r - 1] - j0 : COL_BLOCK;
        for (j = 0; j < n; j++) {
            size_t lo_j, hi_j;
            axis_taps(at, r - 1, j0 + j, xs->dim[r - 1], ys->dim[r - 1], &lo_j, &hi_j, &wt_w[j]);
            lo_w[j] = (uint32_t)lo_j;
            hi_w[j] = (uint32_t)hi_j;
        }
        for (d = 0; d < r; d++)
            idx[d] = 0;
        for (o = 0; o < yn; o += ys->dim[r - 1]) {
            size_t base = 0, active = 0;
            size_t act_dim[KERN_MAX_RANK];
            for (d = 0; d + 1 < r; d++) {
                axis_taps(at, d, idx[d], xs->dim[d], ys->dim[d], &lo[d], &hi[d], &wt[d]);
                base += lo[d] * xstr[d];
                if (hi[d] != lo[d] && wt[d] != 0.0f)
                    act_dim[active++] = d;
            }
            resize_cols(at, x + base, xstr, r, lo, hi, wt, act_dim, active, lo_w, hi_w, wt_w, n, y + o + j0);
            for (d = r - 1; d-- > 0;) {
                if (++idx[d] < ys->dim[d])
                    break;
                idx[d] = 0;
            }
        }
    }
    return KERN_OK;
}
