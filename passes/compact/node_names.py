"""Every node gets a name of its own: exporters leave names empty, repeat them or put anything in them."""
from __future__ import annotations

import re

import onnx

from ..core import Pass, PassResult
from .graph_edit import unique_name

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class NameNodesUniquely(Pass):
    """Give every top-level node a non-empty name no other node has, with no control characters.

    Before:  "" = Conv(x) -> a;  "blk" = Relu(a) -> b;  "blk" = Relu(b) -> "c\\n"
    After:   "a" = Conv(x) -> a;  "blk" = Relu(a) -> b;  "blk_1" = Relu(b) -> ...

    Plans, partition specs and messages name a node by `graph.node_label` (its name, else its first
    output), so two nodes with one label would be confused; a newline in a name would split the
    one-line refusals.  A node keeps its name when it is already unique and clean; an unnamed node
    is named after its first output.  Names only: the computation is unchanged.
    """

    def call(self, model: onnx.ModelProto) -> PassResult:
        graph = model.graph
        taken: set[str] = set()
        renamed = 0
        for node in graph.node:
            base = _CONTROL.sub(" ", node.name).strip() or (node.output[0] if node.output and node.output[0]
                                                            else node.op_type)
            name = unique_name(None, base, taken)
            if name != node.name:
                node.name = name
                renamed += 1
        return PassResult(model, renamed > 0, {"renamed": renamed})
