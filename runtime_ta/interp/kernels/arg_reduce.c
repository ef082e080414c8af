/*
 * arg_reduce.c - ArgMax and ArgMin: the index of the extreme along one axis, as int32.
 *
 * x is viewed as [outer, n, inner].  inner == 1: one scan per row.  Otherwise blocks of up to
 * ARG_BLOCK columns j keep their running best value and index on the stack (512 bytes) while the
 * axis is walked, so every load of x is contiguous and the compare-and-select loop vectorises.
 * The running best is replaced only by an element that compares greater (ArgMax) / less (ArgMin),
 * or equal too when the last extreme is wanted: first index on ties by default, and a NaN never
 * wins (onnxruntime's order of comparison).
 */
#include "internal.h"

#define ARG_BLOCK 64

/* Whether v replaces the running best b. */
#define ARG_BETTER(v, b) (is_min ? (select_last ? (v) <= (b) : (v) < (b)) : (select_last ? (v) >= (b) : (v) > (b)))

kern_status kern_arg_reduce(int is_min, int select_last, size_t outer, size_t n, size_t inner, const float *x,
                            int32_t *y)
{
    float best[ARG_BLOCK];
    int32_t at[ARG_BLOCK];
    size_t total, o, i, j0, j, w;
    if (n == 0 || n - 1 > (size_t)INT32_MAX || (is_min != 0 && is_min != 1) || (select_last != 0 && select_last != 1))
        return KERN_EINVAL;
    if (!kmul3(outer, n, inner, &total))
        return KERN_EOVERFLOW;
    for (o = 0; o < outer; o++) {
        const float *xo = x + o * n * inner;
        int32_t *yo = y + o * inner;
        if (inner == 1) {
            float b = xo[0];
            int32_t k = 0;
            for (i = 1; i < n; i++)
                if (ARG_BETTER(xo[i], b)) {
                    b = xo[i];
                    k = (int32_t)i;
                }
            yo[0] = k;
            continue;
        }
        for (j0 = 0; j0 < inner; j0 += ARG_BLOCK) {
            w = kmin(ARG_BLOCK, inner - j0);
            for (j = 0; j < w; j++) {
                best[j] = xo[j0 + j];
                at[j] = 0;
            }
            for (i = 1; i < n; i++) {
                const float *row = xo + i * inner + j0;
                for (j = 0; j < w; j++) {
                    const int better = ARG_BETTER(row[j], best[j]);
                    best[j] = better ? row[j] : best[j];
                    at[j] = better ? (int32_t)i : at[j];
                }
            }
            for (j = 0; j < w; j++)
                yo[j0 + j] = at[j];
        }
    }
    return KERN_OK;
}
