/*
 * movement.c - Concat, Split, Slice, Transpose, Pad: index arithmetic and copies, no math.
 *
 * Multi-dimensional walks use an odometer over the outer dims and a specialised loop (memcpy when
 * contiguous) over the innermost dim; every source index is proven in range before the walk.
 */
#include <string.h>

#include "internal.h"

#ifndef PTRDIFF_MAX /* absent from the OP-TEE TA dev kit's <stdint.h> */
#define PTRDIFF_MAX INTPTR_MAX
#endif

/* Copy [outer, part, inner] <-> [outer, total, inner] at axis offset `offset`; to_whole selects the
 * direction (Concat writes into the whole, Split reads from it). */
static kern_status copy_part(size_t outer, size_t part, size_t inner, size_t total, size_t offset, const float *x,
                             float *y, int to_whole)
{
    size_t whole_n, run, o;
    if (offset > total || part > total - offset)
        return KERN_EINVAL;
    if (!kmul3(outer, total, inner, &whole_n) || !kmul(part, inner, &run))
        return KERN_EOVERFLOW;
    for (o = 0; o < outer; o++) {
        const size_t whole_at = (o * total + offset) * inner, part_at = o * run;
        if (to_whole)
            memcpy(y + whole_at, x + part_at, run * sizeof(float));
        else
            memcpy(y + part_at, x + whole_at, run * sizeof(float));
    }
    return KERN_OK;
}

kern_status kern_concat_part(size_t outer, size_t axis_part, size_t inner, size_t axis_total, size_t offset,
                             const float *x, float *y)
{
    return copy_part(outer, axis_part, inner, axis_total, offset, x, y, 1);
}

kern_status kern_split_part(size_t outer, size_t axis_part, size_t inner, size_t axis_total, size_t offset,
                            const float *x, float *y)
{
    return copy_part(outer, axis_part, inner, axis_total, offset, x, y, 0);
}

/* Advance an odometer over dims[0..n) (last fastest); returns 0 when it wraps around. */
static int odometer_next(size_t *idx, const size_t *dims, size_t n)
{
    size_t d;
    for (d = n; d-- > 0;) {
        if (++idx[d] < dims[d])
            return 1;
        idx[d] = 0;
    }
    return 0;
}

kern_status kern_slice(const kern_shape *xs, const float *x, const kern_shape *ys, const ptrdiff_t *start,
                       const ptrdiff_t *step, float *y)
{
    size_t xstr[KERN_MAX_RANK], idx[KERN_MAX_RANK], mags[KERN_MAX_RANK], xn, yn, r = xs->rank, d, o = 0;
    if (r != ys->rank || r > KERN_MAX_RANK || !kern_strides(xs, xstr))
        return KERN_EINVAL;
    if (kern_shape_numel(xs, &xn) != KERN_OK || kern_shape_numel(ys, &yn) != KERN_OK)
        return KERN_EOVERFLOW;
    if (yn == 0)
        return KERN_OK;
    for (d = 0; d < r; d++) {
        const size_t xd = xs->dim[d], yd = ys->dim[d];
        const size_t mag = step[d] < 0 ? (size_t)(-(step[d] + 1)) + 1 : (size_t)step[d];
        mags[d] = mag;
        if (step[d] == 0 || start[d] < 0 || (size_t)start[d] >= xd)
            return KERN_EINVAL;
        /* last index start + (yd - 1) * step must stay in [0, xd) */
        if (yd - 1 > (xd - 1) / mag)
            return KERN_EINVAL;
        if (step[d] > 0 ? (size_t)start[d] + (yd - 1) * mag >= xd : (yd - 1) * mag > (size_t)start[d])
            return KERN_EINVAL;
        idx[d] = 0;
    }
    if (r == 0) {
        y[0] = x[0];
        return KERN_OK;
    }
    {
        const size_t inner = ys->dim[r - 1];
        do {
            size_t off = 0, t;
            const float *src;
            for (d = 0; d + 1 < r; d++) {
                const size_t pos = step[d] > 0 ? (size_t)start[d] + idx[d] * mags[d] : (size_t)start[d] - idx[d] * mags[d];
                off += pos * xstr[d];
            }
            src = x + off;
            if (step[r - 1] == 1) {
                memcpy(y + o, src + start[r - 1], inner * sizeof(float));
            } else {
                const size_t first = (size_t)start[r - 1], mag = mags[r - 1];
                if (step[r - 1] > 0)
                    for (t = 0; t < inner; t++)
                        y[o + t] = src[first + t * mag];
                else
                    for (t = 0; t < inner; t++)
                        y[o + t] = src[first - t * mag];
            }
            o += inner;
        } while (r > 1 && odometer_next(idx, ys->dim, r - 1));
    }
    return KERN_OK;
}

kern_status kern_transpose(const kern_shape *xs, const float *x, const size_t *perm, float *y)
{
    size_t xstr[KERN_MAX_RANK], ydim[KERN_MAX_RANK], pstr[KERN_MAX_RANK], idx[KERN_MAX_RANK];
    size_t r = xs->rank, d, n, o = 0, seen = 0;
    if (r > KERN_MAX_RANK || !kern_strides(xs, xstr))
        return KERN_EINVAL;
    if (kern_shape_numel(xs, &n) != KERN_OK)
        return KERN_EOVERFLOW;
    for (d = 0; d < r; d++) {
        if (perm[d] >= r || (seen >> perm[d]) & 1u)
            return KERN_EINVAL;
        seen |= (size_t)1 << perm[d];
        ydim[d] = xs->dim[perm[d]];
        pstr[d] = xstr[perm[d]];
        idx[d] = 0;
    }
    if (n == 0)
        return KERN_OK;
    if (r == 0) {
        y[0] = x[0];
        return KERN_OK;
    }
    {
        const size_t inner = ydim[r - 1], istr = pstr[r - 1];
        do {
            size_t off = 0, t;
            for (d = 0; d + 1 < r; d++)
                off += idx[d] * pstr[d];
            for (t = 0; t < inner; t++)
                y[o + t] = x[off + t * istr];
            o += inner;
        } while (r > 1 && odometer_next(idx, ydim, r - 1));
    }
    return KERN_OK;
}

