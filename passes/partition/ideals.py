"""Exact partitioning over down-closed node sets (ideals), for graphs with few of them.

Every partitioning is a chain of ideals {} = I_0 < I_1 < ... < I_m = V whose segments
I_k \\ I_{k-1} fit.  Over the ideals sorted by size::

    best[{}] = (0, 0)
    best[J]  = min over ideals I < J with J \\ I fitting after I of  best[I] + (1, X(I) if I else 0)

(X = `graph.crossing_bytes`), minimised lexicographically.  This is exact but costs about
ideals^2 x nodes, and the number of ideals grows exponentially with the graph's width; the
partitioner uses it only while that stays below EXACT_WORK (`ideal_limit`), and the DP over a
topological order + min-cut otherwise.
"""
from __future__ import annotations

from .cost import Limits, segment_cost
from .graph import PartitionGraph

EXACT_WORK = 400_000


def ideal_limit(graph: PartitionGraph) -> int:
    """The most ideals the exact search takes on for this graph."""
    return int((EXACT_WORK / max(graph.n, 1)) ** 0.5)


def enumerate_ideals(graph: PartitionGraph, limit: int) -> list[int] | None:
    """All ideals as bitmasks, smallest first; None if there are more than `limit`."""
    preds = [sum(1 << u for u in graph.predecessors(v)) for v in range(graph.n)]
    seen = {0}
    frontier = [0]
    while frontier:
        grown = []
        for ideal in frontier:
            for v in range(graph.n):
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


def exact_partition(graph: PartitionGraph, limits: Limits) -> list[list[int]] | None:
    """The optimal partitioning, [] if none fits, None if the graph has too many ideals."""
    ideals = enumerate_ideals(graph, ideal_limit(graph))
    if ideals is None:
        return None
    full = (1 << graph.n) - 1
    best: dict[int, tuple[int, int]] = {0: (0, 0)}
    parent: dict[int, int] = {}
    for i in ideals:
        if i not in best:
            continue
        done = _members(i)
        cross = graph.crossing_bytes(done) if i else 0
        for j in ideals:
            if j & i != i or j == i:
                continue
            if not segment_cost(graph, _members(j & ~i), limits, done).fits(limits):
                continue
            candidate = (best[i][0] + 1, best[i][1] + cross)
            if j not in best or candidate < best[j]:
                best[j], parent[j] = candidate, i
    if full not in best:
        return []
    chain = [full]
    while chain[-1]:
        chain.append(parent[chain[-1]])
    chain.reverse()
    return [_members(b & ~a) for a, b in zip(chain, chain[1:])]
