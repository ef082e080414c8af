"""Kernels reject inconsistent shapes and attributes with a status, before touching any buffer.

Buffers are NULL in most calls below: a kernel that read or wrote before validating would crash.
"""
import ctypes

import numpy as np

from kernel_harness import MAX_RANK, ConvGeom, GemmAttr, ResizeAttr, kernels, shape_struct

OK, EINVAL, EOVERFLOW, ESCRATCH = 0, 1, 2, 3
BIG = 2**62
ref = ctypes.byref


def conv_geom(**over):
    g = dict(batch=1, c_in=4, h_in=8, w_in=8, c_out=4, h_out=8, w_out=8, kernel_h=3, kernel_w=3, stride_h=1,
             stride_w=1, dilation_h=1, dilation_w=1, pad_top=1, pad_left=1, pad_bottom=1, pad_right=1, group=1)
    g.update(over)
    return ConvGeom(**g)


def test_conv_rejects_bad_geometry():
    lib = kernels()
    for bad in (dict(h_out=7), dict(w_out=9), dict(group=3), dict(group=0), dict(stride_h=0), dict(kernel_w=0),
                dict(dilation_h=0), dict(h_in=1, pad_top=0, pad_bottom=0, h_out=1)):
        assert lib.kern_conv(ref(conv_geom(**bad)), None, None, None, None, None, 1 << 20) == EINVAL, bad
    assert lib.kern_conv(ref(conv_geom(batch=BIG, c_in=BIG)), None, None, None, None, None, 1 << 20) == EOVERFLOW
    need = lib.kern_scratch_bytes_conv(ref(conv_geom()))
    assert need > 0
    assert lib.kern_conv(ref(conv_geom()), None, None, None, None, None, need - 1) == ESCRATCH


def test_conv_transpose_and_pool_reject_bad_geometry():
    lib = kernels()
    assert lib.kern_conv_transpose(ref(conv_geom(h_out=3)), None, None, None, None, None, 0) == EINVAL
    assert lib.kern_conv_transpose(ref(conv_geom(stride_w=0)), None, None, None, None, None, 0) == EINVAL
    assert lib.kern_pool(0, 0, ref(conv_geom(kernel_h=0)), None, None) == EINVAL
    assert lib.kern_pool(7, 0, ref(conv_geom()), None, None) == EINVAL
    assert lib.kern_pool(0, 0, ref(conv_geom(batch=BIG, c_in=BIG)), None, None) == EOVERFLOW


def test_gemm_and_matmul_reject_bad_shapes():
    lib = kernels()
    attr = GemmAttr(64, 64, 64, 0, 1, 1.0, 1.0, 0, 1)
    assert lib.kern_gemm(ref(attr), None, None, None, None, None, 0) == ESCRATCH
    assert lib.kern_gemm(ref(GemmAttr(BIG, BIG, 1, 0, 0, 1.0, 1.0, 0, 1)), None, None, None, None, None, 0) == EOVERFLOW
    c = np.zeros(16, np.float32)
    assert lib.kern_gemm(ref(GemmAttr(4, 4, 4, 0, 0, 1.0, 1.0, 5, 1)), None, None, c.ctypes.data, None, None, 0) == EINVAL
    s = shape_struct
    assert lib.kern_matmul(ref(s((2, 3))), None, ref(s((4, 5))), None, ref(s((2, 5))), None) == EINVAL
    assert lib.kern_matmul(ref(s((2, 2, 3))), None, ref(s((3, 3, 5))), None, ref(s((2, 2, 5))), None) == EINVAL
    assert lib.kern_matmul(ref(s((2, 3))), None, ref(s((3, 5))), None, ref(s((2, 4))), None) == EINVAL


def test_binary_and_movement_reject_bad_shapes():
    lib = kernels()
    s = shape_struct
    assert lib.kern_binary(0, ref(s((3,))), None, ref(s((4,))), None, ref(s((4,))), None) == EINVAL
    assert lib.kern_binary(0, ref(s((2, 3))), None, ref(s((3,))), None, ref(s((3,))), None) == EINVAL
    assert lib.kern_concat_part(2, 3, 4, 5, 3, None, None) == EINVAL
    assert lib.kern_split_part(BIG, 1, BIG, 2, 0, None, None) == EOVERFLOW
    pd = ctypes.c_ssize_t * MAX_RANK
    for start, step, out in (((5, 0), (1, 1), (1, 2)), ((0, 0), (0, 1), (1, 2)), ((0, 0), (1, 2), (1, 3)),
                             ((0, 1), (1, -1), (1, 3))):
        assert lib.kern_slice(ref(s((4, 4))), None, ref(s(out)), pd(*start), pd(*step), None) == EINVAL
    perm = ctypes.c_size_t * MAX_RANK
    assert lib.kern_transpose(ref(s((2, 3))), None, perm(0, 0), None) == EINVAL
    assert lib.kern_transpose(ref(s((2, 3))), None, perm(0, 2), None) == EINVAL
    assert lib.kern_pad(0, ref(s((2, 3))), None, pd(1, 0), pd(0, 0), 0.0, ref(s((2, 3))), None) == EINVAL
    assert lib.kern_pad(5, ref(s((2, 3))), None, pd(0, 0), pd(0, 0), 0.0, ref(s((2, 3))), None) == EINVAL
    attr = ResizeAttr(0, 0, 0, (ctypes.c_float * MAX_RANK)(1, 0, 1, 1, 1, 1))
    assert lib.kern_resize(ref(attr), ref(s((1, 2))), None, ref(s((1, 2))), None) == EINVAL
    assert lib.kern_resize(ref(ResizeAttr(9, 0, 0)), ref(s((1, 2))), None, ref(s((1, 2))), None) == EINVAL


