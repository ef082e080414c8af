"""Stream sessions in a real OP-TEE secure world (QEMU, the optee-kit; one boot for the module).

The TA built with the kit's dev kit (BUDGET 1 MiB), the client against its libteec: the GRU keyword
spotter and the LSTM voice-activity model of `test_stream_recurrent.py` run as streams of 120 chunks
(`onnx_tee_client --stream`, the state inside the TA): every inference's outputs equal onnxruntime fed
its own state back, within 1e-4 of the step's largest output, and every inference after the first is
the one OT_CMD_INFER command, whose answer gives each partition's highest region byte touched: the
planned figure, first and steady-state.

    pytest -m optee tests/test_optee_stream.py
"""
from __future__ import annotations

import json
import re

import numpy as np
import onnx
import pytest

from onnx_tee import cli as onnx_tee_cli
from optee_harness import CLIENT, MiB, Guest, build_client, build_ta, require_kit
from test_stream_recurrent import MODELS, STEPS, reference_stream

pytestmark = pytest.mark.optee
BUDGET = 1 * MiB


@pytest.fixture(scope="module")
def tee(tmp_path_factory):
    """Lower both models, boot once, run both streams: (boot result, {name: (model, xs, pairs)})."""
    kit = require_kit()
    work = tmp_path_factory.mktemp("optee-stream")
    ta, client = build_ta(BUDGET, kit), build_client(kit)
    guest = Guest(work, kit)
    guest.install_ta(ta)
    cases = {}
    assert onnx_tee_cli.main(["keygen", "-o", str(work / "model.key")]) == 0   # one key: provisioned once
    guest.case("provision", CLIENT, "--provision", guest.add(work / "model.key"))
    for name in sorted(MODELS):
        build, chunk, pairs = MODELS[name]
        model = build()
        onnx.save(model, work / f"{name}.onnx")
        out = work / name
        assert onnx_tee_cli.main(["lower", str(work / f"{name}.onnx"), "--budget", str(BUDGET), "--stream",
                                  "--key", str(work / "model.key"), "-o", str(out)]) == 0
        xs = np.random.default_rng(11).standard_normal((STEPS, *chunk)).astype(np.float32)
        (work / f"{name}.bin").write_bytes(xs.tobytes())
        guest.case(name, CLIENT, "--stream", guest.add(out / "device", name), guest.add(work / f"{name}.bin"))
        cases[name] = (model, xs, pairs, out)
    result = guest.boot(client=client, timeout=1500)
    assert result.rc == 0 and result.cases, f"the guest did not run the cases:\n{result.stderr[-4000:]}"
    return result, cases


@pytest.mark.parametrize("name", sorted(MODELS))
def test_stream_with_state_inside_in_the_secure_world(tee, name):
    result, cases = tee
    model, xs, pairs, out = cases[name]
    run = result[name]
    assert run.rc == 0, run.describe()
    got = run.outputs()
    assert len(got) == STEPS, run.describe()
    assert run.stdout.count("resident model: one command") == STEPS - 1
    # per partition, every inference: the highest region byte touched = the plan's (first, then steady)
    manifest = json.loads((out / "manifest.json").read_text())
    touched = [int(v) for v in re.findall(r"partition \d+: (\d+) region bytes touched", run.stdout)]
    first = [p["memory"]["total"] for p in manifest["partitions"]]
    steady = [p["memory"]["steady_total"] for p in manifest["partitions"]]
    assert touched == first + steady * (STEPS - 1), run.describe()
    kept = {o for _, o in pairs}
    names = [o.name for o in model.graph.output if o.name not in kept]
    for t, ref in enumerate(reference_stream(model, xs, pairs)):
        for k, output in enumerate(names):
            want = ref[output].ravel()
            assert np.abs(got[t][k] - want).max() <= 1e-4 * np.abs(want).max(), (t, output)
