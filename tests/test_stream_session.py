"""The TA's stream session protocol (onnx_tee_ta.h): pinned bodies, OT_CMD_INFER and its refusals.

- a pinned body is loaded once: loading it again is refused, and once every body is pinned and
  loaded one OT_CMD_INFER does a whole inference (one invocation, the single-command result);
- OT_CMD_INFER is refused while a body is streamed or not loaded (OT_ERR_NOT_RESIDENT), with
  sealed I/O (OT_ERR_IO_SEALED), with inputs of the wrong size (TEE_ERROR_BAD_PARAMETERS), and
  answers the size needed to a short output buffer before running anything;
- nothing of an inference survives into the next: inputs written by OT_CMD_INFER are wiped, so a
  later inference of single commands still needs every input;
- a manifest that pins a body where another partition's staging buffer or an I/O slot lies is
  refused at open (OT_ERR_MANIFEST_FORMAT).
"""
from __future__ import annotations

import ctypes

import numpy as np
import pytest

from onnx_tee.passes.lower import format as fmt
from onnx_tee.passes.lower.envelope import PartitionBody, TensorSlot, open_blob, seal_model
from onnx_tee.passes.lower.keys import generate_key
from onnx_tee.passes.lower.sealed_io import SealedChannel
from onnx_tee.passes.lower.sim import Simulator, _Traffic
from test_security_ta_findings import N, SMALL_REGION, bundle, opened_adder, refusal, seal_adder, vec


def invocations(sim) -> int:
    traffic = _Traffic()
    sim.lib.ot_sim_traffic(ctypes.byref(traffic))
    return int(traffic.invocations)


def single_inference(sim, blobs, a, b, load=True):
    sim.write_input(0, a)
    sim.write_input(1, b)
    if load:
        sim.load_partition(0, blobs[0], 1024)
    sim.run_partition(0)
    return np.frombuffer(sim.read_output(0, N * 4), np.float32)


def test_pinned_body_loads_once_then_one_command_per_inference(tmp_path):
    with opened_adder(tmp_path) as (sim, blobs, key):
        assert refusal(lambda: sim.infer(vec(0).tobytes() + vec(1).tobytes(), N * 4, 1)) == "OT_ERR_NOT_RESIDENT"
        first = single_inference(sim, blobs, vec(0), vec(1))
        np.testing.assert_array_equal(first, (vec(0) + vec(1))[0])
        sim.write_input(0, vec(10))
        sim.write_input(1, vec(11))
        assert refusal(lambda: sim.load_partition(0, blobs[0], 1024)) == "OT_ERR_STATE"   # stays loaded
        np.testing.assert_array_equal(single_inference(sim, blobs, vec(10), vec(11), load=False),
                                      (vec(10) + vec(11))[0])
        for seed in (2, 4, 6):
            before = invocations(sim)
            raw, touched = sim.infer(vec(seed).tobytes() + vec(seed + 1).tobytes(), N * 4, 1)
            assert invocations(sim) - before == 1 and len(touched) == 1 and touched[0] > 0
            np.testing.assert_array_equal(np.frombuffer(raw, np.float32), (vec(seed) + vec(seed + 1))[0])
        # single commands still work on the resident body, and take nothing from the last OT_CMD_INFER
        sim.write_input(0, vec(8))
        assert refusal(lambda: sim.run_partition(0)) == "OT_ERR_INPUT_MISSING"
        sim.write_input(1, vec(9))
        sim.run_partition(0)
        np.testing.assert_array_equal(np.frombuffer(sim.read_output(0, N * 4), np.float32), (vec(8) + vec(9))[0])
        assert refusal(lambda: sim.read_output(0, N * 4)) == "OT_ERR_OUTPUT_READ"


def test_infer_refusals(tmp_path):
    with opened_adder(tmp_path) as (sim, blobs, key):
        single_inference(sim, blobs, vec(0), vec(1))
        assert refusal(lambda: sim.infer(vec(0).tobytes(), N * 4, 1)) == "TEE_ERROR_BAD_PARAMETERS"
        assert refusal(lambda: sim.infer(vec(0).tobytes() + vec(1).tobytes(), N * 4 - 4, 1)) == "TEE_ERROR_SHORT_BUFFER"
        raw, _ = sim.infer(vec(2).tobytes() + vec(3).tobytes(), N * 4, 1)   # the refusals ran nothing
        np.testing.assert_array_equal(np.frombuffer(raw, np.float32), (vec(2) + vec(3))[0])
        SealedChannel(key, sim.open_io_session())
        assert refusal(lambda: sim.infer(vec(0).tobytes() + vec(1).tobytes(), N * 4, 1)) == "OT_ERR_IO_SEALED"


def test_streamed_bodies_are_never_one_command(tmp_path):
    with opened_adder(tmp_path, parts=2) as (sim, blobs, key):
        for seed in (0, 2):
            sim.write_input(0, vec(seed))
            sim.write_input(1, vec(seed + 1))
            for k in range(2):
                sim.load_partition(k, blobs[k], 1024)   # loaded again every inference: not pinned
                sim.run_partition(k)
            sim.read_output(0, N * 4)
            assert refusal(lambda: sim.infer(vec(0).tobytes() + vec(1).tobytes(), N * 4, 1)) == "OT_ERR_NOT_RESIDENT"


@pytest.mark.parametrize("body_offset, what", [(8192, "on partition 0's staging buffer"),
                                               (0, "on the input slots")])
def test_a_pinned_body_where_others_write_is_refused_at_open(tmp_path, body_offset, what):
    key = generate_key()
    device = tmp_path / "adder2"
    seal_adder(device, key, parts=2)
    # re-seal the same two bodies with partition 1 pinned at `body_offset`
    _, blobs = bundle(device)
    bodies = [open_blob(b, key)[1] for b in blobs]
    offsets = [4096, body_offset]
    seal_model([PartitionBody(body, off, 8192, 8192 + 1024, pinned=k == 1) for k, (body, off)
                in enumerate(zip(bodies, offsets))], key=key, out_dir=tmp_path / "bad", region_bytes=SMALL_REGION,
               staging_bytes=1024,
               inputs=[TensorSlot(0, N * 4, 1, (1, N)), TensorSlot(64, N * 4, 1, (1, N))],
               outputs=[TensorSlot(256, N * 4, 1, (1, N))], format_version=fmt.VERSION, model_id=b"two-input adder!")
    manifest, _ = bundle(tmp_path / "bad")
    with Simulator(tmp_path / "dev", budget=SMALL_REGION) as sim:
        sim.provision_key(key)
        assert refusal(lambda: sim.open_model(manifest)) == "OT_ERR_MANIFEST_FORMAT", what
