"""Constant folding: evaluate every node whose inputs are all known constants."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper

from ..analysis.shapes import partial_shapes
from ..core import Pass, PassResult
from ..errors import UnsupportedModelError
from ..graph import constant_initializers
from .graph_edit import (add_initializer, drop_stale_value_info, graph_output_names, initializers, replace_nodes,
                         subgraphs)

# Ops whose output is not a function of their inputs.
NONDETERMINISTIC = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial",
                    "Bernoulli"}


def _static_shape_value(node: onnx.NodeProto, shapes: dict) -> np.ndarray | None:
    """The value of Shape(x) / Size(x) when x's shape is fully static, else None."""
    shape = shapes.get(node.input[0])
    if shape is None or any(d is None for d in shape):
        return None
    if node.op_type == "Size":
        return np.array(int(np.prod(shape, dtype=np.int64)), dtype=np.int64)
    start, end = 0, len(shape)
    for attr in node.attribute:  # opset >= 15 slices the shape
        if attr.name == "start":
            start = attr.i
        elif attr.name == "end":
            end = attr.i
    return np.array(shape[slice(start, end)], dtype=np.int64)


def _foldable(node: onnx.NodeProto, constant: set[str]) -> bool:
    return (node.domain in ("", "ai.onnx") and node.op_type not in NONDETERMINISTIC | {"Constant"}
            and not any(True for _ in subgraphs(node))
            and bool(node.input) and all(not name or name in constant for name in node.input))


def _evaluate(model: onnx.ModelProto, nodes: list[onnx.NodeProto], wanted: list[str]) -> list[np.ndarray]:
    """Evaluate the constant-only `nodes` once and return the `wanted` tensors: in onnxruntime
    (its CPU kernels are the reference lowering compares with), else in onnx's ReferenceEvaluator
    (exact on the integer shape arithmetic onnxruntime may refuse to build a session for)."""
    graph = model.graph
    inits = initializers(graph)
    needed = {name for node in nodes for name in node.input if name in inits}
    sub = helper.make_graph(nodes, "fold", [], [helper.make_empty_tensor_value_info(n) for n in wanted],
                            initializer=[inits[n] for n in needed])
    folded = helper.make_model(sub, opset_imports=model.opset_import, ir_version=max(model.ir_version, 4))
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        session = ort.InferenceSession(folded.SerializeToString(), options, providers=["CPUExecutionProvider"])
        return session.run(wanted, {})
    except Exception as exc:  # onnxruntime raises its own exception types for unsupported graphs
        first = exc
    from onnx.reference import ReferenceEvaluator  # imported only when needed: it loads every op's kernel
    try:
        return [np.asarray(v) for v in ReferenceEvaluator(folded).run(wanted, {})]
    except Exception:  # the reference evaluator raises whatever its numpy kernels raise
        ops = ", ".join(sorted({n.op_type for n in nodes}))
        raise UnsupportedModelError(f"constant folding: neither onnxruntime nor onnx's reference evaluator can "
                                    f"evaluate the constant subgraph (ops {ops}): "
                                    f"{str(first).splitlines()[0]}") from first


class FoldConstants(Pass):
    """Replace every constant-only subgraph by the initializers it computes.

    Before:  s = initializer [64,3,7,7];  w = ConstantOfShape(s);  y = Conv(x, w)
             k = Shape(x) (x static: [1,3,224,224]);  g = Gather(k, 0);  ...
    After:   initializer w = <evaluated>;  y = Conv(x, w);  g = initializer 1

    A node is folded when every input is an initializer (or an earlier folded tensor) and it
    is deterministic and subgraph-free; Shape/Size fold when their input's shape is static
    (from shape inference).  All foldable nodes are evaluated together in one onnxruntime
    session (onnx's ReferenceEvaluator when onnxruntime refuses the subgraph); only the tensors
    that non-folded nodes read become initializers.  Nodes whose output is a graph output are
    kept.  Folding repeats until nothing is left to fold: a folded Reshape target makes the
    Reshape's output static, and the next round folds the Shape of it (Swin's window
    arithmetic needs ~16 rounds).  Exact: the values are what the graph computed, so outputs
    are unchanged bit for bit.
    """

    def call(self, model: onnx.ModelProto) -> PassResult:
        total = rounds = 0
        while True:
            folded = _fold_once(model)
            if not folded:
                break
            total += folded
            rounds += 1
        return PassResult(model, total > 0, {"nodes_folded": total, "rounds": rounds})


def _fold_once(model: onnx.ModelProto) -> int:
    """One round of folding with the shapes known now; the number of nodes folded."""
    graph = model.graph
    outputs = graph_output_names(graph)
    constant = set(constant_initializers(model))
    shapes = None
    folded, direct, kept = [], {}, []
    for node in graph.node:
        if any(name in outputs for name in node.output):
            kept.append(node)
        elif node.op_type in ("Shape", "Size") and node.input[0] not in constant:
            shapes = partial_shapes(model) if shapes is None else shapes
            value = _static_shape_value(node, shapes)
            if value is None:
                kept.append(node)
            else:
                direct[node.output[0]] = value
                constant.add(node.output[0])
        elif _foldable(node, constant):
            folded.append(node)
            constant.update(name for name in node.output if name)
        else:
            kept.append(node)
    if not folded and not direct:
        return 0
    read = {name for node in kept for name in node.input} | {
        name for node in kept for sub in subgraphs(node) for inner in sub.node for name in inner.input}
    for name, value in direct.items():  # folded nodes may read them too
        add_initializer(model, value, name)
    wanted = [name for node in folded for name in node.output if name in read]
    values = _evaluate(model, folded, wanted) if folded and wanted else []
    for name, value in zip(wanted, values):
        add_initializer(model, value, name)
    replace_nodes(graph, kept)
    drop_stale_value_info(graph)   # the folded tensors' shapes are their initializers' now
    return len(folded) + len(direct)
