"""Regression tests of the TA against a hostile normal world (findings F1, F2, F3, F5, F6 of the outside
review), in the simulator; tests/test_security_sanitizers.py runs them again under ASan + UBSan.

F5  a manifest whose input slot lies over partition 0's body: WRITE_INPUT after validation rewrote
    the tensor table and RUN overflowed the heap.  Refused at OPEN_MODEL now (plan check: every slot
    against the bodies and buffers it meets), and the loaded body is validated again at RUN.
F6  on a device-key TA the normal world provisioned a key of its own and ran manifests it wrote:
    a TA build takes one key source; the other mode's commands and key source are refused.
F3  enrolment handed the device key out in the clear, "once" by a marker in secure storage that a
    REE-FS normal world can delete: the key now leaves the TA only RSA-OAEP-wrapped for the vendor.
F1  a new inference ran with only some of its inputs written (stale bytes of the previous inference
    in the others): every input is required, the region is wiped between inferences.
F2  sealed I/O: a plain input written before OPEN_IO_SESSION survived into the sealed session, and
    an output could be sealed again and again (each under a new counter), so the sink could be handed
    model(x_attacker) or an old answer: a session starts a fresh inference, an output is read once,
    and a sealed output carries the digest of the sealed inputs it was computed from.
"""
from __future__ import annotations

import contextlib
import struct

import numpy as np
import pytest

from onnx_tee.passes.lower import format as fmt
from onnx_tee.passes.lower.envelope import MANIFEST_FILE, PartitionBody, TensorSlot, blob_file_name, seal_model
from onnx_tee.passes.lower.keys import generate_key, unwrap_device_key, vendor_modulus
from onnx_tee.passes.lower.sealed_io import OVERHEAD, SealedChannel
from onnx_tee.passes.lower.sim import KEY_DEVICE, KEY_PROVISIONED, Simulator, TAError
from ta_bundles import (BODY_OFFSET, CHUNK, IN_DIM, OUT_DIM, REGION, STAGING_OFFSET, X_OFFSET, Y_OFFSET,
                        MLP, dev_vendor_key, seal_mlp)


def bundle(device):
    count = sum(1 for _ in device.glob("partition_*.blob"))
    return (device / MANIFEST_FILE).read_bytes(), [(device / blob_file_name(k)).read_bytes() for k in range(count)]


def refusal(action) -> str:
    with pytest.raises(TAError) as err:
        action()
    return err.value.name


# ---- F5: slots against bodies ------------------------------------------------------------------

TENSOR_TABLE = 64            # the body's tensor table starts right after its 64-byte header
TENSOR_DESC = 48
H_OUT = 4                    # partition 0's Relu output (tests/ta_bundles.py)


def f5_bundle(tmp_path, key, mlp):
    """The review's layout: body 0 declares no model input, the manifest's input slot lies over body 0's
    tensor table (legal for the old plan check, which compared only slots a body declares)."""
    bodies = [bytearray(b) for b in mlp.bodies()]
    struct.pack_into("<B", bodies[0], TENSOR_TABLE + 3, fmt.TFLAG_PARTITION_INPUT)   # x: no MODEL_INPUT flag
    parts = [PartitionBody(bytes(b), BODY_OFFSET, STAGING_OFFSET, STAGING_OFFSET + CHUNK, len(bodies) == 1)
             for b in bodies]
    slot = TensorSlot(BODY_OFFSET + TENSOR_TABLE, IN_DIM * 4, 1, (1, IN_DIM))
    seal_model(parts, key=key, out_dir=tmp_path / "f5", region_bytes=REGION, staging_bytes=CHUNK, inputs=[slot],
               outputs=[TensorSlot(Y_OFFSET, OUT_DIM * 4, 1, (1, OUT_DIM))], format_version=fmt.VERSION,
               model_id=b"f5-slot-on-body!")
    # the input bytes: body 0's tensor table with the Relu output moved onto the body itself
    payload = bytearray(bodies[0][TENSOR_TABLE:TENSOR_TABLE + IN_DIM * 4])
    struct.pack_into("<I", payload, H_OUT * TENSOR_DESC + 8, BODY_OFFSET)
    return bundle(tmp_path / "f5"), np.frombuffer(bytes(payload), np.float32).reshape(1, IN_DIM)


def test_f5_input_slot_over_a_body_is_refused_at_open(tmp_path):
    key, mlp = generate_key(), MLP.random(3)
    (manifest, blobs), payload = f5_bundle(tmp_path, key, mlp)

    def attack():
        sim.open_model(manifest)
        sim.load_partition(0, blobs[0], CHUNK)
        sim.write_input(0, payload)          # rewrites the validated tensor table
        sim.run_partition(0)

    with Simulator(tmp_path / "dev", budget=REGION) as sim:
        sim.provision_key(key)
        assert refusal(attack) == "OT_ERR_MANIFEST_FORMAT"


