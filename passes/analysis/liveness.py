"""Liveness of activations under a node order, and the peak live-activation bytes.

Execution model: step `i` runs `order[i]`.  While it runs, its inputs and its outputs all
exist (no in-place reuse).  A tensor is live over the closed interval of steps
`[start, end]`:

- start = the step that produces it; graph inputs are live from step 0;
- end   = its last consumer's step; graph outputs stay live to the last step; a produced
  tensor nobody reads (e.g. a Dropout mask) lives only during its producing step.

Weights (initializers, Constant outputs) are not activations and are excluded.  The live
bytes of step i are `sum(nbytes(t) for t live at i)`; the peak of the order is their
maximum.  Any arena planner that keeps each tensor in one place from production to last use
needs at least that many bytes for this order, so it is the lower bound a planner can reach.

`optimal_order_peak` finds the smallest peak over *all* topological orders by dynamic
programming over the sets of executed nodes (exponential in the graph's width: tiny graphs
only).

    infos = infer_static_shapes(model)
    peak = model_peak_live_bytes(model, infos)
    lifetimes = tensor_lifetimes(nodes, infos, graph_inputs=..., graph_outputs=..., weights=...)
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Collection, Mapping, Sequence

import onnx

from ..errors import UnsupportedModelError
from ..graph import graph_inputs as real_graph_inputs
from .shapes import TensorInfo


@dataclass(frozen=True)
class Lifetime:
    """Tensor `name` of `nbytes` bytes is live during steps start..end (inclusive)."""

    name: str
    start: int
    end: int
    nbytes: int


@dataclass(frozen=True)
class GraphBoundary:
    """What a node list needs besides its nodes: its inputs, outputs and weights (by name)."""

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    weights: frozenset[str]

    @classmethod
    def of_model(cls, model: onnx.ModelProto) -> "GraphBoundary":
        graph = model.graph
        weights = {t.name for t in graph.initializer}
        weights |= {n.output[0] for n in graph.node if n.op_type == "Constant"}
        return cls(tuple(i.name for i in real_graph_inputs(model)), tuple(o.name for o in graph.output),
                   frozenset(weights))


def _nbytes(name: str, infos: Mapping[str, TensorInfo]) -> int:
    info = infos.get(name)
    if info is None:
        raise UnsupportedModelError(f"tensor '{name}' has no static shape: cannot size it "
                                    f"(fix the input shapes with --input-shape)")
    return info.nbytes


def tensor_lifetimes(nodes: Sequence[onnx.NodeProto], infos: Mapping[str, TensorInfo], *,
                     graph_inputs: Collection[str] = (), graph_outputs: Collection[str] = (),
                     weights: Collection[str] = ()) -> dict[str, Lifetime]:
    """The lifetime of every activation when `nodes` run in the given order.

    Produced tensors that nothing reads and that are not graph outputs are counted at their
    producing step when `infos` knows their size, and skipped otherwise (shape inference may
    leave unread outputs such as a Dropout mask unsized).
    """
    weights = set(weights)
    last = len(nodes) - 1
    start: dict[str, int] = {name: 0 for name in graph_inputs if name not in weights}
    end: dict[str, int] = {}
    for step, node in enumerate(nodes):
        for name in node.input:
            if name and name not in weights:
                if name not in start:
                    raise ValueError(f"node '{node.name or node.op_type}' at step {step} reads '{name}' "
                                     f"before it is produced: the order is not topological")
                end[name] = step
        for name in node.output:
            if name:
                start[name] = step
    for name in graph_outputs:
        if name in start:
            end[name] = max(last, 0)
    lifetimes = {}
    for name, first in start.items():
        if name not in end and name not in infos:
            continue  # an unread, unsized side output
        lifetimes[name] = Lifetime(name, first, end.get(name, first), _nbytes(name, infos))
    return lifetimes


def live_bytes_per_step(nodes: Sequence[onnx.NodeProto], infos: Mapping[str, TensorInfo], **boundary) -> list[int]:
    """Live activation bytes during each step of the order (see the module docstring)."""
    steps = [0] * max(len(nodes), 1)
    for life in tensor_lifetimes(nodes, infos, **boundary).values():
        for step in range(life.start, life.end + 1):
            steps[step] += life.nbytes
    return steps


def peak_live_bytes(nodes: Sequence[onnx.NodeProto], infos: Mapping[str, TensorInfo], **boundary) -> int:
    """The peak live activation bytes of running `nodes` in this order."""
    return max(live_bytes_per_step(nodes, infos, **boundary))


def model_peak_live_bytes(model: onnx.ModelProto, infos: Mapping[str, TensorInfo],
                          order: Sequence[onnx.NodeProto] | None = None) -> int:
    """Peak live activation bytes of `model` run in `order` (default: the graph's node order)."""
    boundary = GraphBoundary.of_model(model)
    nodes = list(model.graph.node) if order is None else list(order)
    nodes = [n for n in nodes if n.op_type != "Constant"]
    return peak_live_bytes(nodes, infos, graph_inputs=boundary.inputs, graph_outputs=boundary.outputs,
                           weights=boundary.weights)


def optimal_order_peak(nodes: Sequence[onnx.NodeProto], infos: Mapping[str, TensorInfo], *,
                       graph_inputs: Collection[str] = (), graph_outputs: Collection[str] = (),
                       weights: Collection[str] = (), max_nodes: int = 24) -> tuple[int, list[onnx.NodeProto]]:
    """The smallest peak live bytes over all topological orders of `nodes`, and one order reaching it.

    best(S) = min over nodes v ready after the executed set S of max(live(S, v), best(S + v)),
    where live(S, v) only depends on S and v: the tensors produced by S + v (or graph inputs)
    that are graph outputs or still have a reader outside S, plus v's own outputs.
    """
    if len(nodes) > max_nodes:
        raise ValueError(f"optimal_order_peak is exponential: {len(nodes)} nodes > max_nodes={max_nodes}")
    weights = set(weights)
    outputs = set(graph_outputs)
    producer: dict[str, int] = {}
    for index, node in enumerate(nodes):
        for name in node.output:
            if name:
                producer[name] = index
    readers: dict[str, int] = {}
    needs = [0] * len(nodes)
    for index, node in enumerate(nodes):
        for name in node.input:
            if name and name not in weights:
                readers[name] = readers.get(name, 0) | (1 << index)
                if name in producer:
                    needs[index] |= 1 << producer[name]
    tensors = [name for name in list(graph_inputs) + list(producer) if name not in weights]
    tensors = [t for t in dict.fromkeys(tensors) if t in readers or t in outputs or t in infos]
    size = {t: _nbytes(t, infos) for t in tensors}
    full = (1 << len(nodes)) - 1

    def live(done: int, v: int) -> int:
        total = 0
        after = done | (1 << v)
        for t in tensors:
            if t not in producer:  # a graph input: live until its last reader ran
                if t in outputs or readers.get(t, 0) & ~done or (done == 0 and t not in readers):
                    total += size[t]
                continue
            if not (after >> producer[t]) & 1:
                continue
            if producer[t] == v or t in outputs or readers.get(t, 0) & ~done:
                total += size[t]
        return total

    @functools.lru_cache(maxsize=None)
    def best(done: int) -> tuple[int, tuple[int, ...]]:
        if done == full:
            return 0, ()
        choice = (float("inf"), ())
        for v in range(len(nodes)):
            if not (done >> v) & 1 and needs[v] & done == needs[v]:
                rest, tail = best(done | (1 << v))
                cost = max(live(done, v), rest)
                if cost < choice[0]:
                    choice = (cost, (v,) + tail)
        return choice

    if not nodes:
        return sum(size[t] for t in tensors), []
    peak, order = best(0)
    return int(peak), [nodes[i] for i in order]
