"""Models from the wild get through the front end (DESIGN.md section 13): each test is a small
hand-built graph reproducing what an exporter (or one of our own passes) does to real models."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from conftest import assert_same_outputs, make_model
from onnx_tee.passes.analysis.shapes import infer_static_shapes
from onnx_tee.passes.compact import ConstantsToInitializers, compaction_pipeline
from onnx_tee.passes.compact.graph_edit import add_initializer


def _lower_file(path: Path, out: Path) -> subprocess.CompletedProcess:
    """`python cli.py lower FILE -o OUT` in a child process, from the repository root."""
    root = Path(__file__).resolve().parents[1]
    return subprocess.run([sys.executable, str(root / "cli.py"), "lower", str(path), "-o", str(out)],
                          capture_output=True, text=True, cwd=root)


def scalar(name: str, value, dtype=np.int64) -> onnx.NodeProto:
    """A Constant node holding a 0-d tensor, as torch.onnx exports `x.size(0)` indices."""
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.array(value, dtype)))


def ints(name: str, values) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(values, np.int64), name)


# ---------------------------------------------------------------------------------- 1. 0-d scalars

def test_an_added_initializer_keeps_a_0d_scalar_0d():
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [("x", [2])], [("y", [2])])
    add_initializer(model, np.array(3, np.int64), "three")
    assert list(model.graph.initializer[-1].dims) == []


def test_lstm_style_shape_subgraph_with_0d_indices_folds():
    """nn.LSTM/GRU exports build h0's shape as Concat([layers], Unsqueeze(Gather(Shape(x), 0-d)), [hidden]):
    a 0-d index turned into [1] made the Unsqueeze output rank 2 and Concat mixed ranks."""
    nodes = [scalar("zero", 0), helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["batch"], axis=0),
             helper.make_node("Unsqueeze", ["batch", "axes0"], ["batch1"]),
             helper.make_node("Concat", ["layers", "batch1", "hidden"], ["h_shape"], axis=0),
             helper.make_node("Expand", ["x", "h_shape"], ["y"])]
    model = make_model(nodes, [("x", [1, 4])], [("y", [2, 1, 4])],
                       [ints("axes0", [0]), ints("layers", [2]), ints("hidden", [4])], opset=13)
    compacted = compaction_pipeline()(model).model
    assert [n.op_type for n in compacted.graph.node] == ["Expand"]
    h_shape = next(t for t in compacted.graph.initializer if t.name == "h_shape")
    assert numpy_helper.to_array(h_shape).tolist() == [2, 1, 4]
    assert_same_outputs(model, compacted, rtol=0, atol=0)


def test_vit_class_token_gather_keeps_gemm_input_rank_2():
    """ViT heads take x[:, 0] (Gather with a 0-d index) into a Gemm: with the index made [1] the
    Gemm input had rank 3 and shape inference refused the model."""
    rng = np.random.default_rng(0)
    nodes = [scalar("cls", 0), helper.make_node("Gather", ["x", "cls"], ["token"], axis=1),
             helper.make_node("Gemm", ["token", "W", "B"], ["y"], transB=1)]
    inits = [numpy_helper.from_array(rng.standard_normal([3, 8]).astype(np.float32), "W"),
             numpy_helper.from_array(rng.standard_normal([3]).astype(np.float32), "B")]
    model = make_model(nodes, [("x", [1, 5, 8])], [("y", [1, 3])], inits, opset=14)
    moved = ConstantsToInitializers()(onnx.ModelProto.FromString(model.SerializeToString())).model
    assert infer_static_shapes(moved)["token"].shape == (1, 8)
    compacted = compaction_pipeline()(model).model
    assert infer_static_shapes(compacted)["y"].shape == (1, 3)
    assert_same_outputs(model, compacted, rtol=0, atol=0)


# ------------------------------------------------------------------------------- 2. stored shapes

def exporter_shaped_model() -> onnx.ModelProto:
    """Dynamic batch; an intermediate value_info recorded at batch 1 (stale once the batch is fixed),
    a Paddle-style -1 dim, and an output declared with rank 3 where rank 2 is computed."""
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Flatten", ["r"], ["f"]),
             helper.make_node("Sigmoid", ["f"], ["y"])]
    graph = helper.make_graph(
        nodes, "exported", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 3, 4])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [-1, 12, 1])],
        value_info=[helper.make_tensor_value_info("r", onnx.TensorProto.FLOAT, [1, 3, 4]),
                    helper.make_tensor_value_info("f", onnx.TensorProto.FLOAT, [-1, -1])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def test_fixing_input_shapes_drops_every_stored_shape_inference_recomputes():
    from onnx_tee.passes.analysis.shapes import fix_input_shapes
    fixed = fix_input_shapes(exporter_shaped_model(), {"x": (2, 3, 4)})
    assert len(fixed.graph.value_info) == 0
    assert not fixed.graph.output[0].type.tensor_type.HasField("shape")
    assert fixed.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    infos = infer_static_shapes(fixed)
    assert infos["r"].shape == (2, 3, 4) and infos["f"].shape == (2, 12) and infos["y"].shape == (2, 12)


def test_shape_inference_never_fails_on_what_was_stored():
    """Even without fix_input_shapes (a pass's own stale value_info, a wrong declared rank)."""
    from onnx_tee.passes.analysis.shapes import partial_shapes
    model = exporter_shaped_model()
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 2
    infos = infer_static_shapes(model)
    assert infos["r"].shape == (2, 3, 4) and infos["y"].shape == (2, 12)
    assert partial_shapes(model)["f"] == (2, 12)
    assert len(model.graph.value_info) == 2      # the caller's model is not edited


def test_folding_leaves_no_shape_annotation_of_a_folded_tensor_behind():
    from onnx_tee.passes.compact import FoldConstants
    model = windowed_reshape_model()
    model.graph.value_info.extend(helper.make_tensor_value_info(name, onnx.TensorProto.INT64, [1])
                                  for name in ("s", "half1", "target"))   # "half1" was recorded wrongly
    model.graph.value_info.append(helper.make_tensor_value_info("r", onnx.TensorProto.FLOAT, [1, 8, 3, 2]))
    folded = FoldConstants()(ConstantsToInitializers()(model).model).model
    assert [v.name for v in folded.graph.value_info] == ["r"]


# ------------------------------------------------------------------------ 3. exact shape folding

def windowed_reshape_model() -> onnx.ModelProto:
    """Swin-style window arithmetic: a Reshape target computed with Div (which shape inference's data
    propagation does not evaluate), then the Shape of that Reshape's output feeds the next Reshape."""
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             scalar("two_i", 2), helper.make_node("Gather", ["s", "two_i"], ["n"], axis=0),
             helper.make_node("Div", ["n", "two"], ["half"]),
             helper.make_node("Unsqueeze", ["half", "axes0"], ["half1"]),
             helper.make_node("Concat", ["lead", "half1", "two1"], ["target"], axis=0),
             helper.make_node("Reshape", ["x", "target"], ["r"]),
             helper.make_node("Shape", ["r"], ["s2"]),
             helper.make_node("Gather", ["s2", "two_i"], ["m"], axis=0),
             helper.make_node("Mul", ["m", "two"], ["full"]),
             helper.make_node("Unsqueeze", ["full", "axes0"], ["full1"]),
             helper.make_node("Concat", ["lead", "full1"], ["target2"], axis=0),
             helper.make_node("Reshape", ["r", "target2"], ["y"])]
    inits = [numpy_helper.from_array(np.array(2, np.int64), "two"), ints("axes0", [0]),
             ints("lead", [1, 8]), ints("two1", [2])]
    return make_model(nodes, [("x", [1, 8, 6])], [("y", [1, 8, 6])], inits, opset=13)


