"""The staging rule (`passes.partition.staging`), the same for every strategy.

- step 1 on real partitionings: the widened plan keeps the partitions and the region of the 64 KiB
  plan, its staging is a multiple of 64 KiB no wider than the largest blob, and it is the widest
  such size before the first one that would grow the region (every multiple probed by brute force);
- a size the caller gives is kept as given;
- step 2, where no wide staging is free (AlexNet's weight-packed partitions): every strategy, the
  layer-wise baseline too, takes a partitioning searched with a wider staging reserved when it at
  least halves the invocations, and the result still chains to onnxruntime's outputs;
- one rule for all: partitions that are the same whatever strategy made them get the same staging
  (a chain of MatMuls too large to pair, where layer-wise and adaptive partitions coincide), and no
  strategy ever loads in more invocations than its own search through 64 KiB;
- lowered and run in the simulator, a widened plan loads in fewer TA invocations and still
  measures exactly the planned memory and onnxruntime's outputs.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnx_tee import models
from onnx_tee.passes.compact import compaction_pipeline
from onnx_tee.passes.partition.memory import plan_memory
from onnx_tee.passes.target import STAGING_BYTES, blob_bytes
from onnx_tee.passes.partition.partitioner import STRATEGIES, partition_model
from onnx_tee.passes.partition.staging import invocations, widest_free_staging

MIB = 2**20


def compacted(name):
    return compaction_pipeline()(models.load(name)).model


def plan_at(result, staging):
    return plan_memory(result.specs, result.infos, budget=result.plan.budget, staging_bytes=staging,
                       model_outputs=result.graph.model_outputs)


def chunks(plan):
    return sum(math.ceil(blob_bytes(p.weights) / plan.staging_bytes) for p in plan.partitions)


def matmul_chain(width: int = 256, hidden: int = 900, pairs: int = 3):
    """x [1, width] -> MatMul -> [1, hidden] -> MatMul -> [1, width] ..., 900 KiB of weights per MatMul."""
    rng = np.random.default_rng(0)
    dims = [width] + [hidden, width] * pairs
    nodes, weights, prev = [], [], "x"
    for i in range(len(dims) - 1):
        weights.append(numpy_helper.from_array(rng.standard_normal((dims[i], dims[i + 1])).astype(np.float32), f"w{i}"))
        nodes.append(helper.make_node("MatMul", [prev, f"w{i}"], [f"h{i}"]))
        prev = f"h{i}"
    graph = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, width])],
                              [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [1, dims[-1]])], weights)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("name,budget", [("squeezenet", 8 * MIB), ("resnet50", 32 * MIB), ("lenet5_fmnist", MIB)])
def test_widened_staging_is_free_and_the_widest_before_the_region_grows(name, budget):
    fixed = partition_model(compacted(name), budget, strategy="greedy", staging_bytes=STAGING_BYTES)
    widened = widest_free_staging(lambda staging: plan_at(fixed, staging), fixed.plan)
    assert widened.region_bytes <= fixed.plan.region_bytes
    assert [p.node_order for p in widened.partitions] == [p.node_order for p in fixed.plan.partitions]
    staging = widened.staging_bytes
    largest = max(blob_bytes(p.weights) for p in widened.partitions)
    assert staging % STAGING_BYTES == 0 and STAGING_BYTES <= staging < largest + STAGING_BYTES
    cap = -(-largest // STAGING_BYTES)
    free = [m for m in range(1, min(staging // STAGING_BYTES + 1, cap) + 1)
            if plan_at(fixed, m * STAGING_BYTES).region_bytes <= fixed.plan.region_bytes]
    widest_run = next(m for m in range(1, len(free) + 2) if m not in free) - 1
    assert staging // STAGING_BYTES >= widest_run
    assert staging in {m * STAGING_BYTES for m in free}
    assert chunks(widened) <= chunks(fixed.plan)


@pytest.mark.parametrize("strategy", ["optimal", "layerwise"])
def test_every_strategy_takes_wider_staged_partitions_when_they_halve_the_invocations(strategy):
    """AlexNet at 8 MiB: through 64 KiB the layer-wise baseline needed 3,805 invocations; the rule
    that gave `optimal` 4 MiB chunks gives it 1 MiB ones (318)."""
    from test_partition_chain import check_equivalent, check_plan

    model = compacted("alexnet")
    auto = partition_model(model, 8 * MIB, strategy=strategy)
    fixed = partition_model(model, 8 * MIB, strategy=strategy, staging_bytes=STAGING_BYTES)
    assert auto.plan.staging_bytes > STAGING_BYTES and len(auto.parts) >= len(fixed.parts)
    assert 2 * invocations(auto.plan) <= invocations(fixed.plan)
    check_plan(auto)
    check_equivalent(model, auto)


def _node_sets(result):
    return [frozenset(tuple(result.graph.nodes[v].output) for v in part) for part in result.parts]


def test_the_same_partitions_get_the_same_staging_whatever_the_strategy():
    """A chain of 900 KiB MatMuls: whenever two strategies end with the same partitions they load
    through the same staging; at 2 MiB all three do, through 1 MiB chunks (before the rule was one,
    `layerwise` kept 64 KiB there: its own region was smaller, so a wider staging looked dear)."""
    model = matmul_chain()
    agreeing = 0
    for budget in (MIB, 3 * MIB // 2, 2 * MIB):
        results = {s: partition_model(model, budget, strategy=s) for s in STRATEGIES}
        for a in STRATEGIES:
            for b in STRATEGIES:
                if _node_sets(results[a]) == _node_sets(results[b]):
                    assert results[a].plan.staging_bytes == results[b].plan.staging_bytes, (budget, a, b)
        if len({frozenset(_node_sets(r)) for r in results.values()}) == 1:
            agreeing += 1
            assert {r.plan.staging_bytes for r in results.values()} == {MIB}
    assert agreeing >= 1


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("name,budget", [("squeezenet", 16 * MIB), ("inception_v1", 8 * MIB), ("resnet_fmnist", MIB // 4)])
def test_no_strategy_needs_more_invocations_than_its_fixed_staging_search(name, budget, strategy):
    auto = partition_model(compacted(name), budget, strategy=strategy)
    fixed = partition_model(compacted(name), budget, strategy=strategy, staging_bytes=STAGING_BYTES)
    assert invocations(auto.plan) <= invocations(fixed.plan)
    assert auto.plan.region_bytes + auto.plan.reserve_bytes <= budget


def test_resnet50_loads_in_far_fewer_chunks():
    auto = partition_model(compacted("resnet50"), 32 * MIB)
    fixed_chunks = chunks(plan_at(auto, STAGING_BYTES))
    assert chunks(auto.plan) * 10 < fixed_chunks


def test_a_given_staging_size_is_kept():
    result = partition_model(compacted("squeezenet"), 8 * MIB, staging_bytes=128 * 1024)
    assert result.plan.staging_bytes == 128 * 1024
    assert all(p.staging == 128 * 1024 for p in result.plan.partitions)


def test_widened_plan_runs_in_the_simulator_in_fewer_invocations(tmp_path):
    """SqueezeNet at 8 MiB: the manifest's chunk size is the widened staging; the TA gets exactly one
    LOAD_CHUNK per chunk of that size, measures the planned memory, and matches onnxruntime."""
    from conftest import run_ort
    from onnx_tee.passes.lower.envelope import MANIFEST_FILE, blob_file_name, parse_manifest
    from onnx_tee.passes.lower.pipeline import model_io, sample_feeds
    from onnx_tee.passes.lower.sim import Simulator
    from ta_bundles import lower_zoo

    lowered = lower_zoo("squeezenet", 8 * MIB, tmp_path)
    plan = lowered.result.plan
    manifest = parse_manifest((lowered.device / MANIFEST_FILE).read_bytes())
    assert manifest.chunk_bytes == plan.staging_bytes > STAGING_BYTES
    blobs = [(lowered.device / blob_file_name(k)).stat().st_size for k in range(len(plan.partitions))]
    feeds = sample_feeds(lowered.model, lowered.result.infos)
    inputs, outputs = model_io(lowered.model)
    with Simulator(tmp_path / "storage", budget=8 * MIB) as sim:
        sim.provision_key(lowered.key)
        arrays, stats = sim.run_bundle(lowered.device, [feeds[n] for n in inputs])
    loads = sum(math.ceil(b / manifest.chunk_bytes) for b in blobs)
    assert loads < sum(math.ceil(b / STAGING_BYTES) for b in blobs)
    assert stats.invocations == 1 + len(inputs) + loads + len(blobs) + len(outputs)
    assert [p.touched_bytes for p in stats.partitions] == [p.total for p in plan.partitions]
    expected = run_ort(lowered.model, feeds)
    for name, got in zip(outputs, arrays):
        np.testing.assert_allclose(got, expected[name], rtol=1e-4, atol=1e-4 * float(np.abs(expected[name]).max()))
