/*
 * cast.c - Cast between the types the TA holds (float32, int32, int8, uint8; bool as int32 0/1), as
 * onnxruntime computes it on x86-64 (ONNX leaves out-of-range conversions undefined):
 *
 *   float -> integer   t = trunc(x) (toward zero) when -2^31 <= trunc(x) < 2^31, else INT32_MIN (NaN and
 *                      +-inf too: the x86 "integer indefinite" of cvttss2si), then narrowed like an integer
 *   integer -> narrower integer   the low bits, two's complement (int32 300 -> uint8 44, int8 44)
 *   integer -> float   the nearest float32 (round half to even: 2^24 + 1 -> 2^24)
 *   anything -> bool   x != 0 as 1 / 0 (NaN: 1)
 *
 * One pass over the elements; y may equal x when both types have one size.
 */
#include "internal.h"

#define INT32_MIN_VALUE (-2147483647 - 1)

/* trunc(v) as int32, INT32_MIN outside [-2^31, 2^31) and for NaN. -2147483904 is the float below -2^31. */
static int32_t float_to_int32(float v)
{
    if (!(v > -2147483904.0f && v < 2147483648.0f))
        return INT32_MIN_VALUE;
    return (int32_t)v;
}

/* The low 8 bits of v as int8 (two's complement), without implementation-defined conversions. */
static int8_t low_int8(int32_t v)
{
    const int32_t u = (int32_t)((uint32_t)v & 0xffu);
    return (int8_t)(u >= 128 ? u - 256 : u);
}

/* Element i of x as int32 (float: float_to_int32), or as float for a float target. */
static int32_t load_int(kern_cast_type type, const void *x, size_t i)
{
    switch (type) {
    case KERN_CAST_F32: return float_to_int32(((const float *)x)[i]);
    case KERN_CAST_U8: return ((const uint8_t *)x)[i];
    case KERN_CAST_I8: return ((const int8_t *)x)[i];
    default: return ((const int32_t *)x)[i]; /* KERN_CAST_I32, KERN_CAST_BOOL */
    }
}

static int nonzero(kern_cast_type type, const void *x, size_t i)
{
    return type == KERN_CAST_F32 ? ((const float *)x)[i] != 0.0f : load_int(type, x, i) != 0;
}

kern_status kern_cast(kern_cast_type from, kern_cast_type to, size_t n, const void *x, void *y)
{
    size_t i;
    if (from > KERN_CAST_BOOL || to > KERN_CAST_BOOL || (n > 0 && (x == NULL || y == NULL)))
        return KERN_EINVAL;
    switch (to) {
    case KERN_CAST_F32:
        for (i = 0; i < n; i++)
            ((float *)y)[i] = from == KERN_CAST_F32 ? ((const float *)x)[i] : (float)load_int(from, x, i);
        break;
    case KERN_CAST_I32:
        for (i = 0; i < n; i++)
            ((int32_t *)y)[i] = load_int(from, x, i);
        break;
    case KERN_CAST_U8:
        for (i = 0; i < n; i++)
            ((uint8_t *)y)[i] = (uint8_t)((uint32_t)load_int(from, x, i) & 0xffu);
        break;
    case KERN_CAST_I8:
        for (i = 0; i < n; i++)
            ((int8_t *)y)[i] = low_int8(load_int(from, x, i));
        break;
    default: /* KERN_CAST_BOOL */
        for (i = 0; i < n; i++)
            ((int32_t *)y)[i] = nonzero(from, x, i);
        break;
    }
    return KERN_OK;
}
