"""onnxruntime's DynamicQuantizeLSTM in a real OP-TEE secure world (QEMU, the optee-kit; one boot for the
module): torch nn.LSTM layers quantized by `quantize_dynamic` (int8 per channel, bidirectional; uint8 per
tensor, forward), lowered by `cli.py lower` at 1 MiB and sealed, run by the client in the TA built with
the kit's dev kit.  Every output is within 1e-4 of onnxruntime's on the same quantized file (max |d| /
max |ref|), and each partition's highest region byte touched is the plan's.

    pytest -m optee tests/test_optee_quant_lstm.py
"""
from __future__ import annotations

import json
import re

import numpy as np
import onnx
import pytest

from conftest import run_ort
from onnx_tee import cli as onnx_tee_cli
from optee_harness import CLIENT, MiB, Guest, build_client, build_ta, require_kit, write_inputs
from test_quant_dynamic_lstm import quantized, torch_lstm

pytestmark = pytest.mark.optee
BUDGET = 1 * MiB
# name: (seq_len, input_size, hidden, bidirectional, per_channel, weight_type)
CASES = {"bilstm-int8-per-channel": (24, 16, 32, True, True, "QInt8"),
         "lstm-uint8-per-tensor": (40, 8, 24, False, False, "QUInt8")}


@pytest.fixture(scope="module")
def tee(tmp_path_factory):
    """Quantize and lower every case, boot once, run them: (boot result, {name: (model, x, out dir)})."""
    kit = require_kit()
    work = tmp_path_factory.mktemp("optee-quant-lstm")
    ta, client = build_ta(BUDGET, kit), build_client(kit)
    guest = Guest(work, kit)
    guest.install_ta(ta)
    assert onnx_tee_cli.main(["keygen", "-o", str(work / "model.key")]) == 0
    guest.case("provision", CLIENT, "--provision", guest.add(work / "model.key"))
    cases = {}
    for name, (seq_len, input_size, hidden, bidirectional, per_channel, weight_type) in CASES.items():
        model = quantized(torch_lstm(work / f"{name}.onnx", seq_len, input_size, hidden, bidirectional),
                          per_channel, weight_type)
        path = work / f"{name}-quantized.onnx"
        onnx.save(model, path)
        out = work / name
        assert onnx_tee_cli.main(["lower", str(path), "--budget", str(BUDGET), "--key", str(work / "model.key"),
                                  "-o", str(out)]) == 0
        x = np.random.default_rng(5).standard_normal((seq_len, 1, input_size)).astype(np.float32)
        guest.case(name, CLIENT, "--times", guest.add(out / "device", name), guest.add(write_inputs(
            work / f"{name}.bin", [x])))
        cases[name] = (model, x, out)
    result = guest.boot(client=client, timeout=1500)
    assert result.rc == 0 and result.cases, f"the guest did not run the cases:\n{result.stderr[-4000:]}"
    return result, cases


@pytest.mark.parametrize("name", sorted(CASES))
def test_dynamic_quantize_lstm_in_the_secure_world(tee, name):
    result, cases = tee
    model, x, out = cases[name]
    run = result[name]
    assert run.rc == 0, run.describe()
    got = run.outputs()
    assert len(got) == 1, run.describe()
    want = run_ort(model, {model.graph.input[0].name: x})
    names = [o.name for o in model.graph.output]
    assert len(got[0]) == len(names), run.describe()
    for k, output in enumerate(names):
        ref = want[output].ravel().astype(np.float64)
        assert np.abs(got[0][k] - ref).max() <= 1e-4 * np.abs(ref).max(), output
    manifest = json.loads((out / "manifest.json").read_text())
    touched = [int(v) for v in re.findall(r"partition \d+: (\d+) region bytes touched", run.stdout)]
    assert touched == [p["memory"]["total"] for p in manifest["partitions"]], run.describe()
