"""LSTM, GRU and RNN kernels against onnxruntime (one thread): hypothesis over op, direction, layout,
batch, sequence length (across the KERN_RNN_TC chunk edge), input and hidden sizes, bias, initial
states, peepholes, linear_before_reset, clip and which outputs are used; plus the deterministic
chunk edges.  Errors are measured as max |kernel - ort| / max |ort| per output (see SMALLEST_SCALE)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from onnx import TensorProto, helper, numpy_helper

from conftest import ort_session
from kernel_harness import run_node

OPSET = 22
MAX_REL = 1e-5
# onnxruntime's tanh and sigmoid are rational approximations accurate to ~1e-7 in absolute terms, not
# relative ones: an output whose values are all ~1e-4 (one tiny step) differs by ~2e-4 relative from the
# exact value (which the kernels compute).  Errors are relative to max(|ort|, SMALLEST_SCALE).
SMALLEST_SCALE = 1e-2
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def rnn_case(op, *, direction="forward", layout=0, batch=1, seq=5, inp=4, hidden=3, bias=True, init_h=False,
             init_c=False, peep=False, lbr=0, clip=None, outputs=(True, True, True), seq_lens=False, seed=0,
             scale=1.0):
    """(node, feeds for onnxruntime, all values by name) of one recurrent node."""
    rng = np.random.default_rng(seed)
    dirs = 2 if direction == "bidirectional" else 1
    g = GATES[op]

    def arr(*shape, k=1.0):
        return (rng.uniform(-k, k, size=shape)).astype(np.float32)

    # weights as PyTorch initialises them (U(-1/sqrt(H), 1/sqrt(H))) times `scale`: with much larger
    # recurrent weights the recurrence is chaotic over tens of steps, and float32 rounding differences
    # of any two implementations (onnxruntime against float64 too) grow to O(1)
    k = scale / np.sqrt(hidden)
    state = (batch, dirs, hidden) if layout else (dirs, batch, hidden)
    values = {"X": arr(*((batch, seq, inp) if layout else (seq, batch, inp))), "W": arr(dirs, g * hidden, inp, k=k),
              "R": arr(dirs, g * hidden, hidden, k=k)}
    names = ["X", "W", "R", "", "", "", "", ""]
    if bias:
        values["B"], names[3] = arr(dirs, 2 * g * hidden, k=k), "B"
    if seq_lens:
        values["L"], names[4] = np.full(batch, seq, np.int32), "L"
    if init_h:
        values["H0"], names[5] = arr(*state), "H0"
    if op == "LSTM" and init_c:
        values["C0"], names[6] = arr(*state), "C0"
    if op == "LSTM" and peep:
        values["P"], names[7] = arr(dirs, 3 * hidden, k=k), "P"
    while names and not names[-1]:
        names.pop()
    n_out = 3 if op == "LSTM" else 2
    outs = [name if used else "" for name, used in zip(("Y", "Y_h", "Y_c"), outputs[:n_out])]
    while outs and not outs[-1]:
        outs.pop()
    attrs = dict(hidden_size=hidden, direction=direction)
    if layout:
        attrs["layout"] = layout
    if op == "GRU":
        attrs["linear_before_reset"] = lbr
    if clip is not None:
        attrs["clip"] = clip
    node = helper.make_node(op, names, outs, **attrs)
    return node, values


def run_both(node, values):
    """(kernel outputs, onnxruntime outputs) by output name.  onnxruntime has no layout 1 (batch-first):
    it runs the layout-0 node on transposed inputs, its outputs transposed back."""
    got = run_node(node, [values[i] if i else None for i in node.input], OPSET)
    got = {o: v for o, v in zip(node.output, got) if o}
    if any(a.name == "layout" and a.i == 1 for a in node.attribute):
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute if a.name != "layout"}
        attrs = {k: v.decode() if isinstance(v, bytes) else v for k, v in attrs.items()}
        node = helper.make_node(node.op_type, list(node.input), list(node.output), **attrs)
        values = {k: np.ascontiguousarray(v.transpose(1, 0, 2)) if k in ("X", "H0", "C0") else v
                  for k, v in values.items()}
        want = ort_outputs(node, values)
        return got, {k: np.ascontiguousarray(v.transpose(2, 0, 1, 3) if v.ndim == 4 else v.transpose(1, 0, 2))
                     for k, v in want.items()}
    return got, ort_outputs(node, values)


def ort_outputs(node, values):
    graph_inputs = [helper.make_tensor_value_info("X", TensorProto.FLOAT, values["X"].shape)]
    inits = [numpy_helper.from_array(v, k) for k, v in values.items() if k != "X"]
    outputs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in node.output if o]
    graph = helper.make_graph([node], "g", graph_inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    return dict(zip([o for o in node.output if o], ort_session(model).run(None, {"X": values["X"]})))


def assert_close(node, values, max_rel=MAX_REL):
    got, want = run_both(node, values)
    assert set(got) == set(want)
    for name, w in want.items():
        assert got[name].shape == w.shape, name
        rel = float(np.abs(got[name] - w).max() / max(np.abs(w).max(), SMALLEST_SCALE))
        assert rel <= max_rel, f"{node.op_type} {name}: max relative error {rel:.2e}"


@st.composite
def cases(draw):
    op = draw(st.sampled_from(["LSTM", "GRU", "RNN"]))
    outputs = draw(st.tuples(st.booleans(), st.booleans(), st.booleans()).filter(lambda o: any(o[:3 if op == "LSTM"
                                                                                                 else 2])))
    return rnn_case(
        op, direction=draw(st.sampled_from(["forward", "reverse", "bidirectional"])),
        layout=draw(st.integers(0, 1)), batch=draw(st.integers(1, 3)), seq=draw(st.integers(1, 70)),
        inp=draw(st.integers(1, 24)), hidden=draw(st.integers(1, 40)), bias=draw(st.booleans()),
        init_h=draw(st.booleans()), init_c=draw(st.booleans()), peep=draw(st.booleans()), lbr=draw(st.integers(0, 1)),
        clip=draw(st.sampled_from([None, None, 0.5, 3.0])), outputs=outputs, seq_lens=draw(st.booleans()),
        seed=draw(st.integers(0, 2**32 - 1)), scale=draw(st.sampled_from([0.5, 1.0, 1.5])))


SUPPRESS = [HealthCheck.too_slow, HealthCheck.data_too_large]


@settings(max_examples=60, deadline=None, suppress_health_check=SUPPRESS, derandomize=True)
@given(case=cases())
def test_recurrent_matches_onnxruntime(case):
    assert_close(*case)


@pytest.mark.slow
@settings(max_examples=600, deadline=None, suppress_health_check=SUPPRESS)
@given(case=cases())
def test_recurrent_matches_onnxruntime_many(case):
    assert_close(*case)


@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("seq", [31, 32, 33, 64, 65])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_chunk_edges(op, seq, direction):
    """Sequences around multiples of KERN_RNN_TC, each direction (a reverse chunk starts at the end)."""
    assert_close(*rnn_case(op, direction=direction, seq=seq, inp=7, hidden=17, batch=2, init_h=True, init_c=True,
                           peep=True, lbr=1, seed=seq))


@pytest.mark.parametrize("op,hidden,inp", [("LSTM", 64, 40), ("GRU", 64, 40), ("LSTM", 128, 13), ("GRU", 33, 129)])
def test_keyword_spotter_sizes(op, hidden, inp):
    """Sizes of the keyword-spotter layers (49 frames of 40 features), and GEMM edges in I and G*H."""
    assert_close(*rnn_case(op, direction="bidirectional", seq=49, inp=inp, hidden=hidden, seed=hidden))


# ------------------------------------------------------------------------------------------ gate functions

def _sweep() -> np.ndarray:
    """Dense float32 points over the ranges where sigmoid and tanh vary, and the special values."""
    rng = np.random.default_rng(3)
    dense = np.concatenate([np.linspace(-100, 100, 60001), np.linspace(-1, 1, 20001), rng.uniform(-20, 20, 20000),
                            np.geomspace(1e-30, 100, 5000), -np.geomspace(1e-30, 100, 5000),
                            np.nextafter(np.float32(0.625), [0, 1], dtype=np.float32), [0.0, -0.0]])
    return dense.astype(np.float32)


def _run_gates(op: str, x: np.ndarray) -> np.ndarray:
    """One step of a one-unit layer over a batch sweep: RNN computes tanh(x); GRU with z = sigmoid(x),
    r and h~ from zero weights and initial_h = 1 computes (1 - z) * tanh(0) + z * 1 = sigmoid(x)."""
    n = x.size
    w = np.array([[[1.0]]] if op == "RNN" else [[[1.0], [0.0], [0.0]]], np.float32)
    r = np.zeros_like(w)
    inputs = [x.reshape(1, n, 1), w, r]
    if op == "GRU":
        inputs += [None, None, np.ones((1, n, 1), np.float32)]
    node = helper.make_node(op, ["X", "W", "R"] + (["", "", "H0"] if op == "GRU" else []), ["", "Y_h"], hidden_size=1)
    return run_node(node, inputs, OPSET)[1].reshape(-1)


@pytest.mark.parametrize("op,ref", [("RNN", np.tanh), ("GRU", lambda v: 1 / (1 + np.exp(-v)))],
                         ids=["tanh", "sigmoid"])
def test_gate_functions_accuracy(op, ref):
    x = _sweep()
    got, want = _run_gates(op, x).astype(np.float64), ref(x.astype(np.float64))
    normal = np.abs(want) >= 1e-30
    rel = np.abs(got - want)[normal] / np.abs(want)[normal]
    assert rel.max() <= 2.5e-7, (rel.max(), x[normal][rel.argmax()])
    assert np.abs(got - want)[~normal].max(initial=0) <= 1e-37
    assert np.isnan(_run_gates(op, np.array([np.nan], np.float32))).all()
