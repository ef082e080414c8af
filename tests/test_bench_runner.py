"""The secure configurations in the simulator and the whole suite, on a small CNN."""
from __future__ import annotations

import math

import numpy as np
import pytest
from onnx import helper, numpy_helper

from conftest import make_model
from onnx_tee.passes.bench.configs import BY_NAME, select_configurations
from onnx_tee.passes.bench.inputs import benchmark_feeds
from onnx_tee.passes.bench.results import summarise
from onnx_tee.passes.bench.secure_runner import time_in_simulator
from onnx_tee.passes.bench.settings import BenchSettings, PruningSettings
from onnx_tee.passes.bench.suite import run_benchmark
from onnx_tee.passes.bench.switches import WorldSwitchModel
from onnx_tee.passes.lower.sim import HEAP_RESERVE
from onnx_tee.passes.modelio import save_model
from onnx_tee.passes.partition.chain import run_whole
from onnx_tee.passes.target import LOAD_CHUNK_BYTES

KIB = 1024


def small_cnn():
    """conv3x3(1->16) relu conv3x3(16->32) relu maxpool flatten gemm(->10): ~25 KiB of weights."""
    rng = np.random.default_rng(0)

    def init(name, shape, fan_in):
        return numpy_helper.from_array((rng.standard_normal(shape) * np.sqrt(2 / fan_in)).astype(np.float32), name)

    inits = [init("w1", (16, 1, 3, 3), 9), init("w2", (32, 16, 3, 3), 144), init("w3", (32 * 8 * 8, 10), 2048)]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2"], ["c2"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c2"], ["r2"]),
             helper.make_node("MaxPool", ["r2"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "w3"], ["y"])]
    return make_model(nodes, [("x", [1, 1, 16, 16])], [("y", [1, 10])], inits)


def _measure(model, configs, budget, repeats=3):
    feeds = benchmark_feeds(model, seed=0)
    expected = run_whole(model, feeds)
    return time_in_simulator("cnn", budget, [(BY_NAME[c], model, expected) for c in configs], feeds,
                             _measure.work_dir, repeats=repeats, warmup=1, switch_model=WorldSwitchModel(0.5))


@pytest.fixture(autouse=True)
def _work_dir(tmp_path):
    _measure.work_dir = tmp_path


@pytest.fixture(scope="module")
def cnn_at_512k(tmp_path_factory):
    _measure.work_dir = tmp_path_factory.mktemp("work")
    return _measure(small_cnn(), ["layerwise", "partitioned"], 512 * KIB)


@pytest.mark.parametrize("config", ["layerwise", "partitioned"])
def test_secure_configuration_counts_and_checks_what_it_runs(config, cnn_at_512k):
    assert list(cnn_at_512k) == ["layerwise", "partitioned"]
    budget = 512 * KIB
    m = cnn_at_512k[config]
    assert m.ok and m.max_rel_error < 1e-4
    assert m.partitions == len(m.per_partition) == (6 if config == "layerwise" else 1)   # Flatten rides along
    # one world switch per TA invocation: open + write input + every chunk + one run per partition + read output
    chunks = sum(math.ceil(p["blob_bytes"] / LOAD_CHUNK_BYTES) for p in m.per_partition)
    assert m.switches == 1 + 1 + chunks + m.partitions + 1
    assert m.switch_s == pytest.approx(m.switches * 0.5e-3)
    assert m.compute_s > 0 and m.load_s > 0
    assert m.total_s == pytest.approx(m.compute_s + m.load_s + m.switch_s)
    assert len(m.spread["compute"]["samples"]) == 3
    assert m.compute_s == pytest.approx(np.median(m.spread["compute"]["samples"]))
    # the load's thread CPU time: descheduled time left out, so never above its wall time
    assert all(0 < cpu <= wall + 1e-3 for cpu, wall in zip(m.spread["load_cpu"]["samples"],
                                                           m.spread["load"]["samples"]))
    assert all(0 < p["load_cpu_s"] <= p["load_s"] + 1e-3 for p in m.per_partition)
    # the TA's heap never exceeds what OP-TEE would give it, and the region fits the budget
    assert m.region_bytes <= budget and m.region_bytes <= m.peak_secure_bytes <= budget + HEAP_RESERVE
    assert all(p["touched_bytes"] <= p["planned_bytes"] for p in m.per_partition)


