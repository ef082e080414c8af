"""The quantized kernels against onnxruntime and against the exact rational result.

hypothesis draws a single quantized node (shapes, window attributes, int8/uint8 types, per-tensor or
per-channel scales and zero points, random scales over several decades), runs it in onnxruntime and
through the C kernels (kernel_harness: exact scratch, guard zones):

- QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, ConvInteger, MatMulInteger: equal to
  onnxruntime (the same float operations, or exact integer sums);
- QLinearConv, QLinearMatMul: equal to the exact requantization round_half_even(acc * M) + zp, M the
  float32 x_scale * w_scale / y_scale (the kernels' rule, computed here in Python integers), and within
  one quantization step of onnxruntime, which rounds acc and acc * M to float32 first (equal on at least
  99 % of the elements; measured: a few in 10^4 differ).
Type combinations onnxruntime has no kernel for (QLinear* with int8 x and uint8 w or y ...) and
per-channel weight zero points that differ between channels (onnxruntime refuses them; its ConvInteger
any per-channel one) are checked against the exact result alone.
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st
from onnx import helper

from conftest import ort_session
from kernel_harness import run_node
from onnx_tee.passes.analysis.shapes import TensorInfo
from onnx_tee.passes.analysis.spatial import window_geometry

OPSET = 21
SUPPRESS = [HealthCheck.too_slow, HealthCheck.data_too_large]
ORT_QLINEAR_TYPES = {("uint8", "uint8", "uint8"), ("uint8", "int8", "uint8"), ("int8", "int8", "int8")}
QRANGE = {"uint8": (0, 255), "int8": (-128, 127)}


def _rng(data) -> np.random.Generator:
    return np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))


def _ints(rng, dtype: str, shape) -> np.ndarray:
    lo, hi = QRANGE[dtype]
    return rng.integers(lo, hi, size=shape, endpoint=True).astype(dtype)


def _scales(rng, n: int) -> np.ndarray:
    return (10.0 ** rng.uniform(-4, 0, n)).astype(np.float32)


def ort_run(node, values: dict[str, np.ndarray]) -> list[np.ndarray]:
    """`node` alone in onnxruntime on `values` (every input fed as a graph input; output types inferred)."""
    values = {k: np.asarray(v) for k, v in values.items()}
    inputs = [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
              for k, v in values.items()]
    model = helper.make_model(helper.make_graph([node], "g", inputs, []),
                              opset_imports=[helper.make_opsetid("", OPSET)])
    inferred = {v.name: v for v in onnx.shape_inference.infer_shapes(model).graph.value_info}
    model.graph.output.extend(inferred[o] for o in node.output)
    return ort_session(model).run(None, values)


def kernel_run(node, values: dict[str, np.ndarray]) -> list[np.ndarray]:
    return run_node(node, [values.get(name) if name else None for name in node.input], OPSET)


def exact_requantize(acc: np.ndarray, scale: np.ndarray, zp: int, dtype: str) -> np.ndarray:
    """round_half_even(acc * scale) + zp, saturated, exactly (scale float32, broadcast against acc): the
    scale is m * 2^-shift with an integer m < 2^24, so acc * m is an exact int64 and only the shift rounds."""
    mant, exp = np.frexp(scale.astype(np.float64))
    m = np.broadcast_to((mant * 2.0**24).astype(np.int64), acc.shape)
    shift = np.broadcast_to((24 - exp).astype(np.int64), acc.shape)
    assert shift.min() > 0, "a scale >= 2^23: not drawn here"
    p = acc.astype(np.int64) * m
    s = np.minimum(shift, 62)
    q = p >> s                                          # floor
    r = p - (q << s)
    half = np.int64(1) << (s - 1)
    q = q + ((r > half) | ((r == half) & (q & 1 == 1)))
    q = np.where(shift > 62, 0, q)
    lo, hi = QRANGE[dtype]
    return np.clip(q + zp, lo, hi).astype(dtype)


def check_requantized(got: np.ndarray, exact: np.ndarray, ort: np.ndarray | None) -> None:
    np.testing.assert_array_equal(got, exact)
    if ort is not None:
        diff = np.abs(got.astype(np.int32) - ort.astype(np.int32))
        assert diff.max(initial=0) <= 1, f"more than one step from onnxruntime: {diff.max()}"
        assert (diff == 0).mean() >= 0.99, f"only {(diff == 0).mean():.4f} of the elements equal onnxruntime's"


# ------------------------------------------------------------------------ QuantizeLinear, DequantizeLinear

@settings(max_examples=40, deadline=None, suppress_health_check=SUPPRESS, derandomize=True)
@given(data=st.data())
def test_quantize_and_dequantize_equal_onnxruntime(data):
    rng = _rng(data)
    shape = tuple(data.draw(st.lists(st.integers(1, 6), min_size=1, max_size=4), label="shape"))
    dtype = data.draw(st.sampled_from(["uint8", "int8"]), label="dtype")
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    per_axis = data.draw(st.booleans(), label="per_axis")
    n = shape[axis] if per_axis else 1
    scale = _scales(rng, n) if per_axis else _scales(rng, 1).reshape(())
    zp = _ints(rng, dtype, scale.shape)
    x = (rng.standard_normal(shape) * float(scale.max()) * 60).astype(np.float32)
    x.flat[0] = np.float32(scale.flat[0]) * 2.5   # an exact half: rounds to even
    values = {"x": x, "s": scale, "z": zp}
    node = helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"], axis=axis)
    q = kernel_run(node, values)[0]
    np.testing.assert_array_equal(q, ort_run(node, values)[0])
    values = {"q": q if data.draw(st.booleans(), label="from_q") else _ints(rng, dtype, shape), "s": scale, "z": zp}
    node = helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], axis=axis)
    np.testing.assert_array_equal(kernel_run(node, values)[0], ort_run(node, values)[0])


def test_quantize_saturates_and_sends_nan_to_the_low_end():
    x = np.array([1e30, -1e30, np.inf, -np.inf, np.nan, 0.5, 1.5, -0.5, -2.5], np.float32)
    for dtype, zp in (("uint8", 3), ("int8", -2)):
        values = {"x": x, "s": np.float32(1.0), "z": np.array(zp, dtype)}
        got = kernel_run(helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"]), values)[0]
        lo, hi = QRANGE[dtype]
        np.testing.assert_array_equal(got, np.array([hi, lo, hi, lo, lo, zp, zp + 2, zp, zp - 2], dtype))


def test_dequantize_int32():
    x = np.array([-2**31, -7, 0, 5, 2**31 - 1], np.int32)
    values = {"x": x, "s": np.float32(0.003)}
    node = helper.make_node("DequantizeLinear", ["x", "s"], ["y"])
    np.testing.assert_array_equal(kernel_run(node, values)[0], ort_run(node, values)[0])


@settings(max_examples=30, deadline=None, suppress_health_check=SUPPRESS, derandomize=True)
@given(data=st.data())
def test_dynamic_quantize_equals_onnxruntime(data):
    rng = _rng(data)
    shape = tuple(data.draw(st.lists(st.integers(1, 7), min_size=1, max_size=3), label="shape"))
    kind = data.draw(st.sampled_from(["mixed", "positive", "negative", "zero"]), label="kind")
    x = rng.standard_normal(shape).astype(np.float32) * np.float32(10.0 ** rng.uniform(-3, 3))
    x = {"mixed": x, "positive": np.abs(x), "negative": -np.abs(x), "zero": np.zeros_like(x)}[kind]
    node = helper.make_node("DynamicQuantizeLinear", ["x"], ["y", "s", "z"])
    for got, want in zip(kernel_run(node, {"x": x}), ort_run(node, {"x": x})):
        np.testing.assert_array_equal(got, want)


# ------------------------------------------------------------------------ QLinearConv, ConvInteger

def conv_case(data, rng, linear: bool):
    """A random quantized convolution node and its values (1-D and 2-D, groups, depthwise, pads, strides,
    dilations), and whether onnxruntime has a kernel for it."""
    depthwise = data.draw(st.booleans(), label="depthwise")
    group = data.draw(st.integers(1, 3), label="group")
    cin_g = 1 if depthwise else data.draw(st.integers(1, 9), label="cin_g")
    cout_g = data.draw(st.integers(1, 5), label="cout_g")
    rank = data.draw(st.sampled_from([1, 2, 2]), label="rank")
    k = [data.draw(st.integers(1, 4)) for _ in range(rank)]
    strides = [data.draw(st.integers(1, 3)) for _ in range(rank)]
    dil = [data.draw(st.integers(1, 2)) for _ in range(rank)]
    pads = [data.draw(st.integers(0, 2)) for _ in range(2 * rank)]
    size = [data.draw(st.integers(1, 11)) for _ in range(rank)]
    for i in range(rank):
        assume(size[i] + pads[i] + pads[rank + i] >= dil[i] * (k[i] - 1) + 1)
    types = data.draw(st.sampled_from(sorted(ORT_QLINEAR_TYPES) + [("int8", "uint8", "int8"),
                                                                    ("uint8", "int8", "int8")]), label="types")
    x_t, w_t, y_t = types
    c_out = cout_g * group
    per_channel = data.draw(st.booleans(), label="per_channel")
    same_zp = data.draw(st.booleans(), label="same_zp")
    x = _ints(rng, x_t, (data.draw(st.integers(1, 2)), cin_g * group, *size))
    w = _ints(rng, w_t, (c_out, cin_g, *k))
    w_zp = _ints(rng, w_t, (c_out,) if per_channel else ())
    if per_channel and same_zp:
        w_zp[:] = w_zp[0]
    attrs = dict(kernel_shape=k, strides=strides, dilations=dil, group=group, pads=pads)
    values = {"x": x, "x_zp": _ints(rng, x_t, ()), "w": w, "w_zp": w_zp}
    if not linear:   # onnxruntime's ConvInteger takes one weight zero point only
        return helper.make_node("ConvInteger", ["x", "w", "x_zp", "w_zp"], ["y"], **attrs), values, not per_channel
    ort_ok = not per_channel or same_zp
    values.update(x_s=_scales(rng, 1).reshape(()), w_s=_scales(rng, c_out if per_channel else 1).reshape(w_zp.shape),
                  y_s=_scales(rng, 1).reshape(()) * np.float32(cin_g * np.prod(k) * 40), y_zp=_ints(rng, y_t, ()))
    if data.draw(st.booleans(), label="bias"):
        values["b"] = rng.integers(-20000, 20000, c_out).astype(np.int32)
    names = ["x", "x_s", "x_zp", "w", "w_s", "w_zp", "y_s", "y_zp"] + (["b"] if "b" in values else [])
    return helper.make_node("QLinearConv", names, ["y"], **attrs), values, ort_ok and types in ORT_QLINEAR_TYPES


def exact_conv_sums(node, values) -> np.ndarray:
    """sum (x - x_zp)(w - w_zp) (+ bias) in int64, by a direct loop over the window (numpy)."""
    g = window_geometry(node, {k: TensorInfo(tuple(v.shape), v.dtype) for k, v in values.items()})
    x = values["x"].astype(np.int64) - values["x_zp"].astype(np.int64)
    w = values["w"].astype(np.int64) - values["w_zp"].astype(np.int64).reshape(-1, *[1] * (values["w"].ndim - 1))
    x = x.reshape(g.batch, g.c_in, g.h_in, g.w_in)
    w = w.reshape(g.c_out, g.c_in // g.group, g.kernel_h, g.kernel_w)
    xp = np.zeros((g.batch, g.c_in, g.h_in + g.pad_top + g.pad_bottom, g.w_in + g.pad_left + g.pad_right), np.int64)
    xp[:, :, g.pad_top:g.pad_top + g.h_in, g.pad_left:g.pad_left + g.w_in] = x
    y = np.zeros((g.batch, g.c_out, g.h_out, g.w_out), np.int64)
    cin_g, cout_g = g.c_in // g.group, g.c_out // g.group
    for c in range(g.c_out):
        first = (c // cout_g) * cin_g
        for ki in range(g.kernel_h):
            for kj in range(g.kernel_w):
                rows = xp[:, first:first + cin_g, ki * g.dilation_h::g.stride_h, kj * g.dilation_w::g.stride_w]
                y[:, c] += np.einsum("bchw,c->bhw", rows[:, :, :g.h_out, :g.w_out], w[c, :, ki, kj])
    if "b" in values:
        y += values["b"].astype(np.int64).reshape(1, -1, 1, 1)
    return y.reshape((g.batch, g.c_out, g.w_out) if values["x"].ndim == 3 else y.shape)


@settings(max_examples=40, deadline=None, suppress_health_check=SUPPRESS, derandomize=True)
@given(data=st.data())
def test_qlinear_conv_is_exact_and_within_a_step_of_onnxruntime(data):
    rng = _rng(data)
    node, values, ort_ok = conv_case(data, rng, linear=True)
    got = kernel_run(node, values)[0]
    m = values["x_s"] * values["w_s"].reshape(-1) / values["y_s"]       # float32, onnxruntime's expression
    exact = exact_requantize(exact_conv_sums(node, values), m.reshape(1, -1, *[1] * (got.ndim - 2)),
                             int(values["y_zp"]), str(values["y_zp"].dtype))
    check_requantized(got, exact, ort_run(node, values)[0] if ort_ok else None)


@pytest.mark.parametrize("kernel, stride, pads, width", [(3, 1, [1, 1, 1, 1], 150), (5, 2, [2, 1, 2, 3], 301),
                                                        (3, 1, [0, 0, 0, 0], 64), (7, 3, [3, 3, 3, 3], 200),
                                                        (3, 1, [1, 1, 1, 1], 5000), (3, 1, [1, 1, 1, 1], 9000),
                                                        (5, 2, [2, 1, 2, 3], 12001)])
@pytest.mark.parametrize("depthwise", [True, False])
def test_qlinear_conv_rows_wider_than_one_span_are_exact(kernel, stride, pads, width, depthwise):
    """Rows of more output columns than the depthwise row path sums at a time (QDW_SPAN = 64): every span
    boundary, with padding on both sides; the im2col path on the same shapes.  Narrower maps take the
    depthwise band path (at 5,000 columns one output row per band: four bands); at 9,000 and 12,001
    columns one row's band exceeds QDW_BAND_MAX and the row path runs."""
    rng = np.random.default_rng(width + kernel)
    channels = 3
    values = {"x": _ints(rng, "uint8", (1, channels, 4, width)), "x_s": np.float32(0.02), "x_zp": np.uint8(131),
              "w": _ints(rng, "int8", (channels, 1 if depthwise else channels, kernel, kernel)),
              "w_s": _scales(rng, channels), "w_zp": np.zeros(channels, np.int8),
              "y_s": np.float32(0.02 * kernel * kernel * 40 * (1 if depthwise else channels)),
              "y_zp": np.uint8(97), "b": rng.integers(-20000, 20000, channels).astype(np.int32)}
    values = {k: np.asarray(v) for k, v in values.items()}
    node = helper.make_node("QLinearConv", ["x", "x_s", "x_zp", "w", "w_s", "w_zp", "y_s", "y_zp", "b"], ["y"],
                            kernel_shape=[kernel, kernel], strides=[stride, stride], pads=pads,
                            group=channels if depthwise else 1)
    got = kernel_run(node, values)[0]
    m = values["x_s"] * values["w_s"] / values["y_s"]
    exact = exact_requantize(exact_conv_sums(node, values), m.reshape(1, -1, 1, 1), 97, "uint8")
    check_requantized(got, exact, ort_run(node, values)[0])


