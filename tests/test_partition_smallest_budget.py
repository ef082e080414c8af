"""The smallest-budget search (`partitioner.smallest_budget`) and the feasibility check it runs.

- `_fits` (the check: stops at the first partitioning found) agrees with the full search
  (`_attempt`, every candidate and order) on random DAGs at random budgets, for every strategy;
- the baselines plan a rejected partitioning once (layer-wise, whose partitions do not depend on
  the budget, stops at the first rejection) and still find what the memory plan accepts;
- brute force: the budget `smallest_budget` names (doubling, then bisection) is the first, in
  4 KiB steps from the caller's failing budget up, that the end-to-end check accepts, with and
  without spatial tiling; `partition_model` succeeds there and names it one step below.
"""
from __future__ import annotations

import time
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from onnx_tee.passes.analysis.shapes import infer_static_shapes
from onnx_tee.passes.errors import UserError
from onnx_tee.passes.partition.baselines import greedy, layerwise
from onnx_tee.passes.partition.cost import Limits
from onnx_tee.passes.partition.graph import PartitionGraph
from onnx_tee.passes.partition.partitioner import (BUDGET_STEP, STRATEGIES, _BASELINES, _attempt, _feasible, _fits,
                                                   partition_model, smallest_budget)
from onnx_tee.passes.partition.spatial_plan import plan_spatial
from onnx_tee.passes.partition.tiling import without_bulk_data
from onnx_tee.passes.sizes import format_size
from onnx_tee.passes.target import RESERVE_BYTES, STAGING_BYTES
from test_partition_optimality import limits_between, random_dag
from test_partition_spatial import _wide_model

KIB = 1 << 10


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), blocks=st.integers(3, 10), fraction=st.floats(-0.3, 0.6),
       strategy=st.sampled_from(STRATEGIES))
def test_check_agrees_with_the_full_search(seed, blocks, fraction, strategy):
    model = random_dag(seed, blocks)
    infos = infer_static_shapes(model)
    limits = limits_between(PartitionGraph.build(model, infos), max(fraction, 0.0))
    if fraction < 0:  # below the largest single node's need too
        limits = Limits(int(limits.budget * (1 + fraction)), STAGING_BYTES, RESERVE_BYTES)
    full = _attempt(model, infos, limits, strategy, {})
    assert _fits(model, infos, limits, strategy, {}) == (full is not None)


def _rejecting_check(seen: list):
    def check(parts):
        seen.append(tuple(map(tuple, parts)))
        return [0]  # the memory plan puts partition 0 over the budget
    return check


def test_baselines_plan_a_rejected_partitioning_once():
    model = random_dag(7, 9)
    infos = infer_static_shapes(model)
    graph = PartitionGraph.build(model, infos)
    limits = limits_between(graph, 0.5)
    assert layerwise(graph, limits) is not None and greedy(graph, limits) is not None
    for name in ("layerwise", "greedy"):
        seen: list = []
        assert _BASELINES[name](graph, limits, _rejecting_check(seen)) is None
        assert seen and len(seen) == len(set(seen)), name
    seen = []
    _BASELINES["layerwise"](graph, limits, _rejecting_check(seen))
    assert len(seen) == 1
    # accepted after two rejections: greedy's third distinct partitioning is returned
    rejected: list = []

    def check(parts):
        if len(rejected) < 2:
            rejected.append(parts)
            return [0]
        return []
    found = _BASELINES["greedy"](graph, limits, check)
    assert len(rejected) == 2 and found is not None and found not in rejected


def _first_success(model, infos, limits: Limits, spatial: bool) -> int:
    """Brute force: the first budget above `limits.budget`, in BUDGET_STEP steps, that the
    end-to-end check accepts."""
    budget = limits.budget + BUDGET_STEP
    while not _feasible(model, infos, replace(limits, budget=budget), "optimal", {}, spatial):
        budget += BUDGET_STEP
    return budget


def test_smallest_budget_is_the_first_budget_that_works():
    model = _wide_model(rows=40, channels=16)
    infos = infer_static_shapes(model)
    skeleton = without_bulk_data(model)
    limits = Limits(64 * KIB, STAGING_BYTES, RESERVE_BYTES)
    found = {spatial: smallest_budget(skeleton, infos, limits, "optimal", spatial=spatial).works
             for spatial in (False, True)}
    assert found[True] < found[False] * 0.6  # spatial tiling matters here
    hinted = smallest_budget(skeleton, infos, limits, "optimal", spatial=True, works_at=found[False])
    assert hinted.works == found[True] and hinted.exact
    for spatial, budget in found.items():
        assert budget == _first_success(skeleton, infos, limits, spatial)
        assert len(partition_model(model, budget, spatial=spatial).parts) >= 1
        with pytest.raises(UserError, match=f"smallest budget that works is .* [(]{budget} bytes[)]"):
            partition_model(model, budget - BUDGET_STEP, spatial=spatial)


def test_a_search_out_of_time_names_a_budget_that_works_and_one_that_fails():
    """With no time to bisect, the doubling's bounds are the answer: the larger works, the smaller
    fails, and the message says the smallest lies between them."""
    model = _wide_model(rows=40, channels=16)
    infos = infer_static_shapes(model)
    skeleton = without_bulk_data(model)
    limits = Limits(64 * KIB, STAGING_BYTES, RESERVE_BYTES)
    bound = smallest_budget(skeleton, infos, limits, "optimal", spatial=False, seconds=0.0)
    exact = smallest_budget(skeleton, infos, limits, "optimal", spatial=False)
    assert exact.exact and not bound.exact
    assert bound.fails < exact.works <= bound.works
    assert _feasible(skeleton, infos, replace(limits, budget=bound.works), "optimal", {}, False)
    assert not _feasible(skeleton, infos, replace(limits, budget=bound.fails), "optimal", {}, False)
    assert f"a budget of {format_size(bound.works)} ({bound.works} bytes) works" in bound.describe()
    assert f"lies above {format_size(bound.fails)}" in bound.describe()


def test_spatial_tiling_out_of_time_still_names_a_budget_that_works():
    """Past its time the search stops trying spatial tiling: the budget it names works (on
    partitioning alone), and no failing budget is claimed, since spatial tiling might have saved it."""
    model = _wide_model(rows=40, channels=16)
    infos = infer_static_shapes(model)
    skeleton = without_bulk_data(model)
    limits = Limits(64 * KIB, STAGING_BYTES, RESERVE_BYTES)
    bound = smallest_budget(skeleton, infos, limits, "optimal", spatial=True, seconds=0.0, start_fails=False)
    assert _feasible(skeleton, infos, replace(limits, budget=bound.works), "optimal", {}, True)
    assert bound.fails == 0 and not bound.exact
    assert bound.describe().endswith("works (the search for a smaller one stopped after its time)")
    assert plan_spatial(skeleton, infos, replace(limits, budget=bound.works // 2),
                        lambda *_: True, deadline=time.process_time() - 1) is None
