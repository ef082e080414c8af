"""The partitioner with spatial tiling (passes/partition/spatial_plan.py): a model whose activations
alone exceed the budget is tiled, partitioned, chained in onnxruntime and run in the host
interpreter with outputs equal to onnxruntime's and measured memory equal to the plan.
`-m slow`: the smallest budget with and without spatial tiling (bisections); VGG-19 at 8 MiB,
recomputed MACs <= 15 %."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st
from onnx import TensorProto, helper, numpy_helper

from conftest import run_ort
from lower_harness import Lowered, relative_errors
from onnx_tee.passes.analysis.macs import model_macs
from onnx_tee.passes.analysis.shapes import infer_static_shapes
from onnx_tee.passes.errors import UserError
from onnx_tee.passes.lower import pipeline
from onnx_tee.passes.partition.chain import run_chain
from onnx_tee.passes.partition.cost import Limits
from onnx_tee.passes.partition.partitioner import partition_model
from onnx_tee.passes.partition.spatial_plan import crowded_outputs, hot_outputs

KIB, MIB = 1 << 10, 1 << 20
RTOL = 1e-4


def _wide_model(rows: int = 64, channels: int = 32) -> onnx.ModelProto:
    """conv 3x3 (3 -> C) + relu + conv 3x3 (C -> C, dilated) + relu + maxpool 2 + conv 3x3/2 + global pool + gemm:
    the first activations (C x rows x rows floats) dwarf everything else."""
    rng = np.random.default_rng(0)

    def w(name, shape):
        return numpy_helper.from_array((rng.standard_normal(shape) * 0.2).astype(np.float32), name)

    c = channels
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], kernel_shape=[3, 3], pads=[2, 2, 2, 2],
                              dilations=[2, 2]),
             helper.make_node("Relu", ["c2"], ["r2"]),
             helper.make_node("MaxPool", ["r2"], ["p2"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Conv", ["p2", "w3", "b3"], ["c3"], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                              strides=[2, 2]),
             helper.make_node("GlobalAveragePool", ["c3"], ["g"]),
             helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("Gemm", ["f", "w4", "b4"], ["y"], transB=1)]
    inits = [w("w1", [c, 3, 3, 3]), w("b1", [c]), w("w2", [c, c, 3, 3]), w("b2", [c]), w("w3", [c, c, 3, 3]),
             w("b3", [c]), w("w4", [10, c]), w("b4", [10])]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, rows, rows])
    graph = helper.make_graph(nodes, "wide", [x],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


BUDGET = 448 * KIB  # c1 alone is 512 KiB


def test_activation_over_budget_is_refused_without_spatial_tiling():
    with pytest.raises(UserError, match="smallest budget that works"):
        partition_model(_wide_model(), BUDGET, spatial=False)


def test_spatially_tiled_partitions_chain_to_the_original_outputs():
    model = _wide_model()
    result = partition_model(model, BUDGET)
    assert len(result.spatial) == 1 and result.spatial[0].tiles >= 2
    assert all(p.total + result.plan.reserve_bytes <= BUDGET for p in result.plan.partitions)
    feeds = {"x": np.random.default_rng(1).standard_normal((1, 3, 64, 64)).astype(np.float32)}
    got = run_chain(result.models, feeds, ["y"])
    np.testing.assert_allclose(got["y"], run_ort(model, feeds)["y"], rtol=1e-4, atol=1e-5)
    report = result.spatial_report(sum(model_macs(model, infer_static_shapes(model)).values()))
    assert report[0]["tiles"] == result.spatial[0].tiles and 0 < report[0]["memory_per_tile"] <= BUDGET
    assert 0 <= report[0]["recomputed_share"] < 0.5


@pytest.mark.slow
def test_smallest_budget_falls_with_spatial_tiling():
    model = _wide_model(rows=48, channels=24)
    with pytest.raises(UserError) as before:
        partition_model(model, 32 * KIB, spatial=False)
    with pytest.raises(UserError) as after:
        partition_model(model, 32 * KIB)
    need = [int(str(e.value).split("(")[-1].split(" bytes")[0]) for e in (before, after)]
    assert need[1] < need[0] / 2
    partition_model(model, need[1])  # the budget it names works


def _runs_as_planned(model: onnx.ModelProto, budget: int, seed: int = 2):
    """Partition `model` under `budget`; its partitions chained in onnxruntime and run in the
    interpreter give the untiled model's outputs (onnxruntime), each partition's measured memory
    the planned one.  Returns the partitioning."""
    result = partition_model(model, budget)
    assert all(p.total + result.plan.reserve_bytes <= budget for p in result.plan.partitions)
    feeds = pipeline.sample_feeds(model, result.infos, seed=seed)
    want = run_ort(model, feeds)
    for name, value in run_chain(result.models, feeds, list(want)).items():
        np.testing.assert_allclose(value, want[name], rtol=RTOL, atol=RTOL * float(np.abs(want[name]).max()))
    lowered = Lowered(model, result, pipeline.partition_bodies(result, model), *pipeline.model_io(model))
    errors, runs = relative_errors(lowered, feeds)
    assert max(errors.values()) <= RTOL, errors
    for run, planned in zip(runs, result.plan.partitions):
        assert run.max_region_end <= planned.total
        assert abs(run.max_region_end - planned.total) <= 0.01 * planned.total
    return result


def test_tiles_run_in_the_interpreter_as_planned():
    _runs_as_planned(_wide_model(), BUDGET)


@pytest.mark.slow
def test_vgg19_at_8_mib():
    from onnx_tee import models
    model = models.load("vgg19")
    infos = infer_static_shapes(model)
    result = partition_model(model, 8 * MIB, infos=infos)
    report = result.spatial_report(sum(model_macs(model, infos).values()))
    assert report and sum(r["recomputed_share"] for r in report) <= 0.15
    lowered = Lowered(model, result, pipeline.partition_bodies(result, model), *pipeline.model_io(model))
    errors, runs = relative_errors(lowered, pipeline.sample_feeds(model, result.infos, seed=0))
    assert max(errors.values()) <= RTOL, errors
    for run, planned in zip(runs, result.plan.partitions):
        assert run.max_region_end <= planned.total


def test_chart_shades_the_tiled_stage(tmp_path):
    """The memory chart of a tiled model marks the partitions running the stage's tiles: the saved
    PNG differs from the same plan drawn without stages, and the report names those partitions."""
    from PIL import Image

    from onnx_tee.passes.build import build_partitions
    from onnx_tee.passes.partition.chart import memory_chart, stage_label

    partitioned = build_partitions(_wide_model(), BUDGET)
    result = partitioned.result
    data = partitioned.save(tmp_path / "parts")
    stage = data["spatial"][0]
    tile_nodes = set(result.spatial[0].nodes)
    running = [i for i, spec in enumerate(result.specs) if tile_nodes & {n.name for n in spec.nodes}]
    assert stage["partition_indices"] == running and running
    assert stage["memory_per_tile"] == max(result.plan.partitions[i].total for i in running)
    assert f"{result.spatial[0].tiles} tiles" in stage_label(stage)
    memory_chart(result.plan, tmp_path / "plain.png", partitioned.title)
    tiled = np.asarray(Image.open(tmp_path / "parts" / "memory.png").convert("RGB"))
    plain = np.asarray(Image.open(tmp_path / "plain.png").convert("RGB"))
    assert tiled.shape == plain.shape and (tiled != plain).any()


def _weights(rng: np.random.Generator, name: str, shape) -> onnx.TensorProto:
    return numpy_helper.from_array((rng.standard_normal(shape) * 0.3).astype(np.float32), name)


def _conv(x: str, w: str, y: str, k: int, stride: int = 1, group: int = 1) -> onnx.NodeProto:
    return helper.make_node("Conv", [x, w], [y], kernel_shape=[k, k], pads=[k // 2] * 4, strides=[stride] * 2,
                            group=group)


def _model(nodes, weights, x_shape, y: str) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "spatial", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info(y, TensorProto.FLOAT, None)], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    model.graph.output[0].CopyFrom(inferred.graph.output[0])
    return model


def _crowded_model(rows: int = 64, expanded: int = 24, seed: int = 7) -> onnx.ModelProto:
    """An inverted-bottleneck block: s = conv 3x3 (8 ch), conv 1x1 to `expanded` ch, relu,
    depthwise 3x3, conv 1x1 back to 8 ch, + s.  The residual s (128 KiB at 64 rows) is carried
    past the expansion, whose maps (384 KiB each at 24 ch) fit the budget alone but not next to s."""
    rng = np.random.default_rng(seed)
    nodes = [_conv("x", "ws", "s", 3), _conv("s", "we", "e", 1), helper.make_node("Relu", ["e"], ["r"]),
             _conv("r", "wd", "d", 3, group=expanded), _conv("d", "wp", "p", 1),
             helper.make_node("Add", ["p", "s"], ["y"])]
    weights = [_weights(rng, "ws", [8, 4, 3, 3]), _weights(rng, "we", [expanded, 8, 1, 1]),
               _weights(rng, "wd", [expanded, 1, 3, 3]), _weights(rng, "wp", [8, expanded, 1, 1])]
    return _model(nodes, weights, [1, 4, rows, rows], "y")


def _fpn_model(rows: int = 32) -> onnx.ModelProto:
    """An FPN top: a (rows), b (rows / 2), c (rows / 4); a 1x1 conv of a, b and c upsampled to rows
    (nearest x2, linear x4), concatenated (48 ch) and a 3x3 conv head.  The upsampled maps come
    from 4x and 16x smaller inputs."""
    rng = np.random.default_rng(8)
    sizes = numpy_helper.from_array(np.array([1, 16, rows, rows], np.int64), "sizes")
    nodes = [_conv("x", "wa", "a", 3), _conv("a", "wb", "b", 3, stride=2), _conv("b", "wc", "c", 3, stride=2),
             _conv("a", "wu", "ua", 1),
             helper.make_node("Resize", ["b", "", "", "sizes"], ["ub"], mode="nearest",
                              coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
             helper.make_node("Resize", ["c", "", "", "sizes"], ["uc"], mode="linear",
                              coordinate_transformation_mode="half_pixel"),
             helper.make_node("Concat", ["ua", "ub", "uc"], ["cat"], axis=1), _conv("cat", "wh", "y", 3)]
    weights = [_weights(rng, "wa", [8, 4, 3, 3]), _weights(rng, "wb", [16, 8, 3, 3]), _weights(rng, "wc", [16, 16, 3, 3]),
               _weights(rng, "wu", [16, 8, 1, 1]), _weights(rng, "wh", [2, 48, 3, 3]), sizes]
    return _model(nodes, weights, [1, 4, rows, rows], "y")


CROWDED_BUDGET = 880 * KIB  # d's maps (2 x 384 KiB) + staging fit; with s (128 KiB) carried past d they do not


def test_a_node_crowded_only_by_the_tensors_carried_past_it_is_tiled():
    model = _crowded_model()
    infos = infer_static_shapes(model)
    limits = Limits(CROWDED_BUDGET)
    assert hot_outputs(model, infos, limits) == [] and "d" in crowded_outputs(model, infos, limits)
    with pytest.raises(UserError, match="smallest budget that works"):
        partition_model(model, CROWDED_BUDGET, spatial=False)
    result = _runs_as_planned(model, CROWDED_BUDGET)
    assert [s.output for s in result.spatial] == ["p"]  # the block's expansion, one tile at a time, next to s
    assert {"e__tile0", "d__tile0", "d__tile1"} <= set(result.spatial[0].nodes)


def _edge(works, lo: int, hi: int) -> int:
    """The smallest budget in (lo, hi], in 4 KiB steps, for which works(budget) holds (monotone)."""
    lo, hi = lo // (4 * KIB), hi // (4 * KIB)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if works(mid * 4 * KIB) else (mid, hi)
    return hi * 4 * KIB


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.integers(32, 72), expanded=st.integers(16, 40), seed=st.integers(0, 2**16), where=st.floats(0, 1))
def test_blocks_crowded_by_their_residual_are_tiled_at_any_size(rows, expanded, seed, where):
    """Any budget at which no node is hot but the untiled block does not fit: the block is tiled,
    partitioned, and its partitions give the untiled outputs in onnxruntime and in the interpreter."""
    model = _crowded_model(rows, expanded, seed)
    infos = infer_static_shapes(model)
    cool = _edge(lambda b: not hot_outputs(model, infos, Limits(b)), 0, 64 * MIB)
    untiled = _edge(lambda b: not crowded_outputs(model, infos, Limits(b)), 0, 64 * MIB)
    assume(untiled - cool >= 8 * KIB)
    budget = cool + int(where * (untiled - cool - 4 * KIB)) // (4 * KIB) * 4 * KIB
    assert hot_outputs(model, infos, Limits(budget)) == [] and crowded_outputs(model, infos, Limits(budget))
    with pytest.raises(UserError):
        partition_model(model, budget, spatial=False)
    assert _runs_as_planned(model, budget, seed=seed).spatial


FPN_BUDGET = 256 * KIB  # the three upsampled maps alone (3 x 64 KiB) + staging and reserve: 272 KiB


def test_upsampled_maps_are_tiled_up_to_their_concat():
    model = _fpn_model()
    infos = infer_static_shapes(model)
    assert hot_outputs(model, infos, Limits(FPN_BUDGET)) == ["cat", "y"]
    result = _runs_as_planned(model, FPN_BUDGET)
    stage = result.spatial[0]
    assert stage.output == "y" and {"ub__tile0", "uc__tile0", "cat__tile0"} <= set(stage.nodes)
    assert all(n.input[0] != "ub" and n.input[0] != "uc" for n in result.model.graph.node if n.op_type == "Concat")



def _lrn_stem_model(rows: int = 64) -> onnx.ModelProto:
    """AlexNet/ZFNet's stem: conv 3x3 (16 ch) + relu + LRN (across channels) + maxpool 3/2 + conv."""
    rng = np.random.default_rng(9)
    nodes = [_conv("x", "w1", "c", 3), helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("LRN", ["r"], ["n"], size=5, alpha=1e-4, beta=0.75, bias=1.0),
             helper.make_node("MaxPool", ["n"], ["p"], kernel_shape=[3, 3], strides=[2, 2]), _conv("p", "w2", "y", 3)]
    return _model(nodes, [_weights(rng, "w1", [16, 3, 3, 3]), _weights(rng, "w2", [4, 16, 3, 3])], [1, 3, rows, rows],
                  "y")


