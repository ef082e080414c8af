"""Fuse the written-out SiLU (x * Sigmoid(x)) into one onnxruntime QuickGelu at alpha 1."""
from __future__ import annotations

import onnx
from onnx import helper

from ..core import Pass, PassResult
from ..quant.qgemm import MS_DOMAIN
from .graph_edit import consumers, graph_output_names, referenced_names, replace_nodes, subgraphs

ONNX_DOMAINS = ("", "ai.onnx")


def _silu_input(mul: onnx.NodeProto, sigmoids: dict[str, onnx.NodeProto]) -> str | None:
    """x when `mul` is Mul(x, Sigmoid(x)) (either order), else None (predicate only)."""
    if mul.op_type != "Mul" or mul.domain not in ONNX_DOMAINS or len(mul.input) != 2:
        return None
    for k in (0, 1):
        sigmoid = sigmoids.get(mul.input[k])
        if sigmoid is not None and sigmoid.input[0] == mul.input[1 - k]:
            return mul.input[1 - k]
    return None


class FuseSwish(Pass):
    """Replace SiLU written as two ops by one QuickGelu (com.microsoft, alpha 1).

    Before:  s = Sigmoid(x);  y = Mul(x, s)        (s read by that Mul only, not a graph output)
    After:   y = QuickGelu(x, alpha=1.0)           (domain com.microsoft, imported at version 1)

    QuickGelu is x * sigmoid(alpha * x) (onnxruntime's contrib op, so the partitions stay runnable
    there); at alpha 1 it is SiLU.  EfficientNet and YOLO-style exports write
    SiLU this way, after a Conv whose output then has two readers, so the interpreter could fuse neither
    op into that Conv; as one activation the Conv applies it to each output tile while it is in cache,
    and s no longer takes memory.  The interpreter computes QuickGelu with the Sigmoid kernel and the
    product Mul takes (bit-equal at alpha 1); onnxruntime's own QuickGelu is within 2e-6 relative of
    the pair (5e-6 absolute in the far negative tail, where its logistic approximation is coarser).
    A Sigmoid with another reader stays as it is.
    """

    def call(self, model: onnx.ModelProto) -> PassResult:
        graph = model.graph
        sigmoids = {n.output[0]: n for n in graph.node
                    if n.op_type == "Sigmoid" and n.domain in ONNX_DOMAINS and len(n.input) == 1}
        if not sigmoids:
            return PassResult(model, False, {"fused": 0})
        uses = consumers(graph)
        outputs = graph_output_names(graph)
        in_subgraphs = set().union(*(referenced_names(sub) for node in graph.node for sub in subgraphs(node)))
        fused: dict[str, onnx.NodeProto] = {}   # Mul output -> its QuickGelu
        dropped: set[str] = set()               # Sigmoid outputs that go
        for node in graph.node:
            x = _silu_input(node, sigmoids)
            s = next((name for name in node.input if name in sigmoids and name != x), None)
            if x is None or s is None or len(uses.get(s, ())) != 1 or s in outputs or s in in_subgraphs:
                continue
            fused[node.output[0]] = helper.make_node("QuickGelu", [x], list(node.output), name=node.name,
                                                     domain=MS_DOMAIN, alpha=1.0)
            dropped.add(s)
        if not fused:
            return PassResult(model, False, {"fused": 0})
        nodes = [fused.get(n.output[0], n) if n.op_type == "Mul" else n for n in graph.node
                 if not (n.op_type == "Sigmoid" and n.output[0] in dropped)]
        replace_nodes(graph, nodes)
        if not any(o.domain == MS_DOMAIN for o in model.opset_import):
            model.opset_import.append(helper.make_opsetid(MS_DOMAIN, 1))
        kept = [v for v in graph.value_info if v.name not in dropped]
        del graph.value_info[:]
        graph.value_info.extend(kept)
        return PassResult(model, True, {"fused": len(fused)})