def test_infeasible_budget_is_recorded_with_the_smallest_budget_that_works():
    m = _measure(small_cnn(), ["partitioned"], 16 * KIB)["partitioned"]
    assert not m.ok and m.total_s is None
    assert m.status.startswith("infeasible:") and "smallest budget" in m.status


def test_suite_runs_every_configuration_at_every_budget(tmp_path):
    path = tmp_path / "cnn.onnx"
    save_model(small_cnn(), path)
    budgets = (256 * KIB, 1024 * KIB)
    settings = BenchSettings(models=(str(path),), budgets=budgets, configs=tuple(select_configurations(None)),
                             out_dir=tmp_path / "out", repeats=2, pruning=PruningSettings(ratio=0.5))
    run = run_benchmark(settings, "python cli.py bench ...", progress=False)
    assert [(m.budget, m.config) for m in run.measurements] == [(b, c.name) for b in budgets
                                                                 for c in settings.configs]
    assert all(m.ok for m in run.measurements), [m.status for m in run.measurements]
    by = {(m.budget, m.config): m for m in run.measurements}
    # `ort` is timed once per model and reported at every budget
    assert by[(budgets[0], "ort")].compute_s == by[(budgets[1], "ort")].compute_s
    # the pruned configurations run the pruned model: half of the hidden channels, about a quarter of the MACs
    assert by[(budgets[0], "ours")].macs < 0.5 * by[(budgets[0], "layerwise")].macs
    assert by[(budgets[0], "ours")].weight_bytes < by[(budgets[0], "partitioned")].weight_bytes
    assert (tmp_path / "out" / "pruned" / "cnn.onnx").exists()
    assert all(m.max_rel_error < 1e-4 for m in run.measurements if m.config != "ort")
    summary = summarise(run.measurements)["ours vs layerwise"]
    assert summary["cells"] == 2 and summary["geomean"] > 0


def channel_split_cnn():
    """ShuffleNetV2's channel split as torch exports it: the Slice's end is Shape -> Gather -> Div ->
    Unsqueeze, which shape inference of the model as given leaves open; lower's constant folding closes it."""
    rng = np.random.default_rng(1)
    n = helper.make_node
    inits = [numpy_helper.from_array((0.3 * rng.standard_normal((8, 1, 3, 3))).astype(np.float32), "w1"),
             numpy_helper.from_array((0.3 * rng.standard_normal((4, 4, 1, 1))).astype(np.float32), "w2"),
             numpy_helper.from_array(np.array(1, np.int64), "one"), numpy_helper.from_array(np.array(2, np.int64), "two"),
             numpy_helper.from_array(np.array([0], np.int64), "zero"), numpy_helper.from_array(np.array([1], np.int64),
                                                                                                "axis1")]
    nodes = [n("Conv", ["x", "w1"], ["c"], pads=[1, 1, 1, 1]), n("Shape", ["c"], ["shape"]),
             n("Gather", ["shape", "one"], ["channels"], axis=0), n("Div", ["channels", "two"], ["half"]),
             n("Unsqueeze", ["half", "zero"], ["end"]), n("Slice", ["c", "zero", "end", "axis1"], ["left"]),
             n("Conv", ["left", "w2"], ["y"])]
    return make_model(nodes, [("x", [1, 1, 6, 6])], [("y", None)], inits, opset=13)


def test_suite_prepares_a_model_through_lowers_front_end(tmp_path):
    from onnx_tee.passes.analysis.shapes import infer_static_shapes
    from onnx_tee.passes.errors import UnsupportedModelError
    model = channel_split_cnn()
    with pytest.raises(UnsupportedModelError, match="cannot be inferred statically"):
        infer_static_shapes(model)         # what the suite used to compute MACs on
    path = tmp_path / "split.onnx"
    save_model(model, path)
    settings = BenchSettings(models=(str(path),), budgets=(256 * KIB,), configs=tuple(select_configurations(
        ["ort", "partitioned"])), out_dir=tmp_path / "out", repeats=2)
    run = run_benchmark(settings, "python cli.py bench ...", progress=False)
    assert all(m.ok for m in run.measurements), [m.status for m in run.measurements]
    assert run.measurements[1].macs == 8 * 9 * 36 + 4 * 4 * 36
