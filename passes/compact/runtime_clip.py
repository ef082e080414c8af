"""A Clip whose bound is computed at run time becomes Max / Min of that bound."""
from __future__ import annotations

import onnx
from onnx import helper

from ..core import Pass, PassResult
from ..graph import Constants, opset_of
from .graph_edit import all_tensor_names, replace_nodes, unique_name


class ClipBoundsToMinMax(Pass):
    """Replace the run-time bounds of a Clip (opset >= 11: min and max are inputs) by Max and Min.

    Before:  lo = Sub(ReduceMax(x), 80);  y = Clip(x, lo, hi)        (hi a constant)
    After:   m = Max(x, lo);  y = Clip(m, "", hi)

    Log-mel front ends clamp to `max - top_db` (torchaudio's AmplitudeToDB, openWakeWord's melspectrogram),
    so the lower bound is a tensor the graph computes; the interpreter's Clip takes constant bounds only.
    Clip(x, lo, hi) is Min(Max(x, lo), hi) element by element, including when lo > hi (both give hi), so
    each run-time bound becomes a Max (lower) or Min (upper) with the bound broadcast (it is a scalar);
    constant bounds stay on a Clip, and a Clip left with no bound is dropped.  Exact.
    """

    def call(self, model: onnx.ModelProto) -> PassResult:
        graph = model.graph
        if opset_of(model) < 11 or not any(n.op_type == "Clip" for n in graph.node):
            return PassResult(model, False, {"rewritten": 0})
        constants = Constants(model)
        taken: set[str] | None = None
        nodes, rewritten = [], 0
        for node in graph.node:
            bounds = list(node.input[1:3]) + [""] * (3 - len(node.input))
            runtime = [i for i, name in enumerate(bounds[:2]) if name and name not in constants]
            if node.op_type != "Clip" or node.domain not in ("", "ai.onnx") or not runtime:
                nodes.append(node)
                continue
            if taken is None:
                taken = all_tensor_names(graph) | {n.name for n in graph.node}
            current, kept = node.input[0], ["", ""]
            for index, name in enumerate(bounds[:2]):
                if index not in runtime:
                    kept[index] = name
                    continue
                op = "Max" if index == 0 else "Min"
                result = unique_name(None, f"{node.output[0]}_{op.lower()}", taken)
                nodes.append(helper.make_node(op, [current, name], [result], name=unique_name(
                    None, f"{node.name or node.output[0]}/{op.lower()}", taken)))
                current = result
            last = nodes[-1]
            if any(kept):
                inputs = [current, *kept]
                while not inputs[-1]:
                    inputs.pop()
                nodes.append(helper.make_node("Clip", inputs, list(node.output), name=node.name))
            else:
                last.output[0] = node.output[0]
            rewritten += 1
        if rewritten:
            replace_nodes(graph, nodes)
        return PassResult(model, rewritten > 0, {"rewritten": rewritten})
