"""onnxruntime's elementwise QOperator ops (com.microsoft: QLinearAdd, QLinearMul, QLinearGlobalAveragePool,
QLinearConcat, QLinearSigmoid, QLinearLeakyRelu) lowered and run in the C interpreter against onnxruntime
on the same node: hypothesis draws the types (uint8 / int8), shapes (broadcasting for Add / Mul, parts for
Concat), scales over several decades and zero points.  Outputs are within one quantization step of
onnxruntime everywhere and equal on >= 99 % of the elements (onnxruntime rounds its float expressions,
the kernels the exact value of the same float32 ratios); the measured high-water mark equals the plan."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from onnx import helper, numpy_helper

from conftest import run_ort
from lower_harness import lower, run
from onnx_tee.passes.analysis.shapes import infer_static_shapes
from onnx_tee.passes.target.op import Unsupported
from onnx_tee.passes.target.table import translate

MS = "com.microsoft"
TYPES = {"uint8": (np.uint8, onnx.TensorProto.UINT8), "int8": (np.int8, onnx.TensorProto.INT8)}
SETTINGS = settings(max_examples=12, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def qmodel(node: onnx.NodeProto, inputs: dict[str, np.ndarray], params: dict[str, np.ndarray]) -> onnx.ModelProto:
    """One com.microsoft node: `inputs` as graph inputs, `params` (scales, zero points) as initializers."""
    ins = [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
           for k, v in inputs.items()]
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in params.items()]
    model = helper.make_model(helper.make_graph([node], "q", ins, [], initializer=inits),
                              opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid(MS, 1)], ir_version=10)
    infos = infer_static_shapes(model)
    out = node.output[0]
    model.graph.output.append(helper.make_tensor_value_info(out, helper.np_dtype_to_tensor_dtype(infos[out].dtype),
                                                            list(infos[out].shape)))
    return model


def draw_case(data) -> tuple[np.random.Generator, str]:
    """A seeded generator and the quantized type of one case."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    return rng, data.draw(st.sampled_from(sorted(TYPES)), label="dtype")


def draw_ints(data, rng, dtype: str, shape) -> np.ndarray:
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)


def params(data, rng, dtype: str, prefix: str) -> dict[str, np.ndarray]:
    scale = np.float32(10.0 ** rng.uniform(-3, 0))
    info = np.iinfo(dtype)
    return {f"{prefix}_s": scale, f"{prefix}_zp": np.asarray(rng.integers(info.min, info.max, endpoint=True), dtype)}


def check(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> None:
    lowered = lower(model)
    got, results = run(lowered, feeds)
    assert all(r.status == "RT_OK" for r in results), [r.status for r in results]
    want = run_ort(model, feeds)
    for name in lowered.outputs:
        assert got[name].dtype == want[name].dtype and got[name].shape == want[name].shape
        diff = np.abs(got[name].astype(np.int32) - want[name].astype(np.int32))
        assert diff.max(initial=0) <= 1, f"{diff.max()} steps apart"
        assert (diff == 0).mean() >= 0.99, f"only {(diff == 0).mean():.4f} equal"
    for result, planned in zip(results, lowered.result.plan.partitions):
        assert result.max_region_end == planned.total


def broadcast_pair(data) -> tuple[tuple[int, ...], tuple[int, ...]]:
    full = data.draw(st.lists(st.integers(1, 5), min_size=1, max_size=4), label="shape")
    other = [d if data.draw(st.booleans()) else 1 for d in full]
    other = other[data.draw(st.integers(0, len(other) - 1)):]
    return (tuple(full), tuple(other)) if data.draw(st.booleans()) else (tuple(other), tuple(full))


@pytest.mark.parametrize("op", ["QLinearAdd", "QLinearMul"])
@SETTINGS
@given(data=st.data())
def test_qlinear_add_and_mul_match_onnxruntime(op, data):
    rng, dtype = draw_case(data)
    a_shape, b_shape = broadcast_pair(data)
    feeds = {"a": draw_ints(data, rng, dtype, a_shape), "b": draw_ints(data, rng, dtype, b_shape)}
    p = {**params(data, rng, dtype, "a"), **params(data, rng, dtype, "b"), **params(data, rng, dtype, "y")}
    node = helper.make_node(op, ["a", "a_s", "a_zp", "b", "b_s", "b_zp", "y_s", "y_zp"], ["y"], domain=MS)
    check(qmodel(node, feeds, p), feeds)


@SETTINGS
@given(data=st.data())
def test_qlinear_global_average_pool_matches_onnxruntime(data):
    rng, dtype = draw_case(data)
    shape = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 6)),
             *data.draw(st.lists(st.integers(1, 9), min_size=1, max_size=2), label="spatial"))
    feeds = {"x": draw_ints(data, rng, dtype, shape)}
    p = {**params(data, rng, dtype, "x"), **params(data, rng, dtype, "y")}
    node = helper.make_node("QLinearGlobalAveragePool", ["x", "x_s", "x_zp", "y_s", "y_zp"], ["y"], domain=MS,
                            channels_last=0)
    check(qmodel(node, feeds, p), feeds)


