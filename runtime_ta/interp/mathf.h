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

#endif