@settings(max_examples=30, deadline=None, suppress_health_check=SUPPRESS, derandomize=True)
@given(data=st.data())
def test_conv_integer_equals_onnxruntime(data):
    rng = _rng(data)
    node, values, ort_ok = conv_case(data, rng, linear=False)
    got = kernel_run(node, values)[0]
    np.testing.assert_array_equal(got, exact_conv_sums(node, values))
    if ort_ok:
        np.testing.assert_array_equal(got, ort_run(node, values)[0])


# ------------------------------------------------------------------------ QLinearMatMul, MatMulInteger

def matmul_case(data, rng, linear: bool):
    a_shape, b_shape = data.draw(st.sampled_from([((3, 5), (5, 4)), ((1, 17), (17, 70)), ((2, 3, 8), (8, 6)),
                                                   ((2, 1, 4, 9), (3, 9, 5)), ((6,), (6, 3)), ((4, 6), (6,)),
                                                   ((2, 4, 300), (2, 300, 2))]), label="shapes")
    types = data.draw(st.sampled_from(sorted(ORT_QLINEAR_TYPES) + [("int8", "uint8", "uint8")]), label="types")
    a_t, b_t, y_t = types
    columns = b_shape[-1] if len(b_shape) >= 2 else 1
    per_column = len(b_shape) == 2 and data.draw(st.booleans(), label="per_column")
    values = {"a": _ints(rng, a_t, a_shape), "a_zp": _ints(rng, a_t, ()), "b": _ints(rng, b_t, b_shape),
              "b_zp": _ints(rng, b_t, (columns,) if per_column else ())}
    if not linear:
        return helper.make_node("MatMulInteger", ["a", "b", "a_zp", "b_zp"], ["y"]), values, True
    values.update(a_s=_scales(rng, 1).reshape(()), b_s=_scales(rng, columns if per_column else 1).reshape(
        values["b_zp"].shape), y_s=_scales(rng, 1).reshape(()) * np.float32(a_shape[-1] * 40),
        y_zp=_ints(rng, y_t, ()))
    node = helper.make_node("QLinearMatMul", ["a", "a_s", "a_zp", "b", "b_s", "b_zp", "y_s", "y_zp"], ["y"])
    return node, values, types in ORT_QLINEAR_TYPES


