"""Run single ONNX nodes through the C kernels (ctypes), the way the interpreter calls them.

`kernels()` compiles runtime_ta/interp/mathf.c, runtime_ta/interp/kernels/*.c and tests/c/kernel_shim.c
into a shared library in the temp dir (keyed by a hash of the sources and flags, rebuilt when they
change).  `run_node(node, inputs, opset)` resolves the node's attributes with the project's own
resolvers (passes/analysis/spatial.py, passes/target/kernel_args.py, scratch.py), calls the kernel with exactly
the scratch the formula grants and checks guard zones after the scratch and every output, so a
kernel writing out of bounds fails the test.  Ops or attributes the kernels do not support raise
`Unsupported(reason)`.
"""
from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import onnx
from onnx import helper

from onnx_tee.passes.target import kernel_args as ka  # noqa: E402
from onnx_tee.passes.target.scratch import conv_scratch_bytes, conv_transpose_scratch_bytes, gemm_scratch_bytes  # noqa: E402
from onnx_tee.passes.analysis.shapes import TensorInfo  # noqa: E402
from onnx_tee.passes.analysis.spatial import window_geometry  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
INTERP = ROOT / "runtime_ta" / "interp"
CFLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared",
          *os.environ.get("ONNX_TEE_KERNEL_CFLAGS", "").split())  # e.g. sanitizers, see test_kernels_sanitized
MAX_RANK = 6
GUARD = 64  # guard cells (of the buffer's type) after scratch and outputs
GUARD_VALUE = np.float32(-7.25e13)
GUARD_VALUES = {np.dtype(np.float32): GUARD_VALUE, np.dtype(np.int32): np.int32(-0x5A5A5A5B),  # 0xA5A5A5A5
                np.dtype(np.int8): np.int8(-0x5B), np.dtype(np.uint8): np.uint8(0xA5)}


def sources(root: Path = ROOT) -> list[Path]:
    """The kernel sources and the shim of the tree at `root` (this checkout by default)."""
    interp = root / "runtime_ta" / "interp"
    return [interp / "mathf.c", *sorted((interp / "kernels").glob("*.c")), root / "tests" / "c" / "kernel_shim.c"]


