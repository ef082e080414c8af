"""Shared helpers for the pruning tests: zero the weights that read some channels, prune them."""
from __future__ import annotations

import numpy as np
import onnx

from conftest import random_inputs, run_ort
from onnx_tee.passes.prune.apply import prune_units
from onnx_tee.passes.prune.groups import ChannelGraph, analyze
from onnx_tee.passes.prune.tensors import ConstantStore


def zero_readers(model: onnx.ModelProto, graph: ChannelGraph, units: np.ndarray) -> onnx.ModelProto:
    """A copy where every weight that *reads* the given units (role "in") is zero there.

    The units' values then reach no output, so removing them must not change any output.
    """
    zeroed = onnx.ModelProto()
    zeroed.CopyFrom(model)
    store = ConstantStore(zeroed)
    hit = np.zeros(int(graph.labels.max()) + 1, dtype=bool)
    hit[units] = True
    for param in graph.params:
        mask = hit[graph.labels[param.ids]]
        if param.role == "in" and mask.any():
            value = store.value(param.tensor).copy()
            index = [slice(None)] * value.ndim
            index[param.axis] = mask
            value[tuple(index)] = 0
            store.set(param.tensor, value)
    return zeroed


def random_units(graph: ChannelGraph, rng: np.random.Generator, ratio: float | None = None) -> np.ndarray:
    """Some units of every prunable group (each group keeps at least one)."""
    chosen = []
    for group in graph.prunable_groups():
        if group.channels < 2:
            continue
        count = (int(rng.integers(1, group.channels)) if ratio is None
                 else min(group.channels - 1, max(1, int(ratio * group.channels))))
        chosen.append(rng.choice(group.units, size=count, replace=False))
    return np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)


def exactness_error(model: onnx.ModelProto, seed: int = 0) -> tuple[float, float, onnx.ModelProto]:
    """Zero the readers of random units, prune exactly those units.

    Returns (max |pruned - zeroed| over outputs, max |pruned - original|, pruned model): the
    first must be ~0, the second shows the zeroing did change the model (the test can fail).
    """
    graph = analyze(model)
    units = random_units(graph, np.random.default_rng(seed))
    assert len(units), "no prunable units"
    zeroed = zero_readers(model, graph, units)
    pruned, _ = prune_units(zeroed, graph, units)
    onnx.checker.check_model(pruned, full_check=True)
    feeds = random_inputs(model, seed=seed)
    original, reference, actual = run_ort(model, feeds), run_ort(zeroed, feeds), run_ort(pruned, feeds)
    error = max(float(np.max(np.abs(actual[k] - reference[k]))) for k in reference)
    changed = max(float(np.max(np.abs(original[k] - reference[k]))) for k in reference)
    return error, changed, pruned
