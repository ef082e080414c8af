"""Random single-bit flips anywhere in the blobs or the manifest are all refused by the TA.

10,000 flips over a two-partition bundle (a few seconds).  Each trial is a whole inference from the
altered bytes; none may produce an output, and the authentic bundle still runs afterwards.
"""
from __future__ import annotations

import collections

import numpy as np

from passes.lower.keys import generate_key
from passes.lower.sim import Simulator, TAError
from ta_bundles import CHUNK, IN_DIM, REGION, MLP, seal_mlp
from test_security_envelope import read_bundle

X = np.ones((1, IN_DIM), np.float32)


def one_run(sim, manifest, blobs):
    sim.open_model(manifest)
    sim.write_input(0, X)
    for k, blob in enumerate(blobs):
        sim.load_partition(k, blob, CHUNK)
        sim.run_partition(k)
    return sim.read_output(0, 40)


def flip_trials(tmp_path, count: int, seed: int) -> collections.Counter:
    key = generate_key()
    manifest, blobs = read_bundle(seal_mlp(MLP.random(seed), tmp_path / "device", key))
    files = [manifest, *blobs]
    sizes = np.array([len(f) for f in files])
    rng = np.random.default_rng(seed)
    codes = collections.Counter()
    with Simulator(tmp_path / "storage", budget=REGION) as sim:
        sim.provision_key(key)
        expected = one_run(sim, manifest, blobs)
        for bit in rng.choice(int(sizes.sum()) * 8, size=count, replace=False):
            byte, which = int(bit) // 8, 0
            while byte >= sizes[which]:
                byte -= sizes[which]
                which += 1
            altered = bytearray(files[which])
            altered[byte] ^= 1 << (int(bit) % 8)
            trial = list(files)
            trial[which] = bytes(altered)
            try:
                one_run(sim, trial[0], trial[1:])
            except TAError as err:
                codes[err.name] += 1
            else:
                codes["ACCEPTED"] += 1
        assert one_run(sim, manifest, blobs) == expected   # the device still works after all that
    return codes


def test_ten_thousand_bit_flips_are_refused(tmp_path):
    codes = flip_trials(tmp_path, 10_000, seed=1)
    print(dict(codes))
    assert codes["ACCEPTED"] == 0, codes
    assert codes["OT_ERR_BLOB_AUTH"] > 0 and codes["OT_ERR_MANIFEST_AUTH"] > 0
