"""The staging buffer widened for free (`passes.partition.staging`).

- on real partitionings: the widened plan keeps the partitions and the region of the 64 KiB plan,
  its staging is a multiple of 64 KiB no wider than the largest blob, and it is the widest such
  size before the first one that would grow the region (every multiple probed by brute force);
- a size the caller gives is kept as given;
- where no wide staging is free (AlexNet's weight-packed partitions), `optimal` takes a partitioning
  searched with a wider staging reserved when it at least halves the invocations in a region at
  most `REGION_GROWTH` larger, and the result still chains to onnxruntime's outputs;
- lowered and run in the simulator, a widened plan loads in fewer TA invocations and still
  measures exactly the planned memory and onnxruntime's outputs.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from onnx_tee import models
from onnx_tee.passes.compact import compaction_pipeline
from onnx_tee.passes.partition.memory import plan_memory
from onnx_tee.passes.target import STAGING_BYTES, blob_bytes
from onnx_tee.passes.partition.partitioner import partition_model
from onnx_tee.passes.partition.staging import REGION_GROWTH, invocations

MIB = 2**20


def compacted(name):
    return compaction_pipeline()(models.load(name)).model


def plan_at(result, staging):
    return plan_memory(result.specs, result.infos, budget=result.plan.budget, staging_bytes=staging,
                       model_outputs=result.graph.model_outputs)


def chunks(plan):
    return sum(math.ceil(blob_bytes(p.weights) / plan.staging_bytes) for p in plan.partitions)


@pytest.mark.parametrize("name,budget", [("squeezenet", 8 * MIB), ("resnet50", 32 * MIB), ("lenet5_fmnist", MIB)])
def test_widened_staging_is_free_and_the_widest_before_the_region_grows(name, budget):
    auto = partition_model(compacted(name), budget, strategy="greedy")
    fixed = partition_model(compacted(name), budget, strategy="greedy", staging_bytes=STAGING_BYTES)
    assert auto.parts == fixed.parts
    assert auto.plan.region_bytes <= fixed.plan.region_bytes
    staging = auto.plan.staging_bytes
    largest = max(blob_bytes(p.weights) for p in auto.plan.partitions)
    assert staging % STAGING_BYTES == 0 and STAGING_BYTES <= staging < largest + STAGING_BYTES
    cap = -(-largest // STAGING_BYTES)
    free = [m for m in range(1, min(staging // STAGING_BYTES + 1, cap) + 1)
            if plan_at(fixed, m * STAGING_BYTES).region_bytes <= fixed.plan.region_bytes]
    widest_run = next(m for m in range(1, len(free) + 2) if m not in free) - 1
    assert staging // STAGING_BYTES >= widest_run
    assert staging in {m * STAGING_BYTES for m in free}
    assert chunks(auto.plan) <= chunks(fixed.plan)


def test_optimal_takes_wider_staged_partitions_when_they_halve_the_invocations():
    from test_partition_chain import check_equivalent, check_plan

    model = compacted("alexnet")
    auto = partition_model(model, 8 * MIB)
    fixed = partition_model(model, 8 * MIB, staging_bytes=STAGING_BYTES)
    assert auto.plan.staging_bytes > STAGING_BYTES and len(auto.parts) > len(fixed.parts)
    assert 2 * invocations(auto.plan) <= invocations(fixed.plan)
    assert auto.plan.region_bytes <= REGION_GROWTH * fixed.plan.region_bytes
    check_plan(auto)
    check_equivalent(model, auto)


@pytest.mark.parametrize("name,budget", [("squeezenet", 16 * MIB), ("inception_v1", 8 * MIB), ("resnet_fmnist", MIB // 4)])
def test_optimal_never_needs_more_invocations_than_its_fixed_staging_search(name, budget):
    auto = partition_model(compacted(name), budget)
    fixed = partition_model(compacted(name), budget, staging_bytes=STAGING_BYTES)
    assert invocations(auto.plan) <= invocations(fixed.plan)
    assert auto.plan.region_bytes <= REGION_GROWTH * fixed.plan.region_bytes


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
