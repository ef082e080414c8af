"""onnxruntime's DynamicQuantizeLSTM (com.microsoft), lowered and run in the C interpreter against
onnxruntime on the same quantized file.

torch's nn.LSTM (batch 1, uni- and bidirectional) exported to ONNX and quantized by onnxruntime's own
`quantize_dynamic` (per tensor and per channel, int8 and uint8 weights), and single nodes drawn by
hypothesis (shapes, directions, optional inputs, scales over decades, uint8 zero points).  The integer
sums are exact and the float expressions follow onnxruntime's order, so the outputs differ by the last
bits of sigmoid / tanh (the kernels' vmath.c against MLAS's): max |d| / max |ref| <= 1e-4 (measured
~3e-7) unless such a last-bit difference moves one hidden value across a rounding boundary of its
per-step dynamic quantization, after which the two runs carry a one-step different h (measured up to
~3e-4 on a 128-unit layer; the bound there is 2e-3).  The measured high-water mark equals the plan."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from onnx import helper, numpy_helper

from lower_harness import lower, relative_errors
from onnx_tee.passes.compact import compaction_pipeline

ROOT = Path(__file__).resolve().parents[1]
MS = "com.microsoft"
SETTINGS = settings(max_examples=15, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def torch_lstm(path: Path, seq_len: int, input_size: int, hidden: int, bidirectional: bool, seed: int = 0) -> Path:
    """A torch nn.LSTM layer (X [T, 1, I] -> Y, Y_h, Y_c) exported to ONNX at `path`."""
    torch = pytest.importorskip("torch")

    class Layer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(input_size, hidden, bidirectional=bidirectional)

        def forward(self, x):
            y, (h, c) = self.lstm(x)
            return y, h, c

    torch.manual_seed(seed)
    torch.onnx.export(Layer().eval(), (torch.randn(seq_len, 1, input_size),), str(path), input_names=["x"],
                      output_names=["y", "y_h", "y_c"], opset_version=13, dynamo=False)
    return path


def quantized(source: Path, per_channel: bool, weight_type: str) -> onnx.ModelProto:
    """`source` compacted (its initial states' Shape arithmetic folded), then through onnxruntime's
    quantize_dynamic: its LSTM becomes a DynamicQuantizeLSTM."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    compacted = source.with_name(f"{source.stem}_compacted.onnx")
    onnx.save(compaction_pipeline()(onnx.load(str(source))).model, str(compacted))
    out = source.with_name(f"{source.stem}_{weight_type}_{int(per_channel)}.onnx")
    quantize_dynamic(str(compacted), str(out), per_channel=per_channel, weight_type=getattr(QuantType, weight_type))
    model = onnx.load(str(out))
    assert "DynamicQuantizeLSTM" in {n.op_type for n in model.graph.node}
    return model


def errors_against_onnxruntime(model: onnx.ModelProto, seed: int = 0) -> dict[str, float]:
    """max |interp - ort| / max |ort| per output on a standard-normal X; every partition's measured
    high-water mark equals its plan."""
    lowered = lower(model)
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    errors, results = relative_errors(lowered, {model.graph.input[0].name: x})
    for result, planned in zip(results, lowered.result.plan.partitions):
        assert result.max_region_end == planned.total
    return errors


@pytest.mark.parametrize("weight_type", ["QInt8", "QUInt8"])
@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("seq_len, input_size, hidden, bidirectional", [
    (1, 8, 16, False), (5, 8, 16, True), (33, 16, 32, False), (40, 24, 48, True)])
def test_torch_lstm_quantized_by_onnxruntime_runs_as_onnxruntime_runs_it(tmp_path, seq_len, input_size, hidden,
                                                                          bidirectional, per_channel, weight_type):
    """Sequences inside, at and past one KERN_RNN_TC chunk (32 steps); every output within 1e-4."""
    source = torch_lstm(tmp_path / "lstm.onnx", seq_len, input_size, hidden, bidirectional)
    errors = errors_against_onnxruntime(quantized(source, per_channel, weight_type))
    assert set(errors) == {"y", "y_h", "y_c"}
    assert max(errors.values()) <= 1e-4, errors


def test_a_wide_layer_stays_within_a_rounding_step_of_its_hidden_state(tmp_path):
    """128 units over 50 steps: a last-bit difference of an activation can put one hidden value on the
    other side of a rounding boundary of the step's quantization (onnxruntime itself moves with its
    thread count's summation order); the outputs stay within 2e-3 of onnxruntime's."""
    source = torch_lstm(tmp_path / "wide.onnx", 50, 64, 128, True)
    errors = errors_against_onnxruntime(quantized(source, True, "QInt8"))
    assert max(errors.values()) <= 2e-3, errors


def dq_node_model(rng: np.random.Generator, data) -> onnx.ModelProto:
    """One DynamicQuantizeLSTM node with drawn shapes, direction, weight types, per-tensor or per-column
    parameters, and optional B, initial_h, initial_c, P (constants) and clip."""
    seq_len = data.draw(st.integers(1, 40), label="T")
    input_size = data.draw(st.integers(1, 24), label="I")
    hidden = data.draw(st.integers(1, 24), label="H")
    direction = data.draw(st.sampled_from(["forward", "reverse", "bidirectional"]), label="direction")
    dirs = 2 if direction == "bidirectional" else 1
    inits: dict[str, np.ndarray] = {}
    signed = data.draw(st.booleans(), label="int8")  # W and R have one type (onnxruntime's T2)

    def weights(name: str, rows: int) -> None:
        per_column = data.draw(st.booleans(), label=f"{name} per column")
        shape = (dirs, 4 * hidden) if per_column else (dirs,)
        if signed:
            inits[name] = rng.integers(-128, 127, (dirs, rows, 4 * hidden), endpoint=True).astype(np.int8)
            inits[f"{name}_zp"] = np.zeros(shape, np.int8)
        else:
            inits[name] = rng.integers(0, 255, (dirs, rows, 4 * hidden), endpoint=True).astype(np.uint8)
            inits[f"{name}_zp"] = np.full(shape, rng.integers(0, 255, endpoint=True), np.uint8)
        inits[f"{name}_scale"] = (10.0 ** rng.uniform(-3.5, -1.5, shape)).astype(np.float32)

    weights("W", input_size)
    weights("R", hidden)
    names = ["x", "W", "R", "", "", "", "", "", "W_scale", "W_zp", "R_scale", "R_zp"]
    optional = {3: ("B", (dirs, 8 * hidden)), 5: ("h0", (dirs, 1, hidden)), 6: ("c0", (dirs, 1, hidden)),
                7: ("P", (dirs, 3 * hidden))}
    for k, (name, shape) in optional.items():
        if data.draw(st.booleans(), label=name):
            inits[name] = rng.standard_normal(shape).astype(np.float32) * np.float32(0.5)
            names[k] = name
    while not names[-1]:
        names.pop()
    attrs = {"direction": direction, "hidden_size": hidden}
    if data.draw(st.booleans(), label="clip"):
        attrs["clip"] = float(rng.uniform(0.5, 5.0))
    node = helper.make_node("DynamicQuantizeLSTM", names, ["y", "y_h", "y_c"], name="dqlstm", domain=MS, **attrs)
    outputs = [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [seq_len, dirs, 1, hidden])] + [
        helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, [dirs, 1, hidden]) for n in ("y_h", "y_c")]
    graph = helper.make_graph([node], "dqlstm", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT,
                                                                               [seq_len, 1, input_size])],
                              outputs, initializer=[numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(MS, 1)],
                             ir_version=8)