def test_zero_sized_tensors_touch_nothing():
    lib = kernels()
    s = shape_struct
    pd = ctypes.c_ssize_t * MAX_RANK
    assert lib.kern_binary(0, ref(s((0, 3))), None, ref(s((3,))), None, ref(s((0, 3))), None) == OK
    assert lib.kern_slice(ref(s((4, 4))), None, ref(s((0, 4))), pd(9, 9), pd(1, 1), None) == OK
    y = np.zeros(0, np.float32)
    assert lib.kern_softmax(0, 5, 1, None, y.ctypes.data) == OK


def test_quantized_kernels_reject_bad_arguments():
    """Types, parameter counts, K past KERN_QK_MAX, geometry, scratch: a status before any buffer access."""
    from kernel_harness_quant import QConvAttr, QMatMulAttr
    lib = kernels()
    s = shape_struct
    u8, i8, i32 = 2, 3, 6
    conv = (None,) * 11   # x, x_zp, w, w_zp, bias, the scales, y_zp, y, scratch
    assert lib.kern_qconv(ref(conv_geom()), ref(QConvAttr(1, i8, u8, 1, 1)), *conv, 1 << 20) == EINVAL  # float x
    assert lib.kern_qconv(ref(conv_geom()), ref(QConvAttr(u8, i8, 7, 1, 1)), *conv, 1 << 20) == EINVAL  # y type
    assert lib.kern_qconv(ref(conv_geom()), ref(QConvAttr(u8, i8, u8, 3, 1)), *conv, 1 << 20) == EINVAL  # w_zp count
    assert lib.kern_qconv(ref(conv_geom()), ref(QConvAttr(u8, i8, u8, 1, 2)), *conv, 1 << 20) == EINVAL  # w_scale count
    assert lib.kern_qconv(ref(conv_geom(h_out=7)), ref(QConvAttr(u8, i8, i32, 1, 1)), *conv, 1 << 20) == EINVAL
    wide = conv_geom(c_in=4096)   # K = 4096 * 9 > KERN_QK_MAX
    assert lib.kern_qconv(ref(wide), ref(QConvAttr(u8, i8, i32, 1, 1)), *conv, 1 << 30) == EINVAL
    need = lib.kern_scratch_bytes_qconv(ref(conv_geom()), ref(QConvAttr(u8, i8, u8, 1, 1)))
    assert need > 0
    assert lib.kern_qconv(ref(conv_geom()), ref(QConvAttr(u8, i8, u8, 1, 1)), *conv, need - 1) == ESCRATCH
    mm = QMatMulAttr(u8, i8, u8, 1, 1)
    assert lib.kern_qmatmul(ref(mm), ref(s((2, 3))), None, None, ref(s((4, 5))), None, None, None, None, None, None,
                            ref(s((2, 5))), None, None, 1 << 20) == EINVAL
    assert lib.kern_qmatmul(ref(QMatMulAttr(u8, i8, u8, 4, 1)), ref(s((2, 3))), None, None, ref(s((3, 5))), None,
                            None, None, None, None, None, ref(s((2, 5))), None, None, 1 << 20) == EINVAL
    assert lib.kern_qmatmul(ref(mm), ref(s((2, 40000))), None, None, ref(s((40000, 5))), None, None, None, None, None,
                            None, ref(s((2, 5))), None, None, 1 << 20) == EINVAL
    assert lib.kern_qmatmul(ref(QMatMulAttr(u8, i8, u8, 1, 5)), ref(s((2, 3))), None, None, ref(s((3, 5))), None,
                            None, None, None, None, None, ref(s((2, 5))), None, None, 39) == ESCRATCH
    assert lib.kern_quantize(i32, 1, 1, 4, None, None, None, None) == EINVAL
    assert lib.kern_dequantize(1, 1, 1, 4, None, None, None, None) == EINVAL
    assert lib.kern_quantize(u8, BIG, BIG, 2, None, None, None, None) == EOVERFLOW
    assert lib.kern_dynamic_quantize(0, None, None, None, None) == EINVAL
