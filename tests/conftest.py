"""Shared test fixtures: run a model in onnxruntime, make random inputs, build tiny graphs.

Helpers are plain functions (importable as `from conftest import run_ort, random_inputs`) and
also exposed as fixtures of the same name.
"""
from __future__ import annotations

import os
import shutil

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnx_tee.passes.graph import graph_inputs


def in_ci() -> bool:
    """True on CI (the CI environment variable is "true", as GitHub Actions, GitLab and `.ci/run` set it)."""
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def missing(reason: str) -> None:
    """A test cannot run for want of something outside the repository: skip locally, but fail under
    CI, where the environment is meant to provide everything (.ci/run installs it)."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: a missing requirement is a failure, not a skip)", pytrace=False)
    pytest.skip(reason)


def require_tool(name: str, hint: str = "") -> str:
    """The path of program `name` on PATH; skips the test locally when it is missing, fails it under CI."""
    path = shutil.which(name)
    if path is None:
        missing(f"{name} is not installed" + (f" ({hint})" if hint else ""))
    return path


def ort_session(model: onnx.ModelProto, *, optimize: bool = False) -> ort.InferenceSession:
    """A single-threaded CPU session.  Graph optimisations are off by default so that the
    reference numbers are the model's own, not onnxruntime's fused rewrite of it."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_BASIC if optimize
                                        else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def run_ort(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run `model` on `feeds` in onnxruntime; return every graph output keyed by name."""
    session = ort_session(model)
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds)))


def random_inputs(model: onnx.ModelProto, *, seed: int = 0,
                  shapes: dict[str, tuple[int, ...]] | None = None) -> dict[str, np.ndarray]:
    """Standard-normal feeds for every real graph input (dynamic dims become 1 unless given)."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for value_info in graph_inputs(model):
        tensor_type = value_info.type.tensor_type
        if shapes and value_info.name in shapes:
            shape = tuple(shapes[value_info.name])
        else:
            shape = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1
                          for d in tensor_type.shape.dim)
        dtype = helper.tensor_dtype_to_np_dtype(tensor_type.elem_type)
        if np.issubdtype(dtype, np.floating):
            feeds[value_info.name] = rng.standard_normal(shape).astype(dtype)
        else:
            feeds[value_info.name] = rng.integers(0, 4, shape).astype(dtype)
    return feeds


def assert_same_outputs(reference: onnx.ModelProto, candidate: onnx.ModelProto, *, seed: int = 0,
                        rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """Both models give the same outputs (by name) in onnxruntime on the same random inputs."""
    feeds = random_inputs(reference, seed=seed)
    expected = run_ort(reference, feeds)
    actual = run_ort(candidate, {k: v for k, v in feeds.items()
                                 if k in {i.name for i in graph_inputs(candidate)}})
    assert set(actual) == set(expected), f"outputs differ: {sorted(actual)} vs {sorted(expected)}"
    for name, value in expected.items():
        np.testing.assert_allclose(actual[name], value, rtol=rtol, atol=atol, err_msg=f"output {name}")


def assert_outputs_close(expected: dict[str, np.ndarray], actual: dict[str, np.ndarray], *,
                         rtol: float = 1e-5, scaled_atol: float = 1e-5) -> None:
    """Outputs agree to `rtol`, with an absolute floor of `scaled_atol` times the output's largest
    magnitude (a pass that rounds per-channel factors once differs absolutely where outputs cancel)."""
    assert set(actual) == set(expected), f"outputs differ: {sorted(actual)} vs {sorted(expected)}"
    for name, value in expected.items():
        scale = float(np.max(np.abs(value))) if value.size else 1.0
        np.testing.assert_allclose(actual[name], value, rtol=rtol, atol=scaled_atol * (scale or 1.0), err_msg=name)


def simulated_peak_bytes(order, infos, inputs, outputs, weights) -> int:
    """Reference peak for liveness tests: walk the order, allocate a node's outputs when it runs
    (its inputs still held), free a tensor after its last reader unless it is a graph output."""
    readers: dict[str, int] = {}
    for node in order:
        for name in set(node.input) - set(weights):
            readers[name] = readers.get(name, 0) + 1
    alive = set(inputs)
    peak = sum(infos[t].nbytes for t in alive)
    for node in order:
        alive |= {name for name in node.output if name}
        peak = max(peak, sum(infos[t].nbytes for t in alive))
        for name in set(node.input) - set(weights):
            readers[name] -= 1
        for name in list(alive):
            if readers.get(name, 0) == 0 and name not in outputs:
                alive.discard(name)
    return peak


def weight(rng: np.random.Generator, name: str, shape, low: float | None = None) -> TensorProto:
    """A float32 initializer of standard normals; with `low`, every |value| >= low (no near-zero
    divisors or variances)."""
    data = rng.standard_normal(shape).astype(np.float32)
    if low is not None:
        data = np.sign(data) * (np.abs(data) + low)
    return numpy_helper.from_array(data, name)


def i64(name: str, values) -> TensorProto:
    """An int64 initializer (axes, shapes, pads, indices)."""
    return numpy_helper.from_array(np.asarray(values, dtype=np.int64), name)


def node(op: str, inputs, outputs=("y",), **attrs) -> onnx.NodeProto:
    """One ONNX node, writing "y" unless told otherwise."""
    return helper.make_node(op, list(inputs), list(outputs), **attrs)


def make_model(nodes, inputs, outputs, initializers=(), *, opset: int = 17, ir_version: int = 8) -> onnx.ModelProto:
    """A checked model from helper-made parts; `inputs`/`outputs` are (name, shape) pairs (float32).

    An output shape of None is filled in by shape inference."""
    graph = helper.make_graph(
        list(nodes), "test",
        [helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, s) for n, s in inputs],
        [helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, s) for n, s in outputs],
        initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=ir_version)
    if any(shape is None for _, shape in outputs):
        graph_inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True).graph
        inferred = {v.name: v for v in list(graph_inferred.value_info) + list(graph_inferred.output)
                    if v.type.tensor_type.HasField("shape")}
        for output in model.graph.output:
            if output.name in inferred:
                output.CopyFrom(inferred[output.name])
    onnx.checker.check_model(model, full_check=True)
    return model


@pytest.fixture(name="run_ort")
def _run_ort_fixture():
    return run_ort


@pytest.fixture(name="random_inputs")
def _random_inputs_fixture():
    return random_inputs


@pytest.fixture(name="assert_same_outputs")
def _assert_same_outputs_fixture():
    return assert_same_outputs