def build_library(out: Path, cc: str = "cc", flags: Sequence[str] = CFLAGS, root: Path = ROOT) -> Path:
    """Compile the kernels + shim of the tree at `root` into the shared library `out`."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")
    subprocess.run([cc, *flags, f"-I{root / 'runtime_ta' / 'interp'}", *map(str, sources(root)), "-o", str(tmp)],
                   check=True, capture_output=True, text=True)
    os.replace(tmp, out)
    return out


class KernShape(ctypes.Structure):
    _fields_ = [("rank", ctypes.c_size_t), ("dim", ctypes.c_size_t * MAX_RANK)]


class ConvGeom(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "batch", "c_in", "h_in", "w_in", "c_out", "h_out", "w_out", "kernel_h", "kernel_w", "stride_h", "stride_w",
        "dilation_h", "dilation_w", "pad_top", "pad_left", "pad_bottom", "pad_right", "group")]


class UnaryAttr(ctypes.Structure):
    _fields_ = [("op", ctypes.c_int), ("alpha", ctypes.c_float), ("beta", ctypes.c_float)]


class LrnAttr(ctypes.Structure):
    _fields_ = [("size", ctypes.c_size_t), ("alpha", ctypes.c_float), ("beta", ctypes.c_float),
                ("bias", ctypes.c_float)]


class GemmAttr(ctypes.Structure):
    _fields_ = [("m", ctypes.c_size_t), ("n", ctypes.c_size_t), ("k", ctypes.c_size_t), ("trans_a", ctypes.c_int),
                ("trans_b", ctypes.c_int), ("alpha", ctypes.c_float), ("beta", ctypes.c_float),
                ("c_stride_m", ctypes.c_size_t), ("c_stride_n", ctypes.c_size_t)]


class RnnAttr(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("seq_len", ctypes.c_size_t), ("batch", ctypes.c_size_t),
                ("input_size", ctypes.c_size_t), ("hidden_size", ctypes.c_size_t), ("num_directions", ctypes.c_size_t),
                ("reverse", ctypes.c_int), ("layout", ctypes.c_int), ("linear_before_reset", ctypes.c_int),
                ("clip", ctypes.c_float)]


class ResizeAttr(ctypes.Structure):
    _fields_ = [("mode", ctypes.c_int), ("coord", ctypes.c_int), ("nearest", ctypes.c_int),
                ("scale", ctypes.c_float * MAX_RANK), ("cubic_a", ctypes.c_float), ("exclude_outside", ctypes.c_int)]


# enum values, in kernels.h order
TRIG = ("Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh")  # KERN_SIN ..
UNARY = {"Relu": 0, "LeakyRelu": 1, "Clip": 2, "Sigmoid": 3, "HardSigmoid": 4, "HardSwish": 5, "Tanh": 6,
         "Identity": 7, "QuickGelu": 61,
         # elementwise math (kernels/math.c)
         "Sqrt": 32, "Reciprocal": 33, "Exp": 34, "Log": 35, "Abs": 36, "Neg": 37, "Floor": 38, "Ceil": 39,
         "Round": 40, "Erf": 41, "Gelu": 42, "GeluTanh": 43, "Softplus": 44, "Softsign": 45, "Elu": 46, "Selu": 46,
         "Celu": 47, "Mish": 48, "ThresholdedRelu": 49,
         **{op: 50 + k for k, op in enumerate(TRIG)}}
BINARY = {"Add": 0, "Sub": 1, "Mul": 2, "Div": 3, "Pow": 16, "Max": 17, "Min": 18, "PRelu": 19}
SELU_ALPHA, SELU_GAMMA = 1.67326319217681884765625, 1.05070102214813232421875
POOL_MAX, POOL_AVG = 0, 1
PAD_MODES = {"constant": 0, "reflect": 1, "edge": 2}
COORD_MODES = {"half_pixel": 0, "pytorch_half_pixel": 1, "align_corners": 2, "asymmetric": 3,
               "half_pixel_symmetric": 4}
NEAREST_MODES = {"round_prefer_floor": 0, "round_prefer_ceil": 1, "floor": 2, "ceil": 3}
STATUS = {0: "KERN_OK", 1: "KERN_EINVAL", 2: "KERN_EOVERFLOW", 3: "KERN_ESCRATCH", 4: "KERN_EINDEX"}

P = ctypes.c_void_p
SZ = ctypes.c_size_t
SIGNATURES: dict[str, tuple] = {
    "kern_unary": (P, P, P, SZ),
    "kern_binary": (ctypes.c_int, P, P, P, P, P, P),
    "kern_softmax": (SZ, SZ, SZ, P, P),
    "kern_lrn": (P, SZ, SZ, SZ, P, P),
    "kern_batchnorm": (SZ, SZ, SZ, ctypes.c_float, P, P, P, P, P, P),
    "kern_conv": (P, P, P, P, P, P, SZ),
    "kern_conv_act": (P, P, P, P, P, P, P, SZ),
    "kern_scratch_bytes_conv": (P,),
    "kern_conv_wt_act": (P, P, P, P, P, P, P, SZ),
    "kern_conv_wt_ok": (P,),
    "kern_conv_transpose": (P, P, P, P, P, P, SZ),
    "kern_scratch_bytes_conv_transpose": (P,),
    "kern_gemm": (P, P, P, P, P, P, SZ),
    "kern_scratch_bytes_gemm": (P,),
    "kern_matmul": (P, P, P, P, P, P),
    "kern_pool": (ctypes.c_int, ctypes.c_int, P, P, P),
    "kern_global_pool": (ctypes.c_int, SZ, SZ, P, P),
    "kern_concat_part": (SZ, SZ, SZ, SZ, SZ, P, P),
    "kern_split_part": (SZ, SZ, SZ, SZ, SZ, P, P),
    "kern_slice": (P, P, P, P, P, P),
    "kern_transpose": (P, P, P, P),
    "kern_pad": (ctypes.c_int, P, P, P, P, ctypes.c_float, P, P),
    "kern_resize": (P, P, P, P, P),
    "kern_tile": (P, P, P, P),
    "kern_gather": (SZ, SZ, SZ, P, P, SZ, P),
    "kern_gather_elements": (P, P, P, P, SZ, P),
    "kern_rnn": (P, P, P, P, P, P, P, P, P, P, P, P, SZ),
    "kern_scratch_bytes_rnn": (P,),
}


MATH_SHIMS = tuple(f"shim_{f}" for f in ("expm1f", "log1pf", "floorf", "ceilf", "rintf", "geluf",
                                          "gelu_tanhf", "softplusf", "mishf", "softsignf"))
TRIG_SHIMS = tuple(f"shim_{op.lower()}f" for op in TRIG)


_LIBRARY: list[ctypes.CDLL] = []   # using(): the library kernels() returns instead of this checkout's


def kernels() -> ctypes.CDLL:
    """The compiled kernel library: this checkout's (built once per source version), or the one a
    `using` block names."""
    return _LIBRARY[-1] if _LIBRARY else _own_kernels()


@contextlib.contextmanager
def using(lib: ctypes.CDLL):
    """Run the kernel calls of the block on `lib` (e.g. kernel_baseline.baseline_kernels())."""
    _LIBRARY.append(lib)
    try:
        yield lib
    finally:
        _LIBRARY.pop()


def flags_digest() -> str:
    """A short digest of the compiler flags (libraries built with other flags live elsewhere)."""
    return hashlib.sha256(" ".join(CFLAGS).encode()).hexdigest()[:12]


@functools.cache
def _own_kernels() -> ctypes.CDLL:
    digest = hashlib.sha256(" ".join(CFLAGS).encode())
    for src in sources() + [INTERP / "kernels.h", INTERP / "mathf.h", INTERP / "kernels" / "internal.h"]:
        digest.update(src.read_bytes())
    lib_path = Path(tempfile.gettempdir()) / "onnx-tee-kernels" / digest.hexdigest()[:16] / "libkernels.so"
    if not lib_path.exists():
        build_library(lib_path)
    return load_library(lib_path)


def load_library(lib_path: Path, *, older: bool = False) -> ctypes.CDLL:
    """A kernel library with the argument and result types of every entry point set; an `older` library
    (built from an earlier commit) may lack the entry points added since, which are then left out."""
    lib = ctypes.CDLL(str(lib_path))

    def entry(name: str):
        if older and not hasattr(lib, name):
            return None
        return getattr(lib, name)

    for name, args in SIGNATURES.items():
        if (fn := entry(name)) is not None:
            fn.argtypes = list(args)
            fn.restype = ctypes.c_size_t if name.startswith("kern_scratch") else ctypes.c_int
    for name in ("shim_expf", "shim_logf", "shim_sqrtf", "shim_tanhf", "shim_sigmoidf", *MATH_SHIMS, *TRIG_SHIMS):
        if (fn := entry(name)) is not None:
            fn.argtypes, fn.restype = [P, P, SZ], None
    for name in ("shim_powf_pos", "shim_powf"):
        if (fn := entry(name)) is not None:
            fn.argtypes, fn.restype = [P, P, P, SZ], None
    return lib


class Unsupported(Exception):
    """The kernels do not implement this op / attribute combination."""


class KernelError(AssertionError):
    """A kernel returned a status other than KERN_OK."""


def _check(status: int, what: str) -> None:
    if status != 0:
        raise KernelError(f"{what} returned {STATUS.get(status, status)}")


def shape_struct(shape: Sequence[int]) -> KernShape:
    if len(shape) > MAX_RANK:
        raise Unsupported(f"rank {len(shape)} > {MAX_RANK}")
    s = KernShape()
    s.rank = len(shape)
    for i, d in enumerate(shape):
        s.dim[i] = int(d)
    return s


class Guarded:
    """A buffer of `shape` cells of `dtype` (float32 by default; `result` may read 4-byte cells as int32)
    followed by GUARD sentinel cells that must survive the call."""

    def __init__(self, shape: Sequence[int] | int, fill: float | None = None, dtype=np.float32):
        self.shape = (shape,) if isinstance(shape, int) else tuple(int(d) for d in shape)
        n = int(np.prod(self.shape, dtype=np.int64))
        dtype = np.dtype(dtype)
        self.guard = GUARD_VALUES[dtype]
        self.buf = np.full(n + GUARD, self.guard, dtype=dtype)
        self.buf[:n] = (np.float32(np.nan) if dtype == np.float32 else 0) if fill is None else fill
        self.n = n

    @property
    def ptr(self) -> int:
        return self.buf.ctypes.data

    def result(self, what: str, dtype=None) -> np.ndarray:
        if not np.all(self.buf[self.n:] == self.guard):
            raise KernelError(f"{what} wrote past the end of its buffer")
        return self.buf[:self.n].view(dtype or self.buf.dtype).reshape(self.shape).copy()


def _f32(a: np.ndarray) -> np.ndarray:
    return np.require(np.asarray(a, dtype=np.float32), requirements="C")


def _ptr(a: np.ndarray | None) -> int | None:
    return None if a is None else a.ctypes.data


def _attrs(node: onnx.NodeProto) -> dict:
    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


def _input(inputs: Sequence[np.ndarray | None], i: int) -> np.ndarray | None:
    return inputs[i] if i < len(inputs) else None


def _ints(a: np.ndarray | None) -> list[int] | None:
    return None if a is None else [int(v) for v in np.asarray(a).reshape(-1)]


# ---------------------------------------------------------------------------------------------- ops

def unary_attr(node, at, inputs, opset) -> UnaryAttr:
    """The kern_unary_attr of an activation node (inputs: its inputs, Clip's bounds included)."""
    attr = UnaryAttr(UNARY[node.op_type], 0.0, 0.0)
    if node.op_type in MATH_ATTRS:
        return MATH_ATTRS[node.op_type](attr, at)
    if node.op_type == "LeakyRelu":
        attr.alpha = at.get("alpha", 0.01)
    elif node.op_type == "HardSigmoid":
        attr.alpha, attr.beta = at.get("alpha", 0.2), at.get("beta", 0.5)
    elif node.op_type == "Clip":
        lo, hi = (at.get("min"), at.get("max")) if opset < 11 else (_input(inputs, 1), _input(inputs, 2))
        attr.alpha = float(np.float32(lo)) if lo is not None else -np.finfo(np.float32).max
        attr.beta = float(np.float32(hi)) if hi is not None else np.finfo(np.float32).max
    return attr


def _unary(node, at, inputs, opset):
    x = _f32(inputs[0])
    attr = unary_attr(node, at, inputs, opset)
    y = Guarded(x.shape)
    _check(kernels().kern_unary(ctypes.byref(attr), _ptr(x), y.ptr, x.size), node.op_type)
    return [y.result(node.op_type)]


def _binary(node, at, inputs, opset):
    if opset < 7 and at.get("broadcast", 0):
        raise Unsupported("legacy broadcast attribute (opset < 7)")
    if any(x is not None and x.dtype != np.float32 for x in inputs):
        raise Unsupported("a non-float32 input (the interpreter computes in float32 only)")
    if node.op_type in ("Sum", "Max", "Min"):
        if len(inputs) == 1:
            return [_f32(inputs[0]).copy()]
        out_shape = np.broadcast_shapes(*(i.shape for i in inputs))
        y = Guarded(out_shape)
        acc = _f32(inputs[0])
        for k, b in enumerate(inputs[1:]):
            b = _f32(b)
            a_shape, a_ptr = (acc.shape, _ptr(acc)) if k == 0 else (out_shape, y.ptr)
            _check(kernels().kern_binary(BINARY["Add" if node.op_type == "Sum" else node.op_type],
                                         ctypes.byref(shape_struct(a_shape)), a_ptr,
                                         ctypes.byref(shape_struct(b.shape)), _ptr(b),
                                         ctypes.byref(shape_struct(out_shape)), y.ptr), "Sum")
        return [y.result("Sum")]
    a, b = _f32(inputs[0]), _f32(inputs[1])
    out_shape = np.broadcast_shapes(a.shape, b.shape)
    if node.op_type == "PRelu" and out_shape != a.shape:
        raise Unsupported("PRelu slope does not broadcast to X")
    y = Guarded(out_shape)
    _check(kernels().kern_binary(BINARY[node.op_type], ctypes.byref(shape_struct(a.shape)), _ptr(a),
                                 ctypes.byref(shape_struct(b.shape)), _ptr(b), ctypes.byref(shape_struct(out_shape)),
                                 y.ptr), node.op_type)
    return [y.result(node.op_type)]


def _softmax(node, at, inputs, opset):
    x = _f32(inputs[0])
    outer, n, inner = ka.softmax_view(x.shape, at.get("axis", -1 if opset >= 13 else 1), opset)
    y = Guarded(x.shape)
    _check(kernels().kern_softmax(outer, n, inner, _ptr(x), y.ptr), "Softmax")
    return [y.result("Softmax")]


def _lrn(node, at, inputs, opset):
    x = _f32(inputs[0])
    attr = LrnAttr(at["size"], at.get("alpha", 1e-4), at.get("beta", 0.75), at.get("bias", 1.0))
    outer, c, inner = ka.axis_view(x.shape, 1)
    y = Guarded(x.shape)
    _check(kernels().kern_lrn(ctypes.byref(attr), outer, c, inner, _ptr(x), y.ptr), "LRN")
    return [y.result("LRN")]


def _batchnorm(node, at, inputs, opset):
    if at.get("training_mode", 0) or len(node.output) > 1 or (opset < 9 and at.get("spatial", 1) == 0):
        raise Unsupported("training mode / extra outputs / non-spatial BatchNormalization")
    x, scale, bias, mean, var = (_f32(i) for i in inputs[:5])
    outer, c, inner = ka.axis_view(x.shape, 1) if x.ndim > 1 else (x.shape[0], 1, 1)
    y = Guarded(x.shape)
    _check(kernels().kern_batchnorm(outer, c, inner, at.get("epsilon", 1e-5), _ptr(scale), _ptr(bias), _ptr(mean),
                                    _ptr(var), _ptr(x), y.ptr), "BatchNormalization")
    return [y.result("BatchNormalization")]


def _infos(node: onnx.NodeProto, inputs: Sequence[np.ndarray | None]) -> dict[str, TensorInfo]:
    return {name: TensorInfo(tuple(a.shape), a.dtype) for name, a in zip(node.input, inputs) if a is not None and name}


def _geometry(node, inputs):
    try:
        g = window_geometry(node, _infos(node, inputs))
    except Exception as e:  # an unsupported rank or attribute, reported by the resolver
        raise Unsupported(str(e)) from e
    return g, ConvGeom(*g.as_tuple())


def _out_shape(x: np.ndarray, g) -> tuple[int, ...]:
    spatial = (g.w_out,) if x.ndim == 3 else (g.h_out, g.w_out)
    return (g.batch, g.c_out, *spatial)


def _unrolled_3d(node, inputs, opset):
    """A 3-D Conv / MaxPool / AveragePool as lower runs it: UnrollDepth's 2-D nodes on depth slices,
    each through its kernel (the weights and bias as initializers, as the rewrite needs them)."""
    from onnx import numpy_helper
    from onnx_tee.passes.compact.unroll_depth import UnrollDepth
    x = _f32(inputs[0])
    weights = {name: _f32(a) for name, a in zip(node.input[1:], inputs[1:]) if name and a is not None}
    graph = helper.make_graph([node], "one", [helper.make_tensor_value_info(node.input[0], onnx.TensorProto.FLOAT,
                                                                              x.shape)],
                              [helper.make_tensor_value_info(node.output[0], onnx.TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(a, name) for name, a in weights.items()])
    model = UnrollDepth()(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])).model
    values = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    values[node.input[0]] = x
    for step in model.graph.node:
        outs = run_node(step, [values.get(i) if i else None for i in step.input], opset)
        values.update((name, value) for name, value in zip(step.output, outs) if name)
    return [values[node.output[0]]]


