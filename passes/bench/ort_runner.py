"""The `ort` configuration: onnxruntime on the CPU, one thread, in the normal world.

The insecure reference: no TEE, no partitions, nothing reloaded between inferences; the session
is created once (outside the timing) with onnxruntime's default graph optimisations, as an app
would run it.  Only compute time is recorded.
"""
from __future__ import annotations

import time
from typing import Mapping

import numpy as np
import onnx
import onnxruntime as ort

from .timing import Samples, repeat_components


def single_thread_session(model: onnx.ModelProto) -> ort.InferenceSession:
    """An onnxruntime CPU session with one intra-op and one inter-op thread, sequential execution."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def time_onnxruntime(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray], *, repeats: int,
                     warmup: int = 1) -> dict[str, Samples]:
    """Samples of "compute" seconds per inference of `model` on `feeds` (session created beforehand)."""
    session = single_thread_session(model)
    feeds = dict(feeds)

    def one_inference() -> dict[str, float]:
        start = time.perf_counter()
        session.run(None, feeds)
        return {"compute": time.perf_counter() - start}

    return repeat_components(one_inference, repeats=repeats, warmup=warmup)
