/*
 * gather.c - Gather and GatherElements: 4-byte data (float32 or int32, copied bit for bit) indexed by int32
 * indices.
 *
 * The indices come from a model input or an activation, i.e. from the normal world: every one is
 * checked against the size of the dim it indexes before any element is read, and a value outside
 * [-n, n) fails the whole op with KERN_EINDEX (nothing is read or written).  Negative indices count
 * from the end, as in ONNX.
 */
#include <string.h>

#include "internal.h"

/* 1 when every idx[k] lies in [-n, n). */
static int indices_in_range(const int32_t *idx, size_t count, size_t n)
{
    const int64_t hi = (int64_t)n, lo = -(int64_t)n;
    size_t k;
    int ok = 1;
    for (k = 0; k < count; k++)
        ok &= (int64_t)idx[k] >= lo && (int64_t)idx[k] < hi;
    return ok;
}

/* idx (already checked to lie in [-n, n)) as a position in [0, n). */
static size_t normalise(int32_t idx, size_t n)
{
    return idx < 0 ? (size_t)((int64_t)n + idx) : (size_t)idx;
}

kern_status kern_gather(size_t outer, size_t n, size_t inner, const void *xv, const int32_t *idx, size_t count,
                        void *yv)
{
    const uint32_t *x = (const uint32_t *)xv;
    uint32_t *y = (uint32_t *)yv;
    size_t total, o, j;
    if (n == 0 || n > (size_t)INT32_MAX + 1u)
        return KERN_EINVAL;
    if (!kmul3(outer, n, inner, &total) || !kmul3(outer, count, inner, &total))
        return KERN_EOVERFLOW;
    if (!indices_in_range(idx, count, n))
        return KERN_EINDEX;
    for (o = 0; o < outer; o++) {
        const uint32_t *xo = x + o * n * inner;
        uint32_t *yo = y + o * count * inner;
        if (inner == 1) {
            for (j = 0; j < count; j++)
                yo[j] = xo[normalise(idx[j], n)];
        } else {
            for (j = 0; j < count; j++)
                memcpy(yo + j * inner, xo + normalise(idx[j], n) * inner, inner * sizeof(uint32_t));
        }
    }
    return KERN_OK;
}

kern_status kern_gather_elements(const kern_shape *xs, const void *xv, const kern_shape *is, const int32_t *idx,
                                 size_t axis, void *yv)
{
    const uint32_t *x = (const uint32_t *)xv;
    uint32_t *y = (uint32_t *)yv;
    size_t xstr[KERN_MAX_RANK], pos[KERN_MAX_RANK];
    size_t r = xs->rank, d, xn, yn, k, n;
    if (r == 0 || r != is->rank || r > KERN_MAX_RANK || axis >= r || !kern_strides(xs, xstr))
        return KERN_EINVAL;
    if (kern_shape_numel(xs, &xn) != KERN_OK || kern_shape_numel(is, &yn) != KERN_OK)
        return KERN_EOVERFLOW;
    for (d = 0; d < r; d++) {
        if (d != axis && is->dim[d] > xs->dim[d])
            return KERN_EINVAL;
        pos[d] = 0;
    }
    n = xs->dim[axis];
    if (yn == 0)
        return KERN_OK;
    if (n == 0 || n > (size_t)INT32_MAX + 1u)
        return KERN_EINVAL;
    if (!indices_in_range(idx, yn, n))
        return KERN_EINDEX;
    for (k = 0; k < yn; k++) {
        size_t off = normalise(idx[k], n) * xstr[axis];
        for (d = 0; d < r; d++)
            if (d != axis)
                off += pos[d] * xstr[d];
        y[k] = x[off];
        for (d = r; d-- > 0;) {
            if (++pos[d] < is->dim[d])
                break;
            pos[d] = 0;
        }
    }
    return KERN_OK;
}
