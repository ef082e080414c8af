"""Recurrent state kept inside the TA across a stream (`lower --state`, auto-detected pairs).

A GRU keyword spotter and an LSTM voice-activity-style model, exported from PyTorch here, run as
streams of 100+ chunks in one TA session with their states inside: every step's outputs equal
onnxruntime running the exported model fed its own state back, within 1e-4 of the step's largest
output.  The normal world can neither write a state input nor read a state output.
"""
from __future__ import annotations

import io
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from onnx_tee import cli as onnx_tee_cli

torch = pytest.importorskip("torch")
STEPS = 120


class KeywordSpotter(torch.nn.Module):
    """Chunks of 4 frames x 20 MFCCs -> GRU(32) -> the last step -> 6 keyword logits."""

    def __init__(self):
        super().__init__()
        self.gru = torch.nn.GRU(20, 32, batch_first=True)
        self.fc = torch.nn.Linear(32, 6)

    def forward(self, x, h):
        y, h_next = self.gru(x, h)
        return self.fc(y[:, -1]), h_next


class VoiceActivity(torch.nn.Module):
    """32 ms chunks as 2 frames x 40 log-mel bands -> LSTM(24) -> speech probability per frame."""

    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(40, 24, batch_first=True)
        self.head = torch.nn.Linear(24, 1)

    def forward(self, x, h, c):
        y, (h_next, c_next) = self.lstm(x, (h, c))
        return torch.sigmoid(self.head(y)), h_next, c_next


def export(module, args, inputs, outputs) -> onnx.ModelProto:
    torch.manual_seed(0)
    for p in module.parameters():   # PyTorch's init, reseeded so the fixture is the same every run
        torch.nn.init.uniform_(p, -0.4, 0.4)
    buffer = io.BytesIO()
    torch.onnx.export(module.eval(), args, buffer, input_names=inputs, output_names=outputs, dynamo=False,
                      opset_version=17)
    return onnx.load_from_string(buffer.getvalue())


MODELS = {
    "gru_kws": (lambda: export(KeywordSpotter(), (torch.zeros(1, 4, 20), torch.zeros(1, 1, 32)), ["x", "h"],
                               ["logits", "h_next"]), (1, 4, 20), [("h", "h_next")]),
    "lstm_vad": (lambda: export(VoiceActivity(), (torch.zeros(1, 2, 40), torch.zeros(1, 1, 24),
                                                  torch.zeros(1, 1, 24)), ["x", "h", "c"],
                                ["speech", "h_next", "c_next"]), (1, 2, 40), [("h", "h_next"), ("c", "c_next")]),
}


