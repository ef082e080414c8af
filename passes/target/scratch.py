"""Scratch bytes each interpreter kernel needs: the Python twin of kern_scratch_bytes_<op>() in C.

The memory plan reserves, per partition, the largest scratch any of its ops needs (S_k in the
memory model); the interpreter checks the C twin before every op and the kernels never use more.
These kernels use scratch (runtime_ta/interp/kernels.h):

    Conv 1x1 stride-1 unpadded, group 1, over P = h_out * w_out pixels, 1 < P <= CONV_WT_MAX_PIX and P
    not a multiple of PANEL (conv_wt_ok: the geometries whose weights may be stored transposed),
    whatever the layout:
        the transposed product's block of outputs = P * min(c_out, NC) floats
    Conv, depthwise (c_in / group == 1, c_out / group < DW_GEMM_MIN_MULT), dilated, stride 1, whose
    zero-padded plane Hp * Wp (Hp = h_in + pads, Wp = w_in + pads) and outputs h_out * Wp fit DW_DIL_MAX floats:
        that plane and those outputs = Hp * Wp + h_out * Wp floats
    Conv, not depthwise (c_in / group > 1, or == 1 with c_out / group >= DW_GEMM_MIN_MULT: the GEMM
    path) and not 1x1 stride-1 unpadded:
        im2col tile = min(K, KC) * panel(min(P, NC)) floats,  K = c_in / group * kh * kw,  P = h_out * w_out
    ConvTranspose (c_in / group > 0 input channels per group, P_in = h_in * w_in input pixels):
        a block of one tap's products = min(c_out / group, CT_MB) * min(P_in, CT_NB) floats
    Gemm with transB and M >= GEMM_PACK_MIN_M:
        packed block of B = min(K, KC) * panel(min(N, NC)) floats
    LSTM / GRU / RNN (G = 4 / 3 / 1 gates, D directions run one after the other, a batch row at a time):
        tc * (I + G*H) + G*H + 2*H floats,  tc = min(T, RNN_TC)  (a chunk of input steps transposed,
        its projection, one step's gates, the hidden and cell states)
    DynamicQuantizeLSTM: (tc * 4H + 3 * 4H + 2H) * 4 + tc * I + H bytes (int32 sums of a chunk's input
        projection and of a step's recurrence, the gates, the fused bias, the states; the uint8 chunk and
        hidden state)
    QLinearConv, ConvInteger: REQUANT_BYTES per output channel (QLinearConv's requantization), then,
        not depthwise, QCOLS columns of K int16 values (K = c_in / group * kh * kw <= QK_MAX);
        depthwise, a band of R output rows: stride_h * stride_w phase planes of hq * wq int16 (rounded up
        to 4 bytes), R * wq int32 sums and R * wq outputs (4 bytes each at most), wq = ceil((w_in + pads) / stride_w), hq = ceil(((R - 1) *
        stride_h + span_h) / stride_h), R the most rows up to h_out within QDW_BAND_MAX bytes (none if 0)
    QLinearMatMul: REQUANT_BYTES per value of b_scale (one, or one per column of B)
    QLinearAdd, QLinearMul: QBINARY_BYTES (the int64 term of each of the 256 bytes, per operand)
    QLinearSigmoid, QLinearLeakyRelu, QLinearConcat: QLUT_BYTES (a 256-byte table and 512 work floats)
    everything else: 0 (an op without a scratch rule in its target entry)
    panel(n) = n rounded up to a multiple of PANEL (the packed columns are zero-padded so that every
    GEMM micro-tile is full width)

So scratch never exceeds KC * NC * 4 = 128 KiB for a Conv or Gemm, whatever the layer (a recurrent
layer's grows with its input and hidden sizes, not with the sequence length beyond RNN_TC steps; a
quantized convolution's with K, at most QCOLS * QK_MAX * 2 = 258 KiB).
"""
from __future__ import annotations

import math
from typing import Mapping

import onnx

from ..analysis.shapes import TensorInfo
from ..analysis.spatial import WindowGeometry, window_geometry
from ..graph import attribute

# Mirrors the #defines of runtime_ta/interp/kernels.h (tests/test_kernels_scratch.py checks it).
KC = 256
NC = 128
PANEL = 32
CT_MB = 64
CT_NB = 512
GEMM_PACK_MIN_M = 8
CONV_WT_MAX_PIX = 64
DW_GEMM_MIN_MULT = 8
DW_DIL_MAX = 16384
RNN_TC = 32
QCOLS = 4
QK_MAX = 33025
QDW_BAND_MAX = 65536
FLOAT_BYTES = 4
REQUANT_BYTES = 8  # kern_requant: an int32 multiplier and shift
QBINARY_BYTES = 2 * 256 * 8   # KERN_QBINARY_SCRATCH
QLUT_BYTES = 256 + 512 * FLOAT_BYTES   # KERN_QLUT_SCRATCH


