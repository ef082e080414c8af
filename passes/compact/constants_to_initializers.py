"""Constant nodes -> initializers."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from ..core import Pass, PassResult
from .graph_edit import add_initializer, graph_output_names, replace_nodes

_LIST_ATTRS = {"value_float": np.float32, "value_floats": np.float32, "value_int": np.int64,
               "value_ints": np.int64}


def constant_value(node: onnx.NodeProto) -> np.ndarray | None:
    """The tensor a Constant node holds, or None for forms kept as nodes (sparse, strings)."""
    for attr in node.attribute:
        if attr.name == "value":
            return numpy_helper.to_array(attr.t)
        if attr.name in _LIST_ATTRS:
            return np.array(onnx.helper.get_attribute_value(attr), dtype=_LIST_ATTRS[attr.name])
    return None


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
            value = constant_value(node) if node.op_type == "Constant" and node.domain in ("", "ai.onnx") else None
            if value is None or node.output[0] in outputs:
                kept.append(node)
                continue
            add_initializer(model, value, node.output[0])
            moved += 1
        if moved:
            replace_nodes(graph, kept)
        return PassResult(model, moved > 0, {"constants_moved": moved})