def reference_stream(model: onnx.ModelProto, xs: np.ndarray, pairs, carry: bool = True,
                     initial: dict | None = None) -> list[dict[str, np.ndarray]]:
    """onnxruntime (one thread) on the exported model, fed its own state back (with `carry`; else
    zero every step), `initial` (else zero) at the start."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    shapes = {i.name: [d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input}
    state = {i: (initial or {}).get(i, np.zeros(shapes[i], np.float32)) for i, _ in pairs}
    names = [o.name for o in model.graph.output]
    steps = []
    for x in xs:
        result = dict(zip(names, session.run(names, {"x": x, **state})))
        if carry:
            state = {i: result[o] for i, o in pairs}
        steps.append({n: v for n, v in result.items() if n not in {o for _, o in pairs}})
    return steps


@pytest.mark.parametrize("name", sorted(MODELS))
def test_stream_with_state_inside_matches_onnxruntime_fed_its_own_state(name, tmp_path, capsys):
    build, chunk, pairs = MODELS[name]
    model = build()
    onnx.save(model, tmp_path / "m.onnx")
    assert onnx_tee_cli.main(["lower", str(tmp_path / "m.onnx"), "--budget", "1MiB", "--stream",
                              "-o", str(tmp_path / "out")]) == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert [(s["input"], s["output"]) for s in manifest["state"]] == pairs   # detected, not given
    xs = np.random.default_rng(7).standard_normal((STEPS, *chunk)).astype(np.float32)
    np.savez(tmp_path / "xs.npz", x=xs)
    code = onnx_tee_cli.main(["run", str(tmp_path / "out"), "--input", str(tmp_path / "xs.npz"), "--stream",
                              "--output", str(tmp_path / "ys.npz"), "--stats", str(tmp_path / "stats.json")])
    assert code == 0, capsys.readouterr().err
    got = np.load(tmp_path / "ys.npz")
    assert sorted(got.files) == sorted(set(o.name for o in model.graph.output) - {o for _, o in pairs})
    expected = reference_stream(model, xs, pairs)
    for t, ref in enumerate(expected):
        for out, value in ref.items():
            err = np.abs(got[out][t] - value).max() / max(np.abs(value).max(), 1e-30)
            assert err <= 1e-4, (t, out, err)
    # the state matters: a TA that lost it would match onnxruntime restarted at zero every step instead
    restarted = reference_stream(model, xs, pairs, carry=False)
    assert all(np.abs(got[out][t] - restarted[t][out]).max() > 1e-3 for t in (1, STEPS - 1) for out in restarted[t])
    stats = json.loads((tmp_path / "stats.json").read_text())["inferences"]
    assert all(s["bytes_loaded"] == 0 and s["invocations"] == 1 for s in stats[1:])


def test_a_stream_starts_from_the_given_state(tmp_path, capsys):
    build, chunk, pairs = MODELS["lstm_vad"]
    model = build()
    onnx.save(model, tmp_path / "m.onnx")
    assert onnx_tee_cli.main(["lower", str(tmp_path / "m.onnx"), "--budget", "1MiB", "--stream",
                              "-o", str(tmp_path / "out")]) == 0
    rng = np.random.default_rng(12)
    initial = {"h": rng.standard_normal((1, 1, 24)).astype(np.float32),
               "c": rng.standard_normal((1, 1, 24)).astype(np.float32)}
    for name, value in initial.items():
        np.save(tmp_path / f"{name}.npy", value)
    xs = rng.standard_normal((20, *chunk)).astype(np.float32)
    np.savez(tmp_path / "xs.npz", x=xs)
    code = onnx_tee_cli.main(["run", str(tmp_path / "out"), "--input", str(tmp_path / "xs.npz"), "--stream",
                              "--initial-state", f"h={tmp_path / 'h.npy'}", "--initial-state", f"c={tmp_path / 'c.npy'}",
                              "--output", str(tmp_path / "ys.npz")])
    assert code == 0, capsys.readouterr().err
    got = np.load(tmp_path / "ys.npz")["speech"]
    from_given, from_zero = reference_stream(model, xs, pairs, initial=initial), reference_stream(model, xs, pairs)
    for t, ref in enumerate(from_given):
        assert np.abs(got[t] - ref["speech"]).max() <= 1e-4 * np.abs(ref["speech"]).max(), t
    assert np.abs(got[0] - from_zero[0]["speech"]).max() > 1e-3
    bad = onnx_tee_cli.main(["run", str(tmp_path / "out"), "--input", str(tmp_path / "xs.npz"), "--stream",
                             "--initial-state", f"x={tmp_path / 'h.npy'}"])
    assert bad == 2


def test_the_normal_world_cannot_touch_a_state(tmp_path):
    from onnx_tee.passes.lower.keys import load_key
    from onnx_tee.passes.lower.sim import Simulator, TAError
    from onnx_tee.passes.lower.envelope import parse_manifest

    build, chunk, pairs = MODELS["gru_kws"]
    onnx.save(build(), tmp_path / "m.onnx")
    assert onnx_tee_cli.main(["lower", str(tmp_path / "m.onnx"), "--budget", "1MiB", "--stream",
                              "-o", str(tmp_path / "out")]) == 0
    device = tmp_path / "out" / "device"
    manifest = parse_manifest((device / "manifest.bin").read_bytes())
    (state_in, state_out), = manifest.states
    with Simulator(tmp_path / "dev", budget=1 << 20) as sim:
        sim.provision_key(load_key(tmp_path / "out" / "model.key"))
        sim.run_bundle(device, [np.zeros(chunk, np.float32)])
        with pytest.raises(TAError) as refused:
            sim.write_input(state_in, np.zeros(manifest.inputs[state_in].nbytes // 4, np.float32))
        assert refused.value.name == "OT_ERR_STATE_TENSOR"
        with pytest.raises(TAError) as refused:
            sim.read_output(state_out, manifest.outputs[state_out].nbytes)
        assert refused.value.name == "OT_ERR_STATE_TENSOR"


def test_a_single_shot_lowering_keeps_the_state_inputs_and_outputs(tmp_path, capsys):
    """Without --stream or --state, `lower` keeps the model's inputs and outputs as onnxruntime has
    them: `run` takes the state and gives the next one back, equal to onnxruntime's."""
    build, chunk, pairs = MODELS["lstm_vad"]
    model = build()
    onnx.save(model, tmp_path / "m.onnx")
    assert onnx_tee_cli.main(["lower", str(tmp_path / "m.onnx"), "--budget", "1MiB", "-o", str(tmp_path / "out")]) == 0
    assert not json.loads((tmp_path / "out" / "manifest.json").read_text()).get("state")
    rng = np.random.default_rng(3)
    feeds = {"x": rng.standard_normal(chunk).astype(np.float32),
             "h": rng.standard_normal((1, 1, 24)).astype(np.float32),
             "c": rng.standard_normal((1, 1, 24)).astype(np.float32)}
    np.savez(tmp_path / "in.npz", **feeds)
    code = onnx_tee_cli.main(["run", str(tmp_path / "out"), "--input", str(tmp_path / "in.npz"),
                              "--output", str(tmp_path / "out.npz")])
    assert code == 0, capsys.readouterr().err
    got = np.load(tmp_path / "out.npz")
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in model.graph.output]
    for name, value in zip(names, session.run(names, feeds)):
        assert np.abs(got[name] - value).max() <= 1e-4 * np.abs(value).max(), name


