"""The TA refuses every altered, incomplete, reordered, swapped or older model, each with its own code."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from onnx_tee.passes.lower import format as fmt
from onnx_tee.passes.lower.envelope import (BLOB_HEADER, MANIFEST_FILE, PartitionBody, TensorSlot, blob_file_name,
                                   open_blob, seal_model)
from onnx_tee.passes.lower.keys import generate_key, unwrap_device_key, vendor_modulus
from onnx_tee.passes.lower.sim import KEY_DEVICE, Simulator, TAError
from ta_bundles import (BODY_OFFSET, CHUNK, IN_DIM, REGION, STAGING_OFFSET, MLP, X_OFFSET, Y_OFFSET, seal_mlp,
                        dev_vendor_key)

X = np.linspace(-1, 1, IN_DIM, dtype=np.float32).reshape(1, IN_DIM)


def read_bundle(device):
    return ((device / MANIFEST_FILE).read_bytes(),
            [(device / blob_file_name(k)).read_bytes() for k in range(2)])


def run(sim, manifest, blobs, *, key_source=1):
    """One inference from raw bytes; returns the output or raises TAError."""
    sim.open_model(manifest, key_source)
    sim.write_input(0, X)
    for k, blob in enumerate(blobs):
        sim.load_partition(k, blob, CHUNK)
        sim.run_partition(k)
    return np.frombuffer(sim.read_output(0, 40), np.float32)


def refused(sim, manifest, blobs, **kw) -> str:
    with pytest.raises(TAError) as err:
        run(sim, manifest, blobs, **kw)
    return err.value.name


@pytest.fixture
def vendor_key():
    return dev_vendor_key()


@pytest.fixture
def key():
    return generate_key()


@pytest.fixture
def model(tmp_path, key):
    mlp = MLP.random(1)
    return mlp, read_bundle(seal_mlp(mlp, tmp_path / "v1", key))


@pytest.fixture
def sim(tmp_path, key):
    with Simulator(tmp_path / "device-storage", budget=REGION) as sim:
        sim.provision_key(key)
        yield sim


def flip(data: bytes, index: int, bit: int = 0) -> bytes:
    out = bytearray(data)
    out[index] ^= 1 << bit
    return bytes(out)


def test_authentic_model_runs(sim, model):
    mlp, (manifest, blobs) = model
    np.testing.assert_allclose(run(sim, manifest, blobs), mlp.reference(X)[0], rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("where", ["ciphertext", "tag", "nonce", "aad_size_field"])
def test_tampered_blob(sim, model, where):
    _, (manifest, blobs) = model
    blob = blobs[1]
    index = {"ciphertext": BLOB_HEADER.size + 100, "tag": len(blob) - 1, "nonce": 64,
             "aad_size_field": 60}[where]   # 56..63 = region size: authenticated, checked only by the tag
    name = refused(sim, manifest, [blobs[0], flip(blob, index)])
    assert name in {"OT_ERR_BLOB_AUTH", "OT_ERR_NOT_IN_MANIFEST"}
    if where != "aad_size_field":
        assert name == "OT_ERR_BLOB_AUTH"


def test_truncated_blob(sim, model):
    _, (manifest, blobs) = model
    assert refused(sim, manifest, [blobs[0][:-20], blobs[1]]) == "OT_ERR_TRUNCATED"


def test_truncated_model(sim, model):
    _, (manifest, blobs) = model
    sim.open_model(manifest)
    sim.write_input(0, X)
    sim.load_partition(0, blobs[0], CHUNK)
    sim.run_partition(0)
    with pytest.raises(TAError) as err:
        sim.read_output(0, 40)
    assert err.value.name == "OT_ERR_TRUNCATED"


def test_overlong_blob(sim, model):
    _, (manifest, blobs) = model
    assert refused(sim, manifest, [blobs[0] + b"\0" * 16, blobs[1]]) == "OT_ERR_BLOB_FORMAT"


def test_reordered_partitions(sim, model):
    _, (manifest, blobs) = model
    assert refused(sim, manifest, [blobs[1], blobs[0]]) == "OT_ERR_REORDERED"


def test_partition_run_twice_or_skipped(sim, model):
    _, (manifest, blobs) = model
    sim.open_model(manifest)
    sim.write_input(0, X)
    sim.load_partition(0, blobs[0], CHUNK)
    sim.run_partition(0)
    for attempt in (lambda: sim.run_partition(0), lambda: sim.run_partition(1)):
        with pytest.raises(TAError) as err:
            attempt()
        assert err.value.name in {"OT_ERR_REORDERED", "OT_ERR_TRUNCATED"}


def test_swapped_between_models(tmp_path, sim, model, key):
    _, (manifest, blobs) = model
    _, other_blobs = read_bundle(seal_mlp(MLP.random(2), tmp_path / "other", key, model_id=b"another-model-id"))
    assert refused(sim, manifest, [blobs[0], other_blobs[1]]) == "OT_ERR_SWAPPED"


def test_mixed_builds_of_one_model(tmp_path, sim, model, key):
    """Same model id and version, other weights: the blob tag the manifest lists tells the builds apart."""
    _, (manifest, blobs) = model
    _, rebuilt = read_bundle(seal_mlp(MLP.random(9), tmp_path / "rebuild", key))
    assert refused(sim, manifest, [blobs[0], rebuilt[1]]) == "OT_ERR_NOT_IN_MANIFEST"


def test_rollback_of_the_model(tmp_path, sim, model, key):
    _, (manifest_v1, blobs_v1) = model
    manifest_v2, blobs_v2 = read_bundle(seal_mlp(MLP.random(4), tmp_path / "v2", key, model_version=2))
    run(sim, manifest_v2, blobs_v2)                  # the device has now seen version 2
    assert refused(sim, manifest_v1, blobs_v1) == "OT_ERR_ROLLBACK"
    # an old partition under the new manifest
    assert refused(sim, manifest_v2, [blobs_v2[0], blobs_v1[1]]) == "OT_ERR_ROLLBACK"


def test_rollback_counter_survives_the_session(tmp_path, key, model):
    _, (manifest_v1, blobs_v1) = model
    manifest_v3, blobs_v3 = read_bundle(seal_mlp(MLP.random(4), tmp_path / "v3", key, model_version=3))
    storage = tmp_path / "persistent-device"
    with Simulator(storage, budget=REGION) as first:
        first.provision_key(key)
        run(first, manifest_v3, blobs_v3)
    with Simulator(storage, budget=REGION) as second:   # a new session on the same device
        assert refused(second, manifest_v1, blobs_v1) == "OT_ERR_ROLLBACK"


def test_tampered_manifest(sim, model):
    _, (manifest, blobs) = model
    # flip a planned offset: structurally fine, but not authentic
    assert refused(sim, flip(manifest, 80 + 16), blobs) == "OT_ERR_MANIFEST_AUTH"
    assert refused(sim, flip(manifest, len(manifest) - 3), blobs) == "OT_ERR_MANIFEST_AUTH"
    assert refused(sim, manifest[:-1], blobs) == "OT_ERR_MANIFEST_FORMAT"


def test_other_key(tmp_path, model):
    _, (manifest, blobs) = model
    with Simulator(tmp_path / "stranger", budget=REGION) as sim:
        sim.provision_key(generate_key())
        assert refused(sim, manifest, blobs) == "OT_ERR_MANIFEST_AUTH"


def test_blob_sealed_under_another_key_with_an_authentic_manifest(tmp_path, sim, model, key):
    """A blob sealed with another key can only be refused by its tag."""
    _, (manifest, blobs) = model
    _, foreign = read_bundle(seal_mlp(MLP.random(1), tmp_path / "foreign", generate_key()))
    assert refused(sim, manifest, [blobs[0], foreign[1]]) == "OT_ERR_BLOB_AUTH"


def test_authentic_but_malformed_body(tmp_path, sim, key):
    """Decryption succeeds, the validator refuses: OT_ERR_BODY_INVALID with its status as detail."""
    bodies = MLP.random(1).bodies()
    broken = bytearray(bodies[1])
    struct.pack_into("<I", broken, 0, 0xDEADBEEF)        # body magic
    parts = [PartitionBody(b, BODY_OFFSET, STAGING_OFFSET, STAGING_OFFSET + CHUNK) for b in (bodies[0], broken)]
    seal_model(parts, key=key, out_dir=tmp_path / "bad", region_bytes=REGION, staging_bytes=CHUNK,
               inputs=[TensorSlot(X_OFFSET, IN_DIM * 4, 1, (1, IN_DIM))],
               outputs=[TensorSlot(Y_OFFSET, 40, 1, (1, 10))], format_version=fmt.VERSION,
               model_id=b"malformed-body-0")
    manifest, blobs = read_bundle(tmp_path / "bad")
    with pytest.raises(TAError) as err:
        run(sim, manifest, blobs)
    assert err.value.name == "OT_ERR_BODY_INVALID" and err.value.detail == 4   # RT_ERR_MAGIC


def test_key_is_provisioned_once(sim, key):
    with pytest.raises(TAError) as err:
        sim.provision_key(generate_key())
    assert err.value.name == "OT_ERR_ALREADY_PROVISIONED"


def test_no_key_on_a_fresh_device(tmp_path, model):
    _, (manifest, blobs) = model
    with Simulator(tmp_path / "fresh", budget=REGION) as sim:
        assert refused(sim, manifest, blobs) == "OT_ERR_NO_KEY"


def test_device_bound_key(tmp_path, vendor_key):
    """Enrol (the key comes out wrapped for the vendor), encrypt for that device; another device (another
    hardware key) cannot open it."""
    mlp = MLP.random(6)
    modulus = vendor_modulus(vendor_key)
    with Simulator(tmp_path / "phone", budget=REGION, key_mode="device", vendor_modulus=modulus) as sim:
        wrapped = sim.enrol_device()
        device_key = unwrap_device_key(vendor_key, wrapped)
        assert device_key not in wrapped
        manifest, blobs = read_bundle(seal_mlp(mlp, tmp_path / "for-phone", device_key))
        np.testing.assert_allclose(run(sim, manifest, blobs, key_source=KEY_DEVICE), mlp.reference(X)[0],
                                   rtol=1e-5, atol=1e-4)
    with Simulator(tmp_path / "other-phone", budget=REGION, key_mode="device", vendor_modulus=modulus) as other:
        assert refused(other, manifest, blobs, key_source=KEY_DEVICE) == "OT_ERR_MANIFEST_AUTH"


def test_python_side_opens_what_it_sealed(model, key):
    mlp, (_, blobs) = model
    header, body = open_blob(blobs[0], key)
    assert header["partition_index"] == 0 and header["partition_count"] == 2
    assert body == mlp.bodies()[0]
