"""passes/target/scratch.py and its C twins (kern_scratch_bytes_*) agree, and stay bounded."""
import ctypes
import re

import pytest
from hypothesis import assume, given, settings, strategies as st

from kernel_harness import INTERP, ConvGeom, GemmAttr, kernels
from kernel_harness_quant import QConvAttr, QMatMulAttr
from onnx_tee.passes.target import scratch, scratch_bytes
from onnx_tee.passes.analysis.spatial import WindowGeometry


def test_tiling_constants_mirror_the_c_header():
    header = (INTERP / "kernels.h").read_text()
    defines = {m[0]: int(m[1]) for m in re.findall(r"#define KERN_(\w+) (\d+)", header)}
    assert defines["KC"] == scratch.KC
    assert defines["NC"] == scratch.NC
    assert defines["GEMM_PACK_MIN_M"] == scratch.GEMM_PACK_MIN_M
    assert defines["DW_GEMM_MIN_MULT"] == scratch.DW_GEMM_MIN_MULT
    assert defines["PANEL"] == scratch.PANEL
    assert defines["CONV_WT_MAX_PIX"] == scratch.CONV_WT_MAX_PIX
    assert defines["QCOLS"] == scratch.QCOLS
    assert defines["QK_MAX"] == scratch.QK_MAX
    assert defines["QDW_BAND_MAX"] == scratch.QDW_BAND_MAX
    assert defines["CT_MB"] == scratch.CT_MB
    assert defines["DW_DIL_MAX"] == scratch.DW_DIL_MAX
    assert defines["CT_NB"] == scratch.CT_NB


dims = st.integers(1, 600)
small = st.integers(1, 7)


@settings(max_examples=300, deadline=None)
@given(cin_g=st.integers(1, 300), group=st.integers(1, 8), cout_g=st.integers(1, 64), h=dims, w=dims,
       kh=small, kw=small, sh=st.integers(1, 3), sw=st.integers(1, 3), pads=st.lists(st.integers(0, 3), min_size=4,
                                                                                         max_size=4))
