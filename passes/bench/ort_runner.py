"""The `ort` configuration: onnxruntime on the CPU, one thread, in the normal world.

The insecure reference: no TEE, no partitions, nothing reloaded between inferences; the session
is created once (outside the timing) with onnxruntime's default graph optimisations, as an app
would run it.  Only compute time is recorded.
"""
from __future__ import annotations

import time
from typing import Callable, Mapping

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


def onnxruntime_inference(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray]) -> Callable[[], dict[str, float]]:
    """One timed inference of `model` on `feeds` per call ({"compute": wall seconds, "compute_cpu": the
    thread's CPU seconds: with one thread onnxruntime runs in the caller's}), on a session created now,
    outside the timing (so that it can be interleaved with the secure configurations)."""
    session = single_thread_session(model)
    feeds = dict(feeds)

    def one_inference() -> dict[str, float]:
        start, start_cpu = time.perf_counter(), time.thread_time()
        session.run(None, feeds)
        return {"compute": time.perf_counter() - start, "compute_cpu": time.thread_time() - start_cpu}

    return one_inference


def time_onnxruntime(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray], *, repeats: int,
                     warmup: int = 1) -> dict[str, Samples]:
    """Samples of "compute" seconds per inference of `model` on `feeds` (session created beforehand)."""
    return repeat_components(onnxruntime_inference(model, feeds), repeats=repeats, warmup=warmup)
