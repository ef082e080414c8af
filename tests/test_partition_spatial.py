"""The partitioner with spatial tiling (passes/partition/spatial_plan.py): a model whose activations
alone exceed the budget is tiled, partitioned, chained in onnxruntime and run in the host
interpreter with outputs equal to onnxruntime's and measured memory equal to the plan.
`-m slow`: the smallest budget with and without spatial tiling (bisections); VGG-19 at 8 MiB,
recomputed MACs <= 15 %."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import run_ort
from lower_harness import Lowered, relative_errors
from onnx_tee.passes.analysis.macs import model_macs
from onnx_tee.passes.analysis.shapes import infer_static_shapes
from onnx_tee.passes.errors import UserError
from onnx_tee.passes.lower import pipeline
from onnx_tee.passes.partition.chain import run_chain
from onnx_tee.passes.partition.partitioner import partition_model

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


def test_tiles_run_in_the_interpreter_as_planned():
    model = _wide_model()
    result = partition_model(model, BUDGET)
    lowered = Lowered(model, result, pipeline.partition_bodies(result, model), *pipeline.model_io(model))
    errors, runs = relative_errors(lowered, pipeline.sample_feeds(model, result.infos, seed=2))
    assert max(errors.values()) <= RTOL, errors
    for run, planned in zip(runs, result.plan.partitions):
        assert run.max_region_end <= planned.total
        assert abs(run.max_region_end - planned.total) <= 0.01 * planned.total


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
