"""The partitioner against exhaustive search over down-closed node sets (ideals).

Reference: every chain of ideals  {} = I_0 < I_1 < ... < I_m = V  whose segments I_k \\ I_{k-1}
fit (`cost.segment_cost` after I_{k-1}) is a valid partitioning; `exhaustive` finds the one with
the fewest partitions, then the fewest crossing bytes, by memoised search over ideals.  The
partitioner (DP over the topological order + min-cut refinement) must reach the same pair.
The DP's incremental segment costs must equal the set-based ones.
"""
from __future__ import annotations

import functools
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st
from onnx import helper, numpy_helper

import models
from conftest import make_model
from passes.analysis.shapes import infer_static_shapes
from passes.partition.cost import Limits, ScanTables, SegmentScanner, segment_cost
from passes.partition.dp import SegmentTable, segments_of
from passes.partition.graph import PartitionGraph
from passes.partition.ideals import enumerate_ideals, exact_partition, ideal_limit
from passes.partition.mincut import refine
from passes.partition.memory import RESERVE_BYTES, STAGING_BYTES


def ideals(graph: PartitionGraph, limit: int) -> list[frozenset[int]] | None:
    """All down-closed node sets, or None if there are more than `limit`."""
    preds = [frozenset(graph.predecessors(v)) for v in range(graph.n)]
    seen = {frozenset()}
    frontier = [frozenset()]
    while frontier:
        nxt = []
        for ideal in frontier:
            for v in range(graph.n):
                if v not in ideal and preds[v] <= ideal:
                    bigger = ideal | {v}
                    if bigger not in seen:
                        seen.add(bigger)
                        nxt.append(bigger)
                        if len(seen) > limit:
                            return None
        frontier = nxt
    return sorted(seen, key=len)


def exhaustive(graph: PartitionGraph, limits: Limits, limit: int = 4000) -> tuple[int, int] | None:
    """(fewest partitions, fewest crossing bytes) over all chains of ideals; None if infeasible."""
    all_ideals = ideals(graph, limit)
    if all_ideals is None:
        pytest.skip("too many ideals for the exhaustive reference")
    full = frozenset(range(graph.n))
    weight_of = {}
    for ideal in all_ideals:
        weight_of[ideal] = sum(graph.weight_size[w] for v in ideal for w in set(graph.node_weights[v]))

    @functools.lru_cache(maxsize=None)
    def best(done: frozenset) -> tuple[int, int] | None:
        if done == full:
            return (0, 0)
        result = None
        cross = graph.crossing_bytes(done) if done else 0
        for ideal in all_ideals:
            if len(ideal) <= len(done) or not done < ideal:
                continue
            if not segment_cost(graph, ideal - done, limits, done).fits(limits):
                continue
            rest = best(ideal)
            if rest is not None:
                candidate = (rest[0] + 1, rest[1] + cross)
                if result is None or candidate < result:
                    result = candidate
        return result

    return best(frozenset())


def partitioner(graph: PartitionGraph, limits: Limits) -> tuple[int, int] | None:
    """(count, crossing bytes) of the optimal strategy's search (before the memory-plan check):
    its exact search, or the DP + min-cut over the model's order and the latest-first order."""
    parts = exact_partition(graph, limits)
    if parts is not None:
        return score(graph, parts) if parts else None
    results = []
    for g in (graph, graph.latest_first()):
        bounds = SegmentTable.scan(g, limits).solve()
        if bounds is not None:
            results.append(score(g, refine(g, segments_of(bounds), limits)))
    return min(results, default=None)


def score(graph: PartitionGraph, parts: list[list[int]]) -> tuple[int, int]:
    done, cross = set(), 0
    for part in parts[:-1]:
        done |= set(part)
        cross += graph.crossing_bytes(done)
    return len(parts), cross


def random_dag(seed: int, blocks: int):
    """A random DAG of MatMul / Concat+MatMul / Relu / Add nodes over [1, width] tensors."""
    rng = random.Random(seed)
    widths = {"x": rng.choice([64, 256, 1024])}
    nodes, inits, tensors = [], [], ["x"]
    for b in range(blocks):
        out = f"t{b}"
        kind = rng.random()
        if kind < 0.25 and len(tensors) > 1:
            a, c = rng.sample(tensors, 2)
            cat = f"cat{b}"
            nodes.append(helper.make_node("Concat", [a, c], [cat], axis=1))
            src, width_in = cat, widths[a] + widths[c]
        elif kind < 0.4:
            a = rng.choice(tensors)
            nodes.append(helper.make_node("Relu", [a], [out]))
            widths[out] = widths[a]
            tensors.append(out)
            continue
        else:
            src = rng.choice(tensors)
            width_in = widths[src]
        widths[out] = rng.choice([64, 256, 1024, 2048])
        w = f"w{b}"
        inits.append(numpy_helper.from_array(
            np.random.default_rng(b).standard_normal((width_in, widths[out])).astype(np.float32) * 0.05, w))
        nodes.append(helper.make_node("MatMul", [src, w], [out]))
        tensors.append(out)
    read = {x for n in nodes for x in n.input}
    outputs = [(t, [1, widths[t]]) for t in tensors if t not in read and t != "x"]
    return make_model(nodes, [("x", [1, widths["x"]])], outputs, inits)


def limits_between(graph: PartitionGraph, fraction: float) -> Limits | None:
    """A budget between the largest single node's need and the whole model's."""
    base = Limits(1 << 40)
    single = max(segment_cost(graph, [v], base).total for v in range(graph.n))
    whole = segment_cost(graph, range(graph.n), base).total
    budget = single + int(fraction * max(whole - single, 0)) + RESERVE_BYTES
    return Limits(budget, STAGING_BYTES, RESERVE_BYTES)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), blocks=st.integers(3, 11), fraction=st.floats(0.0, 0.7))
def test_random_dags_match_exhaustive_search(seed, blocks, fraction):
    model = random_dag(seed, blocks)
    infos = infer_static_shapes(model)
    graph = PartitionGraph.build(model, infos)
    assume(enumerate_ideals(graph, ideal_limit(graph)) is not None)  # larger lattices: DP + min-cut, see below
    limits = limits_between(graph, fraction)
    assert partitioner(graph, limits) == exhaustive(graph, limits)


@pytest.mark.parametrize("name,budget_mib", [("squeezenet", 5), ("squeezenet", 6),
                                             pytest.param("resnet50", 24, marks=pytest.mark.slow),
                                             pytest.param("resnet50", 12, marks=pytest.mark.slow)])
def test_reference_models_match_exhaustive_search(name, budget_mib):
    model = models.load(name)
    infos = infer_static_shapes(model)
    graph = PartitionGraph.build(model, infos)
    limits = Limits(int(budget_mib * 2**20))
    assert exact_partition(graph, limits) is None  # too many ideals: the DP + min-cut path is under test
    got = partitioner(graph, limits)
    assert got is not None
    assert got == exhaustive(graph, limits, limit=200_000)


@pytest.mark.parametrize("name", ["squeezenet", "resnet50", "inception_v1"])
def test_incremental_costs_equal_set_costs(name):
    model = models.load(name)
    infos = infer_static_shapes(model)
    graph = PartitionGraph.build(model, infos)
    limits = Limits(8 * 2**20)
    tables = ScanTables.build(graph)
    for start in [0] + random.Random(1).sample(range(graph.n), 8):
        scanner = SegmentScanner(graph, start, tables, limits)
        for end in range(start + 1, min(graph.n, start + 40) + 1):
            assert scanner.extend() == segment_cost(graph, range(start, end), limits), (start, end)
