"""The simulator runs the real TA: results against numpy, the memory budget, the run counters, the CLI."""
from __future__ import annotations

import ctypes
import os
import subprocess

import numpy as np
import pytest

from onnx_tee.passes.lower.envelope import BLOB_HEADER, MANIFEST_FILE, TAG_BYTES, blob_file_name, parse_manifest
from onnx_tee.passes.lower.keys import generate_key
from onnx_tee.passes.lower.sim import HEAP_RESERVE, Simulator, TAError, _Traffic, build_simulator, sanitizing
from ta_bundles import CHUNK, IN_DIM, REGION, STAGING_OFFSET, MLP, seal_mlp


@pytest.fixture
def bundle(tmp_path):
    key = generate_key()
    mlp = MLP.random(3)
    return mlp, seal_mlp(mlp, tmp_path / "device", key), key


def test_two_partitions_match_numpy(bundle, tmp_path):
    mlp, device, key = bundle
    xs = np.random.default_rng(0).standard_normal((3, 1, IN_DIM)).astype(np.float32)
    with Simulator(tmp_path / "dev", budget=REGION) as sim:
        sim.provision_key(key)
        for x in xs:   # the same open model serves several inferences
            (y,), _ = sim.run_bundle(device, [x])
            np.testing.assert_allclose(y, mlp.reference(x), rtol=1e-5, atol=1e-4)


