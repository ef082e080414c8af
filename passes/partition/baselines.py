"""Baseline partitionings the optimal one is compared with.

- layer-wise: one compute node per partition, as layer-by-layer TEE schemes do.  Shape-only
  ops (`RIDE_ALONG`: Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout) ride with the
  partition before them (the first one, with the partition after it): they move no data
  and a partition of their own would only add a load.
- greedy first-fit: walk the topological order and start a new partition whenever the next
  node would make the current one exceed the budget.
Both return None when some partition cannot fit.
"""
from __future__ import annotations

from .cost import Limits, ScanTables, SegmentScanner, segment_cost
from .graph import PartitionGraph

RIDE_ALONG = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"})


def layerwise(graph: PartitionGraph, limits: Limits) -> list[list[int]] | None:
    parts: list[list[int]] = []
    leading: list[int] = []
    for v, node in enumerate(graph.nodes):
        if node.op_type in RIDE_ALONG:
            (parts[-1] if parts else leading).append(v)
        else:
            parts.append(leading + [v])
            leading = []
    if leading:
        parts.append(leading)
    done: set[int] = set()
    for part in parts:
        if not segment_cost(graph, part, limits, done).fits(limits):
            return None
        done.update(part)
    return parts


def greedy(graph: PartitionGraph, limits: Limits) -> list[list[int]] | None:
    tables = ScanTables.build(graph)
    parts: list[list[int]] = []
    start = 0
    while start < graph.n:
        scanner = SegmentScanner(graph, start, tables, limits)
        end = start
        for j in range(start + 1, graph.n + 1):
            if not scanner.extend().fits(limits):
                break
            end = j
        if end == start:
            return None
        parts.append(list(range(start, end)))
        start = end
    return parts
