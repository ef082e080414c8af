"""No plaintext weight bytes in the deployable bundle or in anything that crosses shared memory.

Every 32-byte window of every weight tensor (at a 32-byte stride) is searched for in each file of
`device/` and in the log of all bytes the simulated normal world handed to or got from the TA.
The same search finds the windows in the plaintext bodies, so it is able to find them.
"""
from __future__ import annotations

import numpy as np

from onnx_tee.passes.lower.keys import generate_key
from onnx_tee.passes.lower.sim import Simulator
from ta_bundles import IN_DIM, REGION, MLP, seal_mlp

WINDOW = 32


def windows(weights: list[bytes]) -> list[bytes]:
    return [w[i:i + WINDOW] for w in weights for i in range(0, len(w) - WINDOW + 1, WINDOW)]


def found(patterns: list[bytes], haystack: bytes) -> int:
    return sum(p in haystack for p in patterns)


def test_no_weight_bytes_in_device_bundle_or_shared_memory(tmp_path):
    key = generate_key()
    mlp = MLP.random(11)
    device = seal_mlp(mlp, tmp_path / "device", key)
    patterns = windows(mlp.weight_bytes())
    assert len(patterns) > 1000
    assert found(patterns, b"".join(mlp.bodies())) == len(patterns)   # the search works

    for path in sorted(device.iterdir()):
        assert found(patterns, path.read_bytes()) == 0, path.name

    trace = tmp_path / "shared-memory.log"
    x = np.random.default_rng(0).standard_normal((1, IN_DIM)).astype(np.float32)
    with Simulator(tmp_path / "storage", budget=REGION, trace=trace) as sim:
        sim.provision_key(key)
        (y,), stats = sim.run_bundle(device, [x])
    crossed = trace.read_bytes()
    assert len(crossed) == stats.bytes_in + stats.bytes_out + 32   # + the provisioned key
    assert found(patterns, crossed) == 0
    assert y.tobytes() in crossed and x.tobytes() in crossed        # what the caller asked for did cross
