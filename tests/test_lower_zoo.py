"""Zoo models lowered under a budget and run partition after partition: outputs match onnxruntime,
and the memory each partition really touches equals the plan.

Default suite: two reference models through the host interpreter (the reference models in the
simulator are tests/test_sim_zoo.py's).  `-m slow`: the trained models at 4, 8, 16 and 32 MiB
through the whole product path (encrypted bundle in the simulator), and their top-1 agreement
with onnxruntime over the Fashion-MNIST test set.
"""
from __future__ import annotations

import functools

import numpy as np
import onnx
import pytest

from onnx_tee import models
from conftest import run_ort
from lower_harness import Lowered, relative_errors
from onnx_tee.passes.analysis.shapes import fix_input_shapes, infer_static_shapes
from onnx_tee.passes.compact import compaction_pipeline
from onnx_tee.passes.errors import UserError
from onnx_tee.passes import target
from onnx_tee.passes.lower import pipeline
from onnx_tee.passes.lower.keys import generate_key
from onnx_tee.passes.partition.partitioner import partition_model

MIB = 1 << 20
RTOL = 1e-4          # max |simulator - onnxruntime| / max |onnxruntime|, per output
MEMORY_TOLERANCE = 0.01


@functools.lru_cache(maxsize=1)
def compacted(name: str) -> tuple[onnx.ModelProto, dict]:
    model = compaction_pipeline()(fix_input_shapes(models.load(name))).model
    infos = infer_static_shapes(model)
    target.check_supported(model, infos)
    return model, infos


def partitioned(name: str, budget: int):
    model, infos = compacted(name)
    try:
        return model, partition_model(model, budget, infos=infos)
    except UserError as exc:
        pytest.skip(f"{name} does not fit {budget // MIB} MiB: {exc}")


def check_in_simulator(name: str, budget: int, tmp_path) -> None:
    model, result = partitioned(name, budget)
    bodies = pipeline.partition_bodies(result, model)
    key = generate_key()
    pipeline.seal_bundle(bodies, result, model, key, tmp_path / "device")
    feeds = pipeline.sample_feeds(model, result.infos)
    inputs, outputs = pipeline.model_io(model)
    got, stats = pipeline.run_in_simulator(tmp_path / "device", key, budget, feeds, inputs, outputs)
    report = pipeline.parity(got, run_ort(model, feeds))
    assert report.worst_rel <= RTOL, report
    assert stats.heap_high_water <= budget + pipeline_reserve()
    assert len(stats.partitions) == len(bodies)
    for part, planned in zip(stats.partitions, result.plan.partitions):
        assert part.planned_bytes == planned.total
        assert abs(part.touched_bytes - planned.total) <= MEMORY_TOLERANCE * planned.total, (
            f"partition {part.index}: measured {part.touched_bytes}, planned {planned.total}")
        assert planned.total + result.plan.reserve_bytes <= budget


def pipeline_reserve() -> int:
    from onnx_tee.passes.lower.sim import HEAP_RESERVE
    return HEAP_RESERVE


@pytest.mark.parametrize("name,budget_mib", [("shufflenet", 4), ("inception_v2", 8)])
def test_zoo_model_in_the_host_interpreter(name, budget_mib):
    model, result = partitioned(name, budget_mib * MIB)
    lowered = Lowered(model, result, pipeline.partition_bodies(result, model), *pipeline.model_io(model))
    feeds = pipeline.sample_feeds(model, result.infos, seed=3)
    errors, runs = relative_errors(lowered, feeds)
    assert max(errors.values()) <= RTOL, errors
    for run, planned in zip(runs, result.plan.partitions):
        # the interpreter alone does not stage blobs; the body it reads lies at the region's top
        assert abs(run.max_region_end - planned.total) <= MEMORY_TOLERANCE * planned.total
        assert run.max_region_end <= planned.total


@pytest.mark.slow
@pytest.mark.parametrize("name,budget_mib", [(n, b) for n in models.trained_names() for b in (4, 8, 16, 32)])
def test_trained_models_in_the_simulator(name, budget_mib, tmp_path):
    check_in_simulator(name, budget_mib * MIB, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", models.trained_names())
def test_trained_models_agree_with_onnxruntime_on_their_test_set(name):
    """Top-1 of the lowered model (host interpreter, batches of 100) equals onnxruntime's on
    >= 99.9% of the test images of the data set it was trained on (Fashion-MNIST: 10,000)."""
    from lower_harness import run
    from onnx_tee.models import trained_dataset
    from onnx_tee.passes.datasets import load_dataset, predict_logits, with_batch

    x, _ = load_dataset(trained_dataset(name), "test")
    batch = 100 if len(x) % 100 == 0 else len(x)
    model = compaction_pipeline()(with_batch(models.load(name), batch)).model
    result = partition_model(model, 32 * MIB, infos=infer_static_shapes(model))
    lowered = Lowered(model, result, pipeline.partition_bodies(result, model), *pipeline.model_io(model))
    (input_name,), (output_name,) = lowered.inputs, lowered.outputs
    ours = []
    for start in range(0, len(x), batch):
        got, runs = run(lowered, {input_name: x[start:start + batch]})
        assert all(r.status == "RT_OK" for r in runs)
        ours.append(got[output_name].argmax(axis=1))
    reference = predict_logits(models.load(name), x).argmax(axis=1)
    agreement = float((np.concatenate(ours) == reference).mean())
    assert agreement >= 0.999, f"{name}: top-1 agrees on {agreement:.4%} of the test images"


def test_lowering_is_deterministic_and_sized_as_planned():
    """The same model and budget give byte-identical bodies, each exactly the plan's W_k."""
    model, result = partitioned("resnet_fmnist", 320 << 10)
    first = pipeline.partition_bodies(result, model)
    again = pipeline.partition_bodies(partition_model(model, 320 << 10), model)
    assert len(first) > 1 and first == again
    assert [len(b) for b in first] == [p.weights for p in result.plan.partitions]
