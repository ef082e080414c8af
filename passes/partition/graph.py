"""The model as the partitioner sees it: compute nodes in a topological order and the tensors
between them, with aligned sizes.

Weights (initializers and Constant outputs) are not graph edges: they belong to the blob of
every partition that reads them.  Constant nodes are not partitioned; extraction copies them
into the partitions that read their output.

For a tensor t: `producer[t]` = index of the node that makes it (-1 for a model input),
`last_use[t]` = index of its last reader, `n` (one past the last node) for a model output,
`producer[t]` for a tensor nobody reads.  `alias_of[t]` is the input whose bytes t may reuse
in place when both are internal to one partition (`memory.alias_source`, judged in this order).
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Collection, Mapping

import onnx

from ..analysis.shapes import TensorInfo
from ..analysis.weights import tensor_nbytes
from ..errors import UnsupportedModelError
from ..graph import graph_inputs, node_label
from ..target import alias_source, align, node_scratch


@dataclass
class PartitionGraph:
    model: onnx.ModelProto
    infos: Mapping[str, TensorInfo]
    nodes: list[onnx.NodeProto]
    weight_size: dict[str, int]           # aligned bytes per weight
    node_weights: list[tuple[str, ...]]   # distinct weights each node reads
    node_inputs: list[tuple[str, ...]]    # distinct activations each node reads
    node_outputs: list[tuple[str, ...]]
    node_scratch: list[int]
    size: dict[str, int]                  # aligned bytes per activation
    producer: dict[str, int]
    consumers: dict[str, list[int]]
    last_use: dict[str, int]
    model_inputs: tuple[str, ...]
    model_outputs: tuple[str, ...]
    alias_of: dict[str, str]              # tensor -> input whose bytes it may reuse (memory.alias_source)

    @property
    def n(self) -> int:
        return len(self.nodes)

    @classmethod
    def build(cls, model: onnx.ModelProto, infos: Mapping[str, TensorInfo],
              order: list[onnx.NodeProto] | None = None) -> "PartitionGraph":
        """The graph of `model`, its compute nodes in `order` (default: the model's order)."""
        graph = model.graph
        weight_size = {t.name: align(tensor_nbytes(t)) for t in graph.initializer}
        for node in graph.node:
            if node.op_type == "Constant":
                tensors = [a.t for a in node.attribute if a.type == onnx.AttributeProto.TENSOR]
                if not tensors:
                    raise UnsupportedModelError(f"Constant node '{node_label(node)}' without a tensor "
                                                f"value: run `compact` first to fold it")
                weight_size[node.output[0]] = align(tensor_nbytes(tensors[0]))
        nodes = [n for n in (graph.node if order is None else order) if n.op_type != "Constant"]
        inputs = tuple(i.name for i in graph_inputs(model))
        outputs = tuple(o.name for o in graph.output)
        producer = {name: -1 for name in inputs}
        consumers: dict[str, list[int]] = {}
        node_weights, node_inputs, node_outputs = [], [], []
        for index, node in enumerate(nodes):
            reads = tuple(dict.fromkeys(x for x in node.input if x))
            node_weights.append(tuple(x for x in reads if x in weight_size))
            acts = tuple(x for x in reads if x not in weight_size)
            for name in acts:
                if name not in producer:
                    raise UnsupportedModelError(f"node '{node.name or node.op_type}' reads '{name}' before it is "
                                                f"produced: the graph is not in topological order")
                consumers.setdefault(name, []).append(index)
            node_inputs.append(acts)
            node_outputs.append(tuple(x for x in node.output if x))
            for name in node.output:
                if name:
                    producer[name] = index
        size = {}
        for name in producer:
            if name in infos:
                size[name] = align(infos[name].nbytes)
            elif name in consumers or name in outputs:
                raise UnsupportedModelError(f"tensor '{name}' has no static shape (fix the input shapes "
                                            f"with --input-shape)")
        producer = {name: p for name, p in producer.items() if name in size}
        last_use = {name: max(consumers.get(name, [p])) for name, p in producer.items()}
        for name in outputs:
            if name in last_use:
                last_use[name] = len(nodes)
        alias_of = {}
        for index, node in enumerate(nodes):
            src = alias_source(node, lambda x: producer.get(x, -1) >= 0 and last_use.get(x) == index, infos)
            if src is not None and node.output[0] in size:
                alias_of[node.output[0]] = src
        return cls(model, infos, nodes, weight_size, node_weights, node_inputs, node_outputs,
                   [node_scratch(n, infos) for n in nodes], size, producer, consumers, last_use, inputs, outputs,
                   alias_of)

    def crossing_bytes(self, ideal: Collection[int]) -> int:
        """Bytes that cross the boundary after the down-closed set `ideal`: tensors made by it
        (or model inputs) that a node outside it reads, or that are model outputs."""
        inside = set(ideal)
        total = 0
        for name, p in self.producer.items():
            if p != -1 and p not in inside:
                continue
            if name in self.model_outputs or any(c not in inside for c in self.consumers.get(name, ())):
                total += self.size[name]
        return total

    def predecessors(self, index: int) -> set[int]:
        """Nodes whose outputs node `index` reads."""
        return {self.producer[x] for x in self.node_inputs[index] if self.producer[x] >= 0}

    def latest_first(self) -> "PartitionGraph":
        """The same graph in another topological order: among the ready nodes, the one latest
        in this order runs first (a branch the model lists last is finished before the next
        one starts).  A second order for the DP, which only cuts prefixes of one order."""
        deps = [self.predecessors(v) for v in range(self.n)]
        users: list[list[int]] = [[] for _ in range(self.n)]
        for v, d in enumerate(deps):
            for u in d:
                users[u].append(v)
        pending = [len(d) for d in deps]
        ready = [-v for v in range(self.n) if not pending[v]]
        heapq.heapify(ready)
        order = []
        while ready:
            v = -heapq.heappop(ready)
            order.append(self.nodes[v])
            for w in users[v]:
                pending[w] -= 1
                if not pending[w]:
                    heapq.heappush(ready, -w)
        return PartitionGraph.build(self.model, self.infos, order)
