"""The speed paths of issue 19 against the kernels they replace: the same values, bit for bit.

Each check draws a case with hypothesis, runs it through this checkout's kernels and through the
kernels of `kernel_baseline.BASELINE` (built with the same compiler and flags), and requires equal
outputs (== on float32: only the sign of a zero may differ, which == ignores).  The new paths keep
every output's float operations and their order, so no tolerance is needed; the exceptions are
Sigmoid, Tanh and Erf, now vectorised float code instead of double-precision scalar calls (within 1e-6
relative of the old values, 2.5e-7 of float64), Softmax / LogSoftmax / ReduceLogSumExp over a
contiguous axis, whose exponentials are now that vectorised code too (within 1e-6 of the old values), and the 1x1 convolution of a single pixel, now the
dot products of a fully connected layer (kern_gemv, as Gemm has them: within 1e-6 of the largest
output), and GlobalAveragePool, now ReduceMean's 8-lane sums (closer to a float64 mean than the
old sequential sum).  Narrow GEMM columns and grouped convolutions run other GEMM column tiles than
before: identical where multiply-adds are not contracted (this harness's default build), within
1e-6 of the largest output with FMA (FMA_BUILD); so do convolutions over one input channel per group
with 8 or more outputs each, now on the GEMM path, and ConvTranspose, now one GEMM per tap (its sums
in another order: within 1e-6 of the largest output).  The comparison with onnxruntime stays in test_kernels_differential.py.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st
from onnx import helper
from scipy import special

import kernel_harness as kh
from differential import checks_by_name, differential_tests
from kernel_baseline import baseline_kernels

OPSET = 19
ACTIVATIONS = [None, ("Relu", {}), ("HardSwish", {}), ("HardSigmoid", {"alpha": 1 / 6, "beta": 0.5}),
               ("Sigmoid", {}), ("Clip", {})]


def _array(data, shape, lo=-2.0, hi=2.0) -> np.ndarray:
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    return np.asarray(np.random.default_rng(seed).uniform(lo, hi, size=shape), dtype=np.float32)


def _both(run):
    """run() on the baseline kernels and on this checkout's: (old, new)."""
    with kh.using(baseline_kernels()):
        old = run()
    return old, run()


def assert_identical(old: np.ndarray, new: np.ndarray) -> None:
    assert old.shape == new.shape
    assert np.array_equal(old, new), f"max |new - old| = {np.abs(new.astype(np.float64) - old).max():.3g}"


def assert_close(old: np.ndarray, new: np.ndarray, rtol: float = 1e-6) -> None:
    """Within `rtol` of the old values (relative where they are normal floats, 1e-37 below)."""
    old, new = old.astype(np.float64), new.astype(np.float64)
    assert old.shape == new.shape
    bound = np.maximum(rtol * np.abs(old), 1e-37)
    assert (np.abs(new - old) <= bound).all(), f"max |new - old| / |old| = {(np.abs(new - old) / bound).max() * rtol:.3g}"


def assert_close_tensor(old: np.ndarray, new: np.ndarray, rtol: float = 1e-6) -> None:
    """max |new - old| <= rtol max |old| (a reassociated sum: near-zero outputs keep an absolute error)."""
    old, new = old.astype(np.float64), new.astype(np.float64)
    assert old.shape == new.shape
    assert np.abs(new - old).max() <= rtol * np.abs(old).max(), np.abs(new - old).max() / np.abs(old).max()


REVISED = {"Sigmoid", "Tanh"}   # activations whose values moved (vectorised, within 1e-6 relative)
# Builds whose multiply-adds contract into FMAs: there gcc contracts the GEMM engine's full, masked
# and exact-width column tiles differently, so an output's value depends on the tile that computes
# it, and the narrow columns and the grouped path (other tiles than before) match within 1e-6.
FMA_BUILD = any(flag in kh.CFLAGS for flag in ("-march=native", "-mfma"))


def _conv_case(data, node, x, w, b, exact: bool = True):
    """The Conv node with a drawn activation fused (or none) on both kernel versions: identical, or
    close for a revised activation or, when not `exact`, a path whose sums may round differently."""
    act = data.draw(st.sampled_from(ACTIVATIONS), label="activation")
    inputs = [x, w, b]
    if act is None:
        old, new = _both(lambda: kh.run_node(node, inputs, OPSET)[0])
    else:
        op, attrs = act
        act_inputs = [np.float32(-1.5), np.float32(2.5)] if op == "Clip" else []
        act_node = helper.make_node(op, ["c"] + (["lo", "hi"] if op == "Clip" else []), ["y"], **attrs)
        old, new = _both(lambda: kh.run_conv_activation(node, act_node, inputs, act_inputs, OPSET))
        if op in REVISED and exact:
            assert_close(old, new)
            return
    if exact:
        assert_identical(old, new)
    elif act is None:
        assert_close_tensor(old, new)
    else:   # the sums' differences through the activation (slope <= 1.5): against the sums' magnitude
        with kh.using(baseline_kernels()):
            sums = kh.run_node(node, inputs, OPSET)[0].astype(np.float64)
        assert np.abs(new.astype(np.float64) - old).max() <= 1.5e-6 * np.abs(sums).max()


