"""Segment costs: the memory a set of nodes needs as one partition, for the partitioner.

The figure is the liveness lower bound of the memory model's partition plan (`memory.py`)::

    total = body + max(peak + scratch, loading + staging);   feasible iff total + reserve <= budget

for a segment S run after the executed down-closed set D, its nodes in the model's
topological order restricted to S:

- body = `body_estimate` of S (header + node and tensor records + aligned weights);
- peak = the largest sum, over S's steps, of the activations live at that step: carried
  inputs (made by D or model inputs) until their last reader in S, or throughout when a later
  node reads them (or they are model outputs); tensors S makes from their producing step,
  to the end when a later node needs them, else to their last reader; a tensor written in
  place over a dying internal input (`graph.alias_of`) adds its bytes only after its step;
- loading = the carried tensors live while k is loaded (everything crossing into S);
- scratch = the largest scratch of S's nodes.

`segment_cost(graph, S)` computes it for any node set; `SegmentScanner` computes the same
figures for the growing segments [i, i+1), [i, i+2), ... of the topological order with a few
numpy operations per tensor, which is what keeps the DP fast.  The memory plan places
everything around region-wide carried offsets, so it may need more than this bound; the
partitioner checks the final plan.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Collection

import numpy as np

from .graph import PartitionGraph
from ..target import BODY_HEADER_BYTES, BODY_NODE_BYTES, BODY_TENSOR_BYTES, RESERVE_BYTES, STAGING_BYTES, align


@dataclass(frozen=True)
class Limits:
    """The budget and the fixed terms of the memory model."""

    budget: int
    staging: int = STAGING_BYTES
    reserve: int = RESERVE_BYTES
    resident: tuple[str, ...] = ()   # recurrent state inputs: resident to the end (memory.plan_memory)


@dataclass(frozen=True)
class SegmentCost:
    weights: int
    peak: int
    scratch: int
    loading: int
    staging: int

    @property
    def total(self) -> int:
        return self.weights + max(self.peak + self.scratch, self.loading + self.staging)

    def fits(self, limits: Limits) -> bool:
        return self.total + limits.reserve <= limits.budget


def body_estimate(node_count: int, name_count: int, weight_bytes: int) -> int:
    """The search's body allowance: BODY_HEADER_BYTES + BODY_NODE_BYTES * nodes
    + BODY_TENSOR_BYTES * tensor names (aligned) + the aligned weights."""
    return align(BODY_HEADER_BYTES + BODY_NODE_BYTES * node_count + BODY_TENSOR_BYTES * name_count) + weight_bytes


def segment_cost(graph: PartitionGraph, segment: Collection[int], limits: Limits,
                 done: Collection[int] | None = None) -> SegmentCost:
    """The cost of running `segment` as one partition after the down-closed set `done`
    (default: the nodes before the segment's first node in topological order)."""
    members = sorted(segment)
    inside = set(members)
    before = set(range(members[0])) if done is None else set(done)
    weights = {w for v in members for w in graph.node_weights[v]}
    names = {x for v in members for x in graph.nodes[v].input if x} | \
            {x for v in members for x in graph.node_outputs[v]}
    body = body_estimate(len(members), len(names), sum(graph.weight_size[w] for w in weights))
    loading = 0
    position = {v: k for k, v in enumerate(members)}
    profile = np.zeros(len(members), dtype=np.int64)
    for name, p in graph.producer.items():
        readers = graph.consumers.get(name, ())
        later = name in graph.model_outputs or any(c not in inside and c not in before for c in readers)
        size = graph.size[name]
        if p == -1 or p in before:
            if later:
                profile += size
                loading += size
            elif any(c in inside for c in readers):
                profile[:max(position[c] for c in readers if c in inside) + 1] += size
                loading += size
        elif p in inside:
            if later:
                profile[position[p]:] += size
            else:
                end = max((position[c] for c in readers), default=position[p])
                src = graph.alias_of.get(name)
                begin = position[p] + (1 if src is not None and graph.producer[src] in inside else 0)
                profile[begin:end + 1] += size
    scratch = max((graph.node_scratch[v] for v in members), default=0)
    return SegmentCost(body, int(profile.max()), scratch, loading, limits.staging)


@dataclass
class ScanTables:
    """Per-node tables that make `SegmentScanner.extend` a few integer comparisons.

    A name (or weight) of node j is new to the segment [i, j] iff its previous occurrence
    before j is < i; `prev_names[j]` / `prev_weights[j]` hold those previous occurrences."""

    live: list[int]                              # boundary_live_bytes
    ending: list[list[tuple[int, int, int]]]     # tensors_ending
    prev_names: list[list[int]]
    prev_weights: list[list[tuple[int, int]]]
    out_later: list[int]                         # bytes node j makes that a later node needs
    alias_out: list[int]                         # bytes of node j's output that may alias an input

    @classmethod
    def build(cls, graph: PartitionGraph) -> "ScanTables":
        seen: dict[str, int] = {}
        prev_names, prev_weights, out_later, alias_out = [], [], [], []
        for j, node in enumerate(graph.nodes):
            names = dict.fromkeys([x for x in node.input if x] + list(graph.node_outputs[j]))
            prev_names.append([seen.get(x, -1) for x in names])
            prev_weights.append([(seen.get(w, -1), graph.weight_size[w]) for w in graph.node_weights[j]])
            for x in names:
                seen[x] = j
            out_later.append(sum(graph.size[x] for x in graph.node_outputs[j]
                                 if x in graph.last_use and graph.last_use[x] > j))
            alias_out.append(sum(graph.size[x] for x in graph.node_outputs[j] if x in graph.alias_of))
        return cls(boundary_live_bytes(graph), tensors_ending(graph), prev_names, prev_weights, out_later,
                   alias_out)


class SegmentScanner:
    """Costs of the segments [start, j) for j = start+1, start+2, ... of the topological order."""

    def __init__(self, graph: PartitionGraph, start: int, tables: ScanTables, limits: Limits):
        self.graph = graph
        self.tables = tables
        self.limits = limits
        self.start = start
        self.end = start
        self.loading = tables.live[start]  # everything crossing boundary `start`
        self.weight_bytes = 0
        self.name_count = 0
        self.scratch = 0
        self.profile = np.full(graph.n - start + 1, self.loading, dtype=np.int64)
        self.settled = 0  # a lower bound on the peak of every longer segment

    def floor(self, cost: SegmentCost) -> int:
        """A lower bound on the total of [start, j') for every j' >= the current end: positions
        already passed only lose bytes later through an in-place alias of their own output."""
        return cost.weights + max(self.settled + cost.scratch, cost.loading + cost.staging)

    def extend(self) -> SegmentCost:
        """Add node `end` to the segment and return the cost of [start, end+1)."""
        t, j, i = self.tables, self.end, self.start
        r = j - i
        profile = self.profile
        self.name_count += sum(1 for prev in t.prev_names[j] if prev < i)
        self.weight_bytes += sum(size for prev, size in t.prev_weights[j] if prev < i)
        self.scratch = max(self.scratch, self.graph.node_scratch[j])
        if t.out_later[j]:
            profile[r:] += t.out_later[j]
        for p, size, src_producer in t.ending[j]:
            if p < i:  # a carried input read for the last time
                profile[r + 1:] -= size
            elif p < j:  # made here, was live to the end while a reader lay outside
                profile[r + 1:] -= size
                if src_producer >= i:
                    profile[p - i] -= size
            elif src_producer < i:  # made and never read at this step
                profile[r] += size
        self.settled = max(self.settled, int(profile[r]) - t.alias_out[j])
        self.end = j + 1
        body = body_estimate(self.end - i, self.name_count, self.weight_bytes)
        return SegmentCost(body, int(profile[:r + 1].max()), self.scratch, self.loading, self.limits.staging)


def boundary_live_bytes(graph: PartitionGraph) -> list[int]:
    """X(b) for b = 0..n: bytes of tensors made before node b (or model inputs) that node b or
    later reads (or that are model outputs)."""
    diff = np.zeros(graph.n + 2, dtype=np.int64)
    for name, p in graph.producer.items():
        q = graph.last_use[name]
        if q > p:
            diff[p + 1] += graph.size[name]
            diff[q + 1] -= graph.size[name]
    return [int(x) for x in np.cumsum(diff)[: graph.n + 1]]


def tensors_ending(graph: PartitionGraph) -> list[list[tuple[int, int, int]]]:
    """For each node j: (producer (-1: model input), size, producer of its alias source or -1)
    of the tensors whose last reader is j."""
    ending: list[list[tuple[int, int, int]]] = [[] for _ in range(graph.n)]
    for name, p in graph.producer.items():
        q = graph.last_use[name]
        if q < graph.n and (q > p or p >= 0):
            src = graph.alias_of.get(name)
            ending[q].append((p, graph.size[name], graph.producer[src] if src is not None else -1))
    return ending
