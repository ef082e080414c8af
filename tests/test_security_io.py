"""Sealed model I/O: inputs and outputs cross shared memory only as ciphertext under a session key.

The data source/sink's side is passes/lower/sealed_io.py (`cryptography` HKDF + AES-GCM); the TA
derives the same key through the GP API (HMAC-SHA256) in the simulator.  A round trip equals the
plain run and numpy; the log of every byte that crossed shared memory holds neither the input nor
the output; tampered, replayed, reordered and other-session messages are refused with their codes.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from onnx_tee.passes.lower.keys import generate_key
from onnx_tee.passes.lower.sealed_io import OVERHEAD, SealedChannel
from onnx_tee.passes.lower.sim import TAError, Simulator
from ta_bundles import IN_DIM, OUT_DIM, REGION, MLP, seal_mlp

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def bundle(tmp_path):
    key = generate_key()
    mlp = MLP.random(5)
    return key, mlp, seal_mlp(mlp, tmp_path / "device", key)


def sample(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((1, IN_DIM)).astype(np.float32)


def opened(sim: Simulator, device: Path) -> None:
    sim.open_model((device / "manifest.bin").read_bytes())


def load_and_run(sim: Simulator, device: Path) -> None:
    for k in range(2):
        sim.load_partition(k, (device / f"partition_{k:03d}.blob").read_bytes(), 4096)
        sim.run_partition(k)


def test_sealed_round_trip_equals_plain_run_and_nothing_crosses_in_clear(bundle, tmp_path):
    key, mlp, device = bundle
    x = sample()
    with Simulator(tmp_path / "plain", budget=REGION) as sim:
        sim.provision_key(key)
        (plain,), _ = sim.run_bundle(device, [x])
    trace = tmp_path / "shared-memory.log"
    with Simulator(tmp_path / "sealed", budget=REGION, trace=trace) as sim:
        sim.provision_key(key)
        (sealed,), stats = sim.run_bundle(device, [x], sealed_io_key=key)
        (again,), _ = sim.run_bundle(device, [x], sealed_io_key=key)   # a second session, fresh nonce
    np.testing.assert_array_equal(sealed, plain)
    np.testing.assert_array_equal(again, plain)
    np.testing.assert_allclose(sealed, mlp.reference(x), rtol=1e-4, atol=1e-4)
    crossed = trace.read_bytes()
    assert stats.bytes_in + stats.bytes_out < len(crossed)
    for secret in (x.tobytes(), sealed.tobytes()):
        assert secret not in crossed
        assert all(secret[i:i + 16] not in crossed for i in range(0, len(secret) - 15, 4))
    assert key in crossed   # provisioning did cross: the search finds what is there


def test_plain_io_refused_once_sealed(bundle, tmp_path):
    key, _, device = bundle
    with Simulator(tmp_path / "s", budget=REGION) as sim:
        sim.provision_key(key)
        opened(sim, device)
        with pytest.raises(TAError) as err:
            sim.write_input_sealed(0, b"\0" * (IN_DIM * 4 + OVERHEAD))
        assert err.value.name == "OT_ERR_IO_NO_SESSION"
        channel = SealedChannel(key, sim.open_io_session())
        with pytest.raises(TAError) as err:
            sim.write_input(0, sample())
        assert err.value.name == "OT_ERR_IO_SEALED"
        sim.write_input_sealed(0, channel.seal_input(0, sample().tobytes()))
        load_and_run(sim, device)
        with pytest.raises(TAError) as err:
            sim.read_output(0, OUT_DIM * 4)
        assert err.value.name == "OT_ERR_IO_SEALED"
        y = np.frombuffer(channel.open_output(0, sim.read_output_sealed(0, OUT_DIM * 4)), np.float32)
        assert y.shape == (OUT_DIM,)


@pytest.mark.parametrize("position", [0, 8, 20, 40, 20 + IN_DIM * 4 + 3])   # counter, nonce, ciphertext, tag
def test_tampered_sealed_input_refused(bundle, tmp_path, position):
    key, _, device = bundle
    with Simulator(tmp_path / "s", budget=REGION) as sim:
        sim.provision_key(key)
        opened(sim, device)
        channel = SealedChannel(key, sim.open_io_session())
        message = bytearray(channel.seal_input(0, sample().tobytes()))
        message[position] ^= 0x01
        with pytest.raises(TAError) as err:
            sim.write_input_sealed(0, bytes(message))
        assert err.value.name == ("OT_ERR_IO_REPLAYED" if position == 0 else "OT_ERR_IO_AUTH")


def test_replayed_wrong_index_and_other_session_inputs_refused(bundle, tmp_path):
    key, _, device = bundle
    with Simulator(tmp_path / "s", budget=REGION) as sim:
        sim.provision_key(key)
        opened(sim, device)
        first = SealedChannel(key, sim.open_io_session())
        old = first.seal_input(0, sample().tobytes())
        second = SealedChannel(key, sim.open_io_session())   # a new I/O session: new nonce, K_io
        assert second.session_nonce != first.session_nonce
        with pytest.raises(TAError) as err:
            sim.write_input_sealed(0, old)                  # counter 0 is right, the session is not
        assert err.value.name == "OT_ERR_IO_AUTH"
        other_key = SealedChannel(generate_key(), second.session_nonce).seal_input(0, sample().tobytes())
        with pytest.raises(TAError) as err:
            sim.write_input_sealed(0, other_key)
        assert err.value.name == "OT_ERR_IO_AUTH"
        message = second.seal_input(0, sample().tobytes())
        sim.write_input_sealed(0, message)
        with pytest.raises(TAError) as err:
            sim.write_input_sealed(0, message)              # replay: its counter is no longer the next
        assert err.value.name == "OT_ERR_IO_REPLAYED"
        load_and_run(sim, device)
        output = sim.read_output_sealed(0, OUT_DIM * 4)
        replayed = SealedChannel(key, second.session_nonce)
        replayed.counter, replayed.inputs_digest = second.counter, second.inputs_digest
        replayed.open_output(0, output)                     # authentic under this session
        with pytest.raises(Exception, match="replayed or reordered"):
            replayed.open_output(0, output)                 # the sink refuses a replayed output
        with pytest.raises(Exception, match="not authentic"):
            SealedChannel(key, first.session_nonce).open_output(0, output[:0] + b"\0" * 8 + output[8:])


def test_sealed_io_needs_an_open_model_and_exact_parameters(bundle, tmp_path):
    key, _, device = bundle
    with Simulator(tmp_path / "s", budget=REGION) as sim:
        sim.provision_key(key)
        with pytest.raises(TAError) as err:
            sim.open_io_session()
        assert err.value.name == "OT_ERR_STATE"
        opened(sim, device)
        channel = SealedChannel(key, sim.open_io_session())
        with pytest.raises(TAError) as err:
            sim.write_input_sealed(0, channel.seal_input(0, sample().tobytes())[:-1])   # one byte short
        assert err.value.name == "TEE_ERROR_BAD_PARAMETERS"
        with pytest.raises(TAError) as err:
            sim.write_input_sealed(1, channel.seal_input(1, sample().tobytes()))        # no input 1
        assert err.value.name == "TEE_ERROR_BAD_PARAMETERS"


def test_cli_run_encrypt_io_matches_plain(tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(3)
    w = numpy_helper.from_array(rng.standard_normal((8, 4)).astype(np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, tmp_path / "m.onnx")
    x = rng.standard_normal((1, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)

    # the CLI runs as a plain child process (onnxruntime inside `lower` does not run under a preloaded ASan)
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "ONNX_TEE_SANITIZE")}

    def cli(*args):
        return subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], capture_output=True, text=True,
                              cwd=ROOT, env=env)

    lowered = cli("lower", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "out"), "--budget", "1MiB")
    assert lowered.returncode == 0, lowered.stderr
    plain = cli("run", str(tmp_path / "out"), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "p.npz"))
    sealed = cli("run", str(tmp_path / "out"), "--input", str(tmp_path / "x.npy"), "--encrypt-io",
                 "--output", str(tmp_path / "s.npz"))
    assert plain.returncode == 0 and sealed.returncode == 0, plain.stderr + sealed.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "s.npz")["y"], np.load(tmp_path / "p.npz")["y"])
    np.testing.assert_allclose(np.load(tmp_path / "s.npz")["y"], x @ numpy_helper.to_array(w), rtol=1e-5)
    refused = cli("run", str(tmp_path / "out"), "--input", str(tmp_path / "x.npy"), "--encrypt-io",
                  "--backend", "ort")
    assert refused.returncode == 2 and "--encrypt-io" in refused.stderr


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_python_side_agrees_with_the_header(tmp_path):
    from onnx_tee.passes.lower import sealed_io

    source = tmp_path / "io.c"
    source.write_text('#include <stdio.h>\n#include <stddef.h>\n#include "onnx_tee_ta.h"\nint main(void) {\n'
                      'printf("%zu %zu %zu %zu %zu %zu\\n", sizeof(struct ot_io_aad), offsetof(struct ot_io_aad, '
                      'direction), offsetof(struct ot_io_aad, index), offsetof(struct ot_io_aad, counter), '
                      'offsetof(struct ot_io_aad, nbytes), (size_t)OT_IO_OVERHEAD);\n'
                      'printf("%u %u %u\\n", OT_IO_SESSION_NONCE_BYTES, OT_IO_INPUT, OT_IO_OUTPUT);\n'
                      'printf("%s\\n", OT_IO_LABEL); return 0; }\n')
    subprocess.run(["cc", "-I", str(ROOT / "runtime_ta" / "include"), str(source), "-o", str(tmp_path / "io")],
                   check=True)
    sizes, consts, label = subprocess.run([str(tmp_path / "io")], capture_output=True, text=True,
                                          check=True).stdout.splitlines()
    assert [int(v) for v in sizes.split()] == [sealed_io.AAD.size, 16, 20, 24, 32, sealed_io.OVERHEAD]
    assert [int(v) for v in consts.split()] == [sealed_io.SESSION_NONCE_BYTES, sealed_io.INPUT, sealed_io.OUTPUT]
    assert label.encode() == sealed_io.LABEL
