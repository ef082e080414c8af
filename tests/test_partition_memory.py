"""The memory model: offset placement, arena quality, node order, plans of real partitionings.

- `assign_offsets` never lets two buffers live at the same step share a byte, and its total is
  at least the liveness lower bound (hypothesis);
- the arena of every partition of the (compacted) zoo models at 8 and 16 MiB, planned alone,
  is within 5% of its liveness lower bound (a subset by default, the whole zoo under `-m slow`);
- `choose_node_order` is never worse than the given order, and never better than the best of
  all topological orders (brute force on tiny graphs);
- plans of real partitionings: every buffer of a partition (carried, internal, body, staging,
  scratch) is disjoint from every other one live at the same step.
"""
from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings, strategies as st
from onnx import helper

from onnx_tee import models
from conftest import make_model
from onnx_tee.passes.analysis.shapes import infer_static_shapes
from onnx_tee.passes.compact import compaction_pipeline
from onnx_tee.passes.errors import UserError
from onnx_tee.passes.partition.memory import (Buffer, PartitionSpec, activation_buffers, activation_peak, assign_offsets,
                                     choose_node_order, peak_of, plan_memory)
from onnx_tee.passes.partition.partitioner import partition_model

MIB = 2**20


def disjoint(offsets: dict[str, int], buffers: list[Buffer]) -> bool:
    for a, b in itertools.combinations(buffers, 2):
        if a.start <= b.end and b.start <= a.end and a.size and b.size:
            if offsets[a.key] < offsets[b.key] + b.size and offsets[b.key] < offsets[a.key] + a.size:
                return False
    return True


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 64), st.integers(0, 20), st.integers(0, 6)), min_size=1, max_size=25))
def test_assign_offsets_is_valid_and_above_the_bound(raw):
    buffers = [Buffer(f"b{i}", size * 64, start, start + length) for i, (size, start, length) in enumerate(raw)]
    offsets, total = assign_offsets(buffers)
    assert disjoint(offsets, buffers)
    assert total >= peak_of(buffers)
    assert total == max(offsets[b.key] + b.size for b in buffers)


def arena_gaps(model, budget: int) -> list[float]:
    """Per partition: planned arena (internal activations, `assign_offsets`) / its liveness bound - 1."""
    result = partition_model(model, budget)
    gaps = []
    for spec, mem in zip(result.specs, result.plan.partitions):
        by_label = {(n.name or n.output[0]): n for n in spec.nodes}
        order = [by_label[label] for label in mem.node_order]
        _, internal, _ = activation_buffers(spec, result.infos, order)
        if internal:
            _, total = assign_offsets(internal)
            gaps.append(total / peak_of(internal) - 1)
    return gaps


@pytest.mark.parametrize("name,budget", [("squeezenet", 8), ("resnet50", 8), ("inception_v1", 8),
                                         ("densenet121", 8), ("densenet121", 16)])
def test_planned_arenas_within_five_percent_of_the_liveness_bound(name, budget):
    assert max(arena_gaps(compaction_pipeline()(models.load(name)).model, budget * MIB)) <= 0.05


@pytest.mark.slow
@pytest.mark.parametrize("budget", [8, 16])
@pytest.mark.parametrize("name", models.names())
def test_zoo_arenas_within_five_percent_of_the_liveness_bound(name, budget):
    model = compaction_pipeline()(models.load(name)).model
    try:
        gaps = arena_gaps(model, budget * MIB)
    except UserError:
        pytest.skip(f"{name} does not fit in {budget} MiB")
    assert max(gaps, default=0) <= 0.05, (name, budget, gaps)


def test_plans_keep_live_buffers_apart():
    result = partition_model(models.load("inception_v1"), 8 * MIB)
    infos = result.infos
    for spec, mem in zip(result.specs, result.plan.partitions):
        by_label = {(n.name or n.output[0]): n for n in spec.nodes}
        order = [by_label[label] for label in mem.node_order]
        carried, internal, aliases = activation_buffers(spec, infos, order)
        last = len(order) - 1
        buffers = carried + internal + [Buffer("body", mem.weights, -1, last), Buffer("staging", mem.staging, -1, -1),
                                        Buffer("scratch", mem.scratch, 0, last)]
        offsets = dict(mem.tensor_offsets)
        offsets.update(body=mem.body_offset, staging=mem.staging_offset, scratch=mem.scratch_offset)
        assert disjoint(offsets, buffers)
        assert max(offsets[b.key] + b.size for b in buffers) <= mem.total
        for name, key in aliases.items():
            assert mem.tensor_offsets[name] == mem.tensor_offsets[key]


def random_branchy_graph(seed: int):
    """Up to 7 Relu/Add/Concat nodes over [1, w] tensors: several topological orders."""
    rng = random.Random(seed)
    width = {"x": 16}
    nodes, names = [], ["x"]
    for k in range(rng.randint(3, 7)):
        out = f"t{k}"
        if rng.random() < 0.4 and len(names) > 1:
            a, b = rng.sample(names, 2)
            nodes.append(helper.make_node("Concat", [a, b], [out], axis=1))
            width[out] = width[a] + width[b]
        else:
            a = rng.choice(names)
            nodes.append(helper.make_node("Relu" if rng.random() < 0.5 else "Neg", [a], [out]))
            width[out] = width[a]
        names.append(out)
    read = {x for n in nodes for x in n.input}
    outputs = [(t, [1, width[t]]) for t in names[1:] if t not in read]
    return make_model(nodes, [("x", [1, 16])], outputs)


def topological_orders(nodes):
    produced = {o: n for n in nodes for o in n.output}
    for perm in itertools.permutations(nodes):
        seen = set()
        ok = True
        for n in perm:
            if any(x in produced and x not in seen for x in n.input):
                ok = False
                break
            seen.update(n.output)
        if ok:
            yield list(perm)


@pytest.mark.parametrize("seed", range(25))
def test_node_order_never_worse_than_given_and_never_below_brute_force(seed):
    model = random_branchy_graph(seed)
    infos = infer_static_shapes(model)
    spec = PartitionSpec.of_model(model)
    chosen = activation_peak(spec, infos, choose_node_order(spec, infos))
    given_peak = activation_peak(spec, infos, spec.nodes)
    best = min(activation_peak(spec, infos, order) for order in topological_orders(list(spec.nodes)))
    assert best <= chosen <= given_peak


def test_plan_of_partition_models_matches_plan_of_specs():
    """Lowering may plan from the written partition models: the plan is the same."""
    result = partition_model(models.load("squeezenet"), 6 * MIB)
    again = plan_memory(result.models, result.infos, budget=result.plan.budget,
                        model_outputs=result.graph.model_outputs)
    assert [p.total for p in again.partitions] == [p.total for p in result.plan.partitions]
    assert [p.tensor_offsets for p in again.partitions] == [p.tensor_offsets for p in result.plan.partitions]
