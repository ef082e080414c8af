"""Residency planning (passes/partition/residency.py) against brute force and the simple plans.

- on small random chains of partitions the exact branch and bound finds the cost of the brute
  force over all subsets (hypothesis), with a feasibility rule that is the real memory plan in the
  last test;
- the chosen plan is never worse than all-streamed or all-pinned-what-fits;
- the real memory plan with the chosen bodies pinned keeps every partition within the budget and
  puts the pinned bodies where no other partition's bytes go;
- a partitioning packed to the budget is searched again at smaller budgets when smaller partitions
  let bodies stay, and taken only when its steady state is cheaper.
"""
from __future__ import annotations

import numpy as np
import onnx
from hypothesis import given, settings, strategies as st
from onnx import TensorProto, helper, numpy_helper

from onnx_tee.passes.partition.memory import plan_memory
from onnx_tee.passes.partition.partitioner import partition_model
from onnx_tee.passes.partition.residency import (REPARTITION_FRACTIONS, StreamCost, pin_for_stream, pinned_what_fits, plan_brute_force,
                                                 plan_exact, plan_heuristic)


def knapsack_fits(bodies, floors, room):
    """A feasibility rule shaped like the memory plan's: the pinned bodies add to every other
    partition's floor, plus a random per-set penalty so `fits` is not just the bound."""
    def fits(pinned):
        held = sum(bodies[k] for k in pinned)
        return all(held - (bodies[k] if k in pinned else 0) + floors[k] <= room for k in range(len(bodies)))
    return fits


cases = st.integers(1, 7).flatmap(lambda n: st.tuples(
    st.lists(st.integers(1, 40), min_size=n, max_size=n),     # body sizes (x 64 KiB)
    st.lists(st.integers(5, 60), min_size=n, max_size=n),     # floors (x 64 KiB)
    st.integers(40, 160),                                     # room (x 64 KiB)
    st.integers(1, 4), st.integers(0, 4)))                    # chunk (x 64 KiB), io commands


@settings(max_examples=150, deadline=None)
@given(cases)
def test_exact_equals_brute_force(case):
    bodies, floors, room, chunk, io = case
    unit = 64 << 10
    bodies, floors = [b * unit for b in bodies], [max(f * unit, b) for f, b in zip(floors, bodies)]
    room *= unit
    if max(floors) > room:
        room = max(floors)   # the partitioning itself fits
    cost = StreamCost(tuple(b + 96 for b in bodies), io, chunk * unit)
    fits = knapsack_fits(bodies, floors, room)
    exact, brute = plan_exact(cost, fits, bodies, room, floors), plan_brute_force(cost, fits)
    assert fits(exact.pinned)
    assert abs(exact.seconds - brute.seconds) <= 1e-12
    assert exact.plans_checked <= brute.plans_checked
    for other in (frozenset(), pinned_what_fits(len(bodies), fits)):
        assert exact.seconds <= cost.seconds(other) + 1e-15
    heuristic = plan_heuristic(cost, fits, bodies)
    assert fits(heuristic.pinned)
    for other in (frozenset(), pinned_what_fits(len(bodies), fits)):
        assert heuristic.seconds <= cost.seconds(other) + 1e-15


def test_all_pinned_is_one_command():
    cost = StreamCost((1000, 2000, 3000), 2, 1024)
    assert cost.invocations({0, 1, 2}) == 1 and cost.bytes_loaded({0, 1, 2}) == 0
    assert cost.invocations(()) == 2 + 3 + 1 + 2 + 3
    assert cost.invocations({1}) == 2 + 3 + 1 + 3


def mlp(widths, seed=0) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    nodes, inits, prev = [], [], "x"
    for k, (a, b) in enumerate(zip(widths, widths[1:])):
        inits.append(numpy_helper.from_array(rng.standard_normal((a, b)).astype(np.float32), f"w{k}"))
        nodes.append(helper.make_node("MatMul", [prev, f"w{k}"], [f"h{k}"]))
        prev = f"h{k}"
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, widths[0]])],
                              [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [1, widths[-1]])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_real_plan_exact_equals_brute_force_and_keeps_pinned_bodies_apart():
    model = mlp([256, 256, 128, 256, 64, 256])
    result = partition_model(model, budget=600 << 10, strategy="layerwise")   # slack beside small partitions
    n = len(result.plan.partitions)
    assert n == 5
    pinned_result, residency = pin_for_stream(result, repartition=())
    plan = pinned_result.plan

    def fits(pinned):
        return not plan_memory(result.specs, result.infos, budget=plan.budget, staging_bytes=plan.staging_bytes,
                               reserve_bytes=plan.reserve_bytes, model_outputs=result.graph.model_outputs,
                               pinned=pinned).over_budget()

    from onnx_tee.passes.target import blob_bytes
    cost = StreamCost(tuple(blob_bytes(p.weights) for p in plan.partitions), 2)
    brute = plan_brute_force(cost, fits)
    assert abs(residency.seconds - brute.seconds) <= 1e-12 and 0 < len(residency.pinned) < n
    assert not plan.over_budget()
    pinned = [(p.body_offset, p.body_offset + p.weights) for p in plan.partitions if p.is_pinned]
    for k, part in enumerate(plan.partitions):
        spans = [(off, off + result.infos[name].nbytes) for name, off in part.tensor_offsets.items()]
        spans.append((part.staging_offset, part.staging_offset + part.staging))
        for lo, hi in pinned:
            if part.is_pinned and (lo, hi) == (part.body_offset, part.body_offset + part.weights):
                continue
            assert all(b <= lo or a >= hi for a, b in spans), k


def test_a_partitioning_packed_to_the_budget_is_cut_smaller_when_that_lets_bodies_stay():
    """[1536, 1025] KiB bodies packed into 2000 KiB leave no room to pin; cut at a smaller budget,
    bodies fit beside the others: the steady state is cheaper than the packed one's (nothing pinned),
    and the plan of the new partitioning fits the whole budget."""
    result = partition_model(mlp([512, 512, 256, 512, 128, 512]), budget=2000 << 10)
    assert len(result.plan.partitions) == 2
    packed_result, packed = pin_for_stream(result, repartition=())
    assert not packed.pinned
    chosen_result, chosen = pin_for_stream(result, repartition=REPARTITION_FRACTIONS)
    assert chosen.seconds < packed.seconds and chosen.pinned
    assert len(chosen_result.specs) > 2 and not chosen_result.plan.over_budget()
    assert chosen_result.plan.budget == 2000 << 10
