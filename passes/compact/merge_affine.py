"""Merge a BatchNormalization that cannot be folded with the per-channel Mul/Add after it."""
from __future__ import annotations

import onnx

from ..analysis.shapes import partial_shapes
from ..core import Pass, PassResult
from .affine import ChainAbsorber, batchnorm_params, compose
from .graph_edit import add_initializer, unique_name


class MergeAffineChains(Pass):
    """Absorb the per-channel affine ops that follow a BatchNormalization into its scale and bias.

    Used where the BN has no Conv/Gemm to fold into (it follows a Concat or a pool, as in
    DenseNet's pre-activation blocks).  The result is ONE BatchNormalization: it keeps its
    mean, var and epsilon, so the only kernel the runtime needs is the one it already has.

    Before:  z = BatchNormalization(x, s, B, m, v);  u = Mul(z, g);  o = Add(u, h)
    After:   o = BatchNormalization(x, s', B', m, v)  with (a, c) = the composed Mul/Add map
             (see `affine.py`):  s' = a * s,  B' = a * B + c
    since a * ((x - m) / sqrt(v + eps) * s + B) + c = (x - m) / sqrt(v + eps) * (a * s) + (a * B + c).

    Preconditions: BN parameters and Mul/Add operands are initializers, each intermediate
    tensor has one reader and is not a graph output, x's rank is known (shape inference).
    Rounding: s' and B' are computed in float64 and rounded once (float32 rounding, within
    rtol 1e-5).
    """

    def call(self, model: onnx.ModelProto) -> PassResult:
        graph = model.graph
        absorber = ChainAbsorber(model)
        inits, taken, removed = absorber.inits, absorber.taken, absorber.removed
        shapes = None
        merged = 0
        for index, node in enumerate(graph.node):
            if node.op_type != "BatchNormalization" or index in removed or node.domain not in ("", "ai.onnx"):
                continue
            params = batchnorm_params(node, inits)
            if params is None:
                continue
            shapes = partial_shapes(model) if shapes is None else shapes
            rank = len(shapes.get(node.input[0], ()))
            channels = params[0].shape[0]
            chain = absorber.chain(node.output[0], rank, channels)
            # Stop at a second BatchNormalization: it starts its own chain.
            cut = next((i for i, step in enumerate(chain) if step.node.op_type == "BatchNormalization"), len(chain))
            chain = chain[:cut]
            if not chain:
                continue
            a, c = compose(chain, channels)
            scale, bias = params[0], params[1]
            dtype = inits[node.input[1]].data_type
            np_dtype = onnx.helper.tensor_dtype_to_np_dtype(dtype)
            new_scale = unique_name(graph, f"{node.input[1]}_merged", taken)
            new_bias = unique_name(graph, f"{node.input[2]}_merged", taken)
            add_initializer(model, (a * scale).astype(np_dtype), new_scale)
            add_initializer(model, (a * bias + c).astype(np_dtype), new_bias)
            node.input[1], node.input[2] = new_scale, new_bias
            absorber.absorb(node, chain)
            merged += 1
        absorber.finish()
        return PassResult(model, merged > 0, {"merged": merged})