def check_depthwise(data):
    """Depthwise windows: mostly the K x K stride-1/2 window paths (strips, the row ring and its column
    chunks, channel multipliers, wide pads), and around them the general path (dilations, other sizes
    and strides, non-square kernels)."""
    window = data.draw(st.booleans(), label="window path")
    if window:
        k = data.draw(st.sampled_from([3, 5, 7]))
        kernel, dil = [k, k], [1, 1]
        sw = data.draw(st.sampled_from([1, 2]))
        strides = [data.draw(st.sampled_from([sw, sw, 1, 2, 3])), sw]
    else:
        kernel = [data.draw(st.integers(1, 7)) for _ in range(2)]
        dil = [data.draw(st.integers(1, 2)) for _ in range(2)]
        strides = [data.draw(st.integers(1, 3)) for _ in range(2)]
    pads = [data.draw(st.integers(0, kernel[i % 2])) for i in range(4)]
    h = data.draw(st.integers(1, 20))
    w = data.draw(st.sampled_from([data.draw(st.integers(1, 24)), data.draw(st.integers(25, 150))]))
    for i, n in enumerate((h, w)):
        assume(n + pads[i] + pads[i + 2] >= dil[i] * (kernel[i] - 1) + 1)
    channels, mult, batch = data.draw(st.integers(1, 5)), data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2))
    x = _array(data, (batch, channels, h, w))
    wt = _array(data, (channels * mult, 1, *kernel))
    b = _array(data, (channels * mult,)) if data.draw(st.booleans()) else None
    node = helper.make_node("Conv", ["x", "w"] + (["b"] if b is not None else []), ["c"], kernel_shape=kernel,
                            strides=strides, dilations=dil, pads=pads, group=channels)
    _conv_case(data, node, x, wt, b)


def check_pointwise(data):
    """1x1 convolutions (the GEMM on the input in place) over few to many pixels: every column edge,
    B narrower than a vector, K across the engine's K blocks; a single pixel (a squeeze-excite FC)
    now takes 16-lane dot products: within 1e-6 of the largest output."""
    cin, cout = data.draw(st.integers(1, 300)), data.draw(st.integers(1, 40))
    h, w = data.draw(st.integers(1, 9)), data.draw(st.sampled_from([1, 2, 3, 5, 7, 14, 33]))
    x = _array(data, (1, cin, h, w))
    wt = _array(data, (cout, cin, 1, 1))
    b = _array(data, (cout,)) if data.draw(st.booleans()) else None
    node = helper.make_node("Conv", ["x", "w"] + (["b"] if b is not None else []), ["c"], kernel_shape=[1, 1])
    _conv_case(data, node, x, wt, b, exact=h * w > 1 and not FMA_BUILD)   # one pixel: kern_gemv's dot products


def check_matmul(data):
    """MatMul on the engine with B in place: narrow and wide N, K across blocks, batched A."""
    m, k, n = data.draw(st.integers(1, 30)), data.draw(st.integers(1, 300)), data.draw(st.integers(1, 70))
    batch = data.draw(st.sampled_from([(), (2,), (2, 3)]))
    a, b = _array(data, (*batch, m, k)), _array(data, (k, n))
    node = helper.make_node("MatMul", ["a", "b"], ["y"])
    (assert_close_tensor if FMA_BUILD else assert_identical)(*_both(lambda: kh.run_node(node, [a, b], OPSET)[0]))


