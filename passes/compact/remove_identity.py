"""Remove ops that are the identity at inference: Identity and Dropout."""
from __future__ import annotations

import onnx
from onnx import numpy_helper

from ..core import Pass, PassResult
from ..graph import constant_initializers
from .graph_edit import consumers, graph_output_names, rename_uses, replace_nodes


def _is_inference_identity(node: onnx.NodeProto, inits: dict, read: set[str]) -> bool:
    if node.domain not in ("", "ai.onnx") or not node.input or not node.input[0]:
        return False
    if node.op_type == "Identity":
        return True
    if node.op_type != "Dropout" or any(name in read for name in node.output[1:] if name):
        return False  # the mask output is used: keep the node
    if len(node.input) > 2 and node.input[2]:  # opset >= 12 training_mode input
        mode = inits.get(node.input[2])
        return mode is not None and not bool(numpy_helper.to_array(mode))
    return True


class RemoveIdentityOps(Pass):
    """Remove Identity and inference-mode Dropout nodes by rewiring their readers.

    Before:  y = Conv(x, W);  d = Dropout(y, ratio);  o = Relu(d)
    After:   y = Conv(x, W);  o = Relu(y)

    At inference Dropout is the identity on its first output.  Preconditions: the Dropout mask
    output is unused and training_mode (opset >= 12) is absent or a constant false.  When the
    removed node's output is a graph output, the producer of its input is renamed to it instead
    (kept as is if the input is a graph input, an initializer or another graph output).  Exact.
    """

    def call(self, model: onnx.ModelProto) -> PassResult:
        graph = model.graph
        inits = constant_initializers(model)
        outputs = graph_output_names(graph)
        read = set(consumers(graph)) | outputs
        producer_of = {name: node for node in graph.node for name in node.output if name}
        renames: dict[str, str] = {}
        removed: set[int] = set()
        for index, node in enumerate(graph.node):
            if not _is_inference_identity(node, inits, read):
                continue
            source = renames.get(node.input[0], node.input[0])
            result = node.output[0]
            if result in outputs:
                producer = producer_of.get(source)
                if producer is None or source in outputs or source in inits:
                    continue
                # the producer now writes the graph output directly; earlier readers follow the rename
                producer.output[list(producer.output).index(source)] = result
                producer_of[result] = producer
                renames = {k: (result if v == source else v) for k, v in renames.items()}
                renames[source] = result
            else:
                renames[result] = source
            removed.add(index)
        if not removed:
            return PassResult(model, False, {"removed": 0})
        replace_nodes(graph, [n for i, n in enumerate(graph.node) if i not in removed])
        rename_uses(graph, renames)
        return PassResult(model, True, {"removed": len(removed)})
