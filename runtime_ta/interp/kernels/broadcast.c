/*
 * broadcast.c - numpy broadcasting of up to KERN_BCAST_MAX operands to an output shape, as runs.
 *
 * The output's dims are walked innermost first: dims of size 1 are dropped, and a dim is merged into
 * the previous (inner) one when every operand is contiguous across both (stride = inner stride x
 * inner dim) or broadcast across both (stride 0).  What is left is at most KERN_MAX_RANK dims; the
 * innermost is the run, along which each operand's stride is 0 or 1, and an odometer over the others
 * gives each run's operand offsets.  Binary arithmetic, comparisons, logic ops and Where all walk
 * their operands this way (kern_binary, kern_compare, kern_logic, kern_where).
 */
#include "internal.h"

kern_status kern_bcast_init(kern_bcast *b, size_t count, const kern_shape *const *in, const kern_shape *ys)
{
    size_t acc[KERN_BCAST_MAX], str[KERN_BCAST_MAX], r = ys->rank, d, k, total = 1;
    if (count == 0 || count > KERN_BCAST_MAX || r > KERN_MAX_RANK)
        return KERN_EINVAL;
    for (k = 0; k < count; k++) {
        if (in[k]->rank > r)
            return KERN_EINVAL;
        acc[k] = 1;
    }
    b->count = count;
    b->nd = 0;
    for (d = r; d-- > 0;) {
        const size_t dy = ys->dim[d];
        int merge = b->nd > 0;
        for (k = 0; k < count; k++) {
            const size_t dk = d >= r - in[k]->rank ? in[k]->dim[d - (r - in[k]->rank)] : 1;
            if (dk != dy && dk != 1)
                return KERN_EINVAL;
            str[k] = dk == 1 ? 0 : acc[k];
            if (!kmul(acc[k], dk, &acc[k]))
                return KERN_EOVERFLOW;
        }
        if (!kmul(total, dy, &total))
            return KERN_EOVERFLOW;
        if (dy == 1)
            continue;
        for (k = 0; merge && k < count; k++) {
            const size_t prev = b->stride[k][b->nd - 1];
            merge = (str[k] == 0) == (prev == 0) && (str[k] == 0 || str[k] == prev * b->dim[b->nd - 1]);
        }
        if (merge) {
            b->dim[b->nd - 1] *= dy; /* cannot overflow: bounded by the checked element count */
            continue;
        }
        b->dim[b->nd] = dy;
        for (k = 0; k < count; k++)
            b->stride[k][b->nd] = str[k];
        b->nd++;
    }
    if (b->nd == 0) { /* every dim 1: one run of one element */
        b->dim[0] = 1;
        for (k = 0; k < count; k++)
            b->stride[k][0] = 0;
        b->nd = 1;
    }
    for (d = 0; d < b->nd; d++)
        b->idx[d] = 0;
    b->run = total ? b->dim[0] : 0;
    b->runs = total ? total / b->dim[0] : 0;
    return KERN_OK;
}

void kern_bcast_next(kern_bcast *b, size_t *offsets)
{
    size_t d, k;
    for (k = 0; k < b->count; k++) {
        offsets[k] = 0;
        for (d = 1; d < b->nd; d++)
            offsets[k] += b->idx[d] * b->stride[k][d];
    }
    for (d = 1; d < b->nd; d++) {
        if (++b->idx[d] < b->dim[d])
            break;
        b->idx[d] = 0;
    }
}