def test_shape_of_a_tensor_made_static_by_folding_folds_in_the_same_pass():
    from onnx_tee.passes.compact import FoldConstants
    model = windowed_reshape_model()
    result = FoldConstants()(ConstantsToInitializers()(onnx.ModelProto.FromString(model.SerializeToString())).model)
    assert [n.op_type for n in result.model.graph.node] == ["Reshape", "Reshape"]
    assert result.stats["rounds"] >= 2
    assert_same_outputs(model, result.model, rtol=0, atol=0)


def test_folding_falls_back_to_the_reference_evaluator_when_onnxruntime_has_no_kernel():
    """onnxruntime has no int16 Min kernel; the spec's value is still exact."""
    nodes = [helper.make_node("Min", ["a", "b"], ["ab"]),
             helper.make_node("Cast", ["ab"], ["abf"], to=onnx.TensorProto.FLOAT),
             helper.make_node("Add", ["x", "abf"], ["y"])]
    inits = [numpy_helper.from_array(np.array([1, -2, 3], np.int16), "a"),
             numpy_helper.from_array(np.array([4, 5, -6], np.int16), "b")]
    model = make_model(nodes, [("x", [3])], [("y", [3])], inits, opset=13)
    compacted = compaction_pipeline()(model).model
    assert [n.op_type for n in compacted.graph.node] == ["Add"]
    value = numpy_helper.to_array(next(t for t in compacted.graph.initializer if t.name == "abf"))
    assert value.tolist() == [1.0, -2.0, -6.0]


# ------------------------------------------------------------------------------- 5. tile names

