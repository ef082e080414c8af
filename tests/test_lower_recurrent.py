"""LSTM / GRU / RNN lowered end to end: keyword-spotter-like models built with onnx.helper (49 frames
of 40 features -> recurrent layer -> last step -> Gemm -> Softmax) through `lower_model` (compact,
partition, lower, seal, simulate: parity with onnxruntime and planned == measured memory checked by
the pipeline itself) and the CLI, plus the op's variants in the interpreter and the refusals."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from conftest import i64, make_model
from lower_harness import feeds_for, lower, relative_errors
from onnx_tee.passes.errors import UnsupportedModelError
from onnx_tee.passes import lower_model

ROOT = Path(__file__).resolve().parents[1]
FRAMES, FEATURES, CLASSES = 49, 40, 12


def weight(rng, name, shape, fan):
    """PyTorch's initialisation, U(-1/sqrt(fan), 1/sqrt(fan))."""
    k = 1 / np.sqrt(fan)
    return numpy_helper.from_array(rng.uniform(-k, k, size=shape).astype(np.float32), name)


def keyword_spotter(kind: str, hidden: int = 64, *, layers: int = 1, seed: int = 0,
                    opset: int = 17) -> onnx.ModelProto:
    """x [1, 49, 40] -> Transpose to [49, 1, 40] -> LSTM (`layers` stacked) / bidirectional GRU -> the
    last step's hidden state (from Y by Squeeze/Slice for the LSTM, from Y_h by Transpose/Reshape for
    the GRU) -> Gemm -> Softmax, as torch exports it (without the initial-state subgraphs)."""
    rng = np.random.default_rng(seed)
    nodes = [helper.make_node("Transpose", ["x"], ["x0"], perm=[1, 0, 2])]
    g, dirs = (4, 1) if kind == "lstm" else (3, 2)
    inits = []
    for k in range(layers):
        features = FEATURES if k == 0 else hidden
        inits += [weight(rng, f"W{k}", (dirs, g * hidden, features), hidden),
                  weight(rng, f"R{k}", (dirs, g * hidden, hidden), hidden),
                  weight(rng, f"B{k}", (dirs, 2 * g * hidden), hidden)]
        if kind == "lstm":
            top = k == layers - 1
            nodes += [helper.make_node("LSTM", [f"x{k}", f"W{k}", f"R{k}", f"B{k}"],
                                       ["Y", "Y_h", "Y_c"] if top else [f"Y{k}"], hidden_size=hidden),
                      helper.make_node("Squeeze", ["Y" if top else f"Y{k}", "ax1"], ["ys" if top else f"x{k + 1}"])]
        else:
            nodes += [helper.make_node("GRU", [f"x{k}", f"W{k}", f"R{k}", f"B{k}"], ["", "Y_h"], hidden_size=hidden,
                                       direction="bidirectional", linear_before_reset=1),
                      helper.make_node("Transpose", ["Y_h"], ["yh"], perm=[1, 0, 2]),          # [1, 2, H]
                      helper.make_node("Reshape", ["yh", "flat"], ["feat"])]
    if kind == "lstm":
        nodes += [helper.make_node("Slice", ["ys", "last", "end", "ax0"], ["yl"]),             # [1, 1, H]
                  helper.make_node("Reshape", ["yl", "flat"], ["feat"])]
    nodes += [helper.make_node("Gemm", ["feat", "Wfc", "Bfc"], ["logits"], transB=1),
              helper.make_node("Softmax", ["logits"], ["probs"], axis=-1)]
    inits += [weight(rng, "Wfc", (CLASSES, dirs * hidden), hidden), weight(rng, "Bfc", (CLASSES,), hidden),
              i64("ax1", [1]), i64("last", [-1]), i64("end", [FRAMES]), i64("ax0", [0]),
              i64("flat", [1, dirs * hidden])]
    used = {i for n in nodes for i in n.input}
    return make_model(nodes, [("x", [1, FRAMES, FEATURES])], [("probs", [1, CLASSES])],
                      [t for t in inits if t.name in used], opset=opset)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_keyword_spotter_through_lower_model(kind):
    """The library pipeline's own simulate step checks parity with onnxruntime (max relative error)
    and planned == measured memory for every partition."""
    job = lower_model(keyword_spotter(kind), 1 << 20, label=f"kws_{kind}")
    sim = job.report["simulation"]
    assert max(sim["max_rel_error"].values()) <= 1e-5, sim["max_rel_error"]
    assert all(p["measured"] == p["planned"] for p in sim["partitions"])
    kinds = {n.op_type for n in job.model.graph.node}
    assert ("LSTM" if kind == "lstm" else "GRU") in kinds


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_keyword_spotter_in_the_interpreter(kind):
    """Several inputs through the bodies; the partitions' measured high-water marks equal the plan."""
    lowered = lower(keyword_spotter(kind))
    for seed in range(3):
        errors, results = relative_errors(lowered, feeds_for(lowered, seed))
        assert max(errors.values()) <= 1e-5, errors
        for run, planned in zip(results, lowered.result.plan.partitions):
            assert run.max_region_end == planned.total


