"""Multiply-accumulates per node, from static shapes.

Counted (one MAC = one multiply plus one add; bias additions are not counted):

- Conv:           N * C_out * prod(out_spatial) * (C_in / group) * prod(kernel)
- ConvTranspose:  N * C_in  * prod(in_spatial)  * (C_out / group) * prod(kernel)
  (every input element is scattered through the kernel)
- Gemm:           M * N * K   (A is M x K after transA; C's addition and alpha/beta not counted)
- MatMul:         prod(broadcast batch dims of the output) * M * N * K  (numpy matmul semantics)
- QLinearConv, ConvInteger (int8):  as Conv;  QLinearMatMul, MatMulInteger (int8):  as MatMul
- LSTM, GRU, RNN: seq_len * batch * (prod(W) + prod(R)): each step multiplies x_t by W and h_(t-1) by R
  for every gate and direction (W: dirs x gates*hidden x input, R: dirs x gates*hidden x hidden)

Every other op counts 0 MACs: element-wise ops, pools, normalisations and reshapes cost
memory traffic rather than multiply-accumulates, and are reported by their tensor bytes.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import onnx

from ..errors import UnsupportedModelError
from ..graph import attribute, node_label
from .shapes import TensorInfo
from .spatial import CONV_WEIGHTS


def _shape(node: onnx.NodeProto, name: str, infos: Mapping[str, TensorInfo]) -> tuple[int, ...]:
    if name not in infos:
        raise UnsupportedModelError(f"node '{node.name or node.op_type}' ({node.op_type}): tensor '{name}' has no "
                                    f"static shape, cannot count its MACs")
    return infos[name].shape


def _prod(values) -> int:
    return int(np.prod(values, dtype=np.int64))


def node_macs(node: onnx.NodeProto, infos: Mapping[str, TensorInfo]) -> int:
    """Multiply-accumulates of one node (see the module docstring for the formulas)."""
    op = node.op_type
    if op in CONV_WEIGHTS and op != "ConvTranspose":
        weight = _shape(node, node.input[CONV_WEIGHTS[op]], infos)
        out = _shape(node, node.output[0], infos)
        return _prod(out) * _prod(weight[1:])
    if op == "ConvTranspose":
        weight = _shape(node, node.input[1], infos)  # (C_in, C_out / group, *kernel)
        x = _shape(node, node.input[0], infos)
        return _prod(x) * _prod(weight[1:])
    if op == "Gemm":
        a = _shape(node, node.input[0], infos)
        b = _shape(node, node.input[1], infos)
        m, k = (a[1], a[0]) if attribute(node, "transA", 0) else (a[0], a[1])
        n = b[0] if attribute(node, "transB", 0) else b[1]
        return m * n * k
    if op in ("MatMul", "QLinearMatMul", "MatMulInteger"):
        a = _shape(node, node.input[0], infos)
        out = _shape(node, node.output[0], infos)
        return _prod(out) * a[-1]
    if op in ("LSTM", "GRU", "RNN"):
        x = _shape(node, node.input[0], infos)
        steps = x[0] * x[1]   # seq_len * batch in either layout
        return steps * (_prod(_shape(node, node.input[1], infos)) + _prod(_shape(node, node.input[2], infos)))
    return 0


def model_macs(model: onnx.ModelProto, infos: Mapping[str, TensorInfo]) -> dict[str, int]:
    """MACs of every node, keyed by node name (or its first output when unnamed)."""
    return {node_label(node): node_macs(node, infos) for node in model.graph.node}