def test_counters_are_exact(bundle, tmp_path):
    _, device, key = bundle
    manifest = (device / MANIFEST_FILE).read_bytes()
    blobs = [(device / blob_file_name(k)).read_bytes() for k in range(2)]
    x = np.ones((1, IN_DIM), np.float32)
    with Simulator(tmp_path / "dev", budget=REGION, track_pages=not sanitizing()) as sim:
        sim.provision_key(key)
        _, stats = sim.run_bundle(device, [x])
    chunks = sum(-(-len(b) // CHUNK) for b in blobs)
    # open + write input + every chunk + one run per partition + read output
    assert stats.invocations == 1 + 1 + chunks + 2 + 1
    assert stats.bytes_in == len(manifest) + x.nbytes + sum(map(len, blobs))
    assert stats.bytes_out == 10 * 4
    # the staging buffer is the highest thing each partition touches in this plan
    assert [p.touched_bytes for p in stats.partitions] == [STAGING_OFFSET + CHUNK] * 2
    assert all(p.touched_bytes == p.planned_bytes for p in stats.partitions)
    if not sanitizing():   # the MMU's view: no page past the staging buffer, which ends on a page
        assert [p.pages_touched_bytes for p in stats.partitions] == [STAGING_OFFSET + CHUNK] * 2
    # the TEE_Malloc high-water mark: the region plus the TA's own state, within TA_DATA_SIZE
    assert REGION < stats.heap_high_water <= REGION + HEAP_RESERVE
    json = stats.to_json()
    assert json["heap_high_water_per_partition"] == [p.touched_bytes for p in stats.partitions]


def test_region_larger_than_budget_fails_like_optee(bundle, tmp_path):
    _, device, key = bundle
    with Simulator(tmp_path / "dev", budget=REGION) as sim:
        sim.provision_key(key)
        sim.lib.ot_sim_set_heap_cap(REGION // 2)   # a TA built with TA_DATA_SIZE below the region
        with pytest.raises(TAError) as err:
            sim.run_bundle(device, [np.zeros((1, IN_DIM), np.float32)])
    assert err.value.name == "TEE_ERROR_OUT_OF_MEMORY"


def test_wrong_input_size_is_refused(bundle, tmp_path):
    _, device, key = bundle
    with Simulator(tmp_path / "dev", budget=REGION) as sim:
        sim.provision_key(key)
        sim.open_model((device / MANIFEST_FILE).read_bytes())
        with pytest.raises(TAError) as err:
            sim.write_input(0, np.zeros(IN_DIM + 1, np.float32))
    assert err.value.name == "TEE_ERROR_BAD_PARAMETERS"


def test_cli_prints_the_same_output(bundle, tmp_path):
    mlp, device, key = bundle
    cli = build_simulator() / "onnx_tee_sim"
    x = np.random.default_rng(5).standard_normal((1, IN_DIM)).astype(np.float32)
    (tmp_path / "x.bin").write_bytes(x.tobytes())
    (tmp_path / "key").write_bytes(key)
    storage = tmp_path / "dev"
    storage.mkdir()
    # under ONNX_TEE_SANITIZE=1 this is the ASan build: let it check for leaks at exit too
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"} | {"ASAN_OPTIONS": "detect_leaks=1"}
    result = subprocess.run([cli, "--budget", str(REGION), "--storage", storage, "--provision", tmp_path / "key",
                             "--output", tmp_path / "y", device, tmp_path / "x.bin"],
                            capture_output=True, text=True, check=True, env=env)
    printed = [line for line in result.stdout.splitlines() if line.startswith("output 0:")][0]
    values = np.array([float(v) for v in printed.split(":")[1].split()], np.float32)
    np.testing.assert_allclose(values, mlp.reference(x)[0], rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(np.fromfile(tmp_path / "y0.bin", np.float32), values)
    assert "partition 1: 102400 region bytes touched" in result.stdout


def test_cli_reports_a_refused_model(bundle, tmp_path):
    _, device, key = bundle
    cli = build_simulator() / "onnx_tee_sim"
    (tmp_path / "x.bin").write_bytes(np.zeros((1, IN_DIM), np.float32).tobytes())
    (tmp_path / "other").write_bytes(generate_key())
    storage = tmp_path / "dev"
    storage.mkdir()
    result = subprocess.run([cli, "--budget", str(REGION), "--storage", storage, "--provision", tmp_path / "other",
                             device, tmp_path / "x.bin"], capture_output=True, text=True)
    assert result.returncode == 8          # the client's exit code for a refused model
    assert "OT_ERR_MANIFEST_AUTH" in result.stderr


def test_manifest_round_trip(bundle):
    _, device, _ = bundle
    manifest = parse_manifest((device / MANIFEST_FILE).read_bytes())
    assert manifest.region_bytes == REGION and manifest.chunk_bytes == CHUNK
    assert [p.blob_bytes for p in manifest.partitions] == [(device / blob_file_name(k)).stat().st_size
                                                          for k in range(2)]
    assert all(p.blob_bytes == BLOB_HEADER.size + p.body_bytes + TAG_BYTES for p in manifest.partitions)
    assert manifest.inputs[0].shape == (1, IN_DIM) and manifest.outputs[0].shape == (1, 10)


def test_top_k_is_all_that_leaves_the_tee(bundle, tmp_path):
    mlp, device, key = bundle
    x = np.random.default_rng(8).standard_normal((1, IN_DIM)).astype(np.float32)
    with Simulator(tmp_path / "dev", budget=REGION) as sim:
        sim.provision_key(key)
        (y,), _ = sim.run_bundle(device, [x])
        order = sorted(range(10), key=lambda i: (-y[0, i], i))
        sim.lib.ot_sim_reset_traffic()
        top3 = sim.read_topk(0, 3)
        assert [i for i, _ in top3] == order[:3]
        assert [v for _, v in top3] == [float(y[0, i]) for i in order[:3]]
        assert sim.read_topk(0, 10) == [(i, float(y[0, i])) for i in order]
        assert len(sim.read_topk(0, 40)) == 10        # k past the element count: every element once
        for k in (17, 33):                            # more than one ranking batch
            assert [i for i, _ in sim.read_topk(0, k)] == order
        with pytest.raises(TAError) as err:
            sim.read_topk(0, 5000)
        assert err.value.name == "TEE_ERROR_BAD_PARAMETERS"
        traffic = _Traffic()
        sim.lib.ot_sim_traffic(ctypes.byref(traffic))
    assert traffic.bytes_out == 8 * (3 + 10 + 10 + 10 + 10)


def test_top_k_ties_rank_by_index(tmp_path):
    """A model whose output has ties: y = Relu(...) with zero weights gives ten equal values."""
    key = generate_key()
    mlp = MLP.random(0)
    mlp.w2[:] = 0
    mlp.b2[:] = 1.5
    device = seal_mlp(mlp, tmp_path / "device", key)
    with Simulator(tmp_path / "dev", budget=REGION) as sim:
        sim.provision_key(key)
        sim.run_bundle(device, [np.ones((1, IN_DIM), np.float32)])
        assert sim.read_topk(0, 4) == [(0, 1.5), (1, 1.5), (2, 1.5), (3, 1.5)]
        assert [i for i, _ in sim.read_topk(0, 20)] == list(range(10))


def test_top_k_never_picks_nan(tmp_path):
    key = generate_key()
    mlp = MLP.random(2)
    mlp.b2[3] = np.nan
    device = seal_mlp(mlp, tmp_path / "device", key)
    with Simulator(tmp_path / "dev", budget=REGION) as sim:
        sim.provision_key(key)
        (y,), _ = sim.run_bundle(device, [np.ones((1, IN_DIM), np.float32)])
        assert np.isnan(y[0, 3])
        top = sim.read_topk(0, 10)
    assert len(top) == 9 and 3 not in [i for i, _ in top]
    assert [v for _, v in top] == sorted((float(v) for v in np.delete(y[0], 3)), reverse=True)
