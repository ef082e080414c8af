"""The quantized ops through the C kernels (kernels/quant.c, qconv.c, qmatmul.c, qrecurrent.c), the way the
interpreter calls them: registered into kernel_harness's OPS and SIGNATURES when it is imported.

Zero points and scales are passed as their own arrays (NULL when absent: 0), each output and the
scratch in guarded buffers of their own type; the scratch is exactly what the Python formula
(passes/target/scratch.py) grants, checked equal to the C twin.  Kernels and pointers go through
`kh.kernels()` and `kh._ptr` at call time, so that the AArch64 runner can stand in for them.
"""
from __future__ import annotations

import ctypes

import numpy as np
from onnx import helper

import kernel_harness as kh
from kernel_harness import Guarded, Unsupported, _check, _geometry, _input, _out_shape
from onnx_tee.passes.target import kernel_args as ka
from onnx_tee.passes.target.scratch import dqlstm_scratch_bytes, qconv_scratch_bytes, qmatmul_scratch_bytes

QTYPES = {np.dtype(np.uint8): 2, np.dtype(np.int8): 3, np.dtype(np.int32): 6}   # kern_qtype: the ONNX codes
BYTES = (np.dtype(np.uint8), np.dtype(np.int8))


class QConvAttr(ctypes.Structure):
    _fields_ = [("x_type", ctypes.c_int), ("w_type", ctypes.c_int), ("y_type", ctypes.c_int),
                ("w_zp_count", ctypes.c_size_t), ("w_scale_count", ctypes.c_size_t)]


class QMatMulAttr(ctypes.Structure):
    _fields_ = [("a_type", ctypes.c_int), ("b_type", ctypes.c_int), ("y_type", ctypes.c_int),
                ("b_zp_count", ctypes.c_size_t), ("b_scale_count", ctypes.c_size_t)]


class DqLstmAttr(ctypes.Structure):
    _fields_ = [("w_type", ctypes.c_int), ("r_type", ctypes.c_int), ("w_scale_count", ctypes.c_size_t),
                ("r_scale_count", ctypes.c_size_t)]


P, SZ, INT = kh.P, kh.SZ, ctypes.c_int
kh.SIGNATURES.update({
    "kern_quantize": (INT, SZ, SZ, SZ, P, P, P, P),
    "kern_dequantize": (INT, SZ, SZ, SZ, P, P, P, P),
    "kern_dynamic_quantize": (SZ, P, P, P, P),
    "kern_qconv": (P,) * 13 + (SZ,),
    "kern_scratch_bytes_qconv": (P, P),
    "kern_qmatmul": (P,) * 14 + (SZ,),
    "kern_scratch_bytes_qmatmul": (P,),
    "kern_max_pool_q": (INT, P, P, P),
    "kern_dqlstm": (P,) * 17 + (SZ,),
    "kern_scratch_bytes_dqlstm": (P,),
})


def _array(a, dtypes, what: str) -> np.ndarray | None:
    """`a` as a C-contiguous array of one of `dtypes` (None stays None); Unsupported otherwise."""
    if a is None:
        return None
    a = np.ascontiguousarray(a)
    if a.dtype not in [np.dtype(d) for d in dtypes]:
        raise Unsupported(f"{what} of dtype {a.dtype}")
    return a


def _param(a, count: int, dtypes, what: str) -> np.ndarray | None:
    """A scale or zero point: None, or a scalar / 1-D array of 1 or `count` values."""
    a = _array(a, dtypes, what)
    if a is not None and (a.ndim > 1 or a.size not in (1, count)):
        raise Unsupported(f"{what} of shape {a.shape} (1 or {count} values)")
    return a


def linear_view(shape, scale: np.ndarray, axis: int) -> tuple[int, int, int]:
    """[outer, channels, inner] of x around the scale's axis (one channel for a one-value scale)."""
    if scale.size == 1:
        return 1, 1, int(np.prod(shape, dtype=np.int64))
    return ka.axis_view(shape, axis % len(shape))


