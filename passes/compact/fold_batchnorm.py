"""Fold BatchNormalization (and the per-channel Mul/Add that follow it) into the preceding
Conv / ConvTranspose / Gemm."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from ..core import Pass, PassResult
from .affine import ChainAbsorber, compose
from ..graph import attribute
from .graph_edit import add_initializer, set_attribute, unique_name


def _out_channels(node: onnx.NodeProto, weight: np.ndarray) -> tuple[int, int]:
    """(channel count of the output, axis of `weight` that indexes output channels) — the
    ConvTranspose weight is (C_in, C_out / group, k...) and is handled separately."""
    if node.op_type == "Conv":
        return weight.shape[0], 0
    if node.op_type == "ConvTranspose":
        return weight.shape[1] * attribute(node, "group", 1), 1
    trans_b = attribute(node, "transB", 0)
    return weight.shape[0 if trans_b else 1], 0 if trans_b else 1


def _scaled_weight(node: onnx.NodeProto, weight: np.ndarray, a: np.ndarray) -> np.ndarray:
    """W with output channel o multiplied by a[o]."""
    channels, axis = _out_channels(node, weight)
    w = weight.astype(np.float64)
    if node.op_type == "ConvTranspose":
        group = attribute(node, "group", 1)
        grouped = w.reshape((group, weight.shape[0] // group) + weight.shape[1:])
        factor = a.reshape((group, 1, weight.shape[1]) + (1,) * (weight.ndim - 2))
        return (grouped * factor).reshape(weight.shape)
    shape = [1] * weight.ndim
    shape[axis] = channels
    return w * a.reshape(shape)


class FoldBatchNorm(Pass):
    """Fold a chain of per-channel affine ops (BatchNormalization, Mul/Add/Sub by per-channel
    constants — the Caffe "BatchNorm + Scale" pattern) into the Conv/ConvTranspose/Gemm feeding it.

    Before:  y = Conv(x, W, b);  z = BatchNormalization(y, s, B, m, v);  u = Mul(z, g);  o = Add(u, h)
    After:   o = Conv(x, W', b')   with, per output channel k (see `affine.py`):
             a_k = g_k * s_k / sqrt(v_k + eps),  c_k = g_k * (B_k - m_k * s_k / sqrt(v_k + eps)) + h_k
             W'[k] = a_k * W[k],  b'_k = a_k * b_k + c_k
    Gemm:    Y = alpha * A @ B + beta * C  ->  B' = B * a (per output column),  C' = beta * C * a + c,
             beta' = 1.

    Preconditions: W (and b, C) and every affine parameter are initializers; each intermediate
    tensor has exactly one reader and is not a graph output; BN is in inference mode.  New
    weights get new names (a weight shared with another node is never changed in place).
    Rounding: the factors are computed in float64 and rounded once to the weight dtype, so the
    output differs from the unfolded graph by float32 rounding (relative ~1e-6, tested at rtol 1e-5
    on the reference zoo's random weights; relative error can grow where a channel's
    output cancels to near zero, which atol covers).
    """

    def call(self, model: onnx.ModelProto) -> PassResult:
        graph = model.graph
        absorber = ChainAbsorber(model)
        inits, taken = absorber.inits, absorber.taken
        folded = 0
        for node in graph.node:
            if (node.op_type not in ("Conv", "ConvTranspose", "Gemm")
                    or node.domain not in ("", "ai.onnx") or len(node.input) < 2 or node.input[1] not in inits
                    or (len(node.input) > 2 and node.input[2] and node.input[2] not in inits)):
                continue
            weight = numpy_helper.to_array(inits[node.input[1]])
            if not np.issubdtype(weight.dtype, np.floating):
                continue
            channels, _ = _out_channels(node, weight)
            rank = 2 if node.op_type == "Gemm" else weight.ndim
            chain = absorber.chain(node.output[0], rank, channels)
            if not chain:
                continue
            a, c = compose(chain, channels)
            bias_name = node.input[2] if len(node.input) > 2 and node.input[2] else None
            bias = numpy_helper.to_array(inits[bias_name]).astype(np.float64) if bias_name else np.zeros(channels)
            if node.op_type == "Gemm":
                beta = attribute(node, "beta", 1.0) if bias_name else 0.0
                new_bias = beta * bias * a + c
                set_attribute(node, "beta", 1.0)
            else:
                new_bias = bias * a + c
            new_w = unique_name(graph, f"{node.input[1]}_folded", taken)
            new_b = unique_name(graph, f"{bias_name or node.input[1]}_folded_bias", taken)
            add_initializer(model, _scaled_weight(node, weight, a).astype(weight.dtype), new_w)
            add_initializer(model, new_bias.astype(weight.dtype), new_b)
            del node.input[1:]
            node.input.extend([new_w, new_b])
            absorber.absorb(node, chain)
            folded += 1
        absorber.finish()
        return PassResult(model, folded > 0, {"folded": folded})
