"""UnrollDepth: 3-D Conv / MaxPool / AveragePool as 2-D ones on depth slices.

Every rewrite is checked against onnxruntime running the original 3-D model (random shapes and
attributes, hypothesis); a small video block is lowered and run through the interpreter, matching
onnxruntime on the original model with the planned memory equal to the measured high-water mark."""
from __future__ import annotations

import numpy as np
import onnx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import helper, numpy_helper

from conftest import make_model, run_ort
from onnx_tee.passes.compact.unroll_depth import UnrollDepth, average_count, depth_taps, has_3d_windows

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
n = helper.make_node


def f32(rng, name, shape, scale=0.5):
    return numpy_helper.from_array((scale * rng.standard_normal(shape)).astype(np.float32), name)


def unrolled(model: onnx.ModelProto):
    return UnrollDepth()(onnx.ModelProto.FromString(model.SerializeToString()))


def assert_matches_onnxruntime(model: onnx.ModelProto, shape, seed: int, tol: float = 1e-5):
    result = unrolled(model)
    assert result.modified
    assert not has_3d_windows(result.model)
    onnx.checker.check_model(result.model)
    x = {"x": np.random.default_rng(seed).standard_normal(shape).astype(np.float32)}
    want, got = run_ort(model, x), run_ort(result.model, x)
    assert got.keys() == want.keys()
    for name in want:
        assert got[name].shape == want[name].shape
        np.testing.assert_allclose(got[name], want[name], rtol=tol, atol=tol * max(1.0, np.abs(want[name]).max()))
    return result


@st.composite
def conv3d_cases(draw):
    group = draw(st.sampled_from([1, 2, 4]))
    c_in = group * draw(st.integers(1, 2))
    c_out = group * draw(st.integers(1, 3))
    kernel = [draw(st.integers(1, 3)) for _ in range(3)]
    strides = [draw(st.integers(1, 2)) for _ in range(3)]
    auto_pad = draw(st.sampled_from(["NOTSET", "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"]))
    same = auto_pad.startswith("SAME")   # onnxruntime runs SAME_* without dilations only
    dilations = [1 if same else draw(st.integers(1, 2)) for _ in range(3)]
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilations)]
    size = [draw(st.integers(s, s + 4)) for s in spans]
    attrs = {"kernel_shape": kernel, "strides": strides, "dilations": dilations, "group": group}
    if auto_pad == "NOTSET":
        attrs["pads"] = [draw(st.integers(0, s - 1)) for s in spans + spans]
    else:
        attrs["auto_pad"] = auto_pad
    bias = draw(st.booleans())
    return c_in, c_out, size, attrs, bias, draw(st.integers(1, 2)), draw(st.integers(0, 10_000))