def _linear(node, at, inputs, opset):
    """QuantizeLinear and DequantizeLinear (per tensor or per axis)."""
    if at.get("block_size", 0):
        raise Unsupported("blocked quantization (block_size)")
    quantize = node.op_type == "QuantizeLinear"
    x = _array(inputs[0], (np.float32,) if quantize else (np.uint8, np.int8, np.int32), "x")
    scale = _array(inputs[1], (np.float32,), "scale")
    if scale.ndim > 1 or (scale.size > 1 and scale.size != x.shape[at.get("axis", 1) % x.ndim]):
        raise Unsupported(f"scale of shape {scale.shape} for x {x.shape}")
    zp = _param(_input(inputs, 2), scale.size, (np.uint8, np.int8, np.int32), "zero point")
    outer, channels, inner = linear_view(x.shape, scale, at.get("axis", 1))
    if not quantize:
        if zp is not None and zp.dtype != x.dtype:
            raise Unsupported("zero point and x of different types")
        y = Guarded(x.shape)
        _check(kh.kernels().kern_dequantize(QTYPES[x.dtype], outer, channels, inner, *map(kh._ptr, (x, scale, zp)),
                                            y.ptr), node.op_type)
        return [y.result(node.op_type)]
    y_dtype = zp.dtype if zp is not None else np.dtype(helper.tensor_dtype_to_np_dtype(at.get("output_dtype", 2)))
    if y_dtype not in BYTES:
        raise Unsupported(f"output of dtype {y_dtype}")
    y = Guarded(x.shape, dtype=y_dtype)
    _check(kh.kernels().kern_quantize(QTYPES[y_dtype], outer, channels, inner, *map(kh._ptr, (x, scale, zp)), y.ptr),
           node.op_type)
    return [y.result(node.op_type)]


def _dynamic_quantize(node, at, inputs, opset):
    x = _array(inputs[0], (np.float32,), "x")
    y, scale, zp = Guarded(x.shape, dtype=np.uint8), Guarded(()), Guarded((), dtype=np.uint8)
    _check(kh.kernels().kern_dynamic_quantize(x.size, kh._ptr(x), y.ptr, scale.ptr, zp.ptr), node.op_type)
    return [y.result("y"), scale.result("y_scale"), zp.result("y_zero_point")]


def _qconv(node, at, inputs, opset):
    """QLinearConv (x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, [B]) and ConvInteger (x, w, [x_zp], [w_zp])."""
    linear = node.op_type == "QLinearConv"
    x = _array(inputs[0], BYTES, "x")
    w = _array(inputs[3 if linear else 1], BYTES, "w")
    g, geom = _geometry(node, inputs)
    x_zp = _param(_input(inputs, 2), 1, (x.dtype,), "x zero point")
    w_zp = _param(_input(inputs, 5 if linear else 3), g.c_out, (w.dtype,), "w zero point")
    scales = [_param(_input(inputs, k), n, (np.float32,), "scale") for k, n in ((1, 1), (4, g.c_out), (6, 1))] \
        if linear else [None] * 3
    y_zp = _param(_input(inputs, 7), 1, BYTES, "y zero point") if linear else None
    bias = _array(_input(inputs, 8), (np.int32,), "bias")
    y_dtype = y_zp.dtype if linear else np.dtype(np.int32)
    q = QConvAttr(QTYPES[x.dtype], QTYPES[w.dtype], QTYPES[y_dtype], 1 if w_zp is None else w_zp.size,
                  scales[1].size if linear else 1)
    need = qconv_scratch_bytes(g, linear)
    assert kh.kernels().kern_scratch_bytes_qconv(ctypes.byref(geom), ctypes.byref(q)) == need, \
        "C and Python scratch formulas differ"
    scratch, y = Guarded(need, dtype=np.uint8), Guarded(_out_shape(x, g), dtype=y_dtype)
    _check(kh.kernels().kern_qconv(ctypes.byref(geom), ctypes.byref(q), *map(kh._ptr, (x, x_zp, w, w_zp, bias, *scales,
                                                                                      y_zp)),
                                   y.ptr, scratch.ptr, need), node.op_type)
    scratch.result(node.op_type + " scratch")
    return [y.result(node.op_type)]


def _qmatmul(node, at, inputs, opset):
    """QLinearMatMul (a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp) and MatMulInteger (a, b, [a_zp], [b_zp])."""
    linear = node.op_type == "QLinearMatMul"
    a = _array(inputs[0], BYTES, "a")
    b = _array(inputs[3 if linear else 1], BYTES, "b")
    columns = b.shape[-1] if b.ndim >= 2 else 1
    a_zp = _param(_input(inputs, 2), 1, (a.dtype,), "a zero point (per-row: unsupported)")
    b_zp = _param(_input(inputs, 5 if linear else 3), columns, (b.dtype,), "b zero point")
    scales = [_param(_input(inputs, k), n, (np.float32,), "scale") for k, n in ((1, 1), (4, columns), (6, 1))] \
        if linear else [None] * 3
    y_zp = _param(_input(inputs, 7), 1, BYTES, "y zero point") if linear else None
    y_dtype = y_zp.dtype if linear else np.dtype(np.int32)
    out_shape = np.matmul(np.zeros(a.shape, np.float32), np.zeros(b.shape, np.float32)).shape
    q = QMatMulAttr(QTYPES[a.dtype], QTYPES[b.dtype], QTYPES[y_dtype], 1 if b_zp is None else b_zp.size,
                    scales[1].size if linear else 1)
    need = qmatmul_scratch_bytes(q.b_scale_count, linear)
    assert kh.kernels().kern_scratch_bytes_qmatmul(ctypes.byref(q)) == need, "C and Python scratch formulas differ"
    scratch, y = Guarded(need, dtype=np.uint8), Guarded(out_shape, dtype=y_dtype)
    ptr = kh._ptr
    _check(kh.kernels().kern_qmatmul(ctypes.byref(q), ctypes.byref(kh.shape_struct(a.shape)), ptr(a), ptr(a_zp),
                                     ctypes.byref(kh.shape_struct(b.shape)), ptr(b), ptr(b_zp), *map(ptr, scales),
                                     ptr(y_zp), ctypes.byref(kh.shape_struct(out_shape)), y.ptr, scratch.ptr, need),
           node.op_type)
    scratch.result(node.op_type + " scratch")
    return [y.result(node.op_type)]


