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

/* elementwise math (mathf.c) */
void shim_expm1f(const float *x, float *y, size_t n) { map(kern_expm1f, x, y, n); }
void shim_log1pf(const float *x, float *y, size_t n) { map(kern_log1pf, x, y, n); }
void shim_floorf(const float *x, float *y, size_t n) { map(kern_floorf, x, y, n); }
void shim_ceilf(const float *x, float *y, size_t n) { map(kern_ceilf, x, y, n); }
void shim_rintf(const float *x, float *y, size_t n) { map(kern_rintf, x, y, n); }
void shim_geluf(const float *x, float *y, size_t n) { map(kern_geluf, x, y, n); }
void shim_gelu_tanhf(const float *x, float *y, size_t n) { map(kern_gelu_tanhf, x, y, n); }
void shim_softplusf(const float *x, float *y, size_t n) { map(kern_softplusf, x, y, n); }
void shim_mishf(const float *x, float *y, size_t n) { map(kern_mishf, x, y, n); }
void shim_softsignf(const float *x, float *y, size_t n) { map(kern_softsignf, x, y, n); }

void shim_powf(const float *x, const float *p, float *y, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        y[i] = kern_powf(x[i], p[i]);
}

/* trigonometric and hyperbolic (mathf.c) */
void shim_sinf(const float *x, float *y, size_t n) { map(kern_sinf, x, y, n); }
void shim_cosf(const float *x, float *y, size_t n) { map(kern_cosf, x, y, n); }
void shim_tanf(const float *x, float *y, size_t n) { map(kern_tanf, x, y, n); }
void shim_asinf(const float *x, float *y, size_t n) { map(kern_asinf, x, y, n); }
void shim_acosf(const float *x, float *y, size_t n) { map(kern_acosf, x, y, n); }
void shim_atanf(const float *x, float *y, size_t n) { map(kern_atanf, x, y, n); }
void shim_sinhf(const float *x, float *y, size_t n) { map(kern_sinhf, x, y, n); }
void shim_coshf(const float *x, float *y, size_t n) { map(kern_coshf, x, y, n); }
void shim_asinhf(const float *x, float *y, size_t n) { map(kern_asinhf, x, y, n); }
void shim_acoshf(const float *x, float *y, size_t n) { map(kern_acoshf, x, y, n); }
void shim_atanhf(const float *x, float *y, size_t n) { map(kern_atanhf, x, y, n); }
