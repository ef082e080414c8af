"""Stream sessions: `run --stream` keeps pinned bodies loaded across inferences.

- a model that fits one partition: steady state = 1 TA invocation (OT_CMD_INFER), 0 bytes loaded,
  outputs bit-identical to single-shot runs of the same inputs;
- the highest region byte every inference touches equals the plan (first and steady state);
- bad --stream input is one clear line, exit 2.
"""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from onnx_tee import cli as onnx_tee_cli
from test_sim_cli import small_cnn

STEPS = 6


@pytest.fixture(scope="module")
def lowered(tmp_path_factory):
    root = tmp_path_factory.mktemp("stream")
    onnx.save(small_cnn(), root / "cnn.onnx")
    assert onnx_tee_cli.main(["lower", str(root / "cnn.onnx"), "--budget", "256KiB", "-o", str(root / "out")]) == 0
    xs = np.random.default_rng(3).standard_normal((STEPS, 1, 3, 8, 8)).astype(np.float32)
    np.save(root / "xs.npy", xs)
    return root, xs


def test_single_partition_stream_is_one_command_and_bit_identical(lowered, capsys):
    root, xs = lowered
    manifest = json.loads((root / "out" / "manifest.json").read_text())
    assert len(manifest["partitions"]) == 1 and manifest["partitions"][0]["pinned"]
    code = onnx_tee_cli.main(["run", str(root / "out"), "--input", str(root / "xs.npy"), "--stream",
                              "--output", str(root / "ys.npz"), "--stats", str(root / "stats.json")])
    assert code == 0, capsys.readouterr().err
    ys = np.load(root / "ys.npz")["y"]
    assert ys.shape == (STEPS, 1, 10)
    for t in range(STEPS):
        np.save(root / "x.npy", xs[t])
        assert onnx_tee_cli.main(["run", str(root / "out"), "--input", str(root / "x.npy"),
                                  "--output", str(root / "y.npz")]) == 0
        assert np.load(root / "y.npz")["y"].tobytes() == ys[t].tobytes(), t
    stats = json.loads((root / "stats.json").read_text())
    first, steady = stats["inferences"][0], stats["inferences"][1:]
    blob = (root / "out" / "device" / "partition_000.blob").stat().st_size
    assert first["bytes_loaded"] == blob and first["invocations"] > 1
    assert first["touched_bytes"] == stats["planned_bytes"]
    for step in steady:
        assert step["bytes_loaded"] == 0 and step["invocations"] == 1 and step["load_seconds"] == 0
        assert step["touched_bytes"] == stats["planned_steady_bytes"]
    assert stats["heap_high_water"] <= stats["budget"]


