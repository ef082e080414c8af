"""Remove ops that are the identity at inference: Identity, Dropout, a Cast to the type it already has and an
Expand to the shape it already has."""
from __future__ import annotations

import onnx
from onnx import numpy_helper

from ..analysis.shapes import partial_elem_types, partial_shapes
from ..core import Pass, PassResult
from ..graph import attribute, constant_initializers
from .graph_edit import consumers, graph_output_names, rename_uses, replace_nodes


def _is_inference_identity(node: onnx.NodeProto, inits: dict, read: set[str], types: dict[str, int],
                           shapes: dict[str, tuple]) -> bool:
    if node.domain not in ("", "ai.onnx") or not node.input or not node.input[0]:
        return False
    if node.op_type == "Identity":
        return True
    if node.op_type == "Expand":   # jax2tf's BroadcastTo of a tensor that has the shape already
        source, result = shapes.get(node.input[0]), shapes.get(node.output[0])
        return source is not None and None not in source and source == result
    if node.op_type in ("Cast", "CastLike"):   # exporters' `.float()` on a tensor that is float already
        source = types.get(node.input[0])
        target = (attribute(node, "to") if node.op_type == "Cast"
                  else types.get(node.input[1]) if len(node.input) > 1 else None)
        return source is not None and source == target
    if node.op_type != "Dropout" or any(name in read for name in node.output[1:] if name):
        return False  # the mask output is used: keep the node
    if len(node.input) > 2 and node.input[2]:  # opset >= 12 training_mode input
        mode = inits.get(node.input[2])
        return mode is not None and not bool(numpy_helper.to_array(mode))
    return True


class RemoveIdentityOps(Pass):
    """Remove Identity, inference-mode Dropout and no-op Cast nodes by rewiring their readers.

    Before:  y = Conv(x, W);  d = Dropout(y, ratio);  c = Cast(d, to=FLOAT);  o = Relu(c)
    After:   y = Conv(x, W);  o = Relu(y)

    At inference Dropout is the identity on its first output.  Preconditions: the Dropout mask
    output is unused and training_mode (opset >= 12) is absent or a constant false.  A Cast (or
    CastLike) is the identity when its input already has the target type (shape inference's
    element types; an untyped input keeps its Cast), an Expand when its input already has the
    static shape it expands to.  When the
    removed node's output is a graph output, the producer of its input is renamed to it instead
    (kept as is if the input is a graph input, an initializer or another graph output).  Exact.
    """

    def call(self, model: onnx.ModelProto) -> PassResult:
        graph = model.graph
        inits = constant_initializers(model)
        outputs = graph_output_names(graph)
        read = set(consumers(graph)) | outputs
        producer_of = {name: node for node in graph.node for name in node.output if name}
        casts = any(node.op_type in ("Cast", "CastLike") for node in graph.node)
        types = partial_elem_types(model) if casts else {}
        shapes = partial_shapes(model) if any(node.op_type == "Expand" for node in graph.node) else {}
        renames: dict[str, str] = {}
        removed: set[int] = set()
        for index, node in enumerate(graph.node):
            if not _is_inference_identity(node, inits, read, types, shapes):
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
