"""Exact partitioning over down-closed node sets (ideals), for graphs with few of them.

Every partitioning is a chain of ideals {} = I_0 < I_1 < ... < I_m = V whose segments
I_k \\ I_{k-1} fit.  Over the ideals sorted by size::

    best[{}] = (0, 0)
    best[J]  = min over ideals I < J with J \\ I fitting after I of  best[I] + (1, X(I) if I else 0)

(X = `graph.crossing_bytes`), minimised lexicographically.  All segments J \\ I above one I are
costed at once (`batch.segment_totals`).  Pruning, all sound:

- a segment reads at least W(J) - W(I) weight bytes (W = the distinct weights an ideal reads)
  and its total is at least its weights + staging: such J are not costed;
- with an `upper` bound (a partitioning already found), a chain through I needs at least
  ceil((W(V) - W(I)) / room) more partitions (room = what one segment's weights can take), and
  one more boundary crossing unless I = V: an I (or a J) that cannot beat the bound is dropped.

The partitioner runs it while the graph has at most EXACT_IDEALS ideals and gives up (None)
once the segments costed times the node count pass EXACT_WORK.
"""
from __future__ import annotations

import numpy as np

from .batch import BatchTables, segment_totals
from .cost import Limits, body_estimate
from .graph import PartitionGraph

EXACT_IDEALS = 6000
EXACT_WORK = 80_000_000  # segments costed x nodes: a few seconds
SHIFT = 1 << 42  # a (partitions, crossing bytes) pair as partitions * SHIFT + crossing


def enumerate_ideals(graph: PartitionGraph, limit: int, region: set[int] | None = None) -> list[int] | None:
    """All ideals as bitmasks, smallest first; None if there are more than `limit`.

    With `region`: the down-closed subsets of `region` alone (edges from outside it ignored)."""
    nodes = sorted(region) if region is not None else range(graph.n)
    inside = sum(1 << v for v in nodes)
    preds = {v: sum(1 << u for u in graph.predecessors(v)) & inside for v in nodes}
    seen = {0}
    frontier = [0]
    while frontier:
        grown = []
        for ideal in frontier:
            for v in nodes:
                if not ideal >> v & 1 and preds[v] & ideal == preds[v]:
                    bigger = ideal | 1 << v
                    if bigger not in seen:
                        seen.add(bigger)
                        grown.append(bigger)
                        if len(seen) > limit:
                            return None
        frontier = grown
    return sorted(seen, key=lambda m: (bin(m).count("1"), m))


def _members(mask: int) -> list[int]:
    return [v for v in range(mask.bit_length()) if mask >> v & 1]


def exact_partition(graph: PartitionGraph, limits: Limits,
                    upper: tuple[int, int] | None = None) -> list[list[int]] | None:
    """The optimal partitioning; [] if none fits (or none beats `upper` (partitions, crossing
    bytes)); None if the graph has more than EXACT_IDEALS ideals or the search more than
    EXACT_WORK work."""
    ideals = enumerate_ideals(graph, EXACT_IDEALS)
    if ideals is None:
        return None
    n = graph.n
    rows = np.array([[m >> v & 1 for v in range(n)] for m in ideals], dtype=bool).reshape(len(ideals), n)
    tables = BatchTables.build(graph)
    weights = ((rows.astype(np.float32) @ tables.uses) > 0).astype(np.int64) @ tables.name_weight
    sizes = rows.sum(axis=1)
    room = limits.budget - limits.reserve - limits.staging - body_estimate(1, 1, 0)
    if room <= 0:
        return []
    last = len(ideals) - 1
    still = -(-(weights[last] - weights) // room)  # partitions still needed, at least
    still[:last] = np.maximum(still[:last], 1)
    crossing = np.array([graph.crossing_bytes(_members(m)) if 0 < m and k < last else 0
                         for k, m in enumerate(ideals)], dtype=np.int64)
    bound = np.iinfo(np.int64).max if upper is None else upper[0] * SHIFT + upper[1]

    def hopeless(value: np.ndarray | int, k: np.ndarray | int):
        # lowest (partitions, crossing) a chain through ideal k that reached it at `value` can end with
        return value + still[k] * SHIFT + crossing[k] >= bound

    infinite = np.iinfo(np.int64).max
    best = np.full(len(ideals), infinite, dtype=np.int64)
    parent = np.full(len(ideals), -1)
    best[0] = 0
    work = 0
    for index in range(last):
        if best[index] == infinite or hopeless(best[index], index):
            continue
        done = rows[index]
        value = best[index] + SHIFT + crossing[index]
        candidates = np.flatnonzero(rows[:, done].all(axis=1) & (sizes > sizes[index]) &
                                    (weights - weights[index] + limits.staging + limits.reserve <= limits.budget) &
                                    (value < best) & ~hopeless(value, np.arange(len(ideals))))
        if not len(candidates):
            continue
        work += len(candidates) * n
        if work > EXACT_WORK:
            return None
        totals = segment_totals(tables, done, rows[candidates] & ~done, limits)
        better = candidates[totals + limits.reserve <= limits.budget]
        best[better], parent[better] = value, index
    if best[last] == infinite:
        return []
    chain = [last]
    while chain[-1]:
        chain.append(int(parent[chain[-1]]))
    chain = [ideals[k] for k in reversed(chain)]
    return [_members(b & ~a) for a, b in zip(chain, chain[1:])]