def _panel(n: int) -> int:
    return -(-n // PANEL) * PANEL


def _pointwise(g: WindowGeometry) -> bool:
    """kern_conv_pointwise(): 1x1, stride 1, unpadded."""
    return (g.kernel_h, g.kernel_w, g.stride_h, g.stride_w) == (1, 1, 1, 1) and \
        (g.pad_top, g.pad_left, g.pad_bottom, g.pad_right) == (0, 0, 0, 0)


def conv_wt_ok(g: WindowGeometry) -> bool:
    """kern_conv_wt_ok(): a 1x1 convolution over few pixels, whose weights may be stored transposed
    (ATTR_CONV_W_LAYOUT 1)."""
    pix = g.h_out * g.w_out
    return g.group == 1 and _pointwise(g) and 1 < pix <= CONV_WT_MAX_PIX and pix % PANEL != 0


def dw_dilated_scratch_bytes(g: WindowGeometry) -> int:
    """kern_dw_dilated_scratch(): a depthwise Conv's zero-padded plane and outputs, or 0."""
    if max(g.dilation_h, g.dilation_w) < 2 or (g.stride_h, g.stride_w) != (1, 1):
        return 0
    wp = g.w_in + g.pad_left + g.pad_right
    floats = (g.h_in + g.pad_top + g.pad_bottom) * wp + g.h_out * wp
    return floats * FLOAT_BYTES if floats <= DW_DIL_MAX else 0


def conv_scratch_bytes(g: WindowGeometry) -> int:
    """kern_scratch_bytes_conv()."""
    if g.group == 0 or g.c_in % g.group:
        return 0
    cin_g = g.c_in // g.group
    if conv_wt_ok(g):
        return g.h_out * g.w_out * min(g.c_out, NC) * FLOAT_BYTES
    pointwise = _pointwise(g)
    depthwise = cin_g == 1 and g.c_out // g.group < DW_GEMM_MIN_MULT
    if depthwise:
        return dw_dilated_scratch_bytes(g)
    if pointwise:
        return 0
    return min(cin_g * g.kernel_h * g.kernel_w, KC) * _panel(min(g.h_out * g.w_out, NC)) * FLOAT_BYTES


def conv_transpose_scratch_bytes(g: WindowGeometry) -> int:
    """kern_scratch_bytes_conv_transpose()."""
    if g.group == 0 or g.c_out % g.group:
        return 0
    return min(g.c_out // g.group, CT_MB) * min(g.h_in * g.w_in, CT_NB) * FLOAT_BYTES


def gemm_scratch_bytes(m: int, n: int, k: int, trans_b: bool) -> int:
    """kern_scratch_bytes_gemm()."""
    if not trans_b or m < GEMM_PACK_MIN_M:
        return 0
    return min(k, KC) * _panel(min(n, NC)) * FLOAT_BYTES


def rnn_scratch_bytes(gates: int, seq_len: int, input_size: int, hidden_size: int) -> int:
    """kern_scratch_bytes_rnn()."""
    tc = min(seq_len, RNN_TC)
    return (tc * (input_size + gates * hidden_size) + gates * hidden_size + 2 * hidden_size) * FLOAT_BYTES


def dqlstm_scratch_bytes(seq_len: int, input_size: int, hidden_size: int) -> int:
    """kern_scratch_bytes_dqlstm(): int32 / float words (a chunk's and a step's int32 sums, the gates,
    the fused bias, the states), then the chunk's and the step's uint8 operands."""
    tc, gh = min(seq_len, RNN_TC), 4 * hidden_size
    return (tc * gh + 3 * gh + 2 * hidden_size) * FLOAT_BYTES + tc * input_size + hidden_size


def qdw_band_bytes(g: WindowGeometry, rows: int) -> int:
    """qconv.c qdw_band_bytes(): a band of `rows` output rows' phase planes (int16, bytes rounded up to 4),
    sums (int32) and outputs (at most int32) on the planes' grid."""
    span = (g.kernel_h - 1) * g.dilation_h + 1
    wq = -(-(g.w_in + g.pad_left + g.pad_right) // g.stride_w)
    hq = -(-((rows - 1) * g.stride_h + span) // g.stride_h)
    planes = g.stride_h * g.stride_w * hq * wq * 2
    return -(-planes // 4) * 4 + rows * wq * 8


def qdw_band_rows(g: WindowGeometry) -> int:
    """qconv.c qdw_band_rows(): the most output rows (up to h_out) whose band fits QDW_BAND_MAX bytes, 0 if
    one row's does not."""
    lo, hi = 0, g.h_out
    while lo < hi:
        mid = lo + (hi - lo + 1) // 2
        lo, hi = (mid, hi) if qdw_band_bytes(g, mid) <= QDW_BAND_MAX else (lo, mid - 1)
    return lo


def qconv_scratch_bytes(g: WindowGeometry, requantized: bool) -> int:
    """kern_scratch_bytes_qconv()."""
    if g.group == 0 or g.c_in % g.group:
        return 0
    table = g.c_out * REQUANT_BYTES if requantized else 0
    cin_g = g.c_in // g.group
    if cin_g == 1:
        band = qdw_band_rows(g)
        return table + qdw_band_bytes(g, band) if band else table
    return table + cin_g * g.kernel_h * g.kernel_w * QCOLS * 2


def qmatmul_scratch_bytes(b_scale_count: int, requantized: bool) -> int:
    """kern_scratch_bytes_qmatmul()."""
    return b_scale_count * REQUANT_BYTES if requantized else 0


def conv_node_scratch(node: onnx.NodeProto, infos: Mapping[str, TensorInfo]) -> int:
    """The scratch rule of Conv (unaligned bytes)."""
    return conv_scratch_bytes(window_geometry(node, infos))


def conv_transpose_node_scratch(node: onnx.NodeProto, infos: Mapping[str, TensorInfo]) -> int:
    """The scratch rule of ConvTranspose (unaligned bytes)."""
    return conv_transpose_scratch_bytes(window_geometry(node, infos))


def gemm_node_scratch(node: onnx.NodeProto, infos: Mapping[str, TensorInfo]) -> int:
    """The scratch rule of Gemm (unaligned bytes)."""
    trans_a, trans_b = attribute(node, "transA", 0), attribute(node, "transB", 0)
    a_shape, b_shape = infos[node.input[0]].shape, infos[node.input[1]].shape
    m = a_shape[1] if trans_a else a_shape[0]
    k = a_shape[0] if trans_a else a_shape[1]
    n = b_shape[0] if trans_b else b_shape[1]
    return gemm_scratch_bytes(m, n, k, bool(trans_b))


RNN_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1, "DynamicQuantizeLSTM": 4}


def rnn_node_scratch(node: onnx.NodeProto, infos: Mapping[str, TensorInfo]) -> int:
    """The scratch rule of LSTM, GRU and RNN (unaligned bytes)."""
    x, w = infos[node.input[0]].shape, infos[node.input[1]].shape
    gates = RNN_GATES[node.op_type]
    if node.op_type == "DynamicQuantizeLSTM":
        return dqlstm_scratch_bytes(x[0], x[2], w[2] // gates)
    seq_len = x[1] if attribute(node, "layout", 0) else x[0]
    return rnn_scratch_bytes(gates, seq_len, x[2], w[1] // gates)


def qconv_node_scratch(node: onnx.NodeProto, infos: Mapping[str, TensorInfo]) -> int:
    """The scratch rule of QLinearConv and ConvInteger (unaligned bytes)."""
    return qconv_scratch_bytes(window_geometry(node, infos), node.op_type == "QLinearConv")


def qmatmul_node_scratch(node: onnx.NodeProto, infos: Mapping[str, TensorInfo]) -> int:
    """The scratch rule of QLinearMatMul and MatMulInteger (unaligned bytes)."""
    if node.op_type != "QLinearMatMul":
        return 0
    return qmatmul_scratch_bytes(math.prod(infos[node.input[4]].shape), True)


def qbinary_node_scratch(node: onnx.NodeProto, infos: Mapping[str, TensorInfo]) -> int:
    """The scratch rule of QLinearAdd and QLinearMul (unaligned bytes)."""
    return QBINARY_BYTES


def qlut_node_scratch(node: onnx.NodeProto, infos: Mapping[str, TensorInfo]) -> int:
    """The scratch rule of QLinearSigmoid, QLinearLeakyRelu and QLinearConcat (unaligned bytes)."""
    return QLUT_BYTES
