/*
 * shape.c - element counts and strides of kern_shape, overflow-checked.
 */
#include "internal.h"

kern_status kern_shape_numel(const kern_shape *s, size_t *numel)
{
    size_t i, n = 1;
    if (s->rank > KERN_MAX_RANK)
        return KERN_EINVAL;
    for (i = 0; i < s->rank; i++)
        if (!kmul(n, s->dim[i], &n))
            return KERN_EOVERFLOW;
    *numel = n;
    return KERN_OK;
}

int kern_strides(const kern_shape *s, size_t *strides)
{
    size_t i, acc = 1;
    if (s->rank > KERN_MAX_RANK)
        return 0;
    for (i = s->rank; i-- > 0;) {
        strides[i] = acc;
        if (!kmul(acc, s->dim[i], &acc))
            return 0;
    }
    return 1;
}