def check_grouped(data):
    """Grouped convolutions: the window path (3x3/5x5/7x7 at strides 1/2, strips of one row to the
    whole map, group widths 2..20, strip widths across the GEMM's column tiles) and around it the
    im2col path (other windows and strides, dilations)."""
    window = data.draw(st.booleans(), label="window path")
    k = data.draw(st.sampled_from([3, 5, 7])) if window else data.draw(st.integers(1, 4))
    s = data.draw(st.sampled_from([1, 2])) if window else data.draw(st.integers(1, 3))
    dil = 1 if window else data.draw(st.integers(1, 2))
    group, cin_g, cout_g = data.draw(st.integers(2, 4)), data.draw(st.integers(2, 20)), data.draw(st.integers(1, 19))
    pads = [data.draw(st.integers(0, k - 1)) for _ in range(4)]
    h, w = data.draw(st.integers(1, 30)), data.draw(st.integers(1, 70))
    for i, n in enumerate((h, w)):
        assume(n + pads[i] + pads[i + 2] >= dil * (k - 1) + 1)
    x = _array(data, (data.draw(st.integers(1, 2)), group * cin_g, h, w))
    wt = _array(data, (group * cout_g, cin_g, k, k))
    b = _array(data, (group * cout_g,)) if data.draw(st.booleans()) else None
    node = helper.make_node("Conv", ["x", "w"] + (["b"] if b is not None else []), ["c"], kernel_shape=[k, k],
                            strides=[s, s], dilations=[dil, dil], pads=pads, group=group)
    _conv_case(data, node, x, wt, b, exact=not FMA_BUILD)


