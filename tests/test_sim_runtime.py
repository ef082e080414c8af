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
from onnx_tee.passes.target import LOAD_CHUNK_BYTES
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
    chunks = sum(-(-len(b) // LOAD_CHUNK_BYTES) for b in blobs)
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
    assert manifest.region_bytes == REGION and manifest.staging_bytes == CHUNK
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

        def top(k):
            """One inference whose only output read is its top-k: (entries, bytes that left the TA)."""
            sim.run_bundle(device, [x], read_outputs=False)
            sim.lib.ot_sim_reset_traffic()
            entries = sim.read_topk(0, k)
            traffic = _Traffic()
            sim.lib.ot_sim_traffic(ctypes.byref(traffic))
            return entries, traffic.bytes_out

        top3, out = top(3)
        assert [i for i, _ in top3] == order[:3] and out == 8 * 3
        assert [v for _, v in top3] == [float(y[0, i]) for i in order[:3]]
        assert top(10) == ([(i, float(y[0, i])) for i in order], 8 * 10)
        assert len(top(40)[0]) == 10                  # k past the element count: every element once
        for k in (17, 33):                            # more than one ranking batch
            assert [i for i, _ in top(k)[0]] == order
        with pytest.raises(TAError) as err:
            top(5000)
        assert err.value.name == "TEE_ERROR_BAD_PARAMETERS"


def test_top_k_ties_rank_by_index(tmp_path):
    """A model whose output has ties: y = Relu(...) with zero weights gives ten equal values."""
    key = generate_key()
    mlp = MLP.random(0)
    mlp.w2[:] = 0
    mlp.b2[:] = 1.5
    device = seal_mlp(mlp, tmp_path / "device", key)
    x = np.ones((1, IN_DIM), np.float32)
    with Simulator(tmp_path / "dev", budget=REGION) as sim:
        sim.provision_key(key)
        sim.run_bundle(device, [x], read_outputs=False)
        assert sim.read_topk(0, 4) == [(0, 1.5), (1, 1.5), (2, 1.5), (3, 1.5)]
        sim.run_bundle(device, [x], read_outputs=False)
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
        sim.run_bundle(device, [np.ones((1, IN_DIM), np.float32)], read_outputs=False)
        top = sim.read_topk(0, 10)
    assert len(top) == 9 and 3 not in [i for i, _ in top]
    assert [v for _, v in top] == sorted((float(v) for v in np.delete(y[0], 3)), reverse=True)


class _BadReluMLP(MLP):
    """Partition 0's op 1 (Relu) carries a float attribute it has no slot for: authentic, but invalid."""

    def bodies(self) -> list[bytes]:
        from passes.lower import format as fmt
        bodies = super().bodies()
        body = bytearray(bodies[0])
        head = fmt.parse_header(bytes(body))
        f0 = head["op_table_offset"] + fmt.OP.size + fmt.OP.size - fmt.NUM_FLOATS * 4
        body[f0:f0 + 4] = np.float32(1.0).tobytes()
        return [bytes(body), bodies[1]]


def test_ta_log_is_silent_by_default_and_names_the_refused_op(tmp_path):
    """The TA's EMSG/DMSG go to stderr only when ONNX_TEE_TA_LOG_LEVEL asks; a refused body is logged
    with the validator's status and the op index."""
    from ta_bundles import seal_mlp
    key = generate_key()
    device = seal_mlp(_BadReluMLP.random(3), tmp_path / "device", key)
    cli = build_simulator() / "onnx_tee_sim"
    (tmp_path / "x.bin").write_bytes(np.zeros((1, IN_DIM), np.float32).tobytes())
    (tmp_path / "key").write_bytes(key)
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "ONNX_TEE_TA_LOG_LEVEL")}
    runs = {}
    for level in (None, "1", "3"):
        storage = tmp_path / f"dev{level}"
        storage.mkdir()
        result = subprocess.run([cli, "--budget", str(REGION), "--storage", storage, "--provision", tmp_path / "key",
                                 device, tmp_path / "x.bin"], capture_output=True, text=True,
                                env=env | ({"ONNX_TEE_TA_LOG_LEVEL": level} if level else {}))
        assert result.returncode == 8 and "OT_ERR_BODY_INVALID" in result.stderr   # exit class: model refused
        runs[level] = [line for line in result.stderr.splitlines() if "/TA:" in line]
    assert runs[None] == []
    assert any(line.startswith("E/TA:") and "partition 0: body refused: RT_ERR_OP_RESERVED at op 1" in line
               for line in runs["1"]), runs["1"]
    assert not any(line.startswith("D/TA:") for line in runs["1"])
    assert any(line.startswith("D/TA:") and "model opened" in line for line in runs["3"]), runs["3"]
