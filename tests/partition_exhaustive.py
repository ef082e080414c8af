"""Exhaustive reference for the partitioner: the best chain of down-closed node sets (ideals).

Every partitioning is a chain of ideals {} = I_0 < I_1 < ... < I_m = V whose segments
I_k \\ I_{k-1} fit after I_{k-1}.  Over ALL ideals, smallest first::

    best[{}] = (0, 0)
    best[J]  = min over ideals I < J with J \\ I fitting after I of  best[I] + (1, X(I) if I else 0)

minimised lexicographically (fewest partitions, then fewest crossing bytes; X =
`graph.crossing_bytes`).  Every pair I < J is considered; the only pruning is sound: a
segment reads at least W(J) - W(I) weight bytes (W = distinct weights an ideal reads) and
its total is at least its weights + staging, so pairs where that passes the budget are
dropped uncosted.

The cost of a pair is the memory model's segment figure (`cost.segment_cost`: body + max(peak +
scratch, loading + staging)), computed here for all J above one I at once with numpy: ideals
are rows of a boolean matrix, each tensor contributes one live interval per row (a difference
array over the steps of J \\ I), names and weights are counted through an incidence matrix.
`tests/test_partition_optimality.py` checks these figures against `segment_cost` itself on
sampled pairs.  Independent of the production search (no topological order, no DP over
prefixes, no min-cut); about a minute for Inception v1's 2,717 ideals.
"""
from __future__ import annotations

import numpy as np

from onnx_tee.passes.partition.cost import Limits
from onnx_tee.passes.partition.graph import PartitionGraph
from onnx_tee.passes.partition.ideals import enumerate_ideals
from onnx_tee.passes.target import ALIGN, BODY_HEADER_BYTES, BODY_NODE_BYTES, BODY_TENSOR_BYTES

SHIFT = 1 << 42  # best = partitions * SHIFT + crossing bytes


class ExhaustiveSearch:
    def __init__(self, graph: PartitionGraph, limits: Limits, ideals: list[int]):
        self.graph, self.limits, self.ideals = graph, limits, ideals
        n = graph.n
        self.rows = np.array([[m >> v & 1 for v in range(n)] for m in ideals], dtype=bool).reshape(len(ideals), n)
        names = sorted({x for node in graph.nodes for x in node.input if x} |
                       {x for outs in graph.node_outputs for x in outs})
        column = {x: k for k, x in enumerate(names)}
        self.uses = np.zeros((n, len(names)), dtype=np.float32)
        for v, node in enumerate(graph.nodes):
            for x in list(node.input) + list(graph.node_outputs[v]):
                if x:
                    self.uses[v, column[x]] = 1
        self.weight_bytes = np.array([graph.weight_size.get(x, 0) for x in names], dtype=np.int64)
        self.scratch = np.array(graph.node_scratch, dtype=np.int64)
        # W(J), the distinct weight bytes ideal J reads: a segment J minus I reads at least W(J) - W(I)
        self.ideal_weights = (self.rows.astype(np.float32) @ self.uses > 0).astype(np.int64) @ self.weight_bytes
        self.tensors = [(name, p, sorted(set(graph.consumers.get(name, ()))), name in graph.model_outputs,
                         graph.size[name], graph.producer[graph.alias_of[name]] if name in graph.alias_of else -1)
                        for name, p in graph.producer.items()]

    def totals_above(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(indices of the ideals J > I, segment total of J \\ I after I) for I = ideals[index]."""
        graph, limits = self.graph, self.limits
        done = self.rows[index]
        window = np.flatnonzero(~done)
        room = limits.budget - limits.reserve - limits.staging + self.ideal_weights[index]
        candidates = np.flatnonzero(self.rows[:, done].all(axis=1) & (self.rows.sum(axis=1) > done.sum()) &
                                    (self.ideal_weights <= room))
        if not len(candidates):
            return candidates, np.zeros(0, dtype=np.int64)
        seg = self.rows[np.ix_(candidates, window)]
        count, w = seg.shape
        col = np.full(graph.n, -1)
        col[window] = np.arange(w)

        uses = self.uses[window]
        named = uses.any(axis=0)
        hits = (seg.astype(np.float32) @ uses[:, named]) > 0
        body = BODY_HEADER_BYTES + BODY_NODE_BYTES * seg.sum(axis=1) + BODY_TENSOR_BYTES * hits.sum(axis=1)
        body = -(-body // ALIGN) * ALIGN + hits.astype(np.int64) @ self.weight_bytes[named]
        scratch = np.where(seg, self.scratch[window], 0).max(axis=1)

        diff = np.zeros((count, w + 1), dtype=np.int64)
        rows = np.arange(count)
        loading = 0
        for _, p, readers, is_output, size, alias_producer in self.tensors:
            outside = [col[r] for r in readers if not done[r]]
            carried_in = p == -1 or done[p]
            if carried_in:
                if not outside and not is_output:
                    continue
                loading += size
                present = np.ones(count, dtype=bool)
                begin = np.zeros(count, dtype=np.int64)
                last = np.full(count, -1)
            else:
                present = seg[:, col[p]]
                begin = np.full(count, col[p])
                last = np.full(count, col[p])
            later = np.full(count, is_output) | ~seg[:, outside].all(axis=1)
            for c in outside:
                last = np.where(seg[:, c], np.maximum(last, c), last)
            if not carried_in and alias_producer >= 0 and not done[alias_producer]:
                begin = begin + (~later & seg[:, col[alias_producer]])
            end = np.where(later, w - 1, last)
            active = present & (begin <= end)
            diff[rows[active], begin[active]] += size
            diff[rows[active], end[active] + 1] -= size
        profile = np.where(seg, np.cumsum(diff[:, :w], axis=1), 0)
        peak = profile.max(axis=1)
        totals = body + np.maximum(peak + scratch, loading + limits.staging)
        return candidates, totals

    def solve(self) -> tuple[int, int] | None:
        """(fewest partitions, fewest crossing bytes among those), None if nothing fits."""
        chain = self.best_chain()
        if chain is None:
            return None
        crossing = sum(self.graph.crossing_bytes(self.members(i)) for i in chain[1:-1])
        return len(chain) - 1, crossing

    def members(self, ideal: int) -> list[int]:
        return [v for v in range(self.graph.n) if ideal >> v & 1]

    def best_chain(self) -> list[int] | None:
        """The ideals {} = I_0 < ... < I_m = V of a best partitioning, None if nothing fits."""
        infinite = np.iinfo(np.int64).max
        best = np.full(len(self.ideals), infinite, dtype=np.int64)
        parent = np.full(len(self.ideals), -1)
        best[0] = 0
        for index, ideal in enumerate(self.ideals[:-1]):
            if best[index] == infinite:
                continue
            candidates, totals = self.totals_above(index)
            fits = candidates[totals + self.limits.reserve <= self.limits.budget]
            step = SHIFT + (self.graph.crossing_bytes(self.members(ideal)) if ideal else 0)
            better = fits[best[index] + step < best[fits]]
            best[better], parent[better] = best[index] + step, index
        if best[-1] == infinite:
            return None
        chain = [len(self.ideals) - 1]
        while chain[-1]:
            chain.append(int(parent[chain[-1]]))
        return [self.ideals[k] for k in reversed(chain)]


def exhaustive(graph: PartitionGraph, limits: Limits, limit: int = 1_000_000) -> tuple[int, int] | None:
    ideals = enumerate_ideals(graph, limit)
    if ideals is None:
        raise ValueError(f"more than {limit} ideals")
    return ExhaustiveSearch(graph, limits, ideals).solve()