def test_two_tiled_convs_sharing_a_bias_get_distinct_tile_names():
    """ResNet/DeepLab at 8 MiB: deduplication leaves one zero bias for several Convs, which tiling
    cuts into different counts; same-named tiles of different sizes made the model invalid."""
    from onnx_tee.passes.partition.tiling import apply_tiling
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal([8, 3, 3, 3]).astype(np.float32), "W1"),
             numpy_helper.from_array(rng.standard_normal([8, 8, 3, 3]).astype(np.float32), "W2"),
             numpy_helper.from_array(np.zeros([8], np.float32), "B")]
    nodes = [helper.make_node("Conv", ["x", "W1", "B"], ["c1"], pads=[1, 1, 1, 1]),   # no node names
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "W2", "B"], ["c2"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c2"], ["y"])]
    model = make_model(nodes, [("x", [1, 3, 6, 6])], [("y", [1, 8, 6, 6])], inits)
    tiled = apply_tiling(onnx.ModelProto.FromString(model.SerializeToString()), {"c1": 2, "c2": 4},
                         infer_static_shapes(model))
    names = [t.name for t in tiled.graph.initializer]
    assert len(names) == len(set(names)) == 2 + 4 + 2 + 4
    node_names = [n.name for n in tiled.graph.node if n.name]
    assert len(node_names) == len(set(node_names))
    onnx.checker.check_model(tiled, full_check=True)
    assert_same_outputs(model, tiled, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------------------- 4. control flow

def branch(name: str, nodes, output: str, initializers=()) -> onnx.GraphProto:
    return helper.make_graph(nodes, name, [], [helper.make_tensor_value_info(output, onnx.TensorProto.FLOAT, None)],
                             initializer=list(initializers))


def mode_switch_model() -> onnx.ModelProto:
    """An audio front end that switches on a sample-rate input: two Ifs whose branches use the same
    local names, read outer-scope tensors and carry their own initializers."""
    def ifs(index: int, source: str, result: str) -> onnx.NodeProto:
        then = branch("then", [helper.make_node("Mul", [source, "k"], ["t"]), helper.make_node("Relu", ["t"], ["o"])],
                      "o", [numpy_helper.from_array(np.array(2.0, np.float32), "k")])
        other = branch("else", [helper.make_node("Sigmoid", [source], ["o"])], "o")
        return helper.make_node("If", ["is16k"], [result], name=f"switch{index}", then_branch=then, else_branch=other)
    nodes = [helper.make_node("Equal", ["sample_rate", "rate16k"], ["is16k"]),
             ifs(0, "x", "a"), ifs(1, "a", "y")]
    graph = helper.make_graph(
        nodes, "switch", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 4]),
                          helper.make_tensor_value_info("sample_rate", onnx.TensorProto.INT64, [])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 4])],
        initializer=[numpy_helper.from_array(np.array(16000, np.int64), "rate16k")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.checker.check_model(model, full_check=True)
    return model


@pytest.mark.parametrize("rate, expected", [(16000, lambda x: np.maximum(4 * x, 0)),
                                            (8000, lambda x: 1 / (1 + np.exp(-1 / (1 + np.exp(-x)))))])
def test_a_frozen_mode_input_folds_its_ifs_into_the_taken_branch(rate, expected):
    from onnx_tee.passes.compact.freeze_inputs import freeze_inputs
    from conftest import run_ort
    frozen = freeze_inputs(mode_switch_model(), {"sample_rate": [str(rate)]})
    compacted = compaction_pipeline()(frozen).model
    assert "If" not in [n.op_type for n in compacted.graph.node]
    onnx.checker.check_model(compacted, full_check=True)
    names = [o for n in compacted.graph.node for o in n.output] + [t.name for t in compacted.graph.initializer]
    assert len(names) == len(set(names))
    x = np.random.default_rng(0).standard_normal([1, 4]).astype(np.float32)
    np.testing.assert_allclose(run_ort(compacted, {"x": x})["y"], expected(x), rtol=1e-6)
    np.testing.assert_array_equal(run_ort(mode_switch_model(), {"x": x, "sample_rate": np.array(rate)})["y"],
                                  run_ort(compacted, {"x": x})["y"])


def test_a_data_dependent_if_is_refused_in_one_line_naming_the_input_to_freeze():
    from onnx_tee.passes.build.lowered import STEPS, lower_model
    from onnx_tee.passes.errors import UnsupportedModelError
    with pytest.raises(UnsupportedModelError) as info:
        lower_model(mode_switch_model(), 1 << 20, steps=STEPS[:2])
    message = str(info.value)
    assert "\n" not in message and "switch0" in message and "--input-value sample_rate=VALUE" in message


def test_input_values_are_parsed_typed_and_shaped():
    from onnx_tee.passes.compact.freeze_inputs import freeze_inputs, parse_input_values
    from onnx_tee.passes.errors import UserError
    assert parse_input_values(["rate=16000", "w=0.5, 1"]) == {"rate": ["16000"], "w": ["0.5", "1"]}
    for bad in (["rate"], ["=1"], ["rate="], ["rate=1,,2"]):
        with pytest.raises(UserError, match="--input-value"):
            parse_input_values(bad)
    frozen = freeze_inputs(mode_switch_model(), {"sample_rate": ["16000"]})
    assert [i.name for i in frozen.graph.input] == ["x"]
    value = numpy_helper.to_array(next(t for t in frozen.graph.initializer if t.name == "sample_rate"))
    assert value.dtype == np.int64 and value.shape == () and value == 16000
    with pytest.raises(UserError, match="not a valid int64"):
        freeze_inputs(mode_switch_model(), {"sample_rate": ["16k"]})
    with pytest.raises(UserError, match="do not fill"):
        freeze_inputs(mode_switch_model(), {"x": ["1", "2"]})
    with pytest.raises(UserError, match="names no graph input"):
        freeze_inputs(mode_switch_model(), {"rate": ["1"]})


def test_lower_input_value_freezes_a_mode_input_on_the_command_line(tmp_path):
    root = Path(__file__).resolve().parents[1]
    path = tmp_path / "switch.onnx"
    onnx.save(mode_switch_model(), str(path))
    cli = [sys.executable, str(root / "cli.py"), "lower", str(path)]
    refused = subprocess.run(cli + ["-o", str(tmp_path / "no")], capture_output=True, text=True, cwd=root)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert "--input-value sample_rate=VALUE" in refused.stderr
    done = subprocess.run(cli + ["--input-value", "sample_rate=8000", "-o", str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=root)
    assert done.returncode == 0, done.stderr
    manifest = __import__("json").loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["inputs"] == ["x"]


# ------------------------------------------------------------------------------ 8. error report

def test_unsupported_ops_are_reported_once_per_op_type_with_the_supported_list_once():
    from onnx_tee.passes import target
    from onnx_tee.passes.errors import UnsupportedModelError
    nodes, previous = [], "x"
    for i in range(5):   # ConvNeXt-style: many nodes of one missing op
        nodes += [helper.make_node("Shrink", [previous], [f"e{i}"], name=f"block{i}/shrink"),
                  helper.make_node("Relu", [f"e{i}"], [f"r{i}"])]
        previous = f"r{i}"
    nodes += [helper.make_node("Hardmax", [previous], ["u"], name="hardmax"),
              helper.make_node("Resize", ["u", "", "scales"], ["y"], name="up", mode="cubic", antialias=1)]
    model = make_model(nodes, [("x", [1, 2, 4, 4])], [("y", None)],
                       [numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")], opset=19)
    assert len(target.problems(model, infer_static_shapes(model))) == 7
    with pytest.raises(UnsupportedModelError) as info:
        target.check_supported(model, infer_static_shapes(model))
    message = str(info.value)
    assert "\n" not in message and message.startswith("7 node(s) of 3 op type(s)")
    assert message.count("supported: ") == 1 and message.count("op Shrink is not supported") == 1
    assert "[5 nodes: 'block0/shrink', 'block1/shrink', 'block2/shrink', …]" in message
    assert "block3/shrink" not in message and "node 'hardmax' (Hardmax)" in message and "antialias=1" in message


# ------------------------------------------------------------------------------------- 7. parity

def dbnet_like_model(size: int = 640, bias: float = -8.0, gain: float = 50.0) -> onnx.ModelProto:
    """A DBNet-shaped text detector with few channels: strided Conv backbone, FPN (1x1 laterals,
    nearest Resize, Add, Concat), a Conv + BatchNorm head, two ConvTransposes and a Sigmoid whose
    bias puts the whole probability map near zero (as on an image without text)."""
    rng = np.random.default_rng(7)
    inits, nodes = [], []

    def weight(name, shape, scale=None):
        fan_in = int(np.prod(shape[1:]))
        inits.append(numpy_helper.from_array(
            (rng.standard_normal(shape) * (scale or np.sqrt(2.0 / fan_in))).astype(np.float32), name))
        return name

    def conv(name, x, cout, cin, k=3, stride=1, relu=True):
        nodes.append(helper.make_node("Conv", [x, weight(f"{name}.w", [cout, cin, k, k]),
                                           weight(f"{name}.b", [cout], 0.1)], [f"{name}.c"],
                                      strides=[stride, stride], pads=[k // 2] * 4, name=name))
        if not relu:
            return f"{name}.c"
        nodes.append(helper.make_node("Relu", [f"{name}.c"], [f"{name}.r"], name=f"{name}.relu"))
        return f"{name}.r"

    def up(name, x, factor):
        inits.append(numpy_helper.from_array(np.array([1, 1, factor, factor], np.float32), f"{name}.s"))
        nodes.append(helper.make_node("Resize", [x, "", f"{name}.s"], [name], mode="nearest", name=name))
        return name

    c2 = conv("b2", conv("b1", "x", 8, 3, stride=2), 8, 8, stride=2)
    c3 = conv("b3", c2, 16, 8, stride=2)
    c4 = conv("b4", c3, 16, 16, stride=2)
    in4 = conv("l4", c4, 8, 16, k=1, relu=False)
    nodes.append(helper.make_node("Add", [conv("l3", c3, 8, 16, k=1, relu=False), up("u4", in4, 2)], ["in3"]))
    nodes.append(helper.make_node("Add", [conv("l2", c2, 8, 8, k=1, relu=False), up("u3", "in3", 2)], ["in2"]))
    nodes.append(helper.make_node("Concat", ["in2", up("p3", "in3", 2), up("p4", in4, 4)], ["fuse"], axis=1))
    head = conv("h1", "fuse", 8, 24, relu=False)
    inits += [numpy_helper.from_array(rng.uniform(0.5, 1.5, [8]).astype(np.float32), "bn.scale"),
              numpy_helper.from_array(rng.standard_normal([8]).astype(np.float32) * 0.1, "bn.bias"),
              numpy_helper.from_array(rng.standard_normal([8]).astype(np.float32) * 0.1, "bn.mean"),
              numpy_helper.from_array(rng.uniform(0.5, 1.5, [8]).astype(np.float32), "bn.var")]
    nodes += [helper.make_node("BatchNormalization", [head, "bn.scale", "bn.bias", "bn.mean", "bn.var"], ["bn"]),
              helper.make_node("Relu", ["bn"], ["h1r"]),
              helper.make_node("ConvTranspose", ["h1r", weight("t1.w", [8, 8, 2, 2]), weight("t1.b", [8], 0.1)],
                               ["t1"], strides=[2, 2]),
              helper.make_node("Relu", ["t1"], ["t1r"]),
              helper.make_node("ConvTranspose", ["t1r", weight("t2.w", [8, 1, 2, 2], 0.2 * gain)], ["t2"],
                               strides=[2, 2])]
    inits.append(numpy_helper.from_array(np.array([bias], np.float32), "shift"))
    nodes += [helper.make_node("Add", ["t2", "shift"], ["logits"]), helper.make_node("Sigmoid", ["logits"], ["prob"])]
    return make_model(nodes, [("x", [1, 3, size, size])], [("prob", [1, 1, size, size])], inits, opset=13)


def test_parity_tolerance_is_combined_absolute_and_relative_per_output():
    from onnx_tee.passes.build.lowered import PARITY_FLOOR, parity_tolerance
    ref = np.array([1000.0, 1.0, 0.0], np.float32)
    assert parity_tolerance(ref + np.array([0.09, 0, 0], np.float32), ref).ok       # 1e-4*max|ref| + 1e-4*|ref|
    assert not parity_tolerance(ref + np.array([0.5, 0, 0], np.float32), ref).ok
    assert parity_tolerance(ref + np.array([0, 0.05, 0.05], np.float32), ref).ok     # small elements: atol of the max
    tiny = np.full([4], 7.4e-4, np.float32)                                            # a near-zero sigmoid map
    assert parity_tolerance(tiny * (1 + 1e-3), tiny).ok
    assert not parity_tolerance(tiny + 3 * PARITY_FLOOR, tiny).ok
    assert not parity_tolerance(np.array([np.nan], np.float32), np.array([1.0], np.float32)).ok
    assert parity_tolerance(np.array([np.inf], np.float32), np.array([np.inf], np.float32)).ok
    assert parity_tolerance(np.zeros([2]), np.zeros([3])) is None


def test_dbnet_like_head_at_640_lowers_and_matches_on_a_near_zero_probability_map():
    """Large logits (|t2| ~ 200) shifted so the largest probability is 7.4e-4 (DBNet on an image
    without text): the logits' float32 rounding moves every probability by up to ~1e-4 of itself,
    at the edge of a tolerance relative to max|ref| alone; the combined tolerance has room."""
    from conftest import run_ort
    from onnx_tee.passes.build.lowered import lower_model
    from onnx_tee.passes.lower.pipeline import sample_feeds
    probe = dbnet_like_model(bias=0.0)
    feeds = sample_feeds(probe, infer_static_shapes(probe))
    probe.graph.output.append(helper.make_empty_tensor_value_info("t2"))
    top = float(run_ort(probe, feeds)["t2"].max())
    model = dbnet_like_model(bias=float(np.log(7.4e-4 / (1 - 7.4e-4))) - top)
    assert 7e-4 < run_ort(model, feeds)["prob"].max() < 8e-4
    simulation = lower_model(model, 32 << 20).report["simulation"]   # raises ParityError on a miss
    assert simulation["max_abs_error"]["prob"] < 1e-6, simulation


def test_a_real_parity_miss_is_a_one_line_exit_2_with_per_output_errors(monkeypatch, capsys, tmp_path):
    from onnx_tee import cli
    from onnx_tee.passes.build import lowered as lowered_module
    real = lowered_module.run_in_simulator

    def off_by_a_bit(*args, **kwargs):
        got, stats = real(*args, **kwargs)
        return {name: value + 0.01 for name, value in got.items()}, stats
    monkeypatch.setattr(lowered_module, "run_in_simulator", off_by_a_bit)
    path = tmp_path / "small.onnx"
    onnx.save(dbnet_like_model(size=64, bias=0.0), str(path))
    assert cli.main(["lower", str(path), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "internal error" not in err, err
    assert "'prob': max|d| 0.01" in err and "beyond |d| <= max(0.0001*max|ref|, 1e-05) + 0.0001*|ref|" in err


# --------------------------------------------------- 6. names, old opsets, external data, Constants

def odd_names_model() -> onnx.ModelProto:
    """Names as exporters leave them: empty, repeated, one equal to another node's output, and one
    with quotes, a newline and a tab."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal([8, 3, 3, 3]).astype(np.float32), "W1"),
             numpy_helper.from_array(rng.standard_normal([8, 8, 3, 3]).astype(np.float32), "W2")]
    nodes = [helper.make_node("Conv", ["x", "W1"], ["a"], pads=[1, 1, 1, 1], name=""),
             helper.make_node("Relu", ["a"], ["b"], name="dup"),
             helper.make_node("Conv", ["b", "W2"], ["c"], pads=[1, 1, 1, 1], name="dup"),
             helper.make_node("Relu", ["c"], ["d"], name="odd 'name'; node 'x' (Conv):\n\tend"),
             helper.make_node("Sigmoid", ["d"], ["y"], name="a")]
    return make_model(nodes, [("x", [1, 3, 16, 16])], [("y", [1, 8, 16, 16])], inits, opset=13)


def test_empty_repeated_and_odd_node_names_are_made_unique_and_lower():
    from onnx_tee.passes.build.lowered import lower_model
    from onnx_tee.passes.compact import NameNodesUniquely
    named = NameNodesUniquely()(odd_names_model()).model
    names = [n.name for n in named.graph.node]
    assert names == ["a", "dup", "dup_1", "odd 'name'; node 'x' (Conv): end", "a_1"]
    lowered = lower_model(odd_names_model(), 1 << 22)
    assert lowered.report["simulation"]["max_rel_error"]["y"] < 1e-4


def legacy_model(opset: int) -> onnx.ModelProto:
    """Conv + BatchNormalization (opset < 9: `spatial`) + Relu + Upsample (opset < 10; Resize after)
    + Flatten + Gemm + Softmax on a rank-3 tensor with axis=1 (before 13: the input is coerced to
    2-D at the axis; from 13: along that axis only)."""
    rng = np.random.default_rng(opset)
    inits = [numpy_helper.from_array(rng.standard_normal([4, 3, 3, 3]).astype(np.float32), "W"),
             numpy_helper.from_array(rng.uniform(0.5, 1.5, [4]).astype(np.float32), "s"),
             numpy_helper.from_array(rng.standard_normal([4]).astype(np.float32), "b"),
             numpy_helper.from_array(rng.standard_normal([4]).astype(np.float32), "m"),
             numpy_helper.from_array(rng.uniform(0.5, 1.5, [4]).astype(np.float32), "v"),
             numpy_helper.from_array(rng.standard_normal([4 * 8 * 8, 6]).astype(np.float32) * 0.1, "G"),
             numpy_helper.from_array(np.zeros([6], np.float32), "GC"),
             ints("to3", [1, 2, 3])]
    bn = {"epsilon": 1e-5, **({"spatial": 1} if opset < 9 else {})}
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "s", "b", "m", "v"], ["bn"], **bn),
             helper.make_node("Relu", ["bn"], ["r"])]
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")
    if opset < 9:
        nodes.append(helper.make_node("Upsample", ["r"], ["u"], scales=[1.0, 1.0, 2.0, 2.0], mode="nearest"))
    elif opset < 10:
        inits.append(scales)
        nodes.append(helper.make_node("Upsample", ["r", "scales"], ["u"], mode="nearest"))
    else:
        inits += [scales, numpy_helper.from_array(np.zeros([0], np.float32), "roi")]
        nodes.append(helper.make_node("Resize", ["r", "scales"] if opset == 10 else ["r", "roi", "scales"], ["u"],
                                      mode="nearest"))
    nodes += [helper.make_node("Flatten", ["u"], ["f"]), helper.make_node("Gemm", ["f", "G", "GC"], ["g"]),
              helper.make_node("Reshape", ["g", "to3"], ["g3"]), helper.make_node("Softmax", ["g3"], ["y"], axis=1)]
    ir = 3 if opset < 9 else 8
    graph = helper.make_graph(nodes, "legacy",
                              [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3, 4, 4])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 2, 3])],
                              initializer=inits)
    if ir < 4:
        graph.input.extend(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=ir)
    onnx.checker.check_model(model, full_check=True)
    return model


@pytest.mark.parametrize("opset", [7, 8, 9, 10, 11, 12, 13, 17, 21])
def test_opsets_7_to_21_lower_and_match(opset):
    from onnx_tee.passes.build.lowered import lower_model
    model = legacy_model(opset)
    lowered = lower_model(model, 1 << 22)   # parity with onnxruntime on the model as lowered
    assert lowered.report["simulation"]["max_rel_error"]["y"] < 1e-5
    from conftest import random_inputs, run_ort
    feeds = random_inputs(model)
    np.testing.assert_allclose(run_ort(lowered.model, feeds)["y"], run_ort(model, feeds)["y"], rtol=1e-5, atol=1e-6)
    assert "Upsample" not in [n.op_type for n in lowered.model.graph.node]


def test_external_data_and_weights_in_constant_nodes_lower_from_the_command_line(tmp_path):
    rng = np.random.default_rng(1)
    weight = numpy_helper.from_array(rng.standard_normal([8, 3, 3, 3]).astype(np.float32), "Wc")
    nodes = [helper.make_node("Constant", [], ["Wc"], value=weight),                 # a weight in a Constant node
             helper.make_node("Conv", ["x", "Wc"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Flatten", ["r"], ["f"]), helper.make_node("Gemm", ["f", "G"], ["y"])]
    inits = [numpy_helper.from_array(rng.standard_normal([8 * 8 * 8, 10]).astype(np.float32), "G")]
    model = make_model(nodes, [("x", [1, 3, 8, 8])], [("y", [1, 10])], inits)
    path = tmp_path / "ext.onnx"
    onnx.save(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location="ext.bin",
              size_threshold=0)
    assert (tmp_path / "ext.bin").stat().st_size >= 8 * 8 * 8 * 10 * 4
    done = _lower_file(path, tmp_path / "out")
    assert done.returncode == 0, done.stderr


# ------------------------------------------------- 9. PyPI-shipped models (models/realworld/pypi.py)

def test_an_ir3_model_with_an_unlisted_initializer_gets_shapes_and_lowers():
    """onnxruntime's bundled mul_1.onnx (IR 3, opset 7) does not list its initializer as a graph input,
    which IR < 4 requires: onnx's shape inference then ignores the initializer and nothing it feeds got
    a shape ("the shape of output 'Y' cannot be inferred")."""
    from onnx_tee.passes.analysis.shapes import fix_input_shapes
    from onnx_tee.passes.build.lowered import lower_model
    w = numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(3, 2), "W")
    graph = helper.make_graph([helper.make_node("Mul", ["X", "W"], ["Y"])], "mul",
                              [helper.make_tensor_value_info("X", onnx.TensorProto.FLOAT, [3, 2])],
                              [helper.make_tensor_value_info("Y", onnx.TensorProto.FLOAT, [3, 2])], initializer=[w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 7)], ir_version=3)
    assert infer_static_shapes(model)["Y"].shape == (3, 2)
    fixed = fix_input_shapes(model)
    assert [i.name for i in fixed.graph.input] == ["X", "W"]
    assert fixed.graph.input[1].type.tensor_type.shape.dim[1].dim_value == 2
    assert [i.name for i in model.graph.input] == ["X"]            # the caller's model is not edited
    lowered = lower_model(model, 1 << 20)
    assert lowered.report["simulation"]["max_rel_error"]["Y"] == 0


def test_a_cast_to_the_type_a_tensor_already_has_is_removed():
    """torch's `.float()` on a float tensor exports Cast(to=FLOAT) (Silero VAD v6 has three): the
    interpreter has no Cast, and this one is the identity.  A real conversion stays."""
    from onnx_tee.passes.compact import RemoveIdentityOps
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Cast", ["r"], ["c"], to=onnx.TensorProto.FLOAT),
             helper.make_node("CastLike", ["c", "x"], ["d"]), helper.make_node("Sigmoid", ["d"], ["s"]),
             helper.make_node("Cast", ["s"], ["h"], to=onnx.TensorProto.FLOAT16),
             helper.make_node("Cast", ["h"], ["y"], to=onnx.TensorProto.FLOAT)]
    model = make_model(nodes, [("x", [2, 3])], [("y", [2, 3])], opset=17)
    result = RemoveIdentityOps()(onnx.ModelProto.FromString(model.SerializeToString()))
    assert result.stats["removed"] == 2
    assert [n.op_type for n in result.model.graph.node] == ["Relu", "Sigmoid", "Cast", "Cast"]
    assert_same_outputs(model, result.model, rtol=0, atol=0)


def test_an_op_without_a_shape_rule_is_refused_by_its_name_not_by_its_shape(tmp_path):
    """ddddocr's dynamically quantized recognizer has com.microsoft's DynamicQuantizeLSTM, and
    onnxruntime's logreg_iris.onnx ai.onnx.ml ops: onnx infers no shape past them, and lower said
    "the shape of output '361' cannot be inferred" instead of naming the op."""
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("QuantizedThing", ["r"], ["q"], name="quant", domain="com.example"),
             helper.make_node("Sigmoid", ["q"], ["y"], name="sigmoid")]
    graph = helper.make_graph(nodes, "custom", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("com.example", 1)],
                              ir_version=8)
    path = tmp_path / "custom.onnx"
    onnx.save(model, str(path))
    done = _lower_file(path, tmp_path / "out")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "node 'quant' (com.example.QuantizedThing): custom-domain op" in done.stderr
    assert "cannot be inferred" not in done.stderr
    # a model of ai.onnx.ml ops only imports no default-domain opset: nothing to upgrade, the ops are refused
    only_ml = helper.make_model(helper.make_graph(
        [helper.make_node("Normalizer", ["x"], ["y"], name="norm", domain="ai.onnx.ml", norm="L2")], "ml",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 4])]),
        opset_imports=[helper.make_opsetid("ai.onnx.ml", 1)], ir_version=3)
    onnx.save(only_ml, str(path))
    done = _lower_file(path, tmp_path / "out")
    assert done.returncode == 2 and "node 'norm' (ai.onnx.ml.Normalizer): custom-domain op" in done.stderr, done.stderr


def test_a_zipmap_is_refused_as_no_tensor_with_how_to_convert_without_it(tmp_path):
    """scikit-learn classifiers converted with their default options end in ai.onnx.ml.ZipMap: a sequence of
    maps, which no tensor program computes.  One line, exit 2, saying so and how to keep a tensor."""
    probabilities = helper.make_tensor_type_proto(onnx.TensorProto.FLOAT, [])
    maps = helper.make_sequence_type_proto(helper.make_map_type_proto(onnx.TensorProto.INT64, probabilities))
    graph = helper.make_graph(
        [helper.make_node("Softmax", ["x"], ["p"], name="softmax"),
         helper.make_node("ZipMap", ["p"], ["y"], name="zipmap", domain="ai.onnx.ml", classlabels_int64s=[0, 1, 2])],
        "zipmap", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3])],
        [helper.make_value_info("y", maps)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("ai.onnx.ml", 1)],
                              ir_version=8)
    onnx.checker.check_model(model)
    path = tmp_path / "zipmap.onnx"
    onnx.save(model, str(path))
    done = _lower_file(path, tmp_path / "out")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "node 'zipmap' (ai.onnx.ml.ZipMap): custom-domain op whose output is a sequence of maps" in done.stderr
    assert "'zipmap': False" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("case", ["runtime_min", "runtime_max", "both", "min_above_max"])
def test_a_clip_bound_computed_at_run_time_becomes_max_and_min(case):
    """openWakeWord's melspectrogram clamps the log-mel to `ReduceMax(x) - 80` (torchaudio's top_db):
    a Clip whose min the graph computes, which the interpreter's Clip (constant bounds) refused."""
    from onnx_tee.passes.build.lowered import lower_model
    from onnx_tee.passes.compact import ClipBoundsToMinMax
    nodes = [helper.make_node("ReduceMax", ["x"], ["top"], keepdims=0),
             helper.make_node("Sub", ["top", "eighty"], ["floor"]),
             helper.make_node("ReduceMean", ["x"], ["mean"], keepdims=0)]
    lo, hi = {"runtime_min": ("floor", "big"), "runtime_max": ("small", "mean"), "both": ("floor", "mean"),
              "min_above_max": ("mean", "floor")}[case]
    nodes.append(helper.make_node("Clip", ["x", lo, hi], ["c"], name="clamp"))
    nodes.append(helper.make_node("Relu", ["c"], ["y"]))
    inits = [numpy_helper.from_array(np.array(v, np.float32), n)
             for n, v in (("eighty", 2.0), ("big", 1e30), ("small", -0.5))]
    model = make_model(nodes, [("x", [2, 8])], [("y", [2, 8])], inits, opset=13)
    rewritten = ClipBoundsToMinMax()(onnx.ModelProto.FromString(model.SerializeToString())).model
    ops = [n.op_type for n in rewritten.graph.node]
    assert ops.count("Max") == (lo != "small") and ops.count("Min") == (hi != "big")
    assert ops.count("Clip") == (case.startswith("runtime_"))
    onnx.checker.check_model(rewritten, full_check=True)
    assert_same_outputs(model, rewritten, rtol=0, atol=0)
    lowered = lower_model(model, 1 << 20)
    assert lowered.report["simulation"]["max_rel_error"]["y"] < 1e-6


def verifier_model(else_shape=(1, 4)) -> onnx.ModelProto:
    """openWakeWord's "hey jarvis": a score p; when p >= 0.5 a verifier (reading the outer input x, with
    an initializer of its own) replaces it.  Written out by torch.jit as an If on the data."""
    rng = np.random.default_rng(3)
    then = branch("then", [helper.make_node("MatMul", ["x", "V"], ["v"]), helper.make_node("Sigmoid", ["v"], ["q"])],
                  "q", [numpy_helper.from_array(rng.standard_normal([4, 4]).astype(np.float32), "V")])
    other = branch("else", [helper.make_node("Identity", ["p"], ["o"])] if else_shape == (1, 4) else
                   [helper.make_node("ReduceMean", ["p"], ["o"], axes=[1], keepdims=0)], "o")
    nodes = [helper.make_node("MatMul", ["x", "W"], ["s"]), helper.make_node("Sigmoid", ["s"], ["p"]),
             helper.make_node("ReduceMean", ["p"], ["score"], keepdims=0),
             helper.make_node("GreaterOrEqual", ["score", "half"], ["c"]),
             helper.make_node("If", ["c"], ["y"], name="verify", then_branch=then, else_branch=other)]
    inits = [numpy_helper.from_array(rng.standard_normal([4, 4]).astype(np.float32), "W"),
             numpy_helper.from_array(np.array(0.5, np.float32), "half")]
    graph = helper.make_graph(nodes, "verifier", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)], initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def test_an_if_on_the_data_runs_both_branches_and_selects_with_where():
    from conftest import run_ort
    from onnx_tee.passes.build.lowered import STEPS, lower_model
    from onnx_tee.passes.compact.if_to_where import IfToWhere
    model = verifier_model()
    converted = IfToWhere()(compaction_pipeline()(model).model)
    assert converted.modified and converted.stats["converted"] == 1
    ops = [n.op_type for n in compaction_pipeline()(converted.model).model.graph.node]
    assert "If" not in ops and ops.count("Where") == 1 and ops.count("MatMul") == 2
    rng = np.random.default_rng(0)
    taken = set()
    for scale in (0.01, 1.0, 3.0, 10.0):
        for _ in range(8):
            x = (rng.standard_normal([1, 4]) * scale).astype(np.float32)
            expected = run_ort(model, {"x": x})["y"]
            np.testing.assert_array_equal(run_ort(converted.model, {"x": x})["y"], expected)
            s = 1 / (1 + np.exp(-(x @ numpy_helper.to_array(model.graph.initializer[0]))))
            taken.add(bool(s.mean() >= 0.5))
    assert taken == {True, False}                     # both branches were checked
    lowered = lower_model(model, 1 << 20, steps=STEPS[:2])    # lower converts what folding leaves
    assert "If" not in [n.op_type for n in lowered.model.graph.node]


def test_an_if_whose_branches_differ_in_shape_stays_and_is_refused_without_a_freeze_hint():
    from onnx_tee.passes.build.lowered import STEPS, lower_model
    from onnx_tee.passes.compact.if_to_where import IfToWhere
    from onnx_tee.passes.errors import UnsupportedModelError
    model = verifier_model(else_shape=(1,))
    assert not IfToWhere()(compaction_pipeline()(model).model).modified
    with pytest.raises(UnsupportedModelError) as info:
        lower_model(model, 1 << 20, steps=STEPS[:2])
    message = str(info.value)
    assert "\n" not in message and "node 'verify' (If)" in message and "input(s) x," in message
    assert "--input-value" not in message and "export the model with one branch" in message


def test_a_cast_of_a_runtime_bool_to_a_number_becomes_where_one_zero():
    """Magika's jax one-hot (Cast(Equal(ids, iota), to=FLOAT)) and attention masks cast a computed
    bool: the interpreter holds booleans as 0/1 and has Where, not Cast."""
    from onnx_tee.passes.compact import BoolCastToWhere
    nodes = [helper.make_node("Greater", ["x", "zero"], ["m"]),
             helper.make_node("Cast", ["m"], ["f"], to=onnx.TensorProto.FLOAT),
             helper.make_node("Cast", ["m"], ["i"], to=onnx.TensorProto.INT32),
             helper.make_node("Cast", ["i"], ["fi"], to=onnx.TensorProto.FLOAT),     # not a bool: stays
             helper.make_node("Add", ["f", "fi"], ["y"])]
    model = make_model(nodes, [("x", [3, 4])], [("y", [3, 4])],
                       [numpy_helper.from_array(np.array(0.0, np.float32), "zero")], opset=13)
    result = BoolCastToWhere()(onnx.ModelProto.FromString(model.SerializeToString()))
    assert result.stats["rewritten"] == 2
    assert [n.op_type for n in result.model.graph.node] == ["Greater", "Where", "Where", "Cast", "Add"]
    onnx.checker.check_model(result.model, full_check=True)
    assert_same_outputs(model, result.model, rtol=0, atol=0)


def test_an_expand_to_the_shape_its_input_has_is_removed():
    """Magika's jax2tf one-hot broadcasts its int32 ids [1, 2048, 1] to [1, 2048, 1] before Equal: an
    identity the interpreter refused (Expand computes in float32).  A real broadcast stays."""
    from onnx_tee.passes.compact import RemoveIdentityOps
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Expand", ["r", "same"], ["e"]),
             helper.make_node("Expand", ["e", "wider"], ["w"]), helper.make_node("Sigmoid", ["w"], ["y"])]
    model = make_model(nodes, [("x", [2, 1])], [("y", [2, 3])], [ints("same", [2, 1]), ints("wider", [1, 3])])
    result = RemoveIdentityOps()(onnx.ModelProto.FromString(model.SerializeToString()))
    assert [n.op_type for n in result.model.graph.node] == ["Relu", "Expand", "Sigmoid"]
    assert result.model.graph.node[1].input[0] == "r"
    assert_same_outputs(model, result.model, rtol=0, atol=0)


def test_an_opset_6_model_is_converted_to_an_opset_onnxruntime_runs():
    """torch 0.x exports at opset 6 (onnx's wheel ships 112 of them, pytorch-converted/): Add-6 with
    `broadcast=1`, Gemm-6, BatchNormalization-6 with `is_test`.  onnxruntime has no kernels for those
    forms, and lower's parity check stopped with "internal error: NOT_IMPLEMENTED"."""
    from onnx_tee.passes.build.lowered import lower_model
    from onnx_tee.passes.graph import opset_of
    rng = np.random.default_rng(6)
    inits = [numpy_helper.from_array(rng.standard_normal([4, 3, 3, 3]).astype(np.float32), "W"),
             numpy_helper.from_array(rng.uniform(0.5, 1.5, [4]).astype(np.float32), "s"),
             numpy_helper.from_array(rng.standard_normal([4]).astype(np.float32), "b"),
             numpy_helper.from_array(rng.standard_normal([4]).astype(np.float32), "m"),
             numpy_helper.from_array(rng.uniform(0.5, 1.5, [4]).astype(np.float32), "v"),
             numpy_helper.from_array(rng.standard_normal([5, 64]).astype(np.float32) * 0.1, "G"),
             numpy_helper.from_array(rng.standard_normal([5]).astype(np.float32), "GC"),
             numpy_helper.from_array(np.float32([0.5]), "half")]
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "s", "b", "m", "v"], ["bn"], is_test=1, epsilon=1e-5),
             helper.make_node("Relu", ["bn"], ["r"]), helper.make_node("Flatten", ["r"], ["f"]),
             helper.make_node("Gemm", ["f", "G", "GC"], ["g"], transB=1, broadcast=1),
             helper.make_node("Add", ["g", "half"], ["y"], broadcast=1)]
    graph = helper.make_graph(nodes, "torch0", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3, 4, 4])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 5])], initializer=inits)
    graph.input.extend(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 6)], ir_version=3)
    onnx.checker.check_model(model)
    lowered = lower_model(model, 1 << 20)
    assert opset_of(lowered.model) == 7
    assert lowered.report["simulation"]["max_rel_error"]["y"] < 1e-5
    x = rng.standard_normal([1, 3, 4, 4]).astype(np.float32)
    from onnx.reference import ReferenceEvaluator
    from conftest import run_ort
    reference = ReferenceEvaluator(model).run(None, {"x": x})[0]
    np.testing.assert_allclose(run_ort(lowered.model, {"x": x})["y"], reference, rtol=1e-5, atol=1e-5)
