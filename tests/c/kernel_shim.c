/*
 * kernel_shim.c - array entry points over the scalar math functions, for the accuracy tests
 * (one ctypes call per sweep instead of one per point).
 */
#include <stddef.h>

#include "mathf.h"

typedef float (*unary_fn)(float);

static void map(unary_fn f, const float *x, float *y, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        y[i] = f(x[i]);
}

void shim_expf(const float *x, float *y, size_t n) { map(kern_expf, x, y, n); }
void shim_logf(const float *x, float *y, size_t n) { map(kern_logf, x, y, n); }
void shim_sqrtf(const float *x, float *y, size_t n) { map(kern_sqrtf, x, y, n); }
void shim_tanhf(const float *x, float *y, size_t n) { map(kern_tanhf, x, y, n); }
void shim_sigmoidf(const float *x, float *y, size_t n) { map(kern_sigmoidf, x, y, n); }

void shim_powf_pos(const float *x, const float *p, float *y, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        y[i] = kern_powf_pos(x[i], p[i]);
}