@pytest.mark.parametrize("where", ["body-0", "staging-0", "other-input"])
def test_f5_plan_check_covers_every_slot(tmp_path, where):
    key, mlp = generate_key(), MLP.random(3)
    parts = [PartitionBody(b, BODY_OFFSET, STAGING_OFFSET, STAGING_OFFSET + CHUNK) for b in mlp.bodies()]
    x = TensorSlot(X_OFFSET, IN_DIM * 4, 1, (1, IN_DIM))
    inputs = {"body-0": [TensorSlot(BODY_OFFSET + 4096, 64, 1, (16,))],
              "staging-0": [TensorSlot(STAGING_OFFSET + 64, 64, 1, (16,))],
              "other-input": [x, TensorSlot(X_OFFSET + 128, 256, 1, (64,))]}[where]
    outputs = [TensorSlot(Y_OFFSET, OUT_DIM * 4, 1, (1, OUT_DIM))]
    seal_model(parts, key=key, out_dir=tmp_path / where, region_bytes=REGION, staging_bytes=CHUNK, inputs=inputs,
               outputs=outputs, format_version=fmt.VERSION, model_id=b"f5-plan-check!!!")
    manifest, _ = bundle(tmp_path / where)
    with Simulator(tmp_path / "dev", budget=REGION) as sim:
        sim.provision_key(key)
        assert refusal(lambda: sim.open_model(manifest)) == "OT_ERR_MANIFEST_FORMAT"


def test_f5_output_slot_over_the_last_body_is_refused(tmp_path):
    key, mlp = generate_key(), MLP.random(3)
    parts = [PartitionBody(b, BODY_OFFSET, STAGING_OFFSET, STAGING_OFFSET + CHUNK) for b in mlp.bodies()]
    seal_model(parts, key=key, out_dir=tmp_path / "o", region_bytes=REGION, staging_bytes=CHUNK,
               inputs=[TensorSlot(X_OFFSET, IN_DIM * 4, 1, (1, IN_DIM))],
               outputs=[TensorSlot(BODY_OFFSET + 1024, 4096, 1, (1024,))], format_version=fmt.VERSION,
               model_id=b"f5-output-slot!!")
    manifest, _ = bundle(tmp_path / "o")
    with Simulator(tmp_path / "dev", budget=REGION) as sim:
        sim.provision_key(key)
        assert refusal(lambda: sim.open_model(manifest)) == "OT_ERR_MANIFEST_FORMAT"


# ---- F6: one key source per TA build ------------------------------------------------------------

def test_f6_device_key_ta_takes_no_provisioned_key(tmp_path):
    """The review's first step: on a device-key TA the normal world provisions its own key, then seals
    the F5 manifest with it.  Provisioning and the provisioned key source are both refused."""
    key, mlp = generate_key(), MLP.random(3)
    (manifest, _), _ = f5_bundle(tmp_path, key, mlp)
    with Simulator(tmp_path / "phone", budget=REGION, key_mode="device") as sim:
        assert refusal(lambda: sim.provision_key(key)) == "OT_ERR_KEY_MODE"
        assert refusal(lambda: sim.open_model(manifest, KEY_PROVISIONED)) == "OT_ERR_KEY_MODE"
        assert refusal(lambda: sim.open_model(manifest, KEY_DEVICE)) == "OT_ERR_MANIFEST_AUTH"


def test_f6_provisioned_key_ta_takes_no_device_key(tmp_path):
    key, mlp = generate_key(), MLP.random(3)
    manifest, _ = bundle(seal_mlp(mlp, tmp_path / "b", key))
    with Simulator(tmp_path / "dev", budget=REGION, vendor_modulus=vendor_modulus(dev_vendor_key())) as sim:
        sim.provision_key(key)
        assert refusal(lambda: sim.open_model(manifest, KEY_DEVICE)) == "OT_ERR_KEY_MODE"
        assert refusal(sim.enrol_device) == "OT_ERR_KEY_MODE"


# ---- F3: the device key never leaves in the clear ------------------------------------------------

