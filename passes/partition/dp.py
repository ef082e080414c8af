"""Optimal boundaries along a topological order, by dynamic programming.

Partitions are segments [b_k, b_{k+1}) of the topological order 0 = b_0 < b_1 < ... < b_m = n.
With X(b) the bytes crossing boundary b (`cost.boundary_live_bytes`)::

    best[0] = (0, 0)
    best[j] = min over i < j with segment [i, j) feasible of  best[i] + (1, X(i) if i > 0 else 0)

minimised lexicographically: fewest partitions, then fewest crossing bytes.

`SegmentTable.scan` finds the feasible segments once: for each start i the segments [i, j)
are costed with `SegmentScanner` (incremental) until a lower bound on every longer segment
(`SegmentScanner.floor`) passes the budget -- O(n * L) for
segments of at most L nodes.  `SegmentTable.solve` then runs the recurrence over that list,
cheap enough to re-run when the memory plan rejects a segment (`SegmentTable.forbid`).
"""
from __future__ import annotations

from dataclasses import dataclass

from .cost import Limits, ScanTables, SegmentScanner
from .graph import PartitionGraph


@dataclass
class SegmentTable:
    n: int
    live: list[int]                 # X(b): bytes crossing boundary b
    starts: list[list[int]]         # starts[j] = the i with [i, j) feasible

    @classmethod
    def scan(cls, graph: PartitionGraph, limits: Limits) -> "SegmentTable":
        tables = ScanTables.build(graph)
        starts: list[list[int]] = [[] for _ in range(graph.n + 1)]
        for i in range(graph.n):
            scanner = SegmentScanner(graph, i, tables, limits)
            for j in range(i + 1, graph.n + 1):
                cost = scanner.extend()
                if scanner.floor(cost) + limits.reserve > limits.budget:
                    break
                if cost.fits(limits):
                    starts[j].append(i)
        return cls(graph.n, tables.live, starts)

    def forbid(self, i: int, j: int, supersets: bool = False) -> None:
        """Drop segment [i, j) (the memory plan found it over the budget), and with `supersets`
        every segment containing it too (a longer segment holds everything it holds)."""
        if not supersets:
            self.starts[j] = [start for start in self.starts[j] if start != i]
            return
        for end in range(j, self.n + 1):
            self.starts[end] = [start for start in self.starts[end] if start > i]

    def solve(self) -> list[int] | None:
        """The boundaries b_0..b_m of the best segmentation, or None if none exists."""
        n = self.n
        if n == 0:
            return [0]
        inf = (n + 1, 0)
        best = [inf] * (n + 1)
        parent = [-1] * (n + 1)
        best[0] = (0, 0)
        for j in range(1, n + 1):
            for i in self.starts[j]:
                if best[i] == inf:
                    continue
                candidate = (best[i][0] + 1, best[i][1] + (self.live[i] if i > 0 else 0))
                if candidate < best[j]:
                    best[j], parent[j] = candidate, i
        if best[n] == inf:
            return None
        bounds = [n]
        while bounds[-1] > 0:
            bounds.append(parent[bounds[-1]])
        return bounds[::-1]


def segments_of(bounds: list[int]) -> list[list[int]]:
    """Node index lists of the segments between consecutive boundaries."""
    return [list(range(a, b)) for a, b in zip(bounds, bounds[1:])]