def exact_matmul_sums(values) -> np.ndarray:
    b = values["b"].astype(np.int64) - values["b_zp"].astype(np.int64)
    return np.matmul(values["a"].astype(np.int64) - values["a_zp"].astype(np.int64), b)


@settings(max_examples=40, deadline=None, suppress_health_check=SUPPRESS, derandomize=True)
@given(data=st.data())
def test_qlinear_matmul_is_exact_and_within_a_step_of_onnxruntime(data):
    rng = _rng(data)
    node, values, ort_ok = matmul_case(data, rng, linear=True)
    got = kernel_run(node, values)[0]
    m = values["a_s"] * values["b_s"].reshape(-1) / values["y_s"]
    exact = exact_requantize(exact_matmul_sums(values), m, int(values["y_zp"]), str(values["y_zp"].dtype))
    check_requantized(got, exact, ort_run(node, values)[0] if ort_ok else None)


@settings(max_examples=30, deadline=None, suppress_health_check=SUPPRESS, derandomize=True)
@given(data=st.data())
def test_matmul_integer_equals_onnxruntime(data):
    rng = _rng(data)
    node, values, _ = matmul_case(data, rng, linear=False)
    got = kernel_run(node, values)[0]
    np.testing.assert_array_equal(got, exact_matmul_sums(values))
    np.testing.assert_array_equal(got, ort_run(node, values)[0])