def test_f3_enrolment_wraps_the_device_key_for_the_vendor(tmp_path):
    vendor = dev_vendor_key()
    storage, trace = tmp_path / "phone", tmp_path / "shared-memory.log"
    with Simulator(storage, budget=REGION, key_mode="device", vendor_modulus=vendor_modulus(vendor),
                   trace=trace) as sim:
        first = sim.enrol_device()
        # the review's attack: delete (or restore) the REE-FS storage objects, ask again
        for obj in storage.iterdir():
            if obj.name != "huk.bin":
                obj.unlink()
        second = sim.enrol_device()
    device_key = unwrap_device_key(vendor, first)
    assert unwrap_device_key(vendor, second) == device_key
    assert first != second                      # OAEP is randomised
    crossed = trace.read_bytes()
    assert first in crossed and device_key not in crossed
    assert all(device_key[i:i + 8] not in crossed for i in range(0, 25, 8))


def test_f3_no_enrolment_without_a_vendor_key(tmp_path):
    with Simulator(tmp_path / "phone", budget=REGION, key_mode="device") as sim:
        assert refusal(sim.enrol_device) == "OT_ERR_NO_KEY"


# ---- F1: every input, every inference; the region wiped ------------------------------------------

N = 16
A_OFFSET, B_OFFSET, SUM_OFFSET = 0, 64, 128
SMALL_REGION, SMALL_BODY, SMALL_STAGING = 16 * 1024, 4096, 8192


def seal_adder(device, key, *, parts: int = 1):
    """y = a + b (two model inputs), one partition; with parts=2 a second partition copies y on."""
    region = fmt.LOC_REGION
    a = fmt.Tensor((1, N), region, A_OFFSET, fmt.TFLAG_PARTITION_INPUT | fmt.TFLAG_MODEL_INPUT, 0)
    b = fmt.Tensor((1, N), region, B_OFFSET, fmt.TFLAG_PARTITION_INPUT | fmt.TFLAG_MODEL_INPUT, 1)
    out_flags = fmt.TFLAG_PARTITION_OUTPUT | (fmt.TFLAG_MODEL_OUTPUT if parts == 1 else 0)
    y = fmt.Tensor((1, N), region, SUM_OFFSET, out_flags, 0)
    bodies = [fmt.serialize(fmt.Body(0, parts, [a, b, y], [fmt.Op(fmt.OP_CODES["ADD"], [0, 1], [2])], {},
                                     region_size=SMALL_REGION, scratch_offset=1024, scratch_size=0))]
    out_offset = SUM_OFFSET
    if parts == 2:
        out_offset = 256
        y_in = fmt.Tensor((1, N), region, SUM_OFFSET, fmt.TFLAG_PARTITION_INPUT)
        z = fmt.Tensor((1, N), region, out_offset, fmt.TFLAG_PARTITION_OUTPUT | fmt.TFLAG_MODEL_OUTPUT, 0)
        bodies.append(fmt.serialize(fmt.Body(1, 2, [y_in, z], [fmt.Op(fmt.OP_CODES["RELU"], [0], [1])], {},
                                             region_size=SMALL_REGION, scratch_offset=1024, scratch_size=0)))
    seal_model([PartitionBody(body, SMALL_BODY, SMALL_STAGING, SMALL_STAGING + 1024, len(bodies) == 1)
                for body in bodies], key=key,
               out_dir=device, region_bytes=SMALL_REGION, staging_bytes=1024,
               inputs=[TensorSlot(A_OFFSET, N * 4, 1, (1, N)), TensorSlot(B_OFFSET, N * 4, 1, (1, N))],
               outputs=[TensorSlot(out_offset, N * 4, 1, (1, N))], format_version=fmt.VERSION,
               model_id=b"two-input adder!")
    return bundle(device)


@contextlib.contextmanager
def opened_adder(tmp_path, *, parts: int = 1):
    """A simulated device with a provisioned key that has opened the adder model: (sim, blobs, key)."""
    key = generate_key()
    manifest, blobs = seal_adder(tmp_path / ("adder2" if parts == 2 else "adder"), key, parts=parts)
    with Simulator(tmp_path / "dev", budget=SMALL_REGION) as sim:
        sim.provision_key(key)
        sim.open_model(manifest)
        yield sim, blobs, key


def vec(seed):
    return np.random.default_rng(seed).standard_normal((1, N)).astype(np.float32)


def test_f1_every_input_is_required_in_every_inference(tmp_path):
    with opened_adder(tmp_path) as (sim, blobs, key):
        sim.write_input(0, vec(0))
        assert refusal(lambda: (sim.load_partition(0, blobs[0], 1024), sim.run_partition(0))) \
            == "OT_ERR_INPUT_MISSING"
        sim.write_input(1, vec(1))
        sim.run_partition(0)
        np.testing.assert_array_equal(np.frombuffer(sim.read_output(0, N * 4), np.float32), (vec(0) + vec(1))[0])
        # the next inference, with only input 0: refused, not run on the last inference's input 1
        sim.write_input(0, vec(2))
        assert refusal(lambda: sim.run_partition(0)) == "OT_ERR_INPUT_MISSING"
        sim.write_input(1, vec(3))
        sim.run_partition(0)
        np.testing.assert_array_equal(np.frombuffer(sim.read_output(0, N * 4), np.float32), (vec(2) + vec(3))[0])