def test_conv_scratch_python_equals_c(cin_g, group, cout_g, h, w, kh, kw, sh, sw, pads):
    h_out, w_out = max(1, (h + pads[0] + pads[2] - kh) // sh + 1), max(1, (w + pads[1] + pads[3] - kw) // sw + 1)
    g = WindowGeometry(1, cin_g * group, h, w, cout_g * group, h_out, w_out, kh, kw, sh, sw, 1, 1, *pads, group)
    c_bytes = kernels().kern_scratch_bytes_conv(ctypes.byref(ConvGeom(*g.as_tuple())))
    assert c_bytes == scratch.conv_scratch_bytes(g)
    assert c_bytes <= scratch.KC * scratch.NC * 4


@settings(max_examples=300, deadline=None)
@given(channels=st.integers(1, 64), mult=st.integers(1, 9), h=st.integers(1, 150), w=st.integers(1, 150),
       k=small, s=st.integers(1, 2), d=st.integers(1, 4), pads=st.lists(st.integers(0, 12), min_size=4, max_size=4))
def test_dilated_depthwise_scratch_python_equals_c(channels, mult, h, w, k, s, d, pads):
    """Depthwise convolutions (and, at 8+ outputs per channel, the GEMM path) at every dilation: the
    zero-padded plane's scratch agrees in C and Python, and stays within DW_DIL_MAX floats."""
    h_out, w_out = (h + pads[0] + pads[2] - d * (k - 1) - 1) // s + 1, (w + pads[1] + pads[3] - d * (k - 1) - 1) // s + 1
    assume(h_out >= 1 and w_out >= 1)
    g = WindowGeometry(1, channels, h, w, channels * mult, h_out, w_out, k, k, s, s, d, d, *pads, channels)
    c_bytes = kernels().kern_scratch_bytes_conv(ctypes.byref(ConvGeom(*g.as_tuple())))
    assert c_bytes == scratch.conv_scratch_bytes(g)
    assert c_bytes <= max(scratch.DW_DIL_MAX, scratch.KC * scratch.NC) * 4


@settings(max_examples=200, deadline=None)
@given(cin_g=st.integers(1, 300), group=st.integers(1, 8), cout_g=st.integers(1, 200), h=st.integers(1, 80),
       w=st.integers(1, 80), k=small, s=st.integers(1, 3))
def test_conv_transpose_scratch_python_equals_c(cin_g, group, cout_g, h, w, k, s):
    g = WindowGeometry(1, cin_g * group, h, w, cout_g * group, s * (h - 1) + k, s * (w - 1) + k, k, k, s, s, 1, 1,
                       0, 0, 0, 0, group)
    c_bytes = kernels().kern_scratch_bytes_conv_transpose(ctypes.byref(ConvGeom(*g.as_tuple())))
    assert c_bytes == scratch.conv_transpose_scratch_bytes(g) <= scratch.CT_MB * scratch.CT_NB * 4


@settings(max_examples=200, deadline=None)
@given(cin=st.integers(1, 300), cout=st.integers(1, 700), h=st.integers(1, 70), w=st.integers(1, 70),
       group=st.sampled_from([1, 1, 2]), k=st.sampled_from([1, 1, 3]), pad=st.sampled_from([0, 0, 1]))
def test_pointwise_small_map_scratch_python_equals_c(cin, cout, h, w, group, k, pad):
    """1x1 convolutions on small maps, where the transposed-weight geometries (kern_conv_wt_ok) lie:
    the predicate and the scratch agree in C and Python."""
    g = WindowGeometry(1, cin * group, h, w, cout * group, h + 2 * pad - k + 1, w + 2 * pad - k + 1, k, k, 1, 1,
                       1, 1, pad, pad, pad, pad, group)
    assume(g.h_out >= 1 and g.w_out >= 1)
    geom = ctypes.byref(ConvGeom(*g.as_tuple()))
    assert bool(kernels().kern_conv_wt_ok(geom)) == scratch.conv_wt_ok(g)
    assert kernels().kern_scratch_bytes_conv(geom) == scratch.conv_scratch_bytes(g) <= scratch.KC * scratch.NC * 4


@settings(max_examples=200, deadline=None)
@given(cin_g=st.integers(1, 300), group=st.integers(1, 8), cout_g=st.integers(1, 64), kh=small, kw=small,
       linear=st.booleans())
def test_qconv_scratch_python_equals_c(cin_g, group, cout_g, kh, kw, linear):
    g = WindowGeometry(1, cin_g * group, 9, 9, cout_g * group, 9, 9, kh, kw, 1, 1, 1, 1, kh // 2, kw // 2,
                       kh - 1 - kh // 2, kw - 1 - kw // 2, group)
    q = QConvAttr(2, 3, 2 if linear else 6, 1, cout_g * group)   # uint8 x, int8 w, uint8 (or int32) y
    c_bytes = kernels().kern_scratch_bytes_qconv(ctypes.byref(ConvGeom(*g.as_tuple())), ctypes.byref(q))
    assert c_bytes == scratch.qconv_scratch_bytes(g, linear)
    assert c_bytes <= g.c_out * scratch.REQUANT_BYTES + scratch.QCOLS * scratch.QK_MAX * 2


@settings(max_examples=300, deadline=None)
@given(channels=st.integers(1, 64), mult=st.integers(1, 3), h=st.integers(1, 300), w=st.integers(1, 12000),
       k=small, s=st.integers(1, 3), d=st.integers(1, 3), pads=st.lists(st.integers(0, 6), min_size=4, max_size=4),
       linear=st.booleans())
def test_quantized_depthwise_band_scratch_python_equals_c(channels, mult, h, w, k, s, d, pads, linear):
    """The depthwise band path's planes and sums: the same bytes in C and Python, within QDW_BAND_MAX,
    none on maps too wide for one row's band."""
    h_out, w_out = (h + pads[0] + pads[2] - d * (k - 1) - 1) // s + 1, (w + pads[1] + pads[3] - d * (k - 1) - 1) // s + 1
    assume(h_out >= 1 and w_out >= 1)
    g = WindowGeometry(1, channels, h, w, channels * mult, h_out, w_out, k, k, s, s, d, d, *pads, channels)
    q = QConvAttr(2, 3, 2 if linear else 6, 1, g.c_out)
    c_bytes = kernels().kern_scratch_bytes_qconv(ctypes.byref(ConvGeom(*g.as_tuple())), ctypes.byref(q))
    assert c_bytes == scratch.qconv_scratch_bytes(g, linear)
    assert c_bytes - (g.c_out * scratch.REQUANT_BYTES if linear else 0) <= scratch.QDW_BAND_MAX

@settings(max_examples=100, deadline=None)
@given(columns=st.integers(1, 5000), linear=st.booleans())
def test_qmatmul_scratch_python_equals_c(columns, linear):
    q = QMatMulAttr(2, 3, 2 if linear else 6, 1, columns)
    assert kernels().kern_scratch_bytes_qmatmul(ctypes.byref(q)) == scratch.qmatmul_scratch_bytes(columns, linear)


@settings(max_examples=300, deadline=None)
@given(m=st.integers(1, 5000), n=st.integers(1, 5000), k=st.integers(1, 10000), ta=st.booleans(), tb=st.booleans())
def test_gemm_scratch_python_equals_c(m, n, k, ta, tb):
    attr = GemmAttr(m, n, k, int(ta), int(tb), 1.0, 1.0, 0, 0)
    assert kernels().kern_scratch_bytes_gemm(ctypes.byref(attr)) == scratch.gemm_scratch_bytes(m, n, k, tb)


@pytest.mark.parametrize("name", ["squeezenet", "shufflenet", pytest.param("resnet50", marks=pytest.mark.slow),
                                  pytest.param("vgg19", marks=pytest.mark.slow)])
def test_zoo_scratch_is_modest(name):
    from onnx_tee import models
    from onnx_tee.passes.analysis.shapes import infer_static_shapes
    model = models.load(name)
    infos = infer_static_shapes(model)
    sizes = [scratch_bytes(node, infos) for node in model.graph.node]
    assert 0 < max(sizes) <= 128 * 1024