def test_stream_on_onnxruntime_matches(lowered):
    root, xs = lowered
    assert onnx_tee_cli.main(["run", str(root / "out"), "--input", str(root / "xs.npy"), "--stream",
                              "--backend", "ort", "--output", str(root / "ort.npz")]) == 0
    assert onnx_tee_cli.main(["run", str(root / "out"), "--input", str(root / "xs.npy"), "--stream",
                              "--output", str(root / "sim.npz")]) == 0
    np.testing.assert_allclose(np.load(root / "sim.npz")["y"], np.load(root / "ort.npz")["y"], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("shape", [(1, 3, 8, 8), (STEPS, 3, 8, 8)])
def test_stream_input_without_the_sequence_axis_is_a_clear_error(lowered, tmp_path, capsys, shape):
    root, _ = lowered
    np.save(tmp_path / "bad.npy", np.zeros(shape, np.float32))
    code = onnx_tee_cli.main(["run", str(root / "out"), "--input", str(tmp_path / "bad.npy"), "--stream"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "Traceback" not in err[0]


def layerwise(lowered):
    """The partition step with one layer per partition: small partitions leave room to pin some."""
    from onnx_tee.passes.partition.partitioner import partition_model

    lowered.partition = partition_model(lowered.narrowed or lowered.model, lowered.budget, strategy="layerwise")
    lowered.report["partitions"] = {"count": len(lowered.partition.plan.partitions)}


def test_partly_pinned_stream_loads_only_the_streamed_bodies(tmp_path):
    from onnx_tee.passes.build.lowered import STEPS, lower_model
    from onnx_tee.passes.lower.sim import Simulator
    from test_partition_residency import mlp

    model = mlp([256, 256, 128, 256, 64, 256])
    steps = [(name, layerwise if name == "partition" else step) for name, step in STEPS]
    lowered = lower_model(model, 600 << 10, steps=steps)
    out = lowered.save(tmp_path / "out")
    plan = lowered.partition.plan
    pinned = [k for k, p in enumerate(plan.partitions) if p.is_pinned]
    assert 0 < len(pinned) < len(plan.partitions)
    blobs = [(out / "device" / f"partition_{k:03d}.blob").stat().st_size for k in range(len(plan.partitions))]
    xs = np.random.default_rng(5).standard_normal((5, 1, 256)).astype(np.float32)
    with Simulator(tmp_path / "dev", budget=600 << 10) as sim:
        sim.provision_key(lowered.key)
        results, stats = sim.run_stream(out / "device", [[x] for x in xs])
    single = []
    for x in xs:
        with Simulator(tmp_path / "dev", budget=600 << 10) as sim:
            single.append(sim.run_bundle(out / "device", [x])[0][0])
    for t, x in enumerate(xs):
        assert results[t][0].tobytes() == single[t].tobytes(), t
    assert stats[0].bytes_loaded == sum(blobs)
    assert stats[0].touched_bytes == [p.total for p in plan.partitions]
    for step in stats[1:]:
        assert step.bytes_loaded == sum(b for k, b in enumerate(blobs) if k not in pinned)
        assert step.touched_bytes == [p.steady_total for p in plan.partitions]
        assert step.invocations < stats[0].invocations


def test_fully_resident_multi_partition_stream_is_measured_per_partition(tmp_path):
    """Every body of a four-partition MLP pinned: a steady-state inference is the one OT_CMD_INFER, and
    its answer still gives each partition's highest region byte touched, equal to that partition's
    planned steady-state figure (not only the largest of them); outputs equal single-shot runs."""
    from onnx_tee.passes.build.lowered import STEPS, lower_model
    from onnx_tee.passes.lower.sim import Simulator
    from test_partition_residency import mlp

    steps = [(name, layerwise if name == "partition" else step) for name, step in STEPS]
    lowered = lower_model(mlp([64, 64, 32, 64, 16]), 256 << 10, steps=steps)
    out = lowered.save(tmp_path / "out")
    plan = lowered.partition.plan
    assert len(plan.partitions) == 4 and all(p.is_pinned for p in plan.partitions)
    assert len({p.steady_total for p in plan.partitions}) == 4
    xs = np.random.default_rng(7).standard_normal((4, 1, 64)).astype(np.float32)
    with Simulator(tmp_path / "dev", budget=256 << 10) as sim:
        sim.provision_key(lowered.key)
        results, stats = sim.run_stream(out / "device", [[x] for x in xs])
    for t, x in enumerate(xs):
        with Simulator(tmp_path / "dev", budget=256 << 10) as sim:
            assert results[t][0].tobytes() == sim.run_bundle(out / "device", [x])[0][0].tobytes(), t
    assert stats[0].touched_bytes == [p.total for p in plan.partitions]
    for step in stats[1:]:
        assert step.invocations == 1 and step.bytes_loaded == 0
        assert step.touched_bytes == [p.steady_total for p in plan.partitions]


def test_lower_stream_cuts_a_packed_model_so_that_bodies_stay(tmp_path, capsys):
    """`lower --stream`: the MLP's two partitions fill 2000 KiB; cut smaller, bodies stay loaded and a
    steady-state inference loads fewer bytes than with the single-shot layout."""
    from test_partition_residency import mlp

    onnx.save(mlp([512, 512, 256, 512, 128, 512]), tmp_path / "mlp.onnx")
    assert onnx_tee_cli.main(["keygen", "-o", str(tmp_path / "k.key")]) == 0
    xs = np.random.default_rng(6).standard_normal((3, 1, 512)).astype(np.float32)
    np.save(tmp_path / "xs.npy", xs)
    loaded, outputs = {}, {}
    for option in ([], ["--stream"]):
        out = tmp_path / ("stream" if option else "single")
        assert onnx_tee_cli.main(["lower", str(tmp_path / "mlp.onnx"), "--budget", "2000KiB", "--key",
                                  str(tmp_path / "k.key"), "-o", str(out), *option]) == 0
        manifest = json.loads((out / "manifest.json").read_text())
        assert onnx_tee_cli.main(["run", str(out), "--input", str(tmp_path / "xs.npy"), "--stream", "--key",
                                  str(tmp_path / "k.key"), "--output", str(out / "ys.npz"),
                                  "--stats", str(out / "stats.json")]) == 0
        steps = json.loads((out / "stats.json").read_text())["inferences"]
        loaded[bool(option)] = steps[-1]["bytes_loaded"]
        outputs[bool(option)] = np.load(out / "ys.npz")
        pinned = [p["pinned"] for p in manifest["partitions"]]
        assert any(pinned) == bool(option) and (len(pinned) > 2) == bool(option), pinned
    assert loaded[True] < loaded[False]
    for name in outputs[False].files:
        np.testing.assert_allclose(outputs[True][name], outputs[False][name], rtol=1e-5, atol=1e-5)
