"""Cut the model into standalone partition models.

Partition k keeps its nodes (in the planned order), the weights they read (initializers, and
Constant nodes copied into every partition that reads them), takes as graph inputs the
activations it reads from before it, and gives as graph outputs the tensors it makes that a
later partition reads or that are model outputs.  Every boundary tensor carries its static
type and shape, so each partition is a valid model of its own.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import onnx
from onnx import helper

from ..analysis.shapes import TensorInfo
from .graph import PartitionGraph
from ..graph import node_label
from .memory import PartitionSpec


def partition_specs(graph: PartitionGraph, parts: Sequence[Sequence[int]]) -> list[PartitionSpec]:
    """The memory model's view of each partition (nodes in topological order)."""
    where = {v: k for k, part in enumerate(parts) for v in part}
    specs = []
    for k, part in enumerate(parts):
        members = sorted(part)
        inputs = list(dict.fromkeys(x for v in members for x in graph.node_inputs[v]
                                    if graph.producer[x] == -1 or where[graph.producer[x]] != k))
        outputs = [x for v in members for x in graph.node_outputs[v] if x in graph.producer and (
            x in graph.model_outputs or any(where[c] > k for c in graph.consumers.get(x, ())))]
        weights = {w: graph.weight_size[w] for v in members for w in graph.node_weights[v]}
        specs.append(PartitionSpec(tuple(graph.nodes[v] for v in members), tuple(inputs), tuple(outputs), weights))
    return specs


def _value_info(name: str, infos: Mapping[str, TensorInfo]) -> onnx.ValueInfoProto:
    info = infos[name]
    return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(info.dtype), list(info.shape))


def extract_partition(model: onnx.ModelProto, spec: PartitionSpec, order: Sequence[onnx.NodeProto],
                      infos: Mapping[str, TensorInfo], name: str) -> onnx.ModelProto:
    """One standalone partition model running `order` (the spec's nodes, planned order)."""
    source = model.graph
    reads = {x for node in order for x in node.input if x}
    initializers = [t for t in source.initializer if t.name in reads]
    constants = [n for n in source.node if n.op_type == "Constant" and n.output[0] in reads]
    graph = helper.make_graph(constants + list(order), name,
                              [_value_info(x, infos) for x in spec.inputs],
                              [_value_info(x, infos) for x in spec.outputs], initializers)
    out = helper.make_model(graph, opset_imports=list(model.opset_import), producer_name="onnx-tee")
    out.ir_version = max(model.ir_version, 4)
    return out


def extract_partitions(model: onnx.ModelProto, specs: Sequence[PartitionSpec], orders: Sequence[Sequence[str]],
                       infos: Mapping[str, TensorInfo]) -> list[onnx.ModelProto]:
    """Every partition model; `orders[k]` names partition k's nodes in run order."""
    models = []
    for k, (spec, labels) in enumerate(zip(specs, orders)):
        by_label = {node_label(n): n for n in spec.nodes}
        models.append(extract_partition(model, spec, [by_label[x] for x in labels], infos, f"partition_{k:03d}"))
    return models