/* Source index of output index i along a dim of length n padded by p in front; -1: constant fill. */
static ptrdiff_t pad_source(kern_pad_mode mode, ptrdiff_t i, ptrdiff_t p, ptrdiff_t n)
{
    ptrdiff_t s = i - p, period;
    if (s >= 0 && s < n)
        return s;
    if (mode == KERN_PAD_CONSTANT)
        return -1;
    if (mode == KERN_PAD_EDGE || n == 1)
        return s < 0 ? 0 : n - 1;
    period = 2 * (n - 1);
    s %= period;
    if (s < 0)
        s += period;
    return s >= n ? period - s : s;
}

kern_status kern_pad(kern_pad_mode mode, const kern_shape *xs, const float *x, const ptrdiff_t *pad_begin,
                     const ptrdiff_t *pad_end, float value, const kern_shape *ys, float *y)
{
    size_t xstr[KERN_MAX_RANK], idx[KERN_MAX_RANK], xn, yn, r = xs->rank, d, o = 0;
    if (r != ys->rank || r > KERN_MAX_RANK || mode > KERN_PAD_EDGE || !kern_strides(xs, xstr))
        return KERN_EINVAL;
    if (kern_shape_numel(xs, &xn) != KERN_OK || kern_shape_numel(ys, &yn) != KERN_OK)
        return KERN_EOVERFLOW;
    for (d = 0; d < r; d++) {
        const ptrdiff_t xd = (ptrdiff_t)xs->dim[d], yd = (ptrdiff_t)ys->dim[d];
        if (xs->dim[d] > (size_t)PTRDIFF_MAX / 4 || ys->dim[d] > (size_t)PTRDIFF_MAX / 4 ||
            pad_begin[d] > PTRDIFF_MAX / 4 || pad_begin[d] < -PTRDIFF_MAX / 4 || pad_end[d] > PTRDIFF_MAX / 4 ||
            pad_end[d] < -PTRDIFF_MAX / 4)
            return KERN_EOVERFLOW;
        if (yd != xd + pad_begin[d] + pad_end[d])
            return KERN_EINVAL;
        if (mode != KERN_PAD_CONSTANT && xd == 0 && yd > 0)
            return KERN_EINVAL;
        idx[d] = 0;
    }
    if (yn == 0)
        return KERN_OK;
    if (r == 0) {
        y[0] = x[0];
        return KERN_OK;
    }
    {
        const size_t inner = ys->dim[r - 1];
        const ptrdiff_t pb = pad_begin[r - 1], xd = (ptrdiff_t)xs->dim[r - 1];
        do {
            size_t off = 0, t;
            int fill = 0;
            for (d = 0; d + 1 < r; d++) {
                const ptrdiff_t s = pad_source(mode, (ptrdiff_t)idx[d], pad_begin[d], (ptrdiff_t)xs->dim[d]);
                if (s < 0)
                    fill = 1;
                else
                    off += (size_t)s * xstr[d];
            }
            for (t = 0; t < inner; t++) {
                const ptrdiff_t s = fill ? -1 : pad_source(mode, (ptrdiff_t)t, pb, xd);
                y[o + t] = s < 0 ? value : x[off + (size_t)s];
            }
            o += inner;
        } while (r > 1 && odometer_next(idx, ys->dim, r - 1));
    }
    return KERN_OK;
}

kern_status kern_tile(const kern_shape *xs, const float *x, const kern_shape *ys, float *y)
{
    size_t xdim[KERN_MAX_RANK], xstr[KERN_MAX_RANK], idx[KERN_MAX_RANK], xn, yn, r = ys->rank, d, o = 0;
    kern_shape xp;
    if (r > KERN_MAX_RANK || xs->rank > r)
        return KERN_EINVAL;
    xp.rank = r;
    for (d = 0; d < r; d++) /* x left-padded with 1s to y's rank */
        xdim[d] = xp.dim[d] = d < r - xs->rank ? 1 : xs->dim[d - (r - xs->rank)];
    if (!kern_strides(&xp, xstr))
        return KERN_EINVAL;
    if (kern_shape_numel(&xp, &xn) != KERN_OK || kern_shape_numel(ys, &yn) != KERN_OK)
        return KERN_EOVERFLOW;
    for (d = 0; d < r; d++) {
        if (xdim[d] == 0 ? ys->dim[d] != 0 : ys->dim[d] % xdim[d] != 0)
            return KERN_EINVAL;
        idx[d] = 0;
    }
    if (yn == 0)
        return KERN_OK;
    if (r == 0) {
        y[0] = x[0];
        return KERN_OK;
    }
    {
        const size_t inner = ys->dim[r - 1], xin = xdim[r - 1];
        do {
            size_t off = 0, t;
            for (d = 0; d + 1 < r; d++)
                off += (idx[d] % xdim[d]) * xstr[d];
            if (xin == 1) {
                const float v = x[off];
                for (t = 0; t < inner; t++)
                    y[o + t] = v;
            } else {
                for (t = 0; t < inner; t += xin)
                    memcpy(y + o + t, x + off, xin * sizeof(float));
            }
            o += inner;
        } while (r > 1 && odometer_next(idx, ys->dim, r - 1));
    }
    return KERN_OK;
}
