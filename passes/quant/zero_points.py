"""Drop the all-zero zero points of constant (weight and bias) DequantizeLinear nodes."""
from __future__ import annotations

import numpy as np
import onnx

from ..compact.remove_unused_initializers import RemoveUnusedInitializers
from ..core import Pass, PassResult
from ..graph import Constants


class DropZeroZeroPoints(Pass):
    """A DequantizeLinear of a constant whose zero point is a constant of zeros loses that input.

    Before:  w = DequantizeLinear(w_q, w_scale, w_zero_point)    w_zero_point: int8[C] of zeros
             b = DequantizeLinear(b_q, b_scale, b_zero_point)    b_zero_point: int32[C] of zeros
    After:   w = DequantizeLinear(w_q, w_scale)
             b = DequantizeLinear(b_q, b_scale)                   (the zero-point initializers removed)

    Exact: y = (x - zp) * scale, and an absent zero point is 0 of x's type (ONNX DequantizeLinear), so
    only the bytes go: onnxruntime's quantize_static stores a zero point per output channel for every
    symmetric weight (1 byte) and bias (4 bytes) although all of them are 0.  QuantizeLinear keeps its
    zero point: there its type picks the output type (absent means uint8); so do the DequantizeLinear
    nodes of activations, whose zero point is the QuantizeLinear's (a QDQ pair is matched by it).
    """

    def call(self, model: onnx.ModelProto) -> PassResult:
        consts = Constants(model)
        dropped = 0
        for node in model.graph.node:
            if (node.op_type == "DequantizeLinear" and node.domain in ("", "ai.onnx") and len(node.input) == 3
                    and node.input[0] in consts and node.input[2] in consts and not np.asarray(consts[node.input[2]]).any()):
                del node.input[2]
                dropped += 1
        if not dropped:
            return PassResult(model, False, {"dropped": 0, "bytes_freed": 0})
        cleanup = RemoveUnusedInitializers()(model)
        return PassResult(cleanup.model, True, {"dropped": dropped, "bytes_freed": cleanup.stats["bytes_freed"]})
