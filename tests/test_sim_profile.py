"""The interpreter's per-op profile (interp/profile.h, sim/profile.c, passes/lower/profile.py):
one record per op of every partition, fused activations folded into their Conv, grouped by op type
and kernel path with MACs; `run --stats` writes it; builds without RT_PROFILE carry no trace of it."""
from __future__ import annotations

import json
import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from onnx_tee import cli as onnx_tee_cli
from onnx_tee.passes.analysis.shapes import infer_static_shapes
from onnx_tee.passes.lower.hostlib import InterpLibrary
from onnx_tee.passes.lower.profile import PREP_APPLIED, PREP_FUSED, describe_ops, summarise, op_samples
from onnx_tee.passes.lower.sim import OpTime, PartitionStats, RunStats
from conftest import weight


def mobile_block() -> onnx.ModelProto:
    """Stem conv + HardSwish, a depthwise 5x5/s2, a squeeze-excite (pool, 1x1 convs, HardSigmoid, Mul),
    a grouped 3x3, a 1x1 and a Gemm: one of every kernel path the profile names."""
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Conv", ["x", "w0"], ["c0"], pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("HardSwish", ["c0"], ["a0"]),
             helper.make_node("Conv", ["a0", "wd"], ["d"], pads=[2, 2, 2, 2], strides=[2, 2], group=8),
             helper.make_node("GlobalAveragePool", ["d"], ["s"]),
             helper.make_node("Conv", ["s", "ws1"], ["s1"]),
             helper.make_node("Relu", ["s1"], ["s2"]),
             helper.make_node("Conv", ["s2", "ws2"], ["s3"]),
             helper.make_node("HardSigmoid", ["s3"], ["s4"], alpha=1 / 6, beta=0.5),
             helper.make_node("Mul", ["d", "s4"], ["e"]),
             helper.make_node("Conv", ["e", "wg"], ["g"], pads=[1, 1, 1, 1], group=2),
             helper.make_node("Conv", ["g", "wp"], ["p"]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "wf"], ["y"], transB=1)]
    graph = helper.make_graph(
        nodes, "mobile_block", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
        [weight(rng, "w0", (8, 3, 3, 3)), weight(rng, "wd", (8, 1, 5, 5)), weight(rng, "ws1", (4, 8, 1, 1)),
         weight(rng, "ws2", (8, 4, 1, 1)), weight(rng, "wg", (8, 4, 3, 3)), weight(rng, "wp", (16, 8, 1, 1)), weight(rng, "wf", (10, 256))])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])


def test_kernel_paths_and_macs():
    model = mobile_block()
    ops = describe_ops(list(model.graph.node), infer_static_shapes(model))
    assert [o.path for o in ops] == [
        "Conv 3x3/s2", "HardSwish", "Conv dw 5x5/s2", "GlobalAveragePool", "Conv 1x1", "Relu", "Conv 1x1",
        "HardSigmoid", "Mul", "Conv grouped 3x3/s1", "Conv 1x1 small map", "Flatten", "Gemm M=1"]
    assert ops[0].macs == 8 * 8 * 8 * 3 * 9 and ops[2].macs == 8 * 4 * 4 * 25 and ops[-1].macs == 10 * 256
    assert ops[2].shape == (1, 8, 4, 4)


def test_fused_activation_counts_in_its_conv():
    model = mobile_block()
    ops = describe_ops(list(model.graph.node), infer_static_shapes(model))
    times = [OpTime(1, PREP_FUSED, 0.004), OpTime(10, PREP_APPLIED, 0.0)] + [
        OpTime(0, 0, 0.001) for _ in ops[2:]]
    stats = RunStats(0, 0, 0, 0, 0, 0, [PartitionStats(0, 0, 0, 0, 0.0, 0.02, ops=times)])
    runs = [op_samples([ops], stats)]
    profile = summarise(runs, [0.02])
    by_type = {r.key: r for r in profile.by_type}
    assert "HardSwish" not in by_type                   # applied by the Conv: no time of its own
    assert by_type["Conv"].calls == 6 and by_type["Conv"].fused == {"HardSwish": 1}
    assert by_type["Conv"].seconds == pytest.approx(0.004 + 5 * 0.001)
    assert profile.ops_s == pytest.approx(0.004 + 0.001 * 11) and profile.other_s == pytest.approx(0.005)
    assert profile.top[0][0].info.path == "Conv 3x3/s2" and profile.top[0][0].fused == "HardSwish"


def test_run_stats_carry_the_profile(tmp_path, capsys):
    model = mobile_block()
    onnx.save(model, tmp_path / "m.onnx")
    assert onnx_tee_cli.main(["lower", str(tmp_path / "m.onnx"), "--budget", "256KiB", "-o", str(tmp_path / "out")]) == 0
    np.save(tmp_path / "x.npy", np.random.default_rng(0).standard_normal((1, 3, 16, 16)).astype(np.float32))
    assert onnx_tee_cli.main(["run", str(tmp_path / "out"), "--input", str(tmp_path / "x.npy"),
                              "--stats", str(tmp_path / "stats.json")]) == 0
    assert "compute by op type" in capsys.readouterr().out
    stats = json.loads((tmp_path / "stats.json").read_text())
    recorded = [op for part in stats["partitions"] for op in part["ops"]]
    assert len(recorded) == len(model.graph.node)       # one record per op, every partition
    assert all(op["seconds"] >= 0 for op in recorded)
    profile = stats["profile"]
    assert sum(r["calls"] for r in profile["by_type"]) == len(model.graph.node) - sum(
        op["flags"] & PREP_APPLIED != 0 for op in recorded)
    assert {r["key"] for r in profile["by_path"]} >= {"Conv dw 5x5/s2", "Conv grouped 3x3/s1", "Gemm M=1"}
    assert 0 < profile["ops_s"] <= sum(p["compute_seconds"] for p in stats["partitions"]) + 1e-9
    assert all(p["revalidate_seconds"] > 0 for p in stats["partitions"])      # every run command revalidates
    wiped = [p["wipe_seconds"] > 0 for p in stats["partitions"]]
    assert wiped == [len(wiped) > 1] * len(wiped)       # a body is wiped after its run when there are several


def test_only_the_simulator_is_profiled():
    """The host interpreter library (like the TA) is built without RT_PROFILE: no hook symbol."""
    lib = InterpLibrary.build()
    symbols = subprocess.run(["nm", "-D", str(lib.path)], capture_output=True, text=True, check=True).stdout
    assert "rt_profile" not in symbols