def test_keyword_spotter_split_across_partitions():
    """Two stacked LSTM layers at a budget that holds one layer's weights and scratch, not two."""
    model = keyword_spotter("lstm", layers=2)
    lowered = lower(model, budget=240 << 10)
    assert len(lowered.bodies) >= 2
    errors, results = relative_errors(lowered, feeds_for(lowered))
    assert max(errors.values()) <= 1e-5, errors
    for run, planned in zip(results, lowered.result.plan.partitions):
        assert run.max_region_end == planned.total


def test_keyword_spotter_through_the_cli(tmp_path):
    path = tmp_path / "kws_gru.onnx"
    onnx.save(keyword_spotter("gru", hidden=32), str(path))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(ROOT / "cli.py"), "lower", str(path), "--budget", "512KiB", "-o",
                           str(out)], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    sim = json.loads((out / "report.json").read_text())["simulation"]
    assert max(sim["max_rel_error"].values()) <= 1e-5
    assert all(p["measured"] == p["planned"] for p in sim["partitions"])


# ------------------------------------------------------------------------------------------ variants

def recurrent_model(op, *, hidden=8, seq=11, batch=1, inp=5, direction="forward", outputs=("Y", "Y_h", "Y_c"),
                    init="none", bias=True, peep=False, lbr=0, clip=None, seq_lens=None, seed=0, opset=17,
                    layout=0):
    """One recurrent node; init: "none", "const" (initial states as weights) or "input" (graph inputs).
    layout 1: X [batch, seq, input] and states [batch, dirs, hidden], the same values transposed."""
    rng = np.random.default_rng(seed)
    g, dirs = {"LSTM": 4, "GRU": 3, "RNN": 1}[op], 2 if direction == "bidirectional" else 1
    inits = [weight(rng, "W", (dirs, g * hidden, inp), hidden), weight(rng, "R", (dirs, g * hidden, hidden), hidden)]
    names = ["x", "W", "R", "", "", "", "", ""]
    inputs = [("x", [batch, seq, inp] if layout else [seq, batch, inp])]
    if bias:
        inits.append(weight(rng, "B", (dirs, 2 * g * hidden), hidden))
        names[3] = "B"
    if seq_lens is not None:
        inits.append(numpy_helper.from_array(np.asarray(seq_lens, np.int32), "L"))
        names[4] = "L"
    states = ["h0", "c0"] if op == "LSTM" else ["h0"]
    for k, s in enumerate(states):
        if init == "const":
            state = weight(rng, s, (dirs, batch, hidden), 1)
            if layout:
                state = numpy_helper.from_array(numpy_helper.to_array(state).transpose(1, 0, 2).copy(), s)
            inits.append(state)
        elif init == "input":
            inputs.append((s, [batch, dirs, hidden] if layout else [dirs, batch, hidden]))
        if init != "none":
            names[5 + k] = s
    if peep:
        inits.append(weight(rng, "P", (dirs, 3 * hidden), hidden))
        names[7] = "P"
    while not names[-1]:
        names.pop()
    n_out = 3 if op == "LSTM" else 2
    outs = [o if o in outputs else "" for o in ("Y", "Y_h", "Y_c")[:n_out]]
    while not outs[-1]:
        outs.pop()
    attrs = dict(hidden_size=hidden, direction=direction)
    if op == "GRU":
        attrs["linear_before_reset"] = lbr
    if clip is not None:
        attrs["clip"] = clip
    if layout:
        attrs["layout"] = layout
    nodes = [helper.make_node(op, names, outs, **attrs)]
    # a consumer of each output, so that the outputs are model outputs of different ops
    graph_outputs = []
    for o in outs:
        if o:
            nodes.append(helper.make_node("Relu", [o], [o + "_r"]))
            graph_outputs.append((o + "_r", None))
    return make_model(nodes, inputs, graph_outputs, inits, opset=opset)


