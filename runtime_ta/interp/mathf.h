/*
 * mathf.h - the float32 elementary functions the kernels need, without libm.
 *
 * Each is evaluated in double and rounded once: the max relative error measured against float64 numpy
 * over dense sweeps (tests/test_kernels_mathf.py) is 0.50 float32 eps (~6e-8, i.e. correctly rounded
 * but for rare double-rounding cases) for every function.  All handle +-inf and NaN.
 */
#ifndef ONNX_TEE_MATHF_H
#define ONNX_TEE_MATHF_H

float kern_expf(float x);            /* e^x; 0 below -103.97, +inf above 88.72 */
float kern_logf(float x);            /* natural log; -inf at 0, NaN below 0 */
float kern_powf_pos(float x, float y); /* x^y for x > 0 (exp(y log x)); used by LRN */
float kern_sqrtf(float x);           /* correctly rounded up to 1 ulp; NaN below 0 */
float kern_tanhf(float x);
float kern_sigmoidf(float x);        /* 1 / (1 + e^-x), no overflow for any x */

/* Elementwise ops (Pow, Exp/Log variants, Gelu, activations, rounding; Erf is vmath.c's kern_erf_n); the accuracy of each is
 * in tests/test_kernels_mathf.py (0.5 eps + double rounding unless noted there). */
float kern_powf(float x, float y);   /* x^y with C99 Annex F special cases (negative x, zeros, infinities) */
float kern_expm1f(float x);          /* e^x - 1, accurate near 0 */
float kern_log1pf(float x);          /* log(1 + x), accurate near 0 */
float kern_floorf(float x);          /* exact, keeps the sign of zero */
float kern_ceilf(float x);
float kern_rintf(float x);           /* round half to even */
float kern_geluf(float x);           /* x (1 + erf(x / sqrt 2)) / 2 */
float kern_gelu_tanhf(float x);      /* x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2 */
float kern_softplusf(float x);       /* log(1 + e^x), no overflow */
float kern_mishf(float x);           /* x tanh(softplus(x)) */
float kern_softsignf(float x);       /* x / (1 + |x|) */

/* Trigonometric and hyperbolic functions and their inverses (tests/test_kernels_mathf_trig.py):
 * sin, cos, tan reduce any finite float exactly (Payne-Hanek); NaN outside each domain. */
float kern_sinf(float x);
float kern_cosf(float x);
float kern_tanf(float x);
float kern_asinf(float x);           /* [-1, 1] */
float kern_acosf(float x);           /* [-1, 1] */
float kern_atanf(float x);
float kern_sinhf(float x);
float kern_coshf(float x);
float kern_asinhf(float x);
float kern_acoshf(float x);          /* [1, inf) */
float kern_atanhf(float x);          /* [-1, 1]; +-inf at +-1 */

#endif
