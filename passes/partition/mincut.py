"""Min-cut refinement of the boundary between two consecutive partitions.

For partitions P_k, P_{k+1} after the executed set D, every down-closed I with
D ⊆ I ⊆ D ∪ P_k ∪ P_{k+1} is a candidate boundary.  The cheapest one is a minimum s-t cut in::

    s ──∞──> (nodes of D are s itself)
    producer ──size(t)──> [tensor t] ──∞──> each reader of t in the region
                          [tensor t] ──∞──> sink  (t read after the region, or a model output)
    v ──∞──> u            for every data edge u -> v inside the region

Cut edges run from the s side (= I) to the t side.  The infinite reverse edge v -> u forbids
v ∈ I with u ∉ I, so I is down-closed and both partitions stay convex.  A tensor with several
readers goes through its own vertex, so it is paid once however many readers lie beyond the cut.
The cut is kept if both new partitions fit (`cost.segment_cost`) and fewer bytes cross; if one
side comes out empty and the union fits, the two partitions merge.  When the minimum cut does
not fit and the region has at most WINDOW_IDEALS down-closed subsets, they are tried cheapest
first and the first that fits wins (rounds repeat until no boundary moves).
"""
from __future__ import annotations

import networkx as nx

from .cost import Limits, segment_cost
from .graph import PartitionGraph
from .ideals import enumerate_ideals

WINDOW_IDEALS = 256


def window_ideals(graph: PartitionGraph, done: set[int], region: set[int], limit: int) -> list[set[int]] | None:
    """Every non-empty proper subset of `region` that is down-closed given `done`, or None if
    there are more than `limit`."""
    masks = enumerate_ideals(graph, limit, region)
    if masks is None:
        return None
    return [{v for v in region if mask >> v & 1} for mask in masks if 0 < mask.bit_count() < len(region)]


def cheapest_boundary(graph: PartitionGraph, done: set[int], region: set[int]) -> set[int]:
    """The nodes of `region` on the I side of a minimum-crossing convex cut."""
    flow = nx.DiGraph()
    flow.add_node("s")
    flow.add_node("t")
    for v in region:
        flow.add_node(v)
        for u in graph.predecessors(v):
            if u in region:
                flow.add_edge(v, u)  # no capacity attribute = infinite
    for name, p in graph.producer.items():
        readers = graph.consumers.get(name, [])
        inside_readers = [c for c in readers if c in region]
        after = name in graph.model_outputs or any(c not in region and c not in done for c in readers)
        if p in region:
            source = p
        elif p == -1 or p in done:
            if not inside_readers:
                continue
            source = "s"
        else:
            continue
        if not inside_readers and not after:
            continue
        vertex = ("tensor", name)
        flow.add_edge(source, vertex, capacity=graph.size[name])
        for c in inside_readers:
            flow.add_edge(vertex, c)
        if after:
            flow.add_edge(vertex, "t")
    _, (s_side, _) = nx.minimum_cut(flow, "s", "t")
    return {v for v in s_side if isinstance(v, int)}


def refine(graph: PartitionGraph, parts: list[list[int]], limits: Limits, rounds: int = 4) -> list[list[int]]:
    """Move each boundary to its minimum cut where both sides still fit; merge where possible."""
    parts = [sorted(p) for p in parts]
    for _ in range(rounds):
        changed = False
        k = 0
        while k + 1 < len(parts):
            done = {v for p in parts[:k] for v in p}
            region = set(parts[k]) | set(parts[k + 1])
            old_ideal = done | set(parts[k])
            first = cheapest_boundary(graph, done, region)
            if (not first or first == region) and segment_cost(graph, region, limits, done).fits(limits):
                parts[k:k + 2] = [sorted(region)]
                changed = True
                continue
            best = _cheapest_fitting(graph, done, region, first, graph.crossing_bytes(old_ideal), limits)
            if best is not None:
                parts[k], parts[k + 1] = sorted(best), sorted(region - best)
                changed = True
            k += 1
        if not changed:
            break
    return parts


def _fits(graph: PartitionGraph, done: set[int], first: set[int], region: set[int], limits: Limits) -> bool:
    return segment_cost(graph, first, limits, done).fits(limits) and \
        segment_cost(graph, region - first, limits, done | first).fits(limits)


def _cheapest_fitting(graph: PartitionGraph, done: set[int], region: set[int], cut: set[int], current: int,
                      limits: Limits) -> set[int] | None:
    """The minimum cut if it fits and beats `current` crossing bytes, else the cheapest fitting
    boundary of the window (its down-closed subsets, cheapest first, while there are at most
    WINDOW_IDEALS), else None."""
    if cut and cut != region and graph.crossing_bytes(done | cut) < current and _fits(graph, done, cut, region, limits):
        return cut
    candidates = window_ideals(graph, done, region, WINDOW_IDEALS) or []
    ranked = sorted((cross, sorted(first)) for first in candidates
                    if (cross := graph.crossing_bytes(done | first)) < current)
    for _, first in ranked:
        if _fits(graph, done, set(first), region, limits):
            return set(first)
    return None