@SETTINGS
@given(data=st.data())
def test_a_drawn_dynamic_quantize_lstm_node_runs_as_onnxruntime_runs_it(data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    errors = errors_against_onnxruntime(dq_node_model(rng, data), seed=int(rng.integers(1 << 30)))
    assert max(errors.values()) <= 1e-4, errors


@SETTINGS
@given(data=st.data())
def test_the_kernel_alone_runs_a_drawn_node_as_onnxruntime_runs_it(data):
    """kern_dqlstm through the kernel harness (the AArch64 suite runs this under qemu-aarch64): every
    output within 1e-4 of onnxruntime's, the scratch exactly the Python formula's, its guards intact."""
    import kernel_harness_quant  # noqa: F401  (registers the quantized ops)
    from kernel_harness import run_node
    from conftest import run_ort
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    model = dq_node_model(rng, data)
    x = rng.standard_normal([d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]).astype(np.float32)
    values = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer} | {"x": x}
    node = model.graph.node[0]
    got = run_node(node, [values.get(name) if name else None for name in node.input], 17)
    want = run_ort(model, {"x": x})
    for name, g in zip(node.output, got):
        ref = want[name].astype(np.float64)
        assert g.shape == ref.shape
        assert np.abs(g - ref).max() / max(np.abs(ref).max(), 1e-30) <= 1e-4, name


