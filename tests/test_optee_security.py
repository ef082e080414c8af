"""The TA's refusals, sealed I/O and secure storage in a real OP-TEE secure world (QEMU, optee-kit).

Two boots of one emulated device whose secure storage (OP-TEE's REE FS) is kept between them:

boot 1  no key yet -> provision -> a second provisioning; the authentic two-partition model; a tampered
        ciphertext, a truncated blob, reordered partitions, a partition swapped in from another model, a
        partition of another build, a bundle sealed under another key; version 2, then a rollback to
        version 1 (whole model, and one old partition); sealed I/O (a trusted source/sink holding the
        key seals the input and opens the output; tampered, replayed, plain and session-less messages
        are refused); device-bound key enrolment (OP-TEE's system PTA), twice; still serving.
boot 2  the key and the rollback counter survived the reboot; a model sealed under the enrolled
        device-bound key (handed out in boot 1) runs with --key-source device.

Every refusal is a distinct TA result code, and the client's exit code is its class.

    pytest -m optee tests/test_optee_security.py
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from onnx_tee.passes.lower.envelope import BLOB_HEADER, blob_file_name
from onnx_tee.passes.lower.keys import generate_key
from onnx_tee.passes.lower.sim import Simulator
from optee_harness import CLIENT, EXIT, MiB, Guest, build_client, build_guest_tool, build_ta, require_kit, write_inputs
from ta_bundles import IN_DIM, MLP, REGION, seal_mlp

pytestmark = pytest.mark.optee

ROOT = Path(__file__).resolve().parent
BUDGET = 1 * MiB
X = np.linspace(-1, 1, IN_DIM, dtype=np.float32).reshape(1, IN_DIM)
SEALED = "sealed_source"

# case -> (result code, client exit class), in the order the guest runs them (boot 1)
REFUSALS = {
    "tampered-ciphertext": ("OT_ERR_BLOB_AUTH", "refused"),
    "truncated-blob": ("OT_ERR_TRUNCATED", "refused"),
    "reordered-partitions": ("OT_ERR_REORDERED", "refused"),
    "swapped-partition": ("OT_ERR_SWAPPED", "refused"),
    "partition-of-another-build": ("OT_ERR_NOT_IN_MANIFEST", "refused"),
    "wrong-key": ("OT_ERR_MANIFEST_AUTH", "refused"),
    "rollback-model": ("OT_ERR_ROLLBACK", "refused"),
    "rollback-partition": ("OT_ERR_ROLLBACK", "refused"),
    "second-provisioning": ("OT_ERR_ALREADY_PROVISIONED", "key"),
    "no-key-yet": ("OT_ERR_NO_KEY", "key"),
}
SEALED_REFUSALS = {
    "sealed-tampered": ("tamper", "OT_ERR_IO_AUTH"),
    "sealed-replayed": ("replay", "OT_ERR_IO_REPLAYED"),
    "sealed-plain-read": ("plain-read", "OT_ERR_IO_SEALED"),
    "sealed-plain-write": ("plain-write", "OT_ERR_IO_SEALED"),
    "sealed-no-session": ("no-session", "OT_ERR_IO_NO_SESSION"),
}


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _flip(path: Path, index: int) -> None:
    data = bytearray(path.read_bytes())
    data[index] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def device(tmp_path_factory):
    kit = require_kit()
    work = tmp_path_factory.mktemp("optee-security")
    ta = build_ta(BUDGET, kit)
    client = build_client(kit)
    sealed = build_guest_tool(SEALED, [ROOT / "c" / "sealed_source.c"], kit)
    key, stranger = generate_key(), generate_key()
    (work / "model.key").write_bytes(key)
    (work / "stranger.key").write_bytes(stranger)
    mlp1, mlp2 = MLP.random(1), MLP.random(4)
    v1 = seal_mlp(mlp1, work / "v1", key)
    v2 = seal_mlp(mlp2, work / "v2", key, model_version=2)
    other = seal_mlp(MLP.random(2), work / "other", key, model_id=b"another-model-id")
    rebuilt = seal_mlp(MLP.random(9), work / "rebuilt", key)
    foreign = seal_mlp(mlp1, work / "foreign", stranger)

    tampered = _copy(v1, work / "tampered")
    _flip(tampered / blob_file_name(1), BLOB_HEADER.size + 100)
    truncated = _copy(v1, work / "truncated")
    blob0 = truncated / blob_file_name(0)
    blob0.write_bytes(blob0.read_bytes()[:-20])
    reordered = _copy(v1, work / "reordered")
    a, b = reordered / blob_file_name(0), reordered / blob_file_name(1)
    a_bytes = a.read_bytes()
    a.write_bytes(b.read_bytes())
    b.write_bytes(a_bytes)
    swapped = _copy(v1, work / "swapped")
    shutil.copy(other / blob_file_name(1), swapped / blob_file_name(1))
    mixed = _copy(v1, work / "mixed")
    shutil.copy(rebuilt / blob_file_name(1), mixed / blob_file_name(1))
    old_partition = _copy(v2, work / "old-partition")
    shutil.copy(v1 / blob_file_name(1), old_partition / blob_file_name(1))
    x = write_inputs(work / "x.bin", [X])

    storage = work / "storage"
    guest = Guest(work / "boot1")
    g = guest.add
    guest.install_ta(ta)
    guest.case("no-key-yet", CLIENT, g(v1), g(x))
    guest.case("provision", CLIENT, "--provision", g(work / "model.key"))
    guest.case("second-provisioning", CLIENT, "--provision", g(work / "stranger.key"))
    guest.case("authentic-v1", CLIENT, g(v1), g(x))
    for name, bundle in (("tampered-ciphertext", tampered), ("truncated-blob", truncated),
                         ("reordered-partitions", reordered), ("swapped-partition", swapped),
                         ("partition-of-another-build", mixed), ("wrong-key", foreign)):
        guest.case(name, CLIENT, g(bundle), g(x))
    guest.case("authentic-v2", CLIENT, g(v2), g(x))
    guest.case("rollback-model", CLIENT, g(v1), g(x))
    guest.case("rollback-partition", CLIENT, g(old_partition), g(x))
    guest.case("sealed-ok", SEALED, "ok", g(work / "model.key"), g(v2), g(x))
    for name, (mode, _) in SEALED_REFUSALS.items():
        guest.case(name, SEALED, mode, g(work / "model.key"), g(v2), g(x))
    guest.case("enrol", CLIENT, "--enrol", "/kit/out/device.key")
    guest.case("enrol-again", CLIENT, "--enrol", "/kit/out/device-again.key")
    guest.case("still-serving", CLIENT, g(v2), g(x))
    out = work / "boot1-out"
    boot1 = guest.boot(client=client, tools={SEALED: sealed}, storage=storage, out=out, timeout=600)
    assert boot1.rc == 0 and boot1.cases, boot1.stderr[-4000:]

    # boot 2: the same device (its secure storage), and a model sealed for its device-bound key
    enrolled = (out / "device.key").read_bytes() if (out / "device.key").is_file() else None
    guest2 = Guest(work / "boot2")
    g = guest2.add
    guest2.install_ta(ta)
    guest2.case("reboot-authentic-v2", CLIENT, g(v2), g(x))
    guest2.case("reboot-rollback", CLIENT, g(v1), g(x))
    guest2.case("reboot-second-provisioning", CLIENT, "--provision", g(work / "stranger.key"))
    guest2.case("reboot-enrol-again", CLIENT, "--enrol", "/kit/out/device.key")
    mlp_device = MLP.random(11)
    if enrolled is not None:
        for_device = seal_mlp(mlp_device, work / "for-device", enrolled, model_id=b"device-bound-mlp")
        guest2.case("reboot-device-key", CLIENT, "--key-source", "device", g(for_device), g(x))
    boot2 = guest2.boot(client=client, storage=storage, timeout=600)
    assert boot2.rc == 0 and boot2.cases, boot2.stderr[-4000:]
    return dict(boot1=boot1, boot2=boot2, mlp1=mlp1, mlp2=mlp2, mlp_device=mlp_device, v1=v1, key=key,
                enrolled=enrolled, storage=storage)


def _output(run) -> np.ndarray:
    assert run.rc == 0, run.describe()
    (outs,) = run.outputs()
    return outs[0]


def test_authentic_model_matches_numpy_and_the_simulator(device, tmp_path):
    got = _output(device["boot1"]["authentic-v1"])
    np.testing.assert_allclose(got, device["mlp1"].reference(X)[0], rtol=1e-5, atol=1e-4)
    with Simulator(tmp_path / "sim", budget=REGION) as sim:
        sim.provision_key(device["key"])
        (simulated,), _ = sim.run_bundle(device["v1"], [X])
    np.testing.assert_allclose(got, simulated.reshape(-1), rtol=1e-6, atol=1e-6)
    assert device["boot1"]["provision"].rc == 0


@pytest.mark.parametrize("case", list(REFUSALS))
def test_refusal(device, case):
    code, exit_class = REFUSALS[case]
    run = device["boot1"][case]
    assert run.refusal() == code, run.describe()
    assert run.rc == EXIT[exit_class], run.describe()
    assert "output 0:" not in run.stdout


def test_each_attack_has_its_own_result_code(device):
    attacks = ["tampered-ciphertext", "truncated-blob", "reordered-partitions", "swapped-partition",
               "rollback-model", "wrong-key", "second-provisioning"]
    codes = [device["boot1"][case].refusal() for case in attacks]
    assert len(set(codes)) == len(codes), dict(zip(attacks, codes))


def test_secure_world_keeps_serving_after_refusals(device):
    np.testing.assert_allclose(_output(device["boot1"]["still-serving"]), device["mlp2"].reference(X)[0],
                               rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(_output(device["boot1"]["authentic-v2"]), device["mlp2"].reference(X)[0],
                               rtol=1e-5, atol=1e-4)


def test_sealed_io_round_trip(device):
    run = device["boot1"]["sealed-ok"]
    np.testing.assert_allclose(_output(run), device["mlp2"].reference(X)[0], rtol=1e-5, atol=1e-4)
    assert "sealed input: not the plaintext" in run.stdout
    assert "sealed output: not the plaintext" in run.stdout


@pytest.mark.parametrize("case", list(SEALED_REFUSALS))
def test_sealed_io_refusal(device, case):
    run = device["boot1"][case]
    assert run.refusal() == SEALED_REFUSALS[case][1], run.describe()
    assert run.rc == EXIT["refused"]


def test_device_bound_key_is_handed_out_once(device):
    boot1 = device["boot1"]
    assert boot1["enrol"].rc == 0, boot1["enrol"].describe()
    assert device["enrolled"] is not None and len(device["enrolled"]) == 32
    assert boot1["enrol-again"].refusal() == "OT_ERR_ALREADY_PROVISIONED"
    assert boot1["enrol-again"].rc == EXIT["key"]


def test_provisioning_and_rollback_counter_survive_a_reboot(device):
    boot2 = device["boot2"]
    np.testing.assert_allclose(_output(boot2["reboot-authentic-v2"]), device["mlp2"].reference(X)[0],
                               rtol=1e-5, atol=1e-4)
    assert boot2["reboot-rollback"].refusal() == "OT_ERR_ROLLBACK"
    assert boot2["reboot-second-provisioning"].refusal() == "OT_ERR_ALREADY_PROVISIONED"
    assert boot2["reboot-enrol-again"].refusal() == "OT_ERR_ALREADY_PROVISIONED"


def test_model_sealed_for_the_device_bound_key(device):
    run = device["boot2"]["reboot-device-key"]
    np.testing.assert_allclose(_output(run), device["mlp_device"].reference(X)[0], rtol=1e-5, atol=1e-4)


def test_secure_storage_holds_no_key_in_the_clear(device):
    files = [p for p in Path(device["storage"]).rglob("*") if p.is_file()]
    assert files, "tee-supplicant wrote no secure storage"
    for path in files:
        data = path.read_bytes()
        assert device["key"] not in data and device["enrolled"] not in data, path
