"""Remove nodes whose results never reach a graph output."""
from __future__ import annotations

import onnx

from ..core import Pass, PassResult
from .graph_edit import drop_stale_value_info, graph_output_names, replace_nodes, subgraphs


def _reads(node: onnx.NodeProto) -> set[str]:
    """Names a node reads, including the outer-scope names its subgraphs read."""
    names = {name for name in node.input if name}
    for sub in subgraphs(node):
        for inner in sub.node:
            names |= _reads(inner)
    return names


class RemoveDeadNodes(Pass):
    """Drop every node none of whose outputs is (transitively) needed by a graph output.

    Before:  a = Relu(x);  b = Sigmoid(x);  outputs: a
    After:   a = Relu(x);  outputs: a

    Walks the graph backwards from the outputs (the graph is topologically sorted).  Also
    forgets value_info entries of tensors that no longer exist.  Exact.
    """

    def call(self, model: onnx.ModelProto) -> PassResult:
        graph = model.graph
        needed = graph_output_names(graph)
        live = []
        for node in reversed(graph.node):
            if any(name in needed for name in node.output if name):
                live.append(node)
                needed |= _reads(node)
        removed = len(graph.node) - len(live)
        if removed:
            replace_nodes(graph, list(reversed(live)))
            drop_stale_value_info(graph)
        return PassResult(model, removed > 0, {"removed": removed})
