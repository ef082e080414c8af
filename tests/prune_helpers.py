"""Shared helpers for the pruning tests: run models in onnxruntime, zero channels' readers."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort

from passes.analysis.shapes import graph_inputs
from passes.prune.groups import ChannelGraph
from passes.prune.tensors import ConstantStore


def run(model: onnx.ModelProto, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, feed)


def random_feed(model: onnx.ModelProto, seed: int = 0, batch: int = 2) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    feed = {}
    for value in graph_inputs(model):
        dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else batch
                for d in value.type.tensor_type.shape.dim]
        feed[value.name] = rng.standard_normal(dims).astype(np.float32)
    return feed


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
        if param.role != "in":
            continue
        mask = hit[graph.labels[param.ids]]
        if mask.any():
            value = store.value(param.tensor).copy()
            index = [slice(None)] * value.ndim
            index[param.axis] = mask
            value[tuple(index)] = 0
            store.set(param.tensor, value)
    return zeroed
