"""Constant nodes -> initializers."""
from __future__ import annotations

import onnx

from ..core import Pass, PassResult
from ..graph import constant_node_value
from .graph_edit import add_initializer, graph_output_names, replace_nodes


class ConstantsToInitializers(Pass):
    """Move the tensor of every top-level Constant node into an initializer of the same name.

    Before:  c = Constant(value=T);  y = Conv(x, c)
    After:   initializer c = T;      y = Conv(x, c)

    Preconditions: none.  Sparse and string constants, and Constants whose output is a graph
    output (an initializer cannot be one in IR < 4), stay nodes.  Exact: same bytes.
    """

    def call(self, model: onnx.ModelProto) -> PassResult:
        graph = model.graph
        outputs = graph_output_names(graph)
        kept, moved = [], 0
        for node in graph.node:
            value = constant_node_value(node) if node.op_type == "Constant" and node.domain in ("", "ai.onnx") else None
            if value is None or node.output[0] in outputs:
                kept.append(node)
                continue
            add_initializer(model, value, node.output[0])
            moved += 1
        if moved:
            replace_nodes(graph, kept)
        return PassResult(model, moved > 0, {"constants_moved": moved})
