"""Random single-bit flips anywhere in the blobs or the manifest are all refused by the TA.

10,000 flips over a hand-made two-partition bundle and 10,000 over a trained zoo model lowered into
seven partitions (LeNet-5 on Fashion-MNIST at 128 KiB).  Each trial is a whole inference from the
altered bytes; none may produce an output, and the authentic bundle still runs afterwards.
"""
from __future__ import annotations

import collections
from pathlib import Path

import numpy as np

from onnx_tee import models
from onnx_tee.passes.lower.envelope import MANIFEST_FILE, blob_file_name, parse_manifest
from onnx_tee.passes.lower.keys import generate_key
from onnx_tee.passes.lower.sim import Simulator, TAError
from onnx_tee.passes.target import LOAD_CHUNK_BYTES
from ta_bundles import IN_DIM, MLP, lower_zoo, seal_mlp


def one_run(sim, manifest: bytes, blobs: list[bytes], x: np.ndarray, chunk: int, out_bytes: int) -> bytes:
    sim.open_model(manifest)
    sim.write_input(0, x)
    for k, blob in enumerate(blobs):
        sim.load_partition(k, blob, chunk)
        sim.run_partition(k)
    return sim.read_output(0, out_bytes)


def flip_trials(device: Path, key: bytes, budget: int, x: np.ndarray, storage: Path, count: int,
                seed: int) -> collections.Counter:
    manifest = (device / MANIFEST_FILE).read_bytes()
    parsed = parse_manifest(manifest)
    blobs = [(device / blob_file_name(k)).read_bytes() for k in range(len(parsed.partitions))]
    out_bytes = parsed.outputs[0].nbytes
    files = [manifest, *blobs]
    ends = np.cumsum([len(f) for f in files])
    rng = np.random.default_rng(seed)
    codes = collections.Counter()
    with Simulator(storage, budget=budget) as sim:
        sim.provision_key(key)
        expected = one_run(sim, manifest, blobs, x, LOAD_CHUNK_BYTES, out_bytes)
        for bit in rng.choice(int(ends[-1]) * 8, size=count, replace=False):
            byte = int(bit) // 8
            which = int(np.searchsorted(ends, byte, side="right"))
            trial = list(files)
            altered = bytearray(trial[which])
            altered[byte - (int(ends[which - 1]) if which else 0)] ^= 1 << (int(bit) % 8)
            trial[which] = bytes(altered)
            try:
                one_run(sim, trial[0], trial[1:], x, LOAD_CHUNK_BYTES, out_bytes)
            except TAError as err:
                codes[err.name] += 1
            else:
                codes["ACCEPTED"] += 1
        assert one_run(sim, manifest, blobs, x, LOAD_CHUNK_BYTES, out_bytes) == expected   # the device still works
    return codes


def test_ten_thousand_bit_flips_in_a_hand_made_bundle(tmp_path):
    key = generate_key()
    device = seal_mlp(MLP.random(1), tmp_path / "device", key)
    codes = flip_trials(device, key, 128 * 1024, np.ones((1, IN_DIM), np.float32), tmp_path / "storage",
                        10_000, seed=1)
    print(dict(codes))
    assert codes["ACCEPTED"] == 0, codes
    assert codes["OT_ERR_BLOB_AUTH"] > 0 and codes["OT_ERR_MANIFEST_AUTH"] > 0


def test_ten_thousand_bit_flips_in_a_zoo_bundle(tmp_path):
    assert "lenet5_fmnist" in models.trained_names()
    zoo = lower_zoo("lenet5_fmnist", 128 * 1024, tmp_path)
    assert len(zoo.bodies) > 2
    x = np.random.default_rng(0).standard_normal(zoo.result.infos[zoo.model.graph.input[0].name].shape)
    codes = flip_trials(zoo.device, zoo.key, zoo.budget, x.astype(np.float32), tmp_path / "storage", 10_000,
                        seed=2)
    print(dict(codes))
    assert codes["ACCEPTED"] == 0, codes