def _max_pool(node, at, inputs, opset):
    """MaxPool: float32 through kernel_harness's pools, int8 / uint8 through kern_max_pool_q."""
    x = np.ascontiguousarray(inputs[0])
    if x.dtype == np.float32:
        return kh._pool(node, at, inputs, opset)
    x = _array(x, BYTES, "x")
    if (len(node.output) > 1 and node.output[1]) or at.get("storage_order", 0):
        raise Unsupported("MaxPool Indices output / storage_order")
    g, geom = _geometry(node, inputs)
    y = Guarded(_out_shape(x, g), dtype=x.dtype)
    _check(kh.kernels().kern_max_pool_q(QTYPES[x.dtype], ctypes.byref(geom), kh._ptr(x), y.ptr), node.op_type)
    return [y.result(node.op_type)]


def _dqlstm(node, at, inputs, opset):
    """onnxruntime's DynamicQuantizeLSTM (x, w, r, [b], [sequence_lens], [h0], [c0], [p], w_scale, w_zp,
    r_scale, r_zp): batch 1, full-length sequences."""
    x = kh._f32(inputs[0])
    w, r = _array(inputs[1], BYTES, "W"), _array(inputs[2], BYTES, "R")
    if _input(inputs, 4) is not None and not np.all(np.asarray(inputs[4]) == x.shape[0]):
        raise Unsupported("sequence_lens shorter than the sequence")
    floats = [None if _input(inputs, k) is None else kh._f32(inputs[k]) for k in (3, 5, 6, 7, 8, 10)]
    w_zp, r_zp = _array(inputs[9], (w.dtype,), "W zero point"), _array(inputs[11], (r.dtype,), "R zero point")
    attr = kh.rnn_attr(helper.make_node("LSTM", node.input, node.output), at, x.shape, w.shape[:1] + w.shape[2:])
    d, h = attr.num_directions, attr.hidden_size
    q = DqLstmAttr(QTYPES[w.dtype], QTYPES[r.dtype], floats[4].size // d, floats[5].size // d)
    need = kh.kernels().kern_scratch_bytes_dqlstm(ctypes.byref(attr))
    assert need == dqlstm_scratch_bytes(attr.seq_len, attr.input_size, h), "C and Python scratch formulas differ"
    shapes = [(attr.seq_len, d, 1, h), (d, 1, h), (d, 1, h)]
    outs = [Guarded(shape) if k < len(node.output) and node.output[k] else None for k, shape in enumerate(shapes)]
    scratch = Guarded(need, dtype=np.uint8)
    ptr = kh._ptr
    _check(kh.kernels().kern_dqlstm(ctypes.byref(attr), ctypes.byref(q), ptr(x), ptr(w), ptr(r), ptr(floats[0]),
                                    ptr(floats[1]), ptr(floats[2]), ptr(floats[3]), ptr(floats[4]), ptr(w_zp),
                                    ptr(floats[5]), ptr(r_zp), *[None if o is None else o.ptr for o in outs],
                                    scratch.ptr, need), node.op_type)
    scratch.result(node.op_type + " scratch")
    return [None if o is None else o.result(node.op_type) for o in outs[:len(node.output)]]


QUANT_OPS = {"MaxPool": _max_pool,"QuantizeLinear": _linear, "DequantizeLinear": _linear, "DynamicQuantizeLinear": _dynamic_quantize,
             "QLinearConv": _qconv, "ConvInteger": _qconv, "QLinearMatMul": _qmatmul, "MatMulInteger": _qmatmul,
             "DynamicQuantizeLSTM": _dqlstm}
kh.CONTRIB_OPS.add(("com.microsoft", "DynamicQuantizeLSTM"))
kh.OPS.update(QUANT_OPS)
kh.TYPED.update(QUANT_OPS)