VARIANTS = {
    "lstm_all_outputs": dict(op="LSTM"),
    "lstm_y_c_only": dict(op="LSTM", outputs=("Y_c",)),
    "lstm_reverse_const_states_peepholes": dict(op="LSTM", direction="reverse", init="const", peep=True),
    "lstm_bidirectional_input_states": dict(op="LSTM", direction="bidirectional", init="input", outputs=("Y",)),
    "lstm_batch3_clip_no_bias": dict(op="LSTM", batch=3, clip=0.4, bias=False, seq=40),
    "lstm_full_sequence_lens": dict(op="LSTM", seq_lens=[11], outputs=("Y_h",)),
    "gru_lbr0": dict(op="GRU", lbr=0, init="input"),
    "gru_lbr1_bidirectional": dict(op="GRU", lbr=1, direction="bidirectional", outputs=("Y_h",)),
    "gru_reverse_batch2_clip": dict(op="GRU", direction="reverse", batch=2, clip=1.0, init="const"),
    "rnn_bidirectional": dict(op="RNN", direction="bidirectional", init="const", seq=70),
}


@pytest.mark.parametrize("case", sorted(VARIANTS))
def test_variant_matches_onnxruntime(case):
    lowered = lower(recurrent_model(**VARIANTS[case]))
    errors, results = relative_errors(lowered, feeds_for(lowered))
    assert max(errors.values()) <= 1e-5, errors
    for run, planned in zip(results, lowered.result.plan.partitions):
        assert run.max_region_end == planned.total


@pytest.mark.parametrize("op", ["LSTM", "GRU"])
def test_batch_first_layout(op):
    """layout 1 (onnxruntime refuses it): the interpreter's outputs are the layout-0 model's, run by
    onnxruntime on the transposed inputs, transposed back."""
    from conftest import run_ort
    from lower_harness import run
    kwargs = dict(hidden=6, seq=9, batch=3, direction="bidirectional", init="input", peep=op == "LSTM", lbr=1)
    lowered = lower(recurrent_model(op, layout=1, **kwargs))
    feeds = feeds_for(lowered, 4)
    got, results = run(lowered, feeds)
    assert all(r.status == "RT_OK" for r in results)
    batch_first = {k: np.ascontiguousarray(v.transpose(1, 0, 2)) for k, v in feeds.items()}
    want = run_ort(recurrent_model(op, **kwargs), batch_first)
    for name, value in want.items():
        value = value.transpose(2, 0, 1, 3) if value.ndim == 4 else value.transpose(1, 0, 2)
        np.testing.assert_allclose(got[name], value, rtol=1e-5, atol=1e-6 * np.abs(value).max())


REFUSED = {
    "activations": (dict(op="LSTM"), {"activations": ["Sigmoid", "Relu", "Tanh"]}, "activations="),
    "input_forget": (dict(op="LSTM"), {"input_forget": 1}, "input_forget=1"),
    "sequence_lens": (dict(op="GRU", seq_lens=[7]), {}, "sequence_lens=[7]"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refusals_name_the_node_and_attribute(case):
    kwargs, extra, message = REFUSED[case]
    model = recurrent_model(**kwargs)
    node = model.graph.node[0]
    node.name = "rnn_layer"
    node.attribute.extend(helper.make_attribute(k, v) for k, v in extra.items())
    with pytest.raises(UnsupportedModelError) as err:
        lower(model)
    assert "node 'rnn_layer' (" in str(err.value) and message in str(err.value), str(err.value)


def test_default_activations_spelled_out_are_accepted():
    model = recurrent_model("GRU", direction="bidirectional")
    model.graph.node[0].attribute.extend([helper.make_attribute("activations", ["Sigmoid", "Tanh"] * 2)])
    lowered = lower(model)
    errors, _ = relative_errors(lowered, feeds_for(lowered))
    assert max(errors.values()) <= 1e-5, errors


def test_scalar_constants_stay_scalars_through_compaction():
    """torch exports a keyword spotter's last step `y[:, -1]` as Gather with a 0-d Constant index; as
    an initializer it must stay 0-d, or the Gather keeps the axis and the Gemm after it sees rank 3."""
    from onnx_tee.passes.compact import compaction_pipeline
    nodes = [helper.make_node("Constant", [], ["idx"], value=numpy_helper.from_array(np.array(-1, np.int64))),
             helper.make_node("Gather", ["x", "idx"], ["y"], axis=1)]
    model = make_model(nodes, [("x", [1, 5, 3])], [("y", [1, 3])])
    compacted = compaction_pipeline()(model).model
    index = next(t for t in compacted.graph.initializer if t.name == "idx")
    assert list(index.dims) == []
    onnx.shape_inference.infer_shapes(compacted, strict_mode=True)
