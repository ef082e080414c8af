"""The TA's refusals, sealed I/O, key modes and secure storage in a real OP-TEE secure world (QEMU, optee-kit).

Two TA builds with the same UUID (so the same secure storage objects): the provisioned-key TA
(KEY_MODE=provisioned) and the device-key TA (KEY_MODE=device, VENDOR_KEY = the header of a vendor key
pair `keygen --vendor` makes in the test's directory).  The guest script swaps the installed build
between cases.  Two boots of one emulated device whose secure storage (OP-TEE's REE FS) is kept between
them:

boot 1  provisioned TA: no key yet -> provision -> a second provisioning; the authentic two-partition
        model; a tampered ciphertext, a truncated blob, reordered partitions, a partition swapped in from
        another model, a partition of another build, a bundle sealed under another key; version 2, then a
        rollback to version 1 (whole model, and one old partition); sealed I/O (a trusted source/sink
        holding the key seals the input and opens the output; tampered, replayed, plain and session-less
        messages are refused, a plain input does not survive into the sealed session, a sealed output is
        read once); the review's findings (tests/test_security_ta_findings.py): a two-input model run with
        one input written, a stale input standing in for the next inference, an output read twice (F1), an
        input slot over a body (F5); enrolment and the device key source refused (OT_ERR_KEY_MODE).
        Device-key TA: provisioning and the provisioned key source refused (OT_ERR_KEY_MODE), enrolment
        twice (the device key, RSA-OAEP-wrapped for the vendor); the REE FS storage deleted: enrolment
        still only wrapped, provisioning still refused; the storage restored: enrolment again.
boot 2  the key and the rollback counter survived the reboot; on the device-key TA the enrolment opens to
        the same device key, and a model sealed for the device key the vendor unwrapped from boot 1's
        enrolment (`keygen --unwrap`) runs with --key-source device.

Every refusal is a distinct TA result code, and the client's exit code is its class.

    pytest -m optee tests/test_optee_security.py
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from onnx_tee.passes.lower.envelope import BLOB_HEADER, blob_file_name
from onnx_tee.passes.lower.keys import KEY_BYTES, WRAPPED_BYTES, generate_key, load_vendor_key, unwrap_device_key
from onnx_tee.passes.lower.sim import Simulator
from optee_harness import CLIENT, EXIT, MiB, Guest, build_client, build_guest_tool, build_ta, require_kit, write_inputs
from ta_bundles import IN_DIM, MLP, REGION, seal_mlp
from test_security_ta_findings import f5_bundle, seal_adder, vec

pytestmark = pytest.mark.optee

ROOT = Path(__file__).resolve().parent
CLI = ROOT.parent / "cli.py"
BUDGET = 1 * MiB
X = np.linspace(-1, 1, IN_DIM, dtype=np.float32).reshape(1, IN_DIM)
SEALED = "sealed_source"
PROBE = "protocol_probe"
# the device-key TA's enrolments (in the guest's /kit/out): boot 1 twice, with the REE FS storage deleted,
# restored; boot 2 after the reboot
ENROLMENTS = {"enrol": "enrolment-1.bin", "enrol-again": "enrolment-2.bin", "wiped-enrol": "enrolment-wiped.bin",
              "restored-enrol": "enrolment-restored.bin"}
REBOOT_ENROLMENT = "enrolment-reboot.bin"

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
    "slot-over-body": ("OT_ERR_MANIFEST_FORMAT", "refused"),                # F5
    # one key source per TA build (F6): the other mode's commands and key source
    "enrol-on-provisioned-ta": ("OT_ERR_KEY_MODE", "key"),
    "device-source-on-provisioned-ta": ("OT_ERR_KEY_MODE", "key"),
    "provision-on-device-ta": ("OT_ERR_KEY_MODE", "key"),
    "provisioned-source-on-device-ta": ("OT_ERR_KEY_MODE", "key"),
    "wiped-provision-on-device-ta": ("OT_ERR_KEY_MODE", "key"),
}
SEALED_REFUSALS = {
    "sealed-tampered": ("tamper", "OT_ERR_IO_AUTH"),
    "sealed-replayed": ("replay", "OT_ERR_IO_REPLAYED"),
    "sealed-plain-read": ("plain-read", "OT_ERR_IO_SEALED"),
    "sealed-plain-write": ("plain-write", "OT_ERR_IO_SEALED"),
    "sealed-no-session": ("no-session", "OT_ERR_IO_NO_SESSION"),
    "sealed-plain-first": ("plain-first", "OT_ERR_INPUT_MISSING"),          # F2
    "sealed-read-twice": ("read-twice", "OT_ERR_OUTPUT_READ"),              # F2
}
# F1 on the two-input adder (y = a + b): protocol_probe mode -> result code
PROBES = {
    "input-missing": ("missing-input", "OT_ERR_INPUT_MISSING"),
    "stale-input": ("stale-input", "OT_ERR_INPUT_MISSING"),
    "output-read-twice": ("read-twice", "OT_ERR_OUTPUT_READ"),
}


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _flip(path: Path, index: int) -> None:
    data = bytearray(path.read_bytes())
    data[index] ^= 0x01
    path.write_bytes(bytes(data))


def keygen(*args: str) -> None:
    """The vendor's side, as the vendor runs it: `python cli.py keygen ...`."""
    result = subprocess.run([sys.executable, str(CLI), "keygen", *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def device(tmp_path_factory):
    kit = require_kit()
    work = tmp_path_factory.mktemp("optee-security")
    vendor = work / "vendor"
    vendor.mkdir()
    keygen("--vendor", "-o", str(vendor))
    ta = build_ta(BUDGET, kit)
    device_ta = build_ta(BUDGET, kit, vendor_key=vendor / "vendor_key.h")
    client = build_client(kit)
    sealed = build_guest_tool(SEALED, [ROOT / "c" / "sealed_source.c"], kit)
    probe = build_guest_tool(PROBE, [ROOT / "c" / "protocol_probe.c"], kit)
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
    adder = work / "adder"
    seal_adder(adder, key)
    adder_a, adder_b = write_inputs(work / "a.bin", [vec(0)]), write_inputs(work / "b.bin", [vec(1)])
    _, payload = f5_bundle(work, key, MLP.random(3))
    f5_payload = write_inputs(work / "f5-payload.bin", [payload])

    storage = work / "storage"
    guest = Guest(work / "boot1", kit)
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
    guest.case("adder", CLIENT, g(adder), g(adder_a), g(adder_b))
    for name, (mode, _) in PROBES.items():
        guest.case(name, PROBE, mode, g(adder), g(adder_a), g(adder_b))
    guest.case("slot-over-body", CLIENT, g(work / "f5"), g(f5_payload))
    guest.case("enrol-on-provisioned-ta", CLIENT, "--enrol", "/kit/out/refused.bin")
    guest.case("device-source-on-provisioned-ta", CLIENT, "--key-source", "device", g(v2), g(x))
    guest.case("still-serving", CLIENT, g(v2), g(x))
    # the device-key TA (same UUID: the same secure storage, which holds the provisioned key)
    guest.install_ta(device_ta)
    guest.case("provision-on-device-ta", CLIENT, "--provision", g(work / "stranger.key"))
    guest.case("provisioned-source-on-device-ta", CLIENT, g(v2), g(x))
    guest.case("enrol", CLIENT, "--enrol", f"/kit/out/{ENROLMENTS['enrol']}")
    guest.case("enrol-again", CLIENT, "--enrol", f"/kit/out/{ENROLMENTS['enrol-again']}")
    # what a REE-FS normal world can do to the storage: delete every object, later put a copy back
    guest.shell("mkdir -p /tmp/tee-copy && cp -a /var/lib/tee/. /tmp/tee-copy/ && rm -rf /var/lib/tee/*")
    guest.case("wiped-storage", "ls", "-A", "/var/lib/tee")
    guest.case("wiped-enrol", CLIENT, "--enrol", f"/kit/out/{ENROLMENTS['wiped-enrol']}")
    guest.case("wiped-provision-on-device-ta", CLIENT, "--provision", g(work / "stranger.key"))
    guest.shell("rm -rf /var/lib/tee/* && cp -a /tmp/tee-copy/. /var/lib/tee/")
    guest.case("restored-enrol", CLIENT, "--enrol", f"/kit/out/{ENROLMENTS['restored-enrol']}")
    out = work / "boot1-out"
    boot1 = guest.boot(client=client, tools={SEALED: sealed, PROBE: probe}, storage=storage, out=out, timeout=600)
    assert boot1.rc == 0 and boot1.cases, boot1.stderr[-4000:]

    # the vendor opens the first enrolment (keygen --unwrap) and seals a model for this device's key
    enrolment = out / ENROLMENTS["enrol"]
    device_key = None
    if enrolment.is_file():
        keygen("--unwrap", str(enrolment), "--vendor-key", str(vendor / "vendor.pem"), "-o", str(work / "device.key"))
        device_key = (work / "device.key").read_bytes()

    # boot 2: the same device (its secure storage)
    guest2 = Guest(work / "boot2", kit)
    g = guest2.add
    guest2.install_ta(ta)
    guest2.case("reboot-authentic-v2", CLIENT, g(v2), g(x))
    guest2.case("reboot-rollback", CLIENT, g(v1), g(x))
    guest2.case("reboot-second-provisioning", CLIENT, "--provision", g(work / "stranger.key"))
    guest2.install_ta(device_ta)
    guest2.case("reboot-enrol", CLIENT, "--enrol", f"/kit/out/{REBOOT_ENROLMENT}")
    mlp_device = MLP.random(11)
    if device_key is not None:
        for_device = seal_mlp(mlp_device, work / "for-device", device_key, model_id=b"device-bound-mlp")
        guest2.case("reboot-device-key", CLIENT, "--key-source", "device", g(for_device), g(x))
    out2 = work / "boot2-out"
    boot2 = guest2.boot(client=client, storage=storage, out=out2, timeout=600)
    assert boot2.rc == 0 and boot2.cases, boot2.stderr[-4000:]
    enrolments = {case: out / name for case, name in ENROLMENTS.items()}
    enrolments["reboot-enrol"] = out2 / REBOOT_ENROLMENT
    return dict(boot1=boot1, boot2=boot2, mlp1=mlp1, mlp2=mlp2, mlp_device=mlp_device, v1=v1, key=key,
                device_key=device_key, vendor=load_vendor_key(vendor / "vendor.pem"), enrolments=enrolments,
                outs=(out, out2), storage=storage)


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
               "rollback-model", "wrong-key", "second-provisioning", "slot-over-body", "provision-on-device-ta",
               "input-missing", "output-read-twice"]
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


def test_sealed_output_read_once_is_the_answer(device):
    """F2: the one sealed read of an output opens to the model's answer; only a second read is refused."""
    run = device["boot1"]["sealed-read-twice"]
    (outs,) = run.outputs()
    np.testing.assert_allclose(outs[0], device["mlp2"].reference(X)[0], rtol=1e-5, atol=1e-4)


def _adder_output(run) -> np.ndarray:
    (outs,) = run.outputs()
    return outs[0]


@pytest.mark.parametrize("case", list(PROBES))
def test_every_input_once_per_inference_and_each_output_once(device, case):
    """F1 in the secure world: a run with an input missing (also one the previous inference wrote) and a
    second read of an output are refused; the inference before (or completed after) is y = a + b."""
    boot1 = device["boot1"]
    want = (vec(0) + vec(1))[0]
    np.testing.assert_array_equal(_adder_output(boot1["adder"]), want)
    run = boot1[case]
    assert run.refusal() == PROBES[case][1], run.describe()
    assert run.rc == EXIT["refused"], run.describe()
    np.testing.assert_array_equal(_adder_output(run), want)


def _unwrap(device, case: str) -> bytes:
    path = device["enrolments"][case]
    assert path.is_file(), f"{case} wrote no enrolment"
    wrapped = path.read_bytes()
    assert len(wrapped) == WRAPPED_BYTES, (case, len(wrapped))
    return unwrap_device_key(device["vendor"], wrapped)


def _assert_not_in(key: bytes, data: bytes, what: str) -> None:
    assert key not in data, f"the device key in the clear in {what}"
    assert all(key[i:i + 8] not in data for i in range(0, KEY_BYTES - 7, 8)), f"part of the device key in {what}"


def test_device_key_enrolment_is_wrapped_for_the_vendor(device):
    boot1 = device["boot1"]
    for case in ("enrol", "enrol-again"):
        assert boot1[case].rc == 0, boot1[case].describe()
    key = device["device_key"]                    # keygen --unwrap of the first enrolment
    assert key is not None and len(key) == KEY_BYTES
    assert _unwrap(device, "enrol") == key
    assert _unwrap(device, "enrol-again") == key  # enrolment repeats: the same device key
    first, second = (device["enrolments"][c].read_bytes() for c in ("enrol", "enrol-again"))
    assert first != second                        # RSA-OAEP is randomised
    for case in ("enrol", "enrol-again"):
        _assert_not_in(key, device["enrolments"][case].read_bytes(), f"the enrolment of {case}")
        _assert_not_in(key, (boot1[case].stdout + boot1[case].stderr).encode(), f"the output of {case}")
    assert not (device["outs"][0] / "refused.bin").exists()


def test_deleting_or_restoring_secure_storage_hands_out_no_key_in_the_clear(device):
    """The old design's attack: "enrol once" was a marker in REE-FS storage the normal world can delete.
    Now the storage holds no guard: deleted or restored, enrolment still only returns the wrapped key, and
    the device-key TA still takes no key of the normal world's own."""
    boot1 = device["boot1"]
    assert boot1["wiped-storage"].rc == 0 and boot1["wiped-storage"].stdout.strip() == "", \
        boot1["wiped-storage"].describe()
    key = device["device_key"]
    assert key is not None
    for case in ("wiped-enrol", "restored-enrol"):
        assert boot1[case].rc == 0, boot1[case].describe()
        assert _unwrap(device, case) == key
        _assert_not_in(key, device["enrolments"][case].read_bytes(), f"the enrolment of {case}")
        _assert_not_in(key, (boot1[case].stdout + boot1[case].stderr).encode(), f"the output of {case}")
    for out in device["outs"]:
        for path in out.rglob("*"):
            if path.is_file():
                assert path.stat().st_size == WRAPPED_BYTES, path   # nothing but wrapped enrolments
                _assert_not_in(key, path.read_bytes(), str(path))


def test_provisioning_and_rollback_counter_survive_a_reboot(device):
    boot2 = device["boot2"]
    np.testing.assert_allclose(_output(boot2["reboot-authentic-v2"]), device["mlp2"].reference(X)[0],
                               rtol=1e-5, atol=1e-4)
    assert boot2["reboot-rollback"].refusal() == "OT_ERR_ROLLBACK"
    assert boot2["reboot-second-provisioning"].refusal() == "OT_ERR_ALREADY_PROVISIONED"


def test_device_key_survives_a_reboot(device):
    run = device["boot2"]["reboot-enrol"]
    assert run.rc == 0, run.describe()
    assert _unwrap(device, "reboot-enrol") == device["device_key"]


def test_model_sealed_for_the_device_bound_key(device):
    run = device["boot2"]["reboot-device-key"]
    np.testing.assert_allclose(_output(run), device["mlp_device"].reference(X)[0], rtol=1e-5, atol=1e-4)


def test_secure_storage_holds_no_key_in_the_clear(device):
    files = [p for p in Path(device["storage"]).rglob("*") if p.is_file()]
    assert files, "tee-supplicant wrote no secure storage"
    for path in files:
        data = path.read_bytes()
        assert device["key"] not in data, path
        _assert_not_in(device["device_key"], data, str(path))
