"""Security properties on a real lowered zoo model (SqueezeNet at 8 MiB).

- No 32-byte window of any weight appears in `device/` or in the bytes that crossed shared memory
  during a run (a sample of windows from every initializer; the same windows are found in the
  plaintext bodies, so the search can find them).
- `-m slow`: random single-bit flips across the zoo bundle's blobs and manifest are all refused.
"""
from __future__ import annotations

import collections

import numpy as np
import pytest
from onnx import numpy_helper

from onnx_tee.passes.lower.envelope import MANIFEST_FILE, blob_file_name
from onnx_tee.passes.lower.pipeline import model_io, sample_feeds
from onnx_tee.passes.lower.sim import Simulator, TAError
from ta_bundles import lower_zoo

BUDGET = 8 << 20
WINDOW = 32


@pytest.fixture(scope="module")
def squeezenet(tmp_path_factory):
    return lower_zoo("squeezenet", BUDGET, tmp_path_factory.mktemp("squeezenet"))


def weight_windows(model, count: int, seed: int = 0) -> list[bytes]:
    rng = np.random.default_rng(seed)
    weights = [numpy_helper.to_array(t).astype(np.float32).tobytes() for t in model.graph.initializer]
    weights = [w for w in weights if len(w) >= 4 * WINDOW]
    picks = []
    for _ in range(count):
        w = weights[rng.integers(len(weights))]
        start = int(rng.integers(0, (len(w) - WINDOW) // 4)) * 4
        picks.append(w[start:start + WINDOW])
    return picks


def test_no_weight_bytes_leave_the_tee(squeezenet, tmp_path):
    windows = weight_windows(squeezenet.model, 300)
    bodies = b"".join(squeezenet.bodies)
    assert all(w in bodies for w in windows)
    for path in sorted(squeezenet.device.iterdir()):
        data = path.read_bytes()
        assert not any(w in data for w in windows), path.name
    trace = tmp_path / "shared-memory.log"
    feeds = sample_feeds(squeezenet.model, squeezenet.result.infos)
    inputs, _ = model_io(squeezenet.model)
    with Simulator(tmp_path / "storage", budget=BUDGET, trace=trace) as sim:
        sim.provision_key(squeezenet.key)
        sim.run_bundle(squeezenet.device, [feeds[name] for name in inputs])
    crossed = trace.read_bytes()
    assert len(crossed) > sum(len(b) for b in squeezenet.bodies)
    assert not any(w in crossed for w in windows)


@pytest.mark.slow
def test_bit_flips_in_a_zoo_bundle_are_refused(squeezenet, tmp_path):
    device = squeezenet.device
    manifest = (device / MANIFEST_FILE).read_bytes()
    blobs = [(device / blob_file_name(k)).read_bytes() for k in range(len(squeezenet.bodies))]
    files = [manifest, *blobs]
    sizes = np.array([len(f) for f in files], dtype=np.int64)
    feeds = sample_feeds(squeezenet.model, squeezenet.result.infos)
    x = feeds[model_io(squeezenet.model)[0][0]]
    rng = np.random.default_rng(7)
    codes = collections.Counter()
    with Simulator(tmp_path / "storage", budget=BUDGET) as sim:
        sim.provision_key(squeezenet.key)
        for bit in rng.integers(0, int(sizes.sum()) * 8, size=500):
            which = int(np.searchsorted(np.cumsum(sizes), bit // 8, side="right"))
            byte = int(bit // 8 - (np.cumsum(sizes)[which - 1] if which else 0))
            trial = list(files)
            altered = bytearray(trial[which])
            altered[byte] ^= 1 << int(bit % 8)
            trial[which] = bytes(altered)
            try:
                sim.open_model(trial[0])
                sim.write_input(0, x)
                for k, blob in enumerate(trial[1:]):
                    sim.load_partition(k, blob)
                    sim.run_partition(k)
                codes["ACCEPTED"] += 1
            except TAError as err:
                codes[err.name] += 1
    print(dict(codes))
    assert codes["ACCEPTED"] == 0, codes