def test_f1_two_partitions_each_inference_complete(tmp_path):
    with opened_adder(tmp_path, parts=2) as (sim, blobs, key):
        for seed in (0, 2):
            sim.write_input(0, vec(seed))
            sim.write_input(1, vec(seed + 1))
            for k in range(2):
                sim.load_partition(k, blobs[k], 1024)
                sim.run_partition(k)
            got = np.frombuffer(sim.read_output(0, N * 4), np.float32)
            np.testing.assert_array_equal(got, np.maximum(vec(seed) + vec(seed + 1), 0)[0])
        sim.write_input(0, vec(4))
        sim.load_partition(0, blobs[0], 1024)
        assert refusal(lambda: sim.run_partition(0)) == "OT_ERR_INPUT_MISSING"


def test_f1_each_output_read_once_per_inference(tmp_path):
    with opened_adder(tmp_path) as (sim, blobs, key):
        sim.write_input(0, vec(0))
        sim.write_input(1, vec(1))
        sim.load_partition(0, blobs[0], 1024)
        sim.run_partition(0)
        sim.read_output(0, N * 4)
        assert refusal(lambda: sim.read_output(0, N * 4)) == "OT_ERR_OUTPUT_READ"
        assert refusal(lambda: sim.read_topk(0, 3)) == "OT_ERR_OUTPUT_READ"


# ---- F2: sealed I/O sessions ---------------------------------------------------------------------

def test_f2_plain_input_does_not_survive_into_a_sealed_session(tmp_path):
    with opened_adder(tmp_path) as (sim, blobs, key):
        sim.write_input(0, vec(7))            # the attacker's x, in clear
        sim.write_input(1, vec(8))
        sim.load_partition(0, blobs[0], 1024)
        channel = SealedChannel(key, sim.open_io_session())
        sim.write_input_sealed(0, channel.seal_input(0, vec(0).tobytes()))
        assert refusal(lambda: sim.run_partition(0)) == "OT_ERR_INPUT_MISSING"
        sim.write_input_sealed(1, channel.seal_input(1, vec(1).tobytes()))
        sim.run_partition(0)
        out = channel.open_output(0, sim.read_output_sealed(0, N * 4))
        np.testing.assert_array_equal(np.frombuffer(out, np.float32), (vec(0) + vec(1))[0])


def test_f2_a_sealed_output_is_read_once_and_bound_to_its_inputs(tmp_path):
    """The review's attack: seal the same output again and again, so that a counter the sink expects for
    a later request carries an old answer.  The second read is refused; and an output sealed for one
    inference does not open as the answer to another."""
    with opened_adder(tmp_path) as (sim, blobs, key):
        channel = SealedChannel(key, sim.open_io_session())
        sim.write_input_sealed(0, channel.seal_input(0, vec(0).tobytes()))
        sim.write_input_sealed(1, channel.seal_input(1, vec(1).tobytes()))
        sim.load_partition(0, blobs[0], 1024)
        sim.run_partition(0)
        first = sim.read_output_sealed(0, N * 4)
        assert refusal(lambda: sim.read_output_sealed(0, N * 4)) == "OT_ERR_OUTPUT_READ"
        channel.open_output(0, first)
    # a sink that sealed other inputs (same session nonce and counters) refuses that output
    other = SealedChannel(key, channel.session_nonce)
    other.seal_input(0, vec(5).tobytes())
    other.seal_input(1, vec(6).tobytes())
    with pytest.raises(Exception, match="not authentic"):
        other.open_output(0, first)


def test_f2_sealed_round_trip_over_several_inferences(tmp_path):
    with opened_adder(tmp_path) as (sim, blobs, key):
        channel = SealedChannel(key, sim.open_io_session())
        for seed in (0, 2, 4):
            sim.write_input_sealed(0, channel.seal_input(0, vec(seed).tobytes()))
            sim.write_input_sealed(1, channel.seal_input(1, vec(seed + 1).tobytes()))
            if seed == 0:
                sim.load_partition(0, blobs[0], 1024)
            sim.run_partition(0)
            out = channel.open_output(0, sim.read_output_sealed(0, N * 4))
            np.testing.assert_array_equal(np.frombuffer(out, np.float32), (vec(seed) + vec(seed + 1))[0])
        assert len(out) + OVERHEAD == N * 4 + OVERHEAD