@pytest.mark.parametrize("state, message", [("h=nope", "'nope' is not a model output"),
                                             ("x=h_next", "keeps its type and shape"),
                                             ("h", "expected IN=OUT")])
def test_bad_state_is_one_clear_line(tmp_path, capsys, state, message):
    onnx.save(MODELS["gru_kws"][0](), tmp_path / "m.onnx")
    capsys.readouterr()   # the exporter's own warnings
    code = onnx_tee_cli.main(["lower", str(tmp_path / "m.onnx"), "--budget", "1MiB", "--state", state,
                              "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err


def test_device_client_streams_with_the_state_inside(tmp_path):
    """The normal-world client (`onnx_tee_client --stream`, here linked against the simulator): one
    input file of N chunks, the state never given, every inference after the first one command."""
    import os
    import subprocess

    from onnx_tee.passes.lower.sim import build_simulator

    build, chunk, pairs = MODELS["gru_kws"]
    model = build()
    onnx.save(model, tmp_path / "m.onnx")
    assert onnx_tee_cli.main(["lower", str(tmp_path / "m.onnx"), "--budget", "1MiB", "--stream",
                              "-o", str(tmp_path / "out")]) == 0
    xs = np.random.default_rng(9).standard_normal((12, *chunk)).astype(np.float32)
    (tmp_path / "xs.bin").write_bytes(xs.tobytes())
    (tmp_path / "dev").mkdir()
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    result = subprocess.run([build_simulator() / "onnx_tee_sim", "--budget", str(1 << 20), "--storage", tmp_path / "dev",
                             "--provision", tmp_path / "out" / "model.key", "--stream", tmp_path / "out" / "device",
                             tmp_path / "xs.bin"], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    printed = [line for line in result.stdout.splitlines() if line.startswith("output 0:")]
    assert len(printed) == len(xs)
    assert result.stdout.count("resident model: one command") == len(xs) - 1
    for t, (line, ref) in enumerate(zip(printed, reference_stream(model, xs, pairs))):
        values = np.array([float(v) for v in line.split(":")[1].split()], np.float32)
        assert np.abs(values - ref["logits"].ravel()).max() <= 1e-4 * np.abs(ref["logits"]).max(), t
