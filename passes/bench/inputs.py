"""Fixed, seeded inputs for timing runs.

Every configuration of a model is timed on the same input: a test-set image for models trained on a
data set (sample `seed` of the test split), standard-normal values from `numpy.random.default_rng(seed)`
otherwise.  Compute time does not depend on the values, but a real image keeps the simulator's
outputs meaningful and comparable with onnxruntime's.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from ..errors import UserError
from ..graph import graph_inputs


def benchmark_feeds(model: onnx.ModelProto, *, seed: int = 0, dataset: str | None = None) -> dict[str, np.ndarray]:
    """{input name: array} for every real graph input of `model` (static shapes required)."""
    feeds = {}
    rng = np.random.default_rng(seed)
    for value in graph_inputs(model):
        tensor_type = value.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else 0 for d in tensor_type.shape.dim]
        if any(d <= 0 for d in dims):
            raise UserError(f"input '{value.name}' has a dynamic shape {dims}: fix it before benchmarking")
        dtype = helper.tensor_dtype_to_np_dtype(tensor_type.elem_type)
        if dataset is not None:
            from onnx_tee.passes.datasets import load_dataset
            images = load_dataset(dataset, "test").x
            feeds[value.name] = images[seed % len(images)][None].reshape(dims).astype(dtype)
        else:
            feeds[value.name] = rng.standard_normal(dims).astype(dtype)
    return feeds