def test_lrn_is_tiled_with_the_convs_around_it():
    """LRN mixes channels at one pixel: a stage runs conv, relu, LRN and pool on row tiles, so that the
    stem's full-size maps (256 KiB each) never exist side by side."""
    model = _lrn_stem_model()
    budget = 448 * KIB
    with pytest.raises(UserError, match="smallest budget that works"):
        partition_model(model, budget, spatial=False)
    result = _runs_as_planned(model, budget)
    assert any("n__tile0" in stage.nodes for stage in result.spatial)

@pytest.mark.slow
def test_db_mobile_640_at_8_mib(tmp_path):
    """The DB-style text detector at 640 x 640 (the corpus' db_mobile_640, exported if not cached)
    lowers at 8 MiB: its backbone's inverted-bottleneck blocks next to the 1/4-scale FPN input,
    the FPN's upsampled maps and the head in tiles; the simulator matches onnxruntime and measures
    the planned memory of every partition."""
    from onnx_tee.models import realworld
    from onnx_tee.models.realworld.export import export_entry
    from onnx_tee.passes.build.lowered import lower_model

    entry = realworld.get("db_mobile_640")
    path = realworld.model_path(entry.name, 17)
    if not path.exists():
        export_entry(entry, [17], tmp_path)
        path = realworld.model_path(entry.name, 17, tmp_path)
    lowered = lower_model(onnx.load(path), 8 * MIB, label=entry.name,
                          input_shapes={i.name: i.shape for i in entry.inputs})   # raises ParityError on a miss
    report, simulation = lowered.report["partitions"], lowered.report["simulation"]
    assert report["spatial"] and sum(s["recomputed_share"] for s in report["spatial"]) <= 0.15
    assert max(simulation["max_rel_error"].values()) <= RTOL
    assert all(p["measured"] == p["planned"] for p in simulation["partitions"])
    assert simulation["heap_high_water"] <= 8 * MIB