# ------------------------------------------------------------------------ requantization edges

@pytest.mark.parametrize("scale", [2.0**-40, 1e-45, 0.0, -0.75, 3.0e9])
def test_requantization_of_extreme_scales_is_exact(scale):
    """Tiny, subnormal, zero, negative and huge combined scales: the exact rule, never undefined behaviour."""
    a = np.array([[-128, -1, 0, 1, 127]], np.int8).T
    values = {"a": a, "a_s": np.float32(1.0), "a_zp": np.int8(0), "b": np.array([[1]], np.int8),
              "b_s": np.float32(scale), "b_zp": np.int8(0), "y_s": np.float32(1.0), "y_zp": np.int8(3)}
    node = helper.make_node("QLinearMatMul", ["a", "a_s", "a_zp", "b", "b_s", "b_zp", "y_s", "y_zp"], ["y"])
    got = kernel_run(node, values)[0].ravel()
    exact = [min(127, max(-128, round(float(v) * float(np.float32(scale))) + 3)) for v in a.ravel()]
    np.testing.assert_array_equal(got, exact)


def test_non_finite_requantization_scale_is_refused():
    from kernel_harness import KernelError
    values = {"a": np.ones((2, 2), np.uint8), "a_s": np.float32(1.0), "a_zp": np.uint8(0),
              "b": np.ones((2, 2), np.uint8), "b_s": np.float32(np.inf), "b_zp": np.uint8(0),
              "y_s": np.float32(1.0), "y_zp": np.uint8(0)}
    node = helper.make_node("QLinearMatMul", ["a", "a_s", "a_zp", "b", "b_s", "b_zp", "y_s", "y_zp"], ["y"])
    with pytest.raises(KernelError, match="KERN_EINVAL"):
        kernel_run(node, values)


@settings(max_examples=30, deadline=None, suppress_health_check=SUPPRESS, derandomize=True)
@given(data=st.data())
def test_quantized_max_pool_equals_onnxruntime(data):
    rng = _rng(data)
    rank = data.draw(st.sampled_from([1, 2, 2]), label="rank")
    k = [data.draw(st.integers(1, 4)) for _ in range(rank)]
    strides = [data.draw(st.integers(1, 3)) for _ in range(rank)]
    pads = [data.draw(st.integers(0, min(k) - 1)) for _ in range(2 * rank)]
    size = [data.draw(st.integers(max(k), 10)) for _ in range(rank)]
    dtype = data.draw(st.sampled_from(["uint8", "int8"]), label="dtype")
    x = _ints(rng, dtype, (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 4)), *size))
    node = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=k, strides=strides, pads=pads)
    np.testing.assert_array_equal(kernel_run(node, {"x": x})[0], ort_run(node, {"x": x})[0])
