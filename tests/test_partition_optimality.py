"""The partitioner against exhaustive search over down-closed node sets (ideals).

Reference (`partition_exhaustive.py`): over every chain of ideals {} = I_0 < ... < I_m = V whose
segments fit (the memory model's segment cost, `cost.segment_cost`, after I_{k-1}), the fewest
partitions, then the fewest crossing bytes, in each topological order the optimal strategy
searches (the model's, and `PartitionGraph.latest_first`; segment costs follow the order), the
better of the two.  The strategy's search (DP + min-cut + baselines, then the bounded exact
search) must reach the same pair; on Inception v1 (compacted, as the partitioner sees it) so
must `partition_model` itself.  The reference's
batched costs are checked against `segment_cost`; the DP's incremental costs too.
"""
from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from onnx import helper, numpy_helper

from onnx_tee import models
from conftest import make_model
from partition_exhaustive import ExhaustiveSearch, exhaustive
from onnx_tee.passes.analysis.shapes import infer_static_shapes
from onnx_tee.passes.compact import compaction_pipeline
from onnx_tee.passes.partition.batch import BatchTables, segment_totals
from onnx_tee.passes.partition.cost import Limits, ScanTables, SegmentScanner, segment_cost
from onnx_tee.passes.partition.graph import PartitionGraph
from onnx_tee.passes.partition.ideals import enumerate_ideals
from onnx_tee.passes.target import RESERVE_BYTES, STAGING_BYTES
from onnx_tee.passes.partition.partitioner import SECOND_ORDER_MAX_NODES, _optimal, partition_model

MIB = 2**20


def orders(graph: PartitionGraph) -> list[PartitionGraph]:
    """The topological orders the optimal strategy searches (segment costs follow each)."""
    return [graph] + ([graph.latest_first()] if graph.n <= SECOND_ORDER_MAX_NODES else [])


def partitioner(graph: PartitionGraph, limits: Limits) -> tuple[int, int] | None:
    """(count, crossing bytes) of the optimal strategy's search, judged by the segment costs
    alone (no memory-plan check, which the reference does not model)."""
    found = [(g, _optimal(g, limits, lambda parts: [])) for g in orders(graph)]
    return min((score(g, parts) for g, parts in found if parts is not None), default=None)


def reference(graph: PartitionGraph, limits: Limits) -> tuple[int, int] | None:
    """The exhaustive optimum in each order the strategy searches, the better one."""
    return min((best for g in orders(graph) if (best := exhaustive(g, limits)) is not None), default=None)


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
    limits = limits_between(graph, fraction)
    assert partitioner(graph, limits) == reference(graph, limits)


def compacted_graph(name: str) -> PartitionGraph:
    model = compaction_pipeline()(models.load(name)).model
    return PartitionGraph.build(model, infer_static_shapes(model))


@pytest.mark.parametrize("name,budget_mib", [("squeezenet", 5), ("squeezenet", 6), ("resnet50", 24),
                                             pytest.param("resnet50", 12, marks=pytest.mark.slow)])
def test_reference_models_match_exhaustive_search(name, budget_mib):
    graph = compacted_graph(name)
    limits = Limits(budget_mib * MIB)
    got = partitioner(graph, limits)
    assert got is not None
    assert got == reference(graph, limits)


@pytest.mark.slow
@pytest.mark.parametrize("budget_mib", [6, 8, 12, 16])
def test_inception_v1_matches_exhaustive_search(budget_mib):
    """2,717 ideals after compaction: about a minute of exhaustive search per order and budget.  The search's
    objective (fewest partitions, then crossing bytes) at the fixed staging the reference assumes."""
    model = compaction_pipeline()(models.load("inception_v1")).model
    result = partition_model(model, budget_mib * MIB, staging_bytes=STAGING_BYTES)
    assert not result.tiling
    best = reference(PartitionGraph.build(result.model, result.infos), Limits(budget_mib * MIB))
    assert best is not None and best[0] > 1
    assert (len(result.parts), result.crossing_bytes) == best


@pytest.mark.parametrize("name", ["squeezenet", "inception_v1"])
def test_batched_costs_equal_segment_costs(name):
    """The reference's and the exact search's batched segment totals are `segment_cost`
    itself (sampled pairs of ideals I < J)."""
    graph = compacted_graph(name)
    limits = Limits(8 * MIB)
    ideals = enumerate_ideals(graph, 1_000_000)
    search = ExhaustiveSearch(graph, limits, ideals)
    tables = BatchTables.build(graph)
    rng = random.Random(0)
    for index in rng.sample(range(len(ideals) - 1), 25):
        candidates, totals = search.totals_above(index)
        done = search.rows[index]
        production = segment_totals(tables, done, search.rows[candidates] & ~done, limits)
        for k in rng.sample(range(len(candidates)), min(6, len(candidates))):
            segment = search.members(ideals[candidates[k]] & ~ideals[index])
            expected = segment_cost(graph, segment, limits, search.members(ideals[index])).total
            assert totals[k] == production[k] == expected


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