def check_one_input_channel(data):
    """c_in / group == 1 with at least 8 outputs per input channel (a first conv over one channel, a
    keyword spotter's 10x4): the GEMM path now, where it was the depthwise one; the same sums in the
    same order (identical without FMA contraction)."""
    kh_, kw_ = data.draw(st.integers(1, 10)), data.draw(st.integers(1, 7))
    s, group, mult = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)), data.draw(st.integers(8, 40))
    pads = [data.draw(st.integers(0, kh_ // 2)), data.draw(st.integers(0, kw_ // 2))] * 2
    h, w = data.draw(st.integers(kh_, 50)), data.draw(st.integers(kw_, 20))
    x = _array(data, (1, group, h, w))
    wt = _array(data, (group * mult, 1, kh_, kw_))
    b = _array(data, (group * mult,)) if data.draw(st.booleans()) else None
    node = helper.make_node("Conv", ["x", "w"] + (["b"] if b is not None else []), ["c"], kernel_shape=[kh_, kw_],
                            strides=[s, s], pads=pads, group=group)
    _conv_case(data, node, x, wt, b, exact=not FMA_BUILD)


CHECKS = checks_by_name(check_depthwise, check_pointwise, check_matmul, check_grouped, check_one_input_channel)
test_same_as_baseline, test_same_as_baseline_many = differential_tests(CHECKS, 60, 600)


def test_grouped_layers_same_as_baseline():
    """The grouped layers of RegNet and ResNeXt as they are, Relu fused."""
    rng = np.random.default_rng(1)
    for channels, group, size, stride in [(48, 6, 56, 2), (104, 13, 28, 1), (208, 26, 14, 2), (440, 55, 7, 1),
                                          (128, 32, 56, 1), (256, 32, 28, 2), (400, 25, 7, 1)]:
        x = rng.standard_normal((1, channels, size, size)).astype(np.float32)
        w = rng.standard_normal((channels, channels // group, 3, 3)).astype(np.float32)
        b = rng.standard_normal(channels).astype(np.float32)
        node = helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], strides=[stride, stride],
                                pads=[1, 1, 1, 1], group=group)
        act = helper.make_node("Relu", ["c"], ["y"])
        old, new = _both(lambda: kh.run_conv_activation(node, act, [x, w, b], [], OPSET))
        (assert_close_tensor if FMA_BUILD else assert_identical)(old, new)


def test_mobile_depthwise_layers_same_as_baseline():
    """The depthwise layers of MobileNetV3 / EfficientNet / MNASNet as they are, activation fused."""
    rng = np.random.default_rng(0)
    for channels, size, k, stride in [(16, 112, 3, 1), (64, 112, 3, 2), (72, 56, 5, 2), (120, 28, 5, 1),
                                      (240, 28, 3, 2), (200, 14, 3, 1), (672, 14, 5, 2), (960, 7, 5, 1),
                                      (32, 56, 7, 1)]:
        x = rng.standard_normal((1, channels, size, size)).astype(np.float32)
        w = rng.standard_normal((channels, 1, k, k)).astype(np.float32)
        b = rng.standard_normal(channels).astype(np.float32)
        node = helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[k, k], strides=[stride, stride],
                                pads=[k // 2] * 4, group=channels)
        act = helper.make_node("HardSwish", ["c"], ["y"])
        old, new = _both(lambda: kh.run_conv_activation(node, act, [x, w, b], [], OPSET))
        assert_identical(old, new)


def _sweep() -> np.ndarray:
    """Dense float32 points over the ranges where sigmoid and tanh vary, the far tails, the specials."""
    rng = np.random.default_rng(5)
    dense = np.concatenate([np.linspace(-110, 110, 200001), np.linspace(-1, 1, 20001), rng.uniform(-30, 30, 50000),
                            np.geomspace(1e-38, 110, 20000), -np.geomspace(1e-38, 110, 20000),
                            [0.0, -0.0, np.inf, -np.inf, np.nan, 0.625, -0.625, 80.0, -80.0, 104.0, -104.0]])
    return dense.astype(np.float32)


@pytest.mark.parametrize("op,ref", [("Sigmoid", lambda v: 1 / (1 + np.exp(-v))), ("Tanh", np.tanh),
                                    ("Erf", special.erf)])
def test_vectorised_activations_close_to_baseline(op, ref):
    """Sigmoid, Tanh and Erf now run vectorised float code (vmath.c) where they ran mathf's double-precision
    scalar functions: within 1e-6 relative of the old values (2.5e-7 of float64), and below 1e-37 in
    absolute terms where the result is subnormal; NaN, the infinities and signed zeros as before."""
    x = _sweep()
    node = helper.make_node(op, ["x"], ["y"])
    old, new = (v.astype(np.float64) for v in _both(lambda: kh.run_node(node, [x], OPSET)[0]))
    special = ~np.isfinite(x) | (x == 0)
    assert np.array_equal(old[special], new[special], equal_nan=True)
    assert np.array_equal(np.signbit(old[special]), np.signbit(new[special]))
    with np.errstate(over="ignore"):
        want = ref(x[~special].astype(np.float64))
    old, new = old[~special], new[~special]
    normal = np.abs(old) >= np.finfo(np.float32).tiny
    assert (np.abs(new - old)[normal] / np.abs(old)[normal]).max() <= 1e-6
    assert (np.abs(new - want)[normal] / np.abs(want)[normal]).max() <= 2.5e-7
    assert np.abs(new - old)[~normal].max(initial=0) <= 1e-37


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
@given(data=st.data())
@settings(max_examples=25, deadline=None)
def test_softmax_with_vectorised_exponentials_close_to_baseline(op, data):
    """Softmax and LogSoftmax over the last axis: rows of 1 to 300 values spread over up to 200 (so
    some exponentials underflow into the subnormals or to 0), -inf entries, attention-sized rows.
    Softmax within 1e-6 relative of the old values (1e-37 absolute below the normal floats) and of a
    float64 softmax of the float differences x - max; LogSoftmax within 1e-6 of the largest |old| value."""
    rows = data.draw(st.integers(1, 12), label="rows")
    n = data.draw(st.sampled_from([1, 7, 8, 9, 63, 197, 300]), label="n")
    spread = data.draw(st.sampled_from([1.0, 20.0, 200.0]), label="spread")
    x = _array(data, (rows, n), -spread, spread)
    if n > 1 and data.draw(st.booleans(), label="with -inf"):
        x[:, data.draw(st.integers(0, n - 1), label="-inf at")] = -np.inf
    node = helper.make_node(op, ["x"], ["y"], axis=-1)
    old, new = _both(lambda: kh.run_node(node, [x], OPSET)[0])
    if op == "Softmax":
        assert_close(old, new)
        z = np.exp((x - x.max(axis=1, keepdims=True)).astype(np.float64))   # x - max rounded as the kernel does
        want = z / z.sum(axis=1, keepdims=True)
        normal = want >= np.finfo(np.float32).tiny
        assert (np.abs(new - want)[normal] / want[normal]).max(initial=0) <= 1e-6
        assert np.abs(new - want)[~normal].max(initial=0) <= 1e-37
    else:
        finite = np.isfinite(old)
        assert np.array_equal(finite, np.isfinite(new)) and np.array_equal(old[~finite], new[~finite])
        assert_close_tensor(np.where(finite, old, 0), np.where(finite, new, 0))


@given(data=st.data())
@settings(max_examples=30, deadline=None)
def test_conv_dilated_past_its_map_is_the_center_tap_same_as_baseline(data):
    """A stride-1 convolution dilated at least as far as its map is wide (DeepLab's ASPP branches on a
    small map) reads the input at its center tap only: now a 1x1 product on that tap's weights, the
    same floats as the im2col path over the zero-padded taps."""
    cin, cout = data.draw(st.integers(1, 40), label="cin"), data.draw(st.integers(1, 40), label="cout")
    h, w = data.draw(st.integers(1, 9), label="h"), data.draw(st.integers(1, 9), label="w")
    k = data.draw(st.sampled_from([3, 5]), label="k")
    d = data.draw(st.integers(max(h, w), 12), label="dilation")
    x = _array(data, (1, cin, h, w))
    wt = _array(data, (cout, cin, k, k))
    b = _array(data, (cout,))
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[k, k], dilations=[d, d],
                            pads=[d * (k // 2)] * 4)
    old, new = _both(lambda: kh.run_node(node, [x, wt, b], OPSET)[0])
    assert_identical(old, new)


@given(data=st.data())
@settings(max_examples=40, deadline=None)
def test_resize_same_as_baseline(data):
    """Resize nearest / linear over 1-4 dims (1 to 3 of them resized, so 0 to 2 leading dims blend), every
    coordinate transformation, up- and downsampling: the 2-corner loop gives the old values bit for bit."""
    rank = data.draw(st.integers(1, 4), label="rank")
    shape = [data.draw(st.integers(1, 9), label="dim") for _ in range(rank)]
    out = [n if data.draw(st.booleans(), label="keep") else data.draw(st.integers(1, 70), label="out")
           for n in shape]
    mode = data.draw(st.sampled_from(["nearest", "linear"]), label="mode")
    coord = data.draw(st.sampled_from(["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric"]),
                      label="coordinate transformation")
    x = _array(data, shape)
    sizes = np.array(out, np.int64)
    node = helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode=mode, coordinate_transformation_mode=coord)
    old, new = _both(lambda: kh.run_node(node, [x, None, None, sizes], OPSET)[0])
    assert_identical(old, new)


@given(data=st.data())
@settings(max_examples=30, deadline=None)
def test_conv_transpose_on_the_gemm_engine_close_to_baseline(data):
    """ConvTranspose as one GEMM per tap plus a scatter, against the direct scatter it replaces: blocks
    split along output channels (> 64 per group) and input pixels (> 512), strides, dilations, pads,
    output padding, groups."""
    group = data.draw(st.integers(1, 2), label="group")
    cin_g, cout_g = data.draw(st.integers(1, 24), label="cin_g"), data.draw(st.sampled_from([1, 5, 64, 70]), label="cout_g")
    k = [data.draw(st.integers(1, 4), label="k") for _ in range(2)]
    strides = [data.draw(st.integers(1, 3), label="stride") for _ in range(2)]
    dil = [data.draw(st.integers(1, 2), label="dilation") for _ in range(2)]
    pads = [data.draw(st.integers(0, 2), label="pad") for _ in range(4)]
    out_pad = [data.draw(st.integers(0, strides[i] - 1), label="output padding") for i in range(2)]
    size = [data.draw(st.sampled_from([1, 3, 17, 31]), label="size") for _ in range(2)]
    for i in range(2):
        assume(strides[i] * (size[i] - 1) + out_pad[i] + dil[i] * (k[i] - 1) + 1 - pads[i] - pads[i + 2] >= 1)
    x = _array(data, (data.draw(st.integers(1, 2), label="batch"), cin_g * group, *size))
    w = _array(data, (cin_g * group, cout_g, *k))
    b = _array(data, (cout_g * group,))
    node = helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"], kernel_shape=k, strides=strides, dilations=dil,
                            pads=pads, output_padding=out_pad, group=group)
    old, new = _both(lambda: kh.run_node(node, [x, w, b], OPSET)[0])
    assert_close_tensor(old, new)


def test_global_average_pool_as_accurate_as_baseline():
    """GlobalAveragePool sums in 8 lanes (ReduceMean's loop) where it summed one value at a time, so
    the values move by the old sum's own rounding error (5e-6 relative over 112 x 112): against a
    float64 mean, the new values are within 1e-6 of the largest output and no further off than the
    old ones, over planes of 1 to 112 x 112 values."""
    rng = np.random.default_rng(7)
    node = helper.make_node("GlobalAveragePool", ["x"], ["y"])
    for shape in [(1, 3, 1, 1), (2, 5, 3, 7), (1, 96, 112, 112), (1, 672, 14, 14), (1, 1152, 7, 7), (1, 40, 9)]:
        x = (rng.standard_normal(shape) + 0.5).astype(np.float32)
        old, new = (v.astype(np.float64) for v in _both(lambda: kh.run_node(node, [x], OPSET)[0]))
        want = x.astype(np.float64).reshape(*shape[:2], -1).mean(axis=2).reshape(old.shape)
        assert np.abs(new - want).max() <= 1e-6 * np.abs(want).max()
        assert np.abs(new - want).max() <= np.abs(old - want).max()
