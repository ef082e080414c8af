"""Pruning on the whole zoo: exactness, a property test over random groups and ratios, and speed.

Default run: a representative subset (SqueezeNet: Concat; ShuffleNet: channel shuffle, grouped and
depthwise convs; the trained ResNet: residual Adds, Flatten->Gemm).  `pytest -m slow` covers the
nine reference architectures and every trained model.
"""
from __future__ import annotations

import time

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onnx_tee import models
from conftest import random_inputs, run_ort
from onnx_tee.passes.prune.apply import prune_units
from onnx_tee.passes.prune.groups import analyze
from onnx_tee.passes.prune.schedule import ScheduleConfig, prune_progressively
from prune_helpers import exactness_error, random_units

DEFAULT = ["squeezenet", "shufflenet"] + [n for n in models.trained_names() if n == "resnet_fmnist"]
EVERYTHING = models.reference_names() + models.trained_names()
SLOW_ONLY = [n for n in EVERYTHING if n not in DEFAULT]


def zoo_params(names_default, names_slow):
    return ([pytest.param(n, id=n) for n in names_default]
            + [pytest.param(n, id=n, marks=pytest.mark.slow) for n in names_slow])


@pytest.mark.parametrize("name", zoo_params(DEFAULT, SLOW_ONLY))
def test_exactness_on_zoo(name):
    model = models.load(name)
    error, changed, _ = exactness_error(model, seed=1)
    assert changed > 1e-4, "zeroing the channels' readers did not change the outputs"
    assert error <= 1e-5


def _check_random_pruning(model: onnx.ModelProto, seed: int, ratio: float) -> None:
    graph = analyze(model)
    units = random_units(graph, np.random.default_rng(seed), ratio)
    pruned, keep_of = prune_units(model, graph, units)
    onnx.checker.check_model(pruned, full_check=True)
    feeds = random_inputs(model, seed=seed)
    expected = {o.name: v.shape for o, v in zip(model.graph.output, run_ort(model, feeds).values())}
    outputs = run_ort(pruned, feeds)
    assert {k: v.shape for k, v in outputs.items()} == expected
    assert all(np.isfinite(v).all() for v in outputs.values())
    dims = {t.name: tuple(t.dims) for t in pruned.graph.initializer}
    for param in graph.params:                     # every member shrank to exactly the kept count
        if param.tensor in dims:
            kept = int((~np.isin(graph.labels[param.ids], units)).sum())
            assert dims[param.tensor][param.axis] == kept, (param.tensor, param.axis)
    removed = sum(len(s.ids) - int(keep_of[n].sum()) for n, s in graph.spaces.items())
    assert removed > 0


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(DEFAULT), seed=st.integers(0, 2**16), ratio=st.floats(0.05, 0.95))
def test_random_pruning_property(name, seed, ratio):
    _check_random_pruning(models.load(name), seed, ratio)


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(EVERYTHING), seed=st.integers(0, 2**16), ratio=st.floats(0.05, 0.95))
def test_random_pruning_property_whole_zoo(name, seed, ratio):
    _check_random_pruning(models.load(name), seed, ratio)


def test_resnet50_thirty_percent_l1_under_two_minutes():
    model = models.load("resnet50")
    start = time.perf_counter()
    outcome = prune_progressively(model, ScheduleConfig(fraction=0.3, max_steps=1), progress=False)
    seconds = time.perf_counter() - start
    assert seconds < 120
    total = sum(g.channels for g in analyze(model).prunable_groups())
    assert abs(outcome.history[1]["removed"] / total - 0.3) < 0.01
    onnx.checker.check_model(outcome.model, full_check=True)
    assert outcome.final.flops < outcome.baseline.flops


@pytest.mark.parametrize("name", zoo_params(["shufflenet"], ["resnet50", "densenet121", "inception_v2"]
                                            + [n for n in models.trained_names() if n != "cnn_digits"]))
def test_exactness_after_compaction_folds_batchnorm(name):
    from onnx_tee.passes.compact import compaction_pipeline

    model = models.load(name)
    folded = compaction_pipeline()(model).model
    count = lambda m: sum(n.op_type == "BatchNormalization" for n in m.graph.node)  # noqa: E731
    assert count(folded) < count(model) or not count(model)   # DenseNet's pre-activation BNs (BN -> Relu -> Conv) stay
    error, changed, _ = exactness_error(folded, seed=2)
    assert changed > 1e-4 and error <= 1e-5