def _conv(node, at, inputs, opset):
    if np.ndim(inputs[0]) == 5 and node.op_type == "Conv":
        return _unrolled_3d(node, inputs, opset)
    x, w = _f32(inputs[0]), _f32(inputs[1])
    b = _input(inputs, 2)
    b = None if b is None else _f32(b)
    g, geom = _geometry(node, inputs)
    y = Guarded(_out_shape(x, g))
    if node.op_type == "ConvTranspose":
        need = conv_transpose_scratch_bytes(g)
        if not _LIBRARY:
            assert kernels().kern_scratch_bytes_conv_transpose(ctypes.byref(geom)) == need, \
                "C and Python scratch formulas differ"
        scratch = Guarded(need // 4)
        _check(kernels().kern_conv_transpose(ctypes.byref(geom), _ptr(x), _ptr(w), _ptr(b), y.ptr, scratch.ptr, need),
               "ConvTranspose")
        scratch.result("ConvTranspose scratch")
        return [y.result("ConvTranspose")]
    need = conv_scratch_bytes(g)
    if not _LIBRARY:   # another version's kernels (using()) get this checkout's grant, their own need or more
        assert kernels().kern_scratch_bytes_conv(ctypes.byref(geom)) == need, "C and Python scratch formulas differ"
    scratch = Guarded(need // 4)
    _check(kernels().kern_conv(ctypes.byref(geom), _ptr(x), _ptr(w), _ptr(b), y.ptr, scratch.ptr, need), "Conv")
    scratch.result("Conv scratch")
    return [y.result("Conv")]


def _pool(node, at, inputs, opset):
    if len(node.output) > 1 and node.output[1]:
        raise Unsupported("MaxPool Indices output")
    if at.get("storage_order", 0):
        raise Unsupported("storage_order")
    if np.ndim(inputs[0]) == 5:
        return _unrolled_3d(node, inputs, opset)
    x = _f32(inputs[0])
    g, geom = _geometry(node, inputs)
    y = Guarded(_out_shape(x, g))
    kind = POOL_MAX if node.op_type == "MaxPool" else POOL_AVG
    _check(kernels().kern_pool(kind, at.get("count_include_pad", 0), ctypes.byref(geom), _ptr(x), y.ptr),
           node.op_type)
    return [y.result(node.op_type)]


def _global_pool(node, at, inputs, opset):
    x = _f32(inputs[0])
    planes, spatial = x.shape[0] * x.shape[1], int(np.prod(x.shape[2:], dtype=np.int64))
    y = Guarded(x.shape[:2] + (1,) * (x.ndim - 2))
    kind = POOL_MAX if node.op_type == "GlobalMaxPool" else POOL_AVG
    _check(kernels().kern_global_pool(kind, planes, spatial, _ptr(x), y.ptr), node.op_type)
    return [y.result(node.op_type)]


def _gemm(node, at, inputs, opset):
    a, b = _f32(inputs[0]), _f32(inputs[1])
    c = _input(inputs, 2)
    ta, tb = at.get("transA", 0), at.get("transB", 0)
    m, k = (a.shape[1], a.shape[0]) if ta else a.shape
    n = b.shape[0] if tb else b.shape[1]
    attr = GemmAttr(m, n, k, ta, tb, at.get("alpha", 1.0), at.get("beta", 1.0), 0, 0)
    if c is not None:
        c = _f32(c)
        attr.c_stride_m, attr.c_stride_n = ka.gemm_c_strides(c.shape, m, n)
    need = gemm_scratch_bytes(m, n, k, bool(tb))
    assert kernels().kern_scratch_bytes_gemm(ctypes.byref(attr)) == need, "C and Python scratch formulas differ"
    scratch = Guarded(need // 4)
    y = Guarded((m, n))
    _check(kernels().kern_gemm(ctypes.byref(attr), _ptr(a), _ptr(b), _ptr(c), y.ptr, scratch.ptr, need), "Gemm")
    scratch.result("Gemm scratch")
    return [y.result("Gemm")]


def _matmul(node, at, inputs, opset):
    a, b = _f32(inputs[0]), _f32(inputs[1])
    out_shape = np.matmul(np.zeros(a.shape, np.float32), np.zeros(b.shape, np.float32)).shape
    y = Guarded(out_shape)
    _check(kernels().kern_matmul(ctypes.byref(shape_struct(a.shape)), _ptr(a), ctypes.byref(shape_struct(b.shape)),
                                 _ptr(b), ctypes.byref(shape_struct(out_shape)), y.ptr), "MatMul")
    return [y.result("MatMul")]


def _concat(node, at, inputs, opset):
    xs = [_f32(x) for x in inputs]
    axis = at["axis"] % xs[0].ndim
    out_shape = list(xs[0].shape)
    out_shape[axis] = sum(x.shape[axis] for x in xs)
    outer, total, inner = ka.axis_view(out_shape, axis)
    y = Guarded(out_shape)
    offset = 0
    for x in xs:
        _check(kernels().kern_concat_part(outer, x.shape[axis], inner, total, offset, _ptr(x), y.ptr), "Concat")
        offset += x.shape[axis]
    return [y.result("Concat")]


def _split(node, at, inputs, opset):
    x = _f32(inputs[0])
    axis = at.get("axis", 0) % x.ndim
    split = _ints(_input(inputs, 1)) if opset >= 13 else at.get("split")
    n_out = len(node.output)
    if not split:
        count = at.get("num_outputs", n_out)
        size = -(-x.shape[axis] // count)
        split = [min(size, x.shape[axis] - i * size) for i in range(count)]
    outer, total, inner = ka.axis_view(x.shape, axis)
    outs, offset = [], 0
    for part in split:
        shape = list(x.shape)
        shape[axis] = part
        y = Guarded(shape)
        _check(kernels().kern_split_part(outer, part, inner, total, offset, _ptr(x), y.ptr), "Split")
        outs.append(y.result("Split"))
        offset += part
    return outs


def _slice(node, at, inputs, opset):
    x = _f32(inputs[0])
    if opset < 10:
        starts, ends, axes, steps = at["starts"], at["ends"], at.get("axes"), None
    else:
        starts, ends = _ints(inputs[1]), _ints(inputs[2])
        axes, steps = _ints(_input(inputs, 3)), _ints(_input(inputs, 4))
    start, step, out_shape = ka.slice_args(x.shape, starts, ends, axes, steps)
    y = Guarded(out_shape)
    pd = ctypes.c_ssize_t * MAX_RANK
    _check(kernels().kern_slice(ctypes.byref(shape_struct(x.shape)), _ptr(x), ctypes.byref(shape_struct(out_shape)),
                                pd(*start), pd(*step), y.ptr), "Slice")
    return [y.result("Slice")]


def _reshape(node, at, inputs, opset):
    """Flatten/Reshape/Squeeze/Unsqueeze/Identity/Dropout: the kernel is a copy (or an alias)."""
    x = _f32(inputs[0])
    if node.op_type == "Dropout" and ((len(node.output) > 1 and node.output[1]) or
                                      (_input(inputs, 2) is not None and bool(np.asarray(inputs[2])))):
        raise Unsupported("Dropout in training mode / mask output")
    if node.op_type == "Flatten":
        axis = at.get("axis", 1)
        axis = axis + x.ndim if axis < 0 else axis
        shape = (int(np.prod(x.shape[:axis], dtype=np.int64)), int(np.prod(x.shape[axis:], dtype=np.int64)))
    elif node.op_type == "Reshape":
        target = _ints(inputs[1]) if opset >= 5 else at["shape"]
        if at.get("allowzero", 0) == 0:
            target = [x.shape[i] if t == 0 else t for i, t in enumerate(target)]
        shape = np.empty(x.shape, np.int8).reshape(target).shape
    elif node.op_type in ("Squeeze", "Unsqueeze"):
        axes = _ints(_input(inputs, 1)) if opset >= 13 else at.get("axes")
        if node.op_type == "Squeeze":
            shape = np.squeeze(np.empty(x.shape, np.int8), axis=None if axes is None else tuple(axes)).shape
        else:
            shape = np.expand_dims(np.empty(x.shape, np.int8), tuple(axes)).shape
    else:
        shape = x.shape
    attr = UnaryAttr(UNARY["Identity"], 0.0, 0.0)
    y = Guarded(shape)
    _check(kernels().kern_unary(ctypes.byref(attr), _ptr(x), y.ptr, x.size), node.op_type)
    return [y.result(node.op_type)]


def _transpose(node, at, inputs, opset):
    x = _f32(inputs[0])
    perm = at.get("perm", list(range(x.ndim))[::-1])
    y = Guarded(tuple(x.shape[p] for p in perm))
    _check(kernels().kern_transpose(ctypes.byref(shape_struct(x.shape)), _ptr(x), (ctypes.c_size_t * MAX_RANK)(*perm),
                                    y.ptr), "Transpose")
    return [y.result("Transpose")]


def _pad(node, at, inputs, opset):
    x = _f32(inputs[0])
    mode = at.get("mode", "constant")
    if mode not in PAD_MODES:
        raise Unsupported(f"Pad mode {mode}")
    if opset < 11:
        pads, value, axes = at["pads"], at.get("value", 0.0), None
    else:
        pads = _ints(inputs[1])
        cv = _input(inputs, 2)
        value = 0.0 if cv is None or cv.size == 0 else float(np.asarray(cv).reshape(-1)[0])
        axes = _ints(_input(inputs, 3))
    begin, end = ka.pad_args(x.ndim, pads, axes)
    out_shape = [d + b + e for d, b, e in zip(x.shape, begin, end)]
    y = Guarded(out_shape)
    pd = ctypes.c_ssize_t * MAX_RANK
    _check(kernels().kern_pad(PAD_MODES[mode], ctypes.byref(shape_struct(x.shape)), _ptr(x), pd(*begin), pd(*end),
                              value, ctypes.byref(shape_struct(out_shape)), y.ptr), "Pad")
    return [y.result("Pad")]


def _resize(node, at, inputs, opset):
    x = _f32(inputs[0])
    mode = at.get("mode", "nearest")
    coord = at.get("coordinate_transformation_mode", "half_pixel" if opset >= 11 else "asymmetric")
    nearest = at.get("nearest_mode", "round_prefer_floor")
    if mode not in ("nearest", "linear", "cubic") or coord not in COORD_MODES or nearest not in NEAREST_MODES:
        raise Unsupported(f"Resize mode={mode} coordinate_transformation_mode={coord} nearest_mode={nearest}")
    if at.get("antialias", 0) or (at.get("exclude_outside", 0) and mode != "cubic") or \
            at.get("keep_aspect_ratio_policy", "stretch") != "stretch":
        raise Unsupported("Resize antialias / exclude_outside / keep_aspect_ratio_policy")
    legacy = node.op_type == "Upsample" or opset < 11
    if legacy:
        scales, sizes, axes = (_input(inputs, 1) if opset >= 9 else at.get("scales")), None, None
        coord, nearest = "asymmetric", "floor"
    else:
        scales, sizes = _input(inputs, 2), _input(inputs, 3)
        axes = at.get("axes")
    scale, out_shape = ka.resize_args(x.shape, None if scales is None else list(np.asarray(scales).reshape(-1)),
                                      _ints(sizes), axes)
    if legacy and mode == "nearest" and min(scale) < 1:
        raise Unsupported("opset < 11 nearest downsampling (onnxruntime rounds it up, not down)")
    attr = ResizeAttr(("nearest", "linear", "cubic").index(mode), COORD_MODES[coord], NEAREST_MODES[nearest],
                      (ctypes.c_float * MAX_RANK)(*scale), at.get("cubic_coeff_a", -0.75), at.get("exclude_outside", 0))
    y = Guarded(out_shape)
    _check(kernels().kern_resize(ctypes.byref(attr), ctypes.byref(shape_struct(x.shape)), _ptr(x),
                                 ctypes.byref(shape_struct(out_shape)), y.ptr), "Resize")
    return [y.result("Resize")]


def _gelu_attr(attr, at):
    approximate = at.get("approximate", "none")
    if approximate not in ("none", "tanh"):
        raise Unsupported(f"Gelu approximate={approximate}")
    attr.op = UNARY["GeluTanh" if approximate == "tanh" else "Gelu"]
    return attr


def _set(attr, alpha=0.0, beta=0.0):
    attr.alpha, attr.beta = alpha, beta
    return attr


def _celu_attr(attr, at):
    if at.get("alpha", 1.0) == 0:
        raise Unsupported("Celu alpha=0")
    return _set(attr, at.get("alpha", 1.0))


# kern_unary_attr of the elementwise math ops (as their prepare in runtime_ta/interp/ops/math.c sets it)
MATH_ATTRS: dict[str, Callable] = {
    **{op: (lambda attr, at: attr) for op in ("Sqrt", "Reciprocal", "Exp", "Log", "Abs", "Neg", "Floor", "Ceil",
                                              "Round", "Erf", "Softplus", "Softsign", "Mish", *TRIG)},
    "Gelu": _gelu_attr,
    "Elu": lambda attr, at: _set(attr, at.get("alpha", 1.0), 1.0),
    "Selu": lambda attr, at: _set(attr, at.get("alpha", SELU_ALPHA), at.get("gamma", SELU_GAMMA)),
    "Celu": _celu_attr,
    "ThresholdedRelu": lambda attr, at: _set(attr, at.get("alpha", 1.0)),
    "QuickGelu": lambda attr, at: _set(attr, at.get("alpha", 1.702)),   # KERN_SWISH (ops/elementwise.c)
}
# ---- indexing and data layout (kernels/gather.c, kern_tile, DepthToSpace/SpaceToDepth via kern_transpose)

KERN_F32, KERN_I32 = 0, 1   # kern_dtype


def held(a: np.ndarray, what: str) -> tuple[np.ndarray, int]:
    """`a` as the TA holds it (float32; int32 for int32, int64 and bool) and its kern_dtype; other
    dtypes, and int64 values outside int32 (which the host refuses), are unsupported."""
    a = np.asarray(a)
    if a.dtype == np.float32:
        return np.require(a, requirements="C"), KERN_F32
    if a.dtype not in (np.int32, np.int64, np.bool_):
        raise Unsupported(f"{what} of dtype {a.dtype} (the TA holds float32 and int32, int64, bool tensors)")
    if a.size and (a.min() < -2 ** 31 or a.max() >= 2 ** 31):
        raise Unsupported(f"{what} outside int32")
    return np.require(a.astype(np.int32), requirements="C"), KERN_I32


def _indices(a: np.ndarray) -> np.ndarray:
    """Integer indices as the int32 the TA holds."""
    if np.asarray(a).dtype.kind not in "iu":
        raise Unsupported(f"indices of dtype {np.asarray(a).dtype}")
    return held(a, "indices")[0]


def _gather(node, at, inputs, opset):
    """float32 or int32-held data (int64, bool) copied bit for bit; the output in the data's own type."""
    (x, kind), idx = held(inputs[0], "data"), _indices(inputs[1])
    if x.ndim == 0:
        raise Unsupported("scalar data")
    axis = at.get("axis", 0) % x.ndim
    outer, n, inner = ka.axis_view(x.shape, axis)
    if node.op_type == "Gather":
        y = Guarded(x.shape[:axis] + idx.shape + x.shape[axis + 1:])
        _check(kernels().kern_gather(outer, n, inner, _ptr(x), _ptr(idx), idx.size, y.ptr), "Gather")
    else:
        y = Guarded(idx.shape)
        _check(kernels().kern_gather_elements(ctypes.byref(shape_struct(x.shape)), _ptr(x),
                                              ctypes.byref(shape_struct(idx.shape)), _ptr(idx), axis, y.ptr),
               "GatherElements")
    return [y.result(node.op_type, np.float32 if kind == KERN_F32 else np.int32).astype(np.asarray(inputs[0]).dtype)]


TYPED = {"Gather", "GatherElements"}   # handlers that check their inputs' types (held); more join below


def block_shuffle_view(op: str, shape: Sequence[int], b: int, mode: str = "DCR") -> tuple[list[int], list[int]]:
    """(6-D view of x, perm) whose transpose is DepthToSpace (DCR/CRD) / SpaceToDepth (ops/movement.c)."""
    n, c, h, w = shape
    if op == "SpaceToDepth":
        return [n, c, h // b, b, w // b, b], [0, 3, 5, 1, 2, 4] if mode.upper() == "DCR" else [0, 1, 3, 5, 2, 4]
    if mode.upper() == "DCR":
        return [n, b, b, c // (b * b), h, w], [0, 3, 4, 1, 5, 2]
    return [n, c // (b * b), b, b, h, w], [0, 1, 4, 2, 5, 3]


def _block_shuffle(node, at, inputs, opset):
    x = _f32(inputs[0])
    b, mode = at["blocksize"], at.get("mode", "DCR")
    if x.ndim != 4:
        raise Unsupported("not 4-D")
    n, c, h, w = x.shape
    if node.op_type == "DepthToSpace":
        out = (n, c // (b * b), h * b, w * b)
    else:
        out = (n, c * b * b, h // b, w // b)
    view, perm = block_shuffle_view(node.op_type, x.shape, b, mode)
    y = Guarded(out)
    _check(kernels().kern_transpose(ctypes.byref(shape_struct(view)), _ptr(x), (ctypes.c_size_t * MAX_RANK)(*perm),
                                    y.ptr), node.op_type)
    return [y.result(node.op_type)]


def _expand_tile(node, at, inputs, opset):
    x = _f32(inputs[0])
    if node.op_type == "Expand":
        out = np.broadcast_shapes(x.shape, tuple(_ints(inputs[1])))
    else:
        if opset < 6:
            raise Unsupported("Tile before opset 6")
        out = tuple(d * r for d, r in zip(x.shape, _ints(inputs[1])))
    y = Guarded(out)
    _check(kernels().kern_tile(ctypes.byref(shape_struct(x.shape)), _ptr(x), ctypes.byref(shape_struct(out)), y.ptr),
           node.op_type)
    return [y.result(node.op_type)]
RNN_KINDS = {"LSTM": 0, "GRU": 1, "RNN": 2}
RNN_DEFAULT_ACTIVATIONS = {"LSTM": ["sigmoid", "tanh", "tanh"], "GRU": ["sigmoid", "tanh"], "RNN": ["tanh"]}


def rnn_attr(node, at, x_shape, w_shape) -> RnnAttr:
    """The kern_rnn_attr of an LSTM / GRU / RNN node (Unsupported for what the kernel does not run)."""
    direction = at.get("direction", "forward")
    dirs = 2 if direction == "bidirectional" else 1
    acts = at.get("activations")
    if acts is not None and [a.decode().lower() if isinstance(a, bytes) else a.lower() for a in acts] != \
            RNN_DEFAULT_ACTIVATIONS[node.op_type] * dirs:
        raise Unsupported(f"activations {acts}")
    if at.get("input_forget", 0):
        raise Unsupported("input_forget")
    layout = at.get("layout", 0)
    gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[node.op_type]
    t, b = (x_shape[1], x_shape[0]) if layout else (x_shape[0], x_shape[1])
    return RnnAttr(RNN_KINDS[node.op_type], t, b, x_shape[2], w_shape[1] // gates, dirs,
                   int(direction == "reverse"), layout, at.get("linear_before_reset", 0), at.get("clip", 0.0))


def _rnn(node, at, inputs, opset):
    x, w, r = (_f32(inputs[i]) for i in range(3))
    opt = [None if _input(inputs, i) is None else _f32(inputs[i]) for i in range(8)]
    lens = _input(inputs, 4)
    attr = rnn_attr(node, at, x.shape, w.shape)
    if lens is not None and not np.all(np.asarray(lens) == attr.seq_len):
        raise Unsupported("sequence_lens shorter than the sequence")
    t, b, h, d = attr.seq_len, attr.batch, attr.hidden_size, attr.num_directions
    state_shape = (b, d, h) if attr.layout else (d, b, h)
    shapes = [(b, t, d, h) if attr.layout else (t, d, b, h), state_shape, state_shape]
    outs = [Guarded(shape) if k < len(node.output) and node.output[k] else None for k, shape in enumerate(shapes)]
    need = kernels().kern_scratch_bytes_rnn(ctypes.byref(attr))
    from onnx_tee.passes.target.scratch import RNN_GATES, rnn_scratch_bytes
    assert need == rnn_scratch_bytes(RNN_GATES[node.op_type], t, attr.input_size, h), \
        "C and Python scratch formulas differ"
    scratch = Guarded(need // 4)
    ptr = [None if o is None else o.ptr for o in outs]
    _check(kernels().kern_rnn(ctypes.byref(attr), _ptr(x), _ptr(w), _ptr(r), _ptr(opt[3]), _ptr(opt[5]),
                              _ptr(opt[6]), _ptr(opt[7]), *ptr, scratch.ptr, need), node.op_type)
    scratch.result(node.op_type + " scratch")
    return [None if o is None else o.result(node.op_type) for o in outs[:len(node.output)]]


OPS: dict[str, Callable] = {
    **{op: _unary for op in ("Relu", "LeakyRelu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh")},
    **{op: _binary for op in ("Add", "Sub", "Mul", "Div", "Sum")},
    **{op: _unary for op in MATH_ATTRS},
    **{op: _binary for op in ("Pow", "PRelu", "Max", "Min")},
    "Softmax": _softmax, "LRN": _lrn, "BatchNormalization": _batchnorm,
    "Conv": _conv, "ConvTranspose": _conv, "MaxPool": _pool, "AveragePool": _pool,
    "GlobalAveragePool": _global_pool, "GlobalMaxPool": _global_pool,
    "Gemm": _gemm, "MatMul": _matmul, "Concat": _concat, "Split": _split, "Slice": _slice,
    **{op: _reshape for op in ("Flatten", "Reshape", "Squeeze", "Unsqueeze", "Identity", "Dropout")},
    "Transpose": _transpose, "Pad": _pad, "Resize": _resize, "Upsample": _resize,
    "Gather": _gather, "GatherElements": _gather, "DepthToSpace": _block_shuffle, "SpaceToDepth": _block_shuffle,
    "Expand": _expand_tile, "Tile": _expand_tile,
    "LSTM": _rnn, "GRU": _rnn, "RNN": _rnn,
}


def run_conv_activation(conv: onnx.NodeProto, act: onnx.NodeProto, inputs: Sequence[np.ndarray | None],
                        act_inputs: Sequence[np.ndarray | None], opset: int) -> np.ndarray:
    """Conv then the activation `act` in one kern_conv_act call (act_inputs: the activation's inputs
    after the first, e.g. Clip's bounds)."""
    x, w = _f32(inputs[0]), _f32(inputs[1])
    b = _input(inputs, 2)
    b = None if b is None else _f32(b)
    g, geom = _geometry(conv, inputs)
    attrs = {a.name: helper.get_attribute_value(a) for a in act.attribute}
    attr = unary_attr(act, attrs, [None, *act_inputs], opset)
    y = Guarded(_out_shape(x, g))
    need = conv_scratch_bytes(g)
    scratch = Guarded(need // 4)
    _check(kernels().kern_conv_act(ctypes.byref(geom), ctypes.byref(attr), _ptr(x), _ptr(w), _ptr(b), y.ptr,
                                   scratch.ptr, need), "Conv+" + act.op_type)
    scratch.result("Conv scratch")
    return y.result("Conv+" + act.op_type)


def run_conv_wt(conv: onnx.NodeProto, inputs: Sequence[np.ndarray | None], opset: int,
                act: onnx.NodeProto | None = None, act_inputs: Sequence[np.ndarray | None] = ()) -> np.ndarray:
    """A 1x1 Conv (then `act`, if any) in one kern_conv_wt_act call, its weights stored transposed as
    lowering stores them (passes/target/ops/conv.py: ATTR_CONV_W_LAYOUT 1)."""
    x, w = _f32(inputs[0]), _f32(inputs[1])
    b = _input(inputs, 2)
    b = None if b is None else _f32(b)
    g, geom = _geometry(conv, inputs)
    wt = np.ascontiguousarray(w.reshape(w.shape[0], -1).T)
    attr = None
    if act is not None:
        attrs = {a.name: helper.get_attribute_value(a) for a in act.attribute}
        attr = unary_attr(act, attrs, [None, *act_inputs], opset)
    y = Guarded(_out_shape(x, g))
    need = conv_scratch_bytes(g)
    scratch = Guarded(need // 4)
    _check(kernels().kern_conv_wt_act(ctypes.byref(geom), ctypes.byref(attr) if attr else None, _ptr(x), _ptr(wt),
                                      _ptr(b), y.ptr, scratch.ptr, need), "Conv (transposed weights)")
    scratch.result("Conv scratch")
    return y.result("Conv (transposed weights)")


CONTRIB_OPS = {("com.microsoft", "QuickGelu")}   # onnxruntime's ops with a kernel here


def run_node(node: onnx.NodeProto, inputs: Sequence[np.ndarray | None], opset: int) -> list[np.ndarray]:
    """Outputs of `node` computed by the C kernels; raises Unsupported for what they do not cover."""
    if node.op_type not in OPS:
        raise Unsupported(f"op {node.op_type} has no kernel")
    if node.domain not in ("", "ai.onnx") and (node.domain, node.op_type) not in CONTRIB_OPS:
        raise Unsupported(f"domain {node.domain}")
    inputs = list(inputs)
    if node.op_type not in TYPED and inputs and inputs[0] is not None and inputs[0].dtype != np.float32:
        raise Unsupported(f"input dtype {inputs[0].dtype} (kernels are float32)")
    return OPS[node.op_type](node, _attrs(node), inputs, opset)


# ---------------------------------------------------------------------- reductions, normalizations

from onnx_tee.passes.target.ops.reduce import REDUCE_CODES, axes_from_input, reduce_args  # noqa: E402

REDUCE_KINDS = {op: k for k, op in enumerate(REDUCE_CODES)}  # kern_reduce_op order = op code order
SIGNATURES.update({
    "kern_reduce": (ctypes.c_int, P, ctypes.c_uint, P, P),
    "kern_log_softmax": (SZ, SZ, SZ, P, P),
    "kern_layer_norm": (SZ, SZ, ctypes.c_float, P, P, P, P, P, P),
    "kern_group_norm": (SZ, SZ, SZ, SZ, ctypes.c_int, ctypes.c_float, P, P, P, P),
})


def _reduce(node, at, inputs, opset):
    x = _f32(inputs[0])
    if x.size == 0:
        raise Unsupported("empty input (runtime tensors have no 0-sized dims)")
    axes = _ints(_input(inputs, 1)) if axes_from_input(node.op_type, opset) else at.get("axes")
    try:
        flags, out_shape = reduce_args(x.shape, axes, at.get("keepdims", 1), at.get("noop_with_empty_axes", 0))
    except ValueError as e:
        raise Unsupported(str(e)) from e
    mask = sum(1 << d for d, f in enumerate(flags) if f)
    y = Guarded(out_shape)
    _check(kernels().kern_reduce(REDUCE_KINDS[node.op_type], ctypes.byref(shape_struct(x.shape)), mask, _ptr(x),
                                 y.ptr), node.op_type)
    return [y.result(node.op_type)]


def _log_softmax(node, at, inputs, opset):
    x = _f32(inputs[0])
    outer, n, inner = ka.softmax_view(x.shape, at.get("axis", -1 if opset >= 13 else 1), opset)
    y = Guarded(x.shape)
    _check(kernels().kern_log_softmax(outer, n, inner, _ptr(x), y.ptr), "LogSoftmax")
    return [y.result("LogSoftmax")]


def _layer_norm(node, at, inputs, opset):
    """Y, and Mean / InvStdDev (the kernel's optional outputs; the interpreter computes Y only)."""
    x, scale = _f32(inputs[0]), _f32(inputs[1])
    bias = _input(inputs, 2)
    bias = None if bias is None else _f32(bias)
    axis = at.get("axis", -1) % x.ndim
    n = int(np.prod(x.shape[axis:], dtype=np.int64))
    if scale.size != n or (bias is not None and bias.size != n):
        raise Unsupported("LayerNormalization scale/bias broadcast over the normalized shape")
    y = Guarded(x.shape)
    stats_shape = x.shape[:axis] + (1,) * (x.ndim - axis)
    mean, inv_std = Guarded(stats_shape), Guarded(stats_shape)
    _check(kernels().kern_layer_norm(x.size // n, n, at.get("epsilon", 1e-5), _ptr(scale), _ptr(bias), _ptr(x),
                                     y.ptr, mean.ptr, inv_std.ptr), "LayerNormalization")
    return [y.result("LayerNormalization"), mean.result("Mean"), inv_std.result("InvStdDev")]


def _group_norm(node, at, inputs, opset):
    x, scale, bias = (_f32(i) for i in inputs[:3])
    if x.ndim < 2:
        raise Unsupported("rank < 2")
    c = x.shape[1]
    groups, per_channel = (c, 1) if node.op_type == "InstanceNormalization" else (at["num_groups"], int(opset >= 21))
    if c % groups:
        raise Unsupported(f"{c} channels in {groups} groups")
    spatial = int(np.prod(x.shape[2:], dtype=np.int64))
    y = Guarded(x.shape)
    _check(kernels().kern_group_norm(x.shape[0], groups, c // groups, spatial, per_channel, at.get("epsilon", 1e-5),
                                     _ptr(scale), _ptr(bias), _ptr(x), y.ptr), node.op_type)
    return [y.result(node.op_type)]


OPS.update({
    **{op: _reduce for op in REDUCE_CODES},
    "LogSoftmax": _log_softmax, "LayerNormalization": _layer_norm,
    "InstanceNormalization": _group_norm, "GroupNormalization": _group_norm,
})


# ------------------------------------------------------- arg-reductions, comparisons, logic, Where

COMPARE_KINDS = {"Equal": 0, "Greater": 1, "GreaterOrEqual": 2, "Less": 3, "LessOrEqual": 4}  # kern_compare_op
LOGIC_KINDS = {"And": 0, "Or": 1, "Xor": 2}                                                 # kern_logic_op
TYPED.update({*COMPARE_KINDS, *LOGIC_KINDS, "Not", "Where"})
SIGNATURES.update({
    "kern_arg_reduce": (ctypes.c_int, ctypes.c_int, SZ, SZ, SZ, P, P),
    "kern_compare": (ctypes.c_int, ctypes.c_int, P, P, P, P, P, P),
    "kern_logic": (ctypes.c_int, P, P, P, P, P, P),
    "kern_not": (P, P, SZ),
    "kern_where": (ctypes.c_int, P, P, P, P, P, P, P, P),
})


def _arg_reduce(node, at, inputs, opset):
    """int64 indices, as ONNX gives them (the kernel's int32 widened, as the host does)."""
    x = _f32(inputs[0])
    if x.ndim == 0:
        raise Unsupported("scalar input")
    axis = at.get("axis", 0) % x.ndim
    outer, n, inner = ka.axis_view(x.shape, axis)
    out = x.shape[:axis] + ((1,) if at.get("keepdims", 1) else ()) + x.shape[axis + 1:]
    y = Guarded(out)
    _check(kernels().kern_arg_reduce(int(node.op_type == "ArgMin"), at.get("select_last_index", 0), outer, n, inner,
                                     _ptr(x), y.ptr), node.op_type)
    return [y.result(node.op_type, np.int32).astype(np.int64)]


def _compare(node, at, inputs, opset):
    if opset < 7 and at.get("broadcast", 0):
        raise Unsupported("legacy broadcast attribute (opset < 7)")
    (a, ta), (b, tb) = held(inputs[0], "input"), held(inputs[1], "input")
    if ta != tb:
        raise Unsupported(f"operands of types {inputs[0].dtype} and {inputs[1].dtype}")
    out = np.broadcast_shapes(a.shape, b.shape)
    y = Guarded(out)
    _check(kernels().kern_compare(COMPARE_KINDS[node.op_type], ta, ctypes.byref(shape_struct(a.shape)), _ptr(a),
                                  ctypes.byref(shape_struct(b.shape)), _ptr(b), ctypes.byref(shape_struct(out)),
                                  y.ptr), node.op_type)
    return [y.result(node.op_type, np.int32).astype(np.bool_)]


def _logic(node, at, inputs, opset):
    if opset < 7 and at.get("broadcast", 0):
        raise Unsupported("legacy broadcast attribute (opset < 7)")
    (a, _), (b, _) = held(inputs[0], "input"), held(inputs[1], "input")
    out = np.broadcast_shapes(a.shape, b.shape)
    y = Guarded(out)
    _check(kernels().kern_logic(LOGIC_KINDS[node.op_type], ctypes.byref(shape_struct(a.shape)), _ptr(a),
                                ctypes.byref(shape_struct(b.shape)), _ptr(b), ctypes.byref(shape_struct(out)), y.ptr),
           node.op_type)
    return [y.result(node.op_type, np.int32).astype(np.bool_)]


def _not(node, at, inputs, opset):
    x, _ = held(inputs[0], "input")
    y = Guarded(x.shape)
    _check(kernels().kern_not(_ptr(x), y.ptr, x.size), "Not")
    return [y.result("Not", np.int32).astype(np.bool_)]


def _where(node, at, inputs, opset):
    """The output in the branches' own type (int64 widened back, as the host does)."""
    (c, _), (a, ta), (b, tb) = (held(x, "input") for x in inputs[:3])
    if ta != tb:
        raise Unsupported(f"branches of types {inputs[1].dtype} and {inputs[2].dtype}")
    out = np.broadcast_shapes(c.shape, a.shape, b.shape)
    y = Guarded(out)
    _check(kernels().kern_where(ta, ctypes.byref(shape_struct(c.shape)), _ptr(c), ctypes.byref(shape_struct(a.shape)),
                                _ptr(a), ctypes.byref(shape_struct(b.shape)), _ptr(b), ctypes.byref(shape_struct(out)),
                                y.ptr), "Where")
    return [y.result("Where", np.float32 if ta == KERN_F32 else np.int32).astype(np.asarray(inputs[1]).dtype)]


OPS.update({
    "ArgMax": _arg_reduce, "ArgMin": _arg_reduce,
    **{op: _compare for op in COMPARE_KINDS}, **{op: _logic for op in LOGIC_KINDS}, "Not": _not, "Where": _where,
})


# ---------------------------------------------------------------------- Cast

CAST_SOURCES = {np.dtype(np.float32): 0, np.dtype(np.int32): 1, np.dtype(np.int64): 1, np.dtype(np.bool_): 1,
                np.dtype(np.uint8): 2, np.dtype(np.int8): 3}                        # kern_cast_type
CAST_TARGETS = {onnx.TensorProto.FLOAT: (0, np.float32), onnx.TensorProto.INT32: (1, np.int32),
                onnx.TensorProto.INT64: (1, np.int32), onnx.TensorProto.UINT8: (2, np.uint8),
                onnx.TensorProto.INT8: (3, np.int8), onnx.TensorProto.BOOL: (4, np.int32)}
SIGNATURES["kern_cast"] = (ctypes.c_int, ctypes.c_int, SZ, P, P)
TYPED.add("Cast")


def _cast(node, at, inputs, opset):
    """Source and target as the TA holds them (int64 and bool as int32); the result in the target type
    (int64 widened, bool as != 0, as the host does)."""
    x = np.asarray(inputs[0])
    if x.dtype not in CAST_SOURCES or at["to"] not in CAST_TARGETS:
        raise Unsupported(f"Cast from {x.dtype} to {onnx.helper.tensor_dtype_to_np_dtype(at['to'])}")
    if x.dtype in (np.int64, np.bool_):
        x, _ = held(x, "input")
    x = np.require(x, requirements="C")
    to, held_dtype = CAST_TARGETS[at["to"]]
    y = Guarded(x.shape, dtype=held_dtype)
    _check(kernels().kern_cast(CAST_SOURCES[x.dtype], to, x.size, _ptr(x), y.ptr), "Cast")
    return [y.result("Cast", held_dtype).astype(onnx.helper.tensor_dtype_to_np_dtype(at["to"]))]


OPS["Cast"] = _cast


# ---------------------------------------------------------------------- GridSample

class GridSampleAttr(ctypes.Structure):
    _fields_ = [("mode", ctypes.c_int), ("padding", ctypes.c_int), ("align_corners", ctypes.c_int)]


SIGNATURES["kern_grid_sample"] = (P, P, P, P, P, P)
GRID_KERNEL_MODES = {"nearest": 0, "linear": 1, "cubic": 2}                  # kern_resize_mode
GRID_KERNEL_PADDINGS = {"zeros": 0, "border": 1, "reflection": 2}            # kern_grid_padding


def _grid_sample(node, at, inputs, opset):
    x, grid = _f32(inputs[0]), _f32(inputs[1])
    padding = at.get("padding_mode", "zeros")
    try:
        mode, out_shape = ka.grid_sample_args(x.shape, grid.shape, at.get("mode", "bilinear"), padding)
    except ValueError as exc:
        raise Unsupported(str(exc)) from None
    attr = GridSampleAttr(GRID_KERNEL_MODES[mode], GRID_KERNEL_PADDINGS[padding], at.get("align_corners", 0))
    y = Guarded(out_shape)
    _check(kernels().kern_grid_sample(ctypes.byref(attr), ctypes.byref(shape_struct(x.shape)), _ptr(x), _ptr(grid),
                                      ctypes.byref(shape_struct(out_shape)), y.ptr), "GridSample")
    return [y.result("GridSample")]


OPS["GridSample"] = _grid_sample


# quantized ops (tests/kernel_harness_quant.py adds them to OPS, SIGNATURES and TYPED)
import kernel_harness_quant  # noqa: E402,F401