def test_the_kernel_refuses_what_it_does_not_run_before_touching_a_buffer():
    """Batch, layout, GRU, parameter counts, onnxruntime's zero-point rules, scratch short by one byte,
    sizes whose scratch overflows size_t: a status, no buffer read past its checks."""
    import ctypes
    import kernel_harness as kh
    import kernel_harness_quant as khq
    lib, ref, ptr, RnnAttr = kh.kernels(), ctypes.byref, kh._ptr, kh.RnnAttr   # at call time: AArch64 too
    EINVAL, EOVERFLOW, ESCRATCH = 1, 2, 3
    lstm, i8, u8 = 0, 3, 2
    x = np.zeros(3 * 4, np.float32)
    w, r = np.zeros(4 * 8, np.int8), np.zeros(2 * 8, np.int8)
    scale = np.ones(8, np.float32)
    zp0, zp1 = np.zeros(8, np.int8), np.array([0, 1] + [0] * 6, np.int8)
    y = np.zeros(3 * 2, np.float32)

    def call(attr, q, w_zp=zp0, r_zp=zp0, scratch_bytes=1 << 16):
        scratch = np.zeros(max(scratch_bytes, 1), np.uint8)
        ptrs = [ptr(a) for a in (x, w, r)] + [None] * 4 + [ptr(a) for a in (scale, w_zp, scale, r_zp)]
        return lib.kern_dqlstm(ref(attr), ref(q), *ptrs, ptr(y), None, None, ptr(scratch), scratch_bytes)

    ok = RnnAttr(lstm, 3, 1, 4, 2, 1, 0, 0, 0, 0.0)
    per_tensor = khq.DqLstmAttr(i8, i8, 1, 1)
    need = lib.kern_scratch_bytes_dqlstm(ref(ok))
    assert call(ok, per_tensor, scratch_bytes=need) == 0
    assert call(ok, per_tensor, scratch_bytes=need - 1) == ESCRATCH
    assert call(RnnAttr(lstm, 3, 2, 4, 2, 1, 0, 0, 0, 0.0), per_tensor) == EINVAL      # batch 2
    assert call(RnnAttr(lstm, 3, 1, 4, 2, 1, 0, 1, 0, 0.0), per_tensor) == EINVAL      # layout 1
    assert call(RnnAttr(1, 3, 1, 4, 2, 1, 0, 0, 0, 0.0), per_tensor) == EINVAL         # a GRU
    assert call(ok, khq.DqLstmAttr(i8, i8, 3, 1)) == EINVAL                            # neither 1 nor 4H scales
    assert call(ok, khq.DqLstmAttr(1, i8, 1, 1)) == EINVAL                             # a float W
    assert call(ok, khq.DqLstmAttr(i8, i8, 8, 1), w_zp=zp1) == EINVAL                  # int8 zero point not 0
    assert call(ok, khq.DqLstmAttr(u8, u8, 1, 8), r_zp=zp1) == EINVAL                  # uint8 zero points differ
    assert call(ok, khq.DqLstmAttr(u8, u8, 1, 8), r_zp=np.full(8, 7, np.uint8)) == 0   # one uint8 zero point
    huge = RnnAttr(lstm, 3, 1, 4, 1 << 62, 1, 0, 0, 0, 0.0)
    assert lib.kern_scratch_bytes_dqlstm(ref(huge)) % (1 << 64) == (1 << 64) - 1   # SIZE_MAX (the runner: -1)
    assert call(huge, per_tensor) in (EINVAL, EOVERFLOW)


def lower_cli(model: onnx.ModelProto, tmp_path: Path) -> subprocess.CompletedProcess:
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), "lower", str(path), "-o", str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=ROOT)


def refused_model(change: str) -> onnx.ModelProto:
    """A valid forward DynamicQuantizeLSTM (T 3, I 4, H 2, int8 weights) with one thing onnxruntime runs
    and the TA does not (or onnxruntime itself refuses)."""
    rng = np.random.default_rng(0)
    batch = 2 if change == "batch" else 1
    inits = {"W": rng.integers(-128, 127, (1, 4, 8)).astype(np.int8),
             "R": rng.integers(-128, 127, (1, 2, 8)).astype(np.int8),
             "W_scale": np.full((1,), 0.01, np.float32), "W_zp": np.zeros((1,), np.int8),
             "R_scale": np.full((1,), 0.01, np.float32), "R_zp": np.zeros((1,), np.int8)}
    if change == "zero_point":
        inits["W_zp"] = np.ones((1,), np.int8)
    attrs = {"hidden_size": 2}
    if change == "activations":
        attrs["activations"] = ["Sigmoid", "Relu", "Tanh"]
    if change == "input_forget":
        attrs["input_forget"] = 1
    node = helper.make_node("DynamicQuantizeLSTM", ["x", "W", "R", "", "", "", "", "", "W_scale", "W_zp", "R_scale",
                                                    "R_zp"], ["y"], name="dq", domain=MS, **attrs)
    graph = helper.make_graph([node], "dq", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [3, batch, 4])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [3, 1, batch, 2])],
                              initializer=[numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(MS, 1)],
                             ir_version=8)


@pytest.mark.parametrize("change, words", [
    ("batch", "batch 2: only batch 1 runs"),
    ("activations", "activations=['Sigmoid', 'Relu', 'Tanh']"),
    ("input_forget", "input_forget=1"),
    ("zero_point", "W_zero_point=[1]: onnxruntime takes 0 for int8 weights")])
def test_what_the_kernel_does_not_run_is_refused_in_one_line_naming_node_and_attribute(tmp_path, change, words):
    done = lower_cli(refused_model(change), tmp_path)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "'dq'" in done.stderr and words in done.stderr, done.stderr
