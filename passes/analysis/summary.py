"""One model's analysis, as the `inspect` and `lower` commands report it.

    summary = summarize(model, input_shapes={"data_0": (1, 3, 224, 224)})
    summary.params, summary.macs, summary.peak_activation_bytes, summary.to_json()

Constant subgraphs (Constant nodes, ConstantOfShape weights, Reshape/Unsqueeze of constants)
are folded first so that weights made by the graph count as weights, and initializers nothing
reads are not counted; nothing else changes (BatchNormalization statistics count as params).
"""
from __future__ import annotations

import collections
from dataclasses import asdict, dataclass, field

import numpy as np
import onnx

from ..core import Pipeline
from ..graph import node_label
from .liveness import GraphBoundary, live_bytes_per_step
from .macs import node_macs
from .shapes import fix_input_shapes, infer_static_shapes
from .weights import tensor_nbytes, weight_bytes


@dataclass
class TensorRow:
    name: str
    kind: str  # "weight" or "activation"
    shape: tuple[int, ...]
    dtype: str
    nbytes: int


@dataclass
class NodeRow:
    name: str
    op_type: str
    macs: int
    weight_bytes: int
    activation_bytes: int  # inputs + outputs that are activations

    @property
    def total_bytes(self) -> int:
        return self.weight_bytes + self.activation_bytes


@dataclass
class ModelSummary:
    nodes: int
    ops: dict[str, int]
    params: int
    weight_bytes: int
    macs: int
    peak_activation_bytes: int
    peak_step: int
    peak_node: str
    inputs: dict[str, tuple[int, ...]]
    outputs: dict[str, tuple[int, ...]]
    largest_tensors: list[TensorRow] = field(default_factory=list)
    largest_nodes: list[NodeRow] = field(default_factory=list)

    def to_json(self) -> dict:
        data = asdict(self)
        data["inputs"] = {k: list(v) for k, v in self.inputs.items()}
        data["outputs"] = {k: list(v) for k, v in self.outputs.items()}
        for row in data["largest_tensors"]:
            row["shape"] = list(row["shape"])
        for row, node in zip(data["largest_nodes"], self.largest_nodes):
            row["total_bytes"] = node.total_bytes
        return data


def materialize_weights(model: onnx.ModelProto) -> onnx.ModelProto:
    """`model` with Constant nodes and constant-only subgraphs turned into initializers, and the
    initializers nothing reads dropped."""
    from ..compact import ConstantsToInitializers, FoldConstants, RemoveUnusedInitializers
    passes = [ConstantsToInitializers(), FoldConstants(), RemoveUnusedInitializers()]
    return Pipeline(passes, fixed_point=True)(model).model


def summarize(model: onnx.ModelProto, *, input_shapes: dict[str, tuple[int, ...]] | None = None,
              top: int = 10) -> ModelSummary:
    """Ops, parameters, weight bytes, MACs, peak live activation bytes (graph order) and the
    `top` largest tensors and nodes.  Raises UserError for dynamic dims without shapes or
    tensors whose shape cannot be inferred."""
    model = materialize_weights(fix_input_shapes(model, input_shapes))
    infos = infer_static_shapes(model)
    graph = model.graph
    boundary = GraphBoundary.of_model(model)
    weights = {t.name: t for t in graph.initializer}
    nodes = [n for n in graph.node if n.op_type != "Constant"]
    steps = live_bytes_per_step(nodes, infos, graph_inputs=boundary.inputs, graph_outputs=boundary.outputs,
                                weights=boundary.weights)
    peak_step = int(np.argmax(steps))
    node_rows = []
    for node in nodes:
        names = [n for n in dict.fromkeys(list(node.input) + list(node.output)) if n]
        node_rows.append(NodeRow(
            node_label(node), node.op_type, node_macs(node, infos),
            sum(tensor_nbytes(weights[n]) for n in names if n in weights),
            sum(infos[n].nbytes for n in names if n not in boundary.weights and n in infos)))
    tensor_rows = [TensorRow(t.name, "weight", tuple(int(d) for d in t.dims),
                             str(onnx.helper.tensor_dtype_to_np_dtype(t.data_type)), tensor_nbytes(t))
                   for t in graph.initializer]
    activations = set(boundary.inputs) | {o for n in nodes for o in n.output if o}
    tensor_rows += [TensorRow(name, "activation", infos[name].shape, str(infos[name].dtype), infos[name].nbytes)
                    for name in activations if name in infos]
    return ModelSummary(
        nodes=len(nodes),
        ops=dict(collections.Counter(n.op_type for n in nodes).most_common()),
        params=sum(int(np.prod(t.dims, dtype=np.int64)) for t in graph.initializer),
        weight_bytes=weight_bytes(model),
        macs=sum(row.macs for row in node_rows),
        peak_activation_bytes=max(steps) if nodes else 0,
        peak_step=peak_step,
        peak_node=(nodes[peak_step].name or nodes[peak_step].output[0]) if nodes else "",
        inputs={name: infos[name].shape for name in boundary.inputs},
        outputs={name: infos[name].shape for name in boundary.outputs if name in infos},
        largest_tensors=sorted(tensor_rows, key=lambda r: (-r.nbytes, r.name))[:top],
        largest_nodes=sorted(node_rows, key=lambda r: (-r.total_bytes, r.name))[:top])