@SETTINGS
@given(conv3d_cases())
def test_conv3d_equals_onnxruntime(case):
    c_in, c_out, size, attrs, bias, batch, seed = case
    rng = np.random.default_rng(seed)
    inits = [f32(rng, "w", [c_out, c_in // attrs["group"], *attrs["kernel_shape"]])]
    if bias:
        inits.append(f32(rng, "b", [c_out]))
    model = make_model([n("Conv", ["x", "w", "b"] if bias else ["x", "w"], ["y"], **attrs)],
                       [("x", [batch, c_in, *size])], [("y", None)], inits)
    result = assert_matches_onnxruntime(model, (batch, c_in, *size), seed)
    kinds = {node.op_type for node in result.model.graph.node}
    assert kinds <= {"Split", "Reshape", "Conv", "Add", "Concat"}


@st.composite
def pool3d_cases(draw):
    op = draw(st.sampled_from(["MaxPool", "AveragePool"]))
    kernel = [draw(st.integers(1, 3)) for _ in range(3)]
    auto_pad = draw(st.sampled_from(["NOTSET", "NOTSET", "SAME_UPPER", "VALID"]))
    same = auto_pad == "SAME_UPPER"   # onnxruntime: SAME_* pools without dilations, strides <= kernel
    strides = [draw(st.integers(1, k if same else 3)) for k in kernel]
    dilations = [draw(st.integers(1, 2)) if op == "MaxPool" and not same else 1 for _ in range(3)]
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilations)]
    size = [draw(st.integers(s, s + 5)) for s in spans]
    attrs = {"kernel_shape": kernel, "strides": strides, "ceil_mode": int(draw(st.booleans()))}
    if op == "MaxPool":
        attrs["dilations"] = dilations
    else:
        attrs["count_include_pad"] = int(draw(st.booleans()))
    if auto_pad == "NOTSET":
        attrs["pads"] = [draw(st.integers(0, k // 2)) for k in kernel + kernel]   # ONNX: pad < half the kernel
    else:
        attrs["auto_pad"] = auto_pad
        attrs["ceil_mode"] = 0
    return op, size, attrs, draw(st.integers(1, 3)), draw(st.integers(0, 10_000))


@SETTINGS
@given(pool3d_cases())
def test_pool3d_equals_onnxruntime(case):
    op, size, attrs, channels, seed = case
    model = make_model([n(op, ["x"], ["y"], **attrs)], [("x", [1, channels, *size])], [("y", None)])
    result = assert_matches_onnxruntime(model, (1, channels, *size), seed)
    kinds = {node.op_type for node in result.model.graph.node}
    assert kinds <= {"Split", "Reshape", op, "Max", "Sum", "Mul", "Concat"}


def video_block(rng, c=4, depth=6, size=10) -> onnx.ModelProto:
    """An r3d-style residual block and an s3d-style inception tail: Conv3D -> BatchNorm -> Relu ->
    Conv3D (+ x) -> Relu, a (2+1)-D pair, two branches concatenated on channels (one a MaxPool3D),
    AveragePool3D, GlobalAveragePool, Flatten, Gemm."""
    nodes = [n("Conv", ["x", "w1", "b1"], ["c1"], pads=[1] * 6),
             n("BatchNormalization", ["c1", "s", "o", "m", "v"], ["bn"]),
             n("Relu", ["bn"], ["r1"]),
             n("Conv", ["r1", "w2"], ["c2"], pads=[1] * 6),
             n("Add", ["c2", "x"], ["a"]), n("Relu", ["a"], ["r2"]),
             n("Conv", ["r2", "ws"], ["sp"], kernel_shape=[1, 3, 3], pads=[0, 1, 1, 0, 1, 1]),
             n("Conv", ["sp", "wt", "bt"], ["tm"], kernel_shape=[3, 1, 1], pads=[1, 0, 0, 1, 0, 0], strides=[2, 1, 1]),
             n("Mul", ["tm", "gate"], ["g"]),
             n("MaxPool", ["g"], ["mp"], kernel_shape=[3, 3, 3], pads=[1] * 6),
             n("Conv", ["mp", "wp"], ["pb"], kernel_shape=[1, 1, 1]),
             n("Concat", ["g", "pb"], ["cat"], axis=1),
             n("AveragePool", ["cat"], ["ap"], kernel_shape=[2, 3, 3], strides=[1, 2, 2]),
             n("GlobalAveragePool", ["ap"], ["gap"]), n("Flatten", ["gap"], ["f"]),
             n("Gemm", ["f", "fc", "fb"], ["logits"], transB=1)]
    inits = [f32(rng, "w1", [c, c, 3, 3, 3]), f32(rng, "b1", [c]), f32(rng, "w2", [c, c, 3, 3, 3]),
             numpy_helper.from_array(rng.uniform(0.5, 1.5, c).astype(np.float32), "s"), f32(rng, "o", [c]),
             f32(rng, "m", [c]), numpy_helper.from_array(rng.uniform(0.5, 1.5, c).astype(np.float32), "v"),
             f32(rng, "ws", [6, c, 1, 3, 3]), f32(rng, "wt", [c, 6, 3, 1, 1]), f32(rng, "bt", [c]),
             f32(rng, "gate", [1, c, (depth + 1) // 2, 1, 1]), f32(rng, "wp", [2, c, 1, 1, 1]),
             f32(rng, "fc", [5, c + 2]), f32(rng, "fb", [5])]
    return make_model(nodes, [("x", [1, c, depth, size, size])], [("logits", None)], inits)


def test_a_video_block_stays_in_slices_from_the_first_window_to_the_global_pool():
    rng = np.random.default_rng(1)
    result = assert_matches_onnxruntime(video_block(rng), (1, 4, 6, 10, 10), 1)
    kinds = [node.op_type for node in result.model.graph.node]
    assert kinds.count("Slice") == 6 and "Concat" in kinds    # one Slice per input depth; Concat only on channels
    assert all(node.attribute[0].i == 1 for node in result.model.graph.node if node.op_type == "Concat")
    assert not any(len(i.dims) == 5 for i in result.model.graph.initializer if i.name.startswith(("w1", "w2")))
    assert result.stats["unrolled"] == 7


def test_a_reader_that_cannot_take_slices_and_a_graph_output_get_the_whole_tensor():
    rng = np.random.default_rng(2)
    nodes = [n("Conv", ["x", "w"], ["c"], pads=[1] * 6), n("Relu", ["c"], ["r"]),
             n("Transpose", ["r"], ["t"], perm=[0, 2, 1, 3, 4]), n("Sigmoid", ["r"], ["s"])]
    model = make_model(nodes, [("x", [1, 2, 4, 5, 5])], [("t", None), ("s", None)], [f32(rng, "w", [3, 2, 3, 3, 3])])
    result = assert_matches_onnxruntime(model, (1, 2, 4, 5, 5), 2)
    concats = [node for node in result.model.graph.node if node.op_type == "Concat"]
    assert sorted(c.output[0] for c in concats) == ["r", "s"]     # r once for Transpose, s as an output


def test_a_model_without_3d_windows_is_left_alone():
    rng = np.random.default_rng(3)
    model = make_model([n("Conv", ["x", "w"], ["y"]), n("Relu", ["y"], ["z"])], [("x", [1, 2, 3, 6, 6])],
                       [("z", None)], [f32(rng, "w", [2, 2, 3, 1, 1])])
    model4 = make_model([n("Conv", ["x", "w"], ["y"])], [("x", [1, 2, 6, 6])], [("y", None)],
                        [f32(rng, "w", [2, 2, 1, 1])])
    result = UnrollDepth()(model4)
    assert not result.modified and result.stats["unrolled"] == 0
    assert has_3d_windows(model)


def test_depth_taps_and_counts_agree_with_brute_force():
    for size in range(1, 6):
        for kernel in range(1, 4):
            for stride in (1, 2):
                for begin in range(kernel):
                    for end in range(kernel):
                        for d in range(4):
                            start = d * stride - begin
                            if start >= size:
                                continue            # no window starts past the input (ceil_mode included)
                            window = range(start, start + kernel)
                            assert [i for _, i in depth_taps(d, stride, 1, begin, kernel, size)] == \
                                [i for i in window if 0 <= i < size]
                            assert average_count(d, stride, 1, begin, end, kernel, size, False) == \
                                len([i for i in window if 0 <= i < size])
                            assert average_count(d, stride, 1, begin, end, kernel, size, True) == \
                                min(start + kernel, size + end) - start   # onnxruntime's pool_size per axis


def test_a_video_block_runs_in_the_interpreter_like_onnxruntime_with_planned_equal_to_measured():
    from lower_harness import lower, run
    rng = np.random.default_rng(4)
    model = video_block(rng, depth=5, size=12)
    low = lower(UnrollDepth()(onnx.ModelProto.FromString(model.SerializeToString())).model, budget=1 << 20)
    x = {"x": rng.standard_normal((1, 4, 5, 12, 12)).astype(np.float32)}
    got, runs = run(low, x)
    assert all(r.status == "RT_OK" for r in runs)
    for r, planned in zip(runs, low.result.plan.partitions):
        assert r.max_region_end == planned.total
    want = run_ort(model, x)["logits"]
    assert np.abs(got["logits"] - want).max() <= 1e-5 * np.abs(want).max()


def test_batchnorm_relu_add_and_global_pool_on_5d_tensors_run_in_the_interpreter_as_they_are():
    """No 3-D window: nothing to unroll, the 5-D tensors go to the kernels whole."""
    from lower_harness import lower, run
    rng = np.random.default_rng(5)
    nodes = [n("BatchNormalization", ["x", "s", "o", "m", "v"], ["bn"]), n("Relu", ["bn"], ["r"]),
             n("Add", ["r", "k"], ["a"]), n("GlobalAveragePool", ["a"], ["g"]), n("GlobalMaxPool", ["a"], ["h"])]
    inits = [numpy_helper.from_array(rng.uniform(0.5, 1.5, 3).astype(np.float32), "s"), f32(rng, "o", [3]),
             f32(rng, "m", [3]), numpy_helper.from_array(rng.uniform(0.5, 1.5, 3).astype(np.float32), "v"),
             f32(rng, "k", [3, 4, 1, 1])]
    model = make_model(nodes, [("x", [2, 3, 4, 5, 6])], [("g", None), ("h", None)], inits)
    assert not UnrollDepth()(onnx.ModelProto.FromString(model.SerializeToString())).modified
    low = lower(model, budget=1 << 20)
    x = {"x": rng.standard_normal((2, 3, 4, 5, 6)).astype(np.float32)}
    got, runs = run(low, x)
    for r, planned in zip(runs, low.result.plan.partitions):
        assert r.status == "RT_OK" and r.max_region_end == planned.total
    want = run_ort(model, x)
    for name in ("g", "h"):
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-6)


def test_a_3d_conv_with_run_time_weights_is_left_whole_and_refused_with_the_reason():
    from onnx_tee.passes.analysis.shapes import infer_static_shapes
    from onnx_tee.passes.target import check_supported
    from onnx_tee.passes.errors import UnsupportedModelError
    import pytest
    model = make_model([n("Conv", ["x", "w"], ["y"])], [("x", [1, 2, 3, 4, 4]), ("w", [2, 2, 1, 1, 1])], [("y", None)])
    result = UnrollDepth()(model)
    assert not result.modified and [node.op_type for node in result.model.graph.node] == ["Conv"]
    with pytest.raises(UnsupportedModelError, match="3-D window runs as 2-D ones on depth slices only with constant"):
        check_supported(result.model, infer_static_shapes(result.model))


def test_a_residual_block_runs_slice_after_slice_and_holds_less_than_the_3d_graph():
    """A stem Conv, then Conv -> Relu -> Conv -> Add(s) -> Relu: the 3-D graph holds s, y1 and y2 whole at
    the second Conv (3 tensors); unrolled, the block's slices are made as the next one asks, so s (read
    twice) and a few slices of the rest (three of y1 for the taps, a tap output and the running sum,
    one of the Add / Relu)."""
    from onnx_tee.passes.analysis.liveness import model_peak_live_bytes
    from onnx_tee.passes.analysis.shapes import infer_static_shapes
    rng = np.random.default_rng(6)
    shape = (1, 1, 12, 10, 10)
    nodes = [n("Conv", ["x", "w0"], ["s"]),
             n("Conv", ["s", "w1"], ["c1"], pads=[1] * 6), n("Relu", ["c1"], ["r1"]),
             n("Conv", ["r1", "w2"], ["c2"], pads=[1] * 6), n("Add", ["c2", "s"], ["a"]), n("Relu", ["a"], ["r2"]),
             n("GlobalAveragePool", ["r2"], ["g"])]
    model = make_model(nodes, [("x", list(shape))], [("g", None)],
                       [f32(rng, "w0", [8, 1, 1, 1, 1]), f32(rng, "w1", [8, 8, 3, 3, 3]), f32(rng, "w2", [8, 8, 3, 3, 3])])
    result = assert_matches_onnxruntime(model, shape, 6)
    whole = 8 * int(np.prod(shape)) * 4     # one 8-channel tensor
    one_slice = whole // shape[2]
    peak_3d = model_peak_live_bytes(model, infer_static_shapes(model))
    peak = model_peak_live_bytes(result.model, infer_static_shapes(result.model))
    assert peak_3d >= 3 * whole
    assert peak <= whole + 6 * one_slice


def test_opset_18_splits_with_num_outputs_and_runs_in_the_interpreter():
    from lower_harness import lower, run
    rng = np.random.default_rng(7)
    nodes = [n("Conv", ["x", "w", "b"], ["c"], pads=[1, 0, 0, 1, 0, 0], strides=[2, 1, 1]),
             n("MaxPool", ["c"], ["m"], kernel_shape=[2, 2, 2], strides=[2, 2, 2], ceil_mode=1)]
    model = make_model(nodes, [("x", [1, 3, 7, 9, 9])], [("m", None)],
                       [f32(rng, "w", [4, 3, 3, 1, 1]), f32(rng, "b", [4])], opset=18)
    result = assert_matches_onnxruntime(model, (1, 3, 7, 9, 9), 7)
    split = next(node for node in result.model.graph.node if node.op_type == "Split")
    assert [a.i for a in split.attribute if a.name == "num_outputs"] == [7]
    low = lower(result.model, budget=1 << 20)
    x = {"x": rng.standard_normal((1, 3, 7, 9, 9)).astype(np.float32)}
    got, runs = run(low, x)
    for r, planned in zip(runs, low.result.plan.partitions):
        assert r.status == "RT_OK" and r.max_region_end == planned.total
    want = run_ort(model, x)["m"]
    np.testing.assert_allclose(got["m"], want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
