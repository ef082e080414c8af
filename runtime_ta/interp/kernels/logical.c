/*
 * logical.c - comparisons (Equal, Greater, GreaterOrEqual, Less, LessOrEqual), the logic ops (And, Or,
 * Xor, Not) and Where, over int32 booleans (0/1 out; anything but 0 counts as true in).
 *
 * The binary ones walk their operands in broadcast runs (kernels/broadcast.c) with one loop per
 * stride pattern (KERN_RUN2); Where, with three operands, indexes each by its stride (0 or 1).
 * Comparisons and Where take float32 or int32 operands: one instance of each loop per type.
 */
#include "internal.h"

/* y[i] = a[i * sa] op b[i * sb] as 0/1, T the operands' type. */
#define COMPARE_RUN(T)                                                                                                \
    do {                                                                                                              \
        const T *pa = (const T *)a, *pb = (const T *)b;                                                               \
        switch (op) {                                                                                                 \
        case KERN_EQUAL: KERN_RUN2(T, y, pa, sa, pb, sb, n, u == v); break;                                          \
        case KERN_GREATER: KERN_RUN2(T, y, pa, sa, pb, sb, n, u > v); break;                                         \
        case KERN_GREATER_OR_EQUAL: KERN_RUN2(T, y, pa, sa, pb, sb, n, u >= v); break;                               \
        case KERN_LESS: KERN_RUN2(T, y, pa, sa, pb, sb, n, u < v); break;                                            \
        default: KERN_RUN2(T, y, pa, sa, pb, sb, n, u <= v); break; /* KERN_LESS_OR_EQUAL */                          \
        }                                                                                                             \
    } while (0)

static void compare_run(kern_compare_op op, kern_dtype type, const void *a, size_t sa, const void *b, size_t sb,
                        int32_t *y, size_t n)
{
    if (type == KERN_F32)
        COMPARE_RUN(float);
    else
        COMPARE_RUN(int32_t);
}

kern_status kern_compare(kern_compare_op op, kern_dtype type, const kern_shape *as, const void *a,
                         const kern_shape *bs, const void *b, const kern_shape *ys, int32_t *y)
{
    const size_t size = 4; /* float32 and int32 */
    const kern_shape *shapes[2];
    kern_bcast it;
    kern_status s;
    size_t r, off[2];
    if ((unsigned)op > (unsigned)KERN_LESS_OR_EQUAL || (type != KERN_F32 && type != KERN_I32))
        return KERN_EINVAL;
    shapes[0] = as;
    shapes[1] = bs;
    s = kern_bcast_init(&it, 2, shapes, ys);
    for (r = 0; s == KERN_OK && r < it.runs; r++) {
        kern_bcast_next(&it, off);
        compare_run(op, type, (const char *)a + off[0] * size, it.stride[0][0], (const char *)b + off[1] * size,
                    it.stride[1][0], y + r * it.run, it.run);
    }
    return s;
}

kern_status kern_logic(kern_logic_op op, const kern_shape *as, const int32_t *a, const kern_shape *bs,
                       const int32_t *b, const kern_shape *ys, int32_t *y)
{
    const kern_shape *shapes[2];
    kern_bcast it;
    kern_status s;
    size_t r, off[2];
    if ((unsigned)op > (unsigned)KERN_XOR)
        return KERN_EINVAL;
    shapes[0] = as;
    shapes[1] = bs;
    s = kern_bcast_init(&it, 2, shapes, ys);
    for (r = 0; s == KERN_OK && r < it.runs; r++) {
        const int32_t *pa, *pb;
        int32_t *py = y + r * it.run;
        const size_t sa = it.stride[0][0], sb = it.stride[1][0], n = it.run;
        kern_bcast_next(&it, off);
        pa = a + off[0];
        pb = b + off[1];
        if (op == KERN_AND)
            KERN_RUN2(int32_t, py, pa, sa, pb, sb, n, (u != 0) & (v != 0));
        else if (op == KERN_OR)
            KERN_RUN2(int32_t, py, pa, sa, pb, sb, n, (u != 0) | (v != 0));
        else
            KERN_RUN2(int32_t, py, pa, sa, pb, sb, n, (u != 0) ^ (v != 0));
    }
    return s;
}

kern_status kern_not(const int32_t *x, int32_t *y, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        y[i] = x[i] == 0;
    return KERN_OK;
}

/* y[i] = c[i * sc] ? a[i * sa] : b[i * sb], T the branches' type. */
#define WHERE_RUN(T)                                                                                                  \
    do {                                                                                                              \
        const T *pa = (const T *)a, *pb = (const T *)b;                                                               \
        T *py = (T *)y;                                                                                               \
        for (i = 0; i < n; i++)                                                                                       \
            py[i] = c[i * sc] != 0 ? pa[i * sa] : pb[i * sb];                                                         \
    } while (0)

static void where_run(kern_dtype type, const int32_t *c, size_t sc, const void *a, size_t sa, const void *b,
                      size_t sb, void *y, size_t n)
{
    size_t i;
    if (type == KERN_F32)
        WHERE_RUN(float);
    else
        WHERE_RUN(int32_t);
}

kern_status kern_where(kern_dtype type, const kern_shape *cs, const int32_t *c, const kern_shape *as, const void *a,
                       const kern_shape *bs, const void *b, const kern_shape *ys, void *y)
{
    const size_t size = 4; /* float32 and int32 */
    const kern_shape *shapes[3];
    kern_bcast it;
    kern_status s;
    size_t r, off[3];
    if (type != KERN_F32 && type != KERN_I32)
        return KERN_EINVAL;
    shapes[0] = cs;
    shapes[1] = as;
    shapes[2] = bs;
    s = kern_bcast_init(&it, 3, shapes, ys);
    for (r = 0; s == KERN_OK && r < it.runs; r++) {
        kern_bcast_next(&it, off);
        where_run(type, c + off[0], it.stride[0][0], (const char *)a + off[1] * size, it.stride[1][0],
                  (const char *)b + off[2] * size, it.stride[2][0], (char *)y + r * it.run * size, it.run);
    }
    return s;
}
