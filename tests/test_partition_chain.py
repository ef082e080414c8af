"""Chained partitions reproduce the original model in onnxruntime; every plan fits its budget.

Default suite: a representative subset (SqueezeNet, ResNet-50 with its tiled 3x3 convs,
Inception v1, the trained zoo) at 8 MiB; `-m slow`: every zoo model at 1..32 MiB, and
VGG-19 / AlexNet at 32 MiB (tiled Gemms).  An infeasible budget must raise UserError naming
the smallest budget that works, and that budget must work.
"""
from __future__ import annotations

import re

import pytest

from onnx_tee import models
from conftest import assert_outputs_close, random_inputs, run_ort
from onnx_tee.passes.compact import compaction_pipeline
from onnx_tee.passes.errors import UserError
from onnx_tee.passes.partition.chain import run_chain
from onnx_tee.passes.target import STAGING_BYTES
from onnx_tee.passes.partition.partitioner import partition_model

MIB = 2**20


def check_plan(result) -> None:
    """Every partition: total + reserve <= budget; no two buffers live at the same step share a
    byte; carried tensors keep one offset across partitions; everything lies inside the region."""
    plan = result.plan
    assert plan.region_bytes + plan.reserve_bytes <= plan.budget
    offsets: dict[str, int] = {}
    for spec, mem in zip(result.specs, plan.partitions):
        assert mem.total + mem.reserve <= plan.budget
        for name in list(spec.inputs) + list(spec.outputs):
            assert offsets.setdefault(name, mem.tensor_offsets[name]) == mem.tensor_offsets[name], name
        for name, off in mem.tensor_offsets.items():
            assert off % 64 == 0 and off + result.infos[name].nbytes <= plan.region_bytes, name
        assert mem.body_offset + mem.weights <= plan.region_bytes
        assert mem.lower_bound <= mem.total


def check_equivalent(model, result, seed: int = 0) -> None:
    feeds = random_inputs(model, seed=seed)
    expected = run_ort(model, feeds)
    actual = run_chain(result.models, feeds, list(expected))
    assert_outputs_close(expected, actual, rtol=1e-5, scaled_atol=1e-5)


def partition_and_check(name: str, budget: int, strategy: str = "optimal"):
    return partition_and_check_model(compaction_pipeline()(models.load(name)).model, budget, strategy)


def partition_and_check_model(model, budget: int, strategy: str = "optimal"):
    try:
        result = partition_model(model, budget, strategy=strategy)
    except UserError as exc:
        need = int(re.search(r"\((\d+) bytes\)", str(exc)).group(1))
        assert need > budget
        result = partition_model(model, need, strategy=strategy)
    check_plan(result)
    check_equivalent(model, result)
    return result


@pytest.mark.parametrize("name", ["squeezenet", "resnet50", "inception_v1"])
def test_reference_models_at_8mib(name):
    result = partition_and_check(name, 8 * MIB)
    if name == "resnet50":
        assert result.tiling, "ResNet-50's 9 MiB convolutions must be tiled at 8 MiB"


@pytest.mark.parametrize("name", models.trained_names())
def test_trained_models_at_small_budgets(name):
    partition_and_check(name, MIB // 4)


@pytest.mark.parametrize("strategy", ["greedy", "layerwise"])
def test_baselines_are_valid_and_not_better(strategy):
    """At the same fixed staging; with the default, `optimal` may take more, fuller-staged partitions
    for fewer invocations (test_partition_staging)."""
    model = compaction_pipeline()(models.load("inception_v1")).model
    optimal = partition_model(model, 8 * MIB, staging_bytes=STAGING_BYTES)
    baseline = partition_model(model, 8 * MIB, strategy=strategy, staging_bytes=STAGING_BYTES)
    check_plan(baseline)
    check_equivalent(model, baseline)
    assert len(optimal.parts) <= len(baseline.parts)


def test_infeasible_budget_names_the_smallest_that_works():
    model = compaction_pipeline()(models.load("squeezenet")).model
    with pytest.raises(UserError, match=r"smallest budget that works is .* \((\d+) bytes\)") as info:
        partition_model(model, 1 * MIB, search_seconds=None)
    need = int(re.search(r"\((\d+) bytes\)", str(info.value)).group(1))
    check_plan(partition_model(model, need))
    with pytest.raises(UserError):
        partition_model(model, need - 4096)


@pytest.mark.slow
@pytest.mark.parametrize("budget_mib", [1, 2, 4, 8, 16, 32])
@pytest.mark.parametrize("name", models.names())
def test_every_zoo_model_at_every_budget(name, budget_mib):
    partition_and_check(name, budget_mib * MIB)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["vgg19", "alexnet"])
def test_large_gemms_are_tiled_at_32mib(name):
    result = partition_and_check(name, 32 * MIB)
    assert result.tiling


def smallest_or_count(model, budget: int, strategy: str) -> tuple[int, int]:
    """(0, partitions) when `budget` works, else (1, the smallest budget that works)."""
    try:
        return 0, len(partition_model(model, budget, strategy=strategy, staging_bytes=STAGING_BYTES).parts)
    except UserError as exc:
        return 1, int(re.search(r"\((\d+) bytes\)", str(exc)).group(1))


@pytest.mark.slow
@pytest.mark.parametrize("budget_mib", [4, 8, 16])
def test_optimal_never_behind_layerwise_on_pruned_alexnet(budget_mib):
    """Pruned AlexNet (one data-free L1 step of 30%, compacted): "optimal" never needs more
    partitions, nor a larger smallest budget, than "layerwise"; its partitions chain right."""
    from onnx_tee.passes.bench.pruned import prune_data_free

    model = compaction_pipeline()(prune_data_free(models.load("alexnet"), 0.3)[0]).model
    optimal = smallest_or_count(model, budget_mib * MIB, "optimal")
    layerwise = smallest_or_count(model, budget_mib * MIB, "layerwise")
    assert optimal <= layerwise
    if optimal[0] == 0:
        partition_and_check_model(model, budget_mib * MIB)
