"""QGemm (onnxruntime's com.microsoft QOperator op) expressed in standard ONNX: a 1x1 QLinearConv."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..compact.graph_edit import (add_initializer, all_tensor_names, consumers, graph_output_names, initializers,
                                  remove_initializers, replace_nodes, unique_name)
from ..core import Pass, PassResult
from ..graph import attributes

MS_DOMAIN = "com.microsoft"


def _rewritable(node: onnx.NodeProto, inits: dict[str, onnx.TensorProto]) -> bool:
    """transA 0, alpha 1, a constant 2-D B, a quantized output (y_scale given), C absent or a constant
    per-column int32 vector."""
    at = attributes(node)
    inputs = list(node.input) + [""] * (9 - len(node.input))
    if node.op_type != "QGemm" or node.domain != MS_DOMAIN or at.get("transA", 0) or at.get("alpha", 1.0) != 1.0:
        return False
    if not inputs[7] or inputs[3] not in inits or len(inits[inputs[3]].dims) != 2:
        return False
    n = inits[inputs[3]].dims[0 if at.get("transB", 0) else 1]
    if inputs[6]:
        bias = inits.get(inputs[6])
        if bias is None or int(np.prod(bias.dims)) != n or len([d for d in bias.dims if d != 1]) > 1:
            return False
    return True


class ExpressQGemm(Pass):
    """Rewrite onnxruntime's QGemm (com.microsoft; its QOperator format's Gemm/Linear) as standard ONNX.

    Before:  Y = QGemm(A, a_s, a_zp, B, b_s, b_zp, C, y_s, y_zp) {transB=1}     A [M, K], B [N, K]
    After:   A4 = Reshape(A, [-1, K, 1, 1])
             Y4 = QLinearConv(A4, a_s, a_zp, W, b_s, b_zp, y_s, y_zp, C)        W = B as [N, K, 1, 1]
             Y  = Reshape(Y4, [-1, N])

    Row m of A is a 1x1 image of K channels, B's rows are the output channels: the same integer sums,
    bias and requantization (x_scale * w_scale / y_scale), so the result is exact.  transB=0 stores
    W = B^T.  Absent zero points become zeros of the operand's type.  Preconditions: transA 0, alpha 1,
    B a constant matrix, y_scale given (a float output is left alone, and refused later), C absent or
    one int32 per column.  In place.
    """

    def call(self, model: onnx.ModelProto) -> PassResult:
        graph = model.graph
        inits = initializers(graph)
        if not any(_rewritable(n, inits) for n in graph.node):
            return PassResult(model, False, {"rewritten": 0})
        taken = all_tensor_names(graph)
        replaced: set[str] = set()

        def constant(array: np.ndarray, base: str) -> str:
            name = unique_name(graph, base, taken)
            taken.add(name)
            add_initializer(model, array, name)
            return name

        nodes, count = [], 0
        for node in graph.node:
            if not _rewritable(node, inits):
                nodes.append(node)
                continue
            inputs = list(node.input) + [""] * (9 - len(node.input))
            b = numpy_helper.to_array(inits[inputs[3]])
            w = b if attributes(node).get("transB", 0) else b.T
            n, k = w.shape
            zps = {}
            for pos, operand, dtype in ((2, inputs[0], np.uint8), (5, inputs[3], b.dtype)):  # QGemm's A: uint8
                if not inputs[pos]:
                    zps[pos] = constant(np.zeros((), dtype), f"{operand}_zero_point")
            a4 = unique_name(graph, f"{inputs[0]}_1x1", taken)
            y4 = unique_name(graph, f"{node.output[0]}_1x1", taken)
            taken.update((a4, y4))
            weights = constant(np.ascontiguousarray(w).reshape(n, k, 1, 1), f"{inputs[3]}_1x1")
            conv_inputs = [a4, inputs[1], zps.get(2, inputs[2]), weights, inputs[4], zps.get(5, inputs[5]), inputs[7],
                           inputs[8]]
            if inputs[6]:
                conv_inputs.append(constant(numpy_helper.to_array(inits[inputs[6]]).reshape(n), f"{inputs[6]}_1x1"))
            label = node.name or node.output[0]
            nodes += [helper.make_node("Reshape", [inputs[0], constant(np.array([-1, k, 1, 1], np.int64), "shape_1x1")],
                                       [a4], name=f"{label}/to_1x1"),
                      helper.make_node("QLinearConv", conv_inputs, [y4], name=label),
                      helper.make_node("Reshape", [y4, constant(np.array([-1, n], np.int64), "shape_rows")],
                                       [node.output[0]], name=f"{label}/to_rows")]
            replaced.update(x for x in (inputs[3], inputs[6]) if x)
            count += 1
        replace_nodes(graph, nodes)
        remove_initializers(model, replaced - set(consumers(graph)) - graph_output_names(graph))
        return PassResult(model, True, {"rewritten": count})