@pytest.mark.parametrize("op", ["QLinearSigmoid", "QLinearLeakyRelu"])
@SETTINGS
@given(data=st.data())
def test_qlinear_lookup_ops_match_onnxruntime(op, data):
    rng, dtype = draw_case(data)
    shape = data.draw(st.lists(st.integers(1, 7), min_size=1, max_size=4), label="shape")
    feeds = {"x": draw_ints(data, rng, dtype, shape)}
    p = {**params(data, rng, dtype, "x"), **params(data, rng, dtype, "y")}
    attrs = {"alpha": data.draw(st.floats(0.0, 0.5, width=32), label="alpha")} if op == "QLinearLeakyRelu" else {}
    node = helper.make_node(op, ["x", "x_s", "x_zp", "y_s", "y_zp"], ["y"], domain=MS, **attrs)
    check(qmodel(node, feeds, p), feeds)


@SETTINGS
@given(data=st.data())
def test_qlinear_concat_matches_onnxruntime(data):
    rng, dtype = draw_case(data)
    shape = data.draw(st.lists(st.integers(1, 5), min_size=1, max_size=4), label="shape")
    axis = data.draw(st.integers(-len(shape), len(shape) - 1), label="axis")
    parts = data.draw(st.integers(1, 4), label="parts")
    feeds, p, names = {}, params(data, rng, dtype, "y"), ["y_s", "y_zp"]
    for k in range(parts):
        dims = list(shape)
        dims[axis] = data.draw(st.integers(1, 4))
        feeds[f"x{k}"] = draw_ints(data, rng, dtype, dims)
        same = data.draw(st.booleans(), label="same params as y")
        part = {f"x{k}_s": p["y_s"], f"x{k}_zp": p["y_zp"]} if same else params(data, rng, dtype, f"x{k}")
        p.update(part)
        names += [f"x{k}", f"x{k}_s", f"x{k}_zp"]
    node = helper.make_node("QLinearConcat", names, ["y"], domain=MS, axis=axis)
    check(qmodel(node, feeds, p), feeds)


def test_ops_outside_their_domain_or_form_are_refused():
    """A default-domain node named like onnxruntime's op, and NHWC pooling, are refused by name."""
    x = {"x": np.zeros((1, 2, 3, 3), np.uint8)}
    p = {"x_s": np.float32(0.1), "x_zp": np.uint8(3), "y_s": np.float32(0.2), "y_zp": np.uint8(4)}
    nhwc = qmodel(helper.make_node("QLinearGlobalAveragePool", ["x", "x_s", "x_zp", "y_s", "y_zp"], ["y"], domain=MS,
                                   channels_last=0), x, p)
    nhwc.graph.node[0].attribute[0].i = 1
    infos = {**infer_static_shapes(qmodel(helper.make_node("QLinearSigmoid", ["x", "x_s", "x_zp", "y_s", "y_zp"],
                                                             ["y"], domain=MS), x, p))}
    with pytest.raises(Unsupported, match="channels_last"):
        translate(nhwc.graph.node[0], infos, {}, 21)
    plain = helper.make_node("QLinearSigmoid", ["x", "x_s", "x_zp", "y_s", "y_zp"], ["y"])
    with pytest.raises(Unsupported, match="not supported"):
        translate(plain, infos, {}, 21)
