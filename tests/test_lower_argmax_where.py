"""ArgMax/ArgMin, the comparisons, logic ops, Where and the trigonometric ops through the whole target,
against onnxruntime on the original model:

- a classifier whose outputs are its logits and their ArgMax (int64 in ONNX): `cli.py lower`, then
  `cli.py run` in the simulator and in onnxruntime give the int64 label (the TA holds int32: the host
  widens it), and the C client writes it as int64;
- Where(Greater(x, 0), x, 0.1 x) with the mask as a second, bool, model output (the TA's int32 0/1
  become numpy bools on the host, one byte each in the C client's file);
- an ArgMax consumed inside the model (GatherElements, Gather, Equal, Where, logic ops) stays int32 in
  the bodies, also across partitions, with measured == planned memory;
- a bool model input, and a model of the trigonometric and hyperbolic ops;
- hostile op records (axis, modes, types, shapes, reserved slots) refused by the TA's validator, and
  random ones answered with a status, never a write outside the region.
"""
from __future__ import annotations

import functools
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from onnx import TensorProto, helper

from conftest import i64, node, run_ort, weight
from test_interp_math_ops import _one_op_body, _run_body
from test_interp_ops import f32
from onnx_tee.passes.build.lowered import lower_model
from onnx_tee.passes.lower import format as fmt
from onnx_tee.passes.lower.envelope import MANIFEST_FILE, parse_manifest
from onnx_tee.passes.lower.pipeline import model_io, run_in_simulator
from onnx_tee.passes.lower.sim import build_simulator

ROOT = Path(__file__).resolve().parents[1]
RNG = np.random.default_rng(21)


def weights(seed: int):
    """Each model's own initializer maker, so its weights do not depend on which tests ran before."""
    return functools.partial(weight, np.random.default_rng(seed))


def cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT)


def model_of(nodes, inputs, outputs, inits, opset=17) -> onnx.ModelProto:
    """inputs / outputs: (name, TensorProto type, shape)."""
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(*i) for i in inputs],
                              [helper.make_tensor_value_info(*o) for o in outputs], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)
    onnx.checker.check_model(model, full_check=True)
    return model


def classifier() -> onnx.ModelProto:
    """Conv -> Relu -> GlobalAveragePool -> Gemm: logits [2, 10] and label = ArgMax(logits) (int64 [2])."""
    w = weights(1)
    nodes = [node("Conv", ["x", "W", "B"], ["c"], pads=[1, 1, 1, 1]), node("Relu", ["c"], ["r"]),
             node("GlobalAveragePool", ["r"], ["p"]), node("Flatten", ["p"], ["f"]),
             node("Gemm", ["f", "G", "b"], ["logits"], transB=1),
             node("ArgMax", ["logits"], ["label"], axis=1, keepdims=0)]
    return model_of(nodes, [("x", TensorProto.FLOAT, [2, 3, 8, 8])],
                    [("logits", TensorProto.FLOAT, [2, 10]), ("label", TensorProto.INT64, [2])],
                    [w("W", [16, 3, 3, 3]), w("B", [16]), w("G", [10, 16]), w("b", [10])], opset=13)


def leaky_where() -> onnx.ModelProto:
    """y = Where(Greater(x, 0), x, 0.1 x) and the mask itself (bool) as outputs."""
    nodes = [node("Greater", ["x", "zero"], ["positive"]), node("Mul", ["x", "slope"], ["scaled"]),
             node("Where", ["positive", "x", "scaled"], ["y"])]
    return model_of(nodes, [("x", TensorProto.FLOAT, [1, 4, 6, 6])],
                    [("y", TensorProto.FLOAT, [1, 4, 6, 6]), ("positive", TensorProto.BOOL, [1, 4, 6, 6])],
                    [f32("zero", 0.0), f32("slope", 0.1)])


@pytest.fixture(scope="module", params=["classifier", "leaky_where"])
def lowered_cli(request, tmp_path_factory):
    """(model, output directory of `cli.py lower`, input file, its array) for each model."""
    model = {"classifier": classifier, "leaky_where": leaky_where}[request.param]()
    root = tmp_path_factory.mktemp(request.param)
    onnx.save(model, root / "model.onnx")
    proc = cli("lower", root / "model.onnx", "--budget", "256KiB", "-o", root / "out")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    x = RNG.standard_normal([d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]).astype(np.float32)
    np.save(root / "x.npy", x)
    return model, root / "out", root / "x.npy", x


@pytest.mark.parametrize("backend", ["sim", "ort"])
def test_cli_run_gives_onnxruntime_values_and_types(lowered_cli, tmp_path, backend):
    model, out, x_file, x = lowered_cli
    proc = cli("run", out, "--input", x_file, "--backend", backend, "--output", tmp_path / "y.npz")
    assert proc.returncode == 0, proc.stderr
    got, want = np.load(tmp_path / "y.npz"), run_ort(model, {"x": x})
    assert set(got.files) == set(want)
    for name, ref in want.items():
        assert got[name].dtype == ref.dtype and got[name].shape == ref.shape, name
        if ref.dtype == np.float32:
            np.testing.assert_allclose(got[name], ref, rtol=1e-4, atol=1e-5)
        else:
            np.testing.assert_array_equal(got[name], ref)   # int64 labels, bool masks: exactly


def test_device_manifest_keeps_the_model_types_at_the_ta_sizes(lowered_cli):
    model, out, _, _ = lowered_cli
    device = parse_manifest((out / "device" / MANIFEST_FILE).read_bytes())
    for slot, value in zip(device.outputs, model.graph.output):
        assert slot.dtype == value.type.tensor_type.elem_type
        assert slot.nbytes == 4 * int(np.prod(slot.shape))   # float32, and int64 / bool held as int32


def test_c_client_writes_outputs_in_the_model_types(lowered_cli, tmp_path):
    """The normal-world client (here built on the simulator) widens int64 outputs to 8 bytes an element
    and writes bool outputs one byte each; it prints the values."""
    model, out, _, x = lowered_cli
    storage = tmp_path / "dev"
    storage.mkdir()
    (tmp_path / "x.bin").write_bytes(x.tobytes())
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    result = subprocess.run([build_simulator() / "onnx_tee_sim", "--budget", str(256 << 10), "--storage", storage,
                             "--provision", out / "model.key", "--output", tmp_path / "y", out / "device",
                             tmp_path / "x.bin"], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    want = run_ort(model, {"x": x})
    for k, value in enumerate(model.graph.output):
        ref = want[value.name]
        got = np.fromfile(tmp_path / f"y{k}.bin", ref.dtype).reshape(ref.shape)
        printed = next(line for line in result.stdout.splitlines() if line.startswith(f"output {k}:"))
        values = np.array(printed.split(":")[1].split(), np.float64)
        if ref.dtype == np.float32:
            np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)
        else:
            np.testing.assert_array_equal(got, ref)
            np.testing.assert_array_equal(values, ref.reshape(-1).astype(np.float64))


def body_dtypes(body: bytes) -> list[int]:
    head = fmt.parse_header(body)
    return [body[head["tensor_table_offset"] + k * fmt.TENSOR.size] for k in range(head["tensor_count"])]


def argmax_inside() -> onnx.ModelProto:
    """The ArgMax of each row of logits [4, 10], consumed inside the model: GatherElements takes the top
    value, Gather a class embedding, Equal / Not / Or / Xor / And / LessOrEqual build masks, Where
    selects; ArgMin beside it.  Outputs are float32 only."""
    w = weights(2)
    nodes = [node("MatMul", ["x", "W"], ["logits"]),
             node("ArgMax", ["logits"], ["top"], axis=1, keepdims=1),                        # int64 [4, 1]
             node("ArgMin", ["logits"], ["bottom"], axis=1, keepdims=1, select_last_index=1),
             node("GatherElements", ["logits", "top"], ["top_value"], axis=1),               # [4, 1]
             node("Squeeze", ["top", "axis1"], ["top_flat"]),
             node("Gather", ["E", "top_flat"], ["embedding"], axis=0),                      # [4, 6]
             node("Equal", ["top", "three"], ["is3"]), node("Not", ["is3"], ["not3"]),
             node("LessOrEqual", ["bottom", "top"], ["ordered"]), node("Or", ["not3", "ordered"], ["either"]),
             node("Xor", ["either", "is3"], ["odd"]), node("And", ["odd", "ordered"], ["both"]),
             node("Where", ["both", "top_value", "minus"], ["picked"]),                      # [4, 1]
             node("Mul", ["embedding", "picked"], ["y"])]
    return model_of(nodes, [("x", TensorProto.FLOAT, [4, 8])], [("y", TensorProto.FLOAT, [4, 6])],
                    [w("W", [8, 10]), w("E", [10, 6]), i64("axis1", [1]),
                     i64("three", 3), f32("minus", -1.0)])


@pytest.mark.parametrize("budget", [1 << 20, 84 << 10])
def test_argmax_consumed_inside_the_model_stays_int32(budget):
    """At 84 KiB (the smallest budget that works) the model splits and an int64 ArgMax result crosses
    from one partition to the next, held as int32 in the carried zone."""
    lowered = lower_model(argmax_inside(), budget, label="argmax_inside")   # parity and memory checked inside
    sim = lowered.report["simulation"]
    assert all(p["measured"] == p["planned"] for p in sim["partitions"])
    assert max(sim["max_rel_error"].values()) < 1e-5
    if budget < 1 << 20:
        specs, infos = lowered.partition.specs, lowered.partition.infos
        assert len(specs) >= 2 and any(infos[n].dtype == np.int64 for spec in specs[1:] for n in spec.inputs)
    dtypes = [d for body in lowered.bodies for d in body_dtypes(body)]
    assert fmt.DTYPE_INT32 in dtypes and set(dtypes) <= {fmt.DTYPE_FLOAT32, fmt.DTYPE_INT32}
    x = RNG.standard_normal((4, 8)).astype(np.float32)
    got, _ = run_in_simulator_bundle(lowered, {"x": x})
    np.testing.assert_allclose(got["y"], run_ort(lowered.model, {"x": x})["y"], rtol=1e-5, atol=1e-6)


def run_in_simulator_bundle(lowered, feeds):
    """Run a LoweredModel's sealed bundle in the simulator on `feeds`: (outputs by name, stats)."""
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in lowered.device.items():
            (Path(tmp) / name).write_bytes(data)
        return run_in_simulator(Path(tmp), lowered.key, lowered.budget, feeds, *model_io(lowered.model))


def test_bool_model_input_and_output():
    """mask (bool input) -> Where(mask, x, Neg(x)), Not(mask) (bool output), Xor(mask, x > 1)."""
    nodes = [node("Neg", ["x"], ["nx"]), node("Where", ["mask", "x", "nx"], ["y"]), node("Not", ["mask"], ["inverse"]),
             node("Greater", ["x", "one"], ["big"]), node("Xor", ["mask", "big"], ["flip"])]
    model = model_of(nodes, [("x", TensorProto.FLOAT, [3, 5]), ("mask", TensorProto.BOOL, [3, 5])],
                     [("y", TensorProto.FLOAT, [3, 5]), ("inverse", TensorProto.BOOL, [3, 5]),
                      ("flip", TensorProto.BOOL, [3, 5])], [f32("one", 1.0)])
    lowered = lower_model(model, 256 << 10, label="bool_input")   # sample feeds: random bools, parity inside
    feeds = {"x": RNG.standard_normal((3, 5)).astype(np.float32), "mask": RNG.integers(0, 2, (3, 5)).astype(bool)}
    got, _ = run_in_simulator_bundle(lowered, feeds)
    for name, ref in run_ort(model, feeds).items():
        assert got[name].dtype == ref.dtype, name
        np.testing.assert_array_equal(got[name], ref)


def test_constant_bool_mask():
    """A causal mask as a bool initializer (stored as an int32 weight: 4 bytes an element in the plan and
    the body alike), Where(mask, scores, -1e9), then Softmax: attention's masking."""
    w = weights(3)
    nodes = [node("MatMul", ["x", "Wt"], ["scores"]), node("Where", ["causal", "scores", "minus"], ["masked"]),
             node("Softmax", ["masked"], ["y"], axis=-1)]
    causal = helper.make_tensor("causal", TensorProto.BOOL, [6, 6], np.tril(np.ones((6, 6), bool)).ravel().tolist())
    model = model_of(nodes, [("x", TensorProto.FLOAT, [2, 6, 8])], [("y", TensorProto.FLOAT, [2, 6, 6])],
                     [w("Wt", [8, 6]), causal, f32("minus", -1e9)])
    lowered = lower_model(model, 256 << 10, label="causal_mask")   # parity and measured == planned inside
    assert max(lowered.report["simulation"]["max_rel_error"].values()) < 1e-5


def test_trigonometric_model_matches_onnxruntime():
    """Positional-encoding style features: Sin/Cos of a projection, then every inverse and hyperbolic op on
    inputs kept well inside its domain (0.9 Tanh for Asin/Acos/Atanh, whose slopes grow without bound
    at +-1; Abs + 1 for Acosh)."""
    w = weights(4)
    nodes = [node("MatMul", ["x", "W"], ["h"]), node("Sin", ["h"], ["s"]), node("Cos", ["h"], ["c"]),
             node("Tan", ["s"], ["t"]), node("Tanh", ["h"], ["th"]), node("Mul", ["th", "inside"], ["u"]),
             node("Asin", ["u"], ["as"]), node("Acos", ["u"], ["ac"]), node("Atan", ["h"], ["at"]),
             node("Atanh", ["u"], ["ah"]), node("Sinh", ["s"], ["sh"]), node("Cosh", ["c"], ["ch"]),
             node("Asinh", ["h"], ["ash"]), node("Abs", ["h"], ["a"]), node("Add", ["a", "one"], ["a1"]),
             node("Acosh", ["a1"], ["ach"]),
             node("Sum", ["t", "as", "ac", "at", "ah", "sh", "ch", "ash", "ach"], ["y"])]
    model = model_of(nodes, [("x", TensorProto.FLOAT, [2, 16])], [("y", TensorProto.FLOAT, [2, 12])],
                     [w("W", [16, 12]), f32("one", 1.0), f32("inside", 0.9)])
    lowered = lower_model(model, 256 << 10, label="trig")
    assert max(lowered.report["simulation"]["max_rel_error"].values()) < 1e-5


# ---- hostile records: each refused with its own status before anything runs

I32 = fmt.DTYPE_INT32


def _arg(axis=1, keep=0, last=0):
    ints = [0] * fmt.ATTR_ARG_COUNT
    ints[fmt.ATTR_ARG_AXIS], ints[fmt.ATTR_ARG_KEEPDIMS], ints[fmt.ATTR_ARG_SELECT_LAST] = axis, keep, last
    return ints


def _mode(mode):
    ints = [0] * fmt.ATTR_COMPARE_COUNT
    ints[fmt.ATTR_COMPARE_MODE] = fmt.COMPARE_MODES[mode] if isinstance(mode, str) else mode
    return ints


FLOATS, INTS = np.ones((4, 8), np.float32), np.ones((4, 8), np.int32)


@pytest.mark.parametrize("code,ints,kw,status", [
    ("ARG_MAX", _arg(axis=2), {"y_shape": (4,), "y_dtype": I32}, "RT_ERR_OP_ATTRIBUTE"),      # axis past the rank
    ("ARG_MAX", _arg(axis=-1), {"y_shape": (4,), "y_dtype": I32}, "RT_ERR_OP_ATTRIBUTE"),     # not normalised
    ("ARG_MIN", _arg(keep=2), {"y_shape": (4,), "y_dtype": I32}, "RT_ERR_OP_ATTRIBUTE"),
    ("ARG_MAX", _arg(last=3), {"y_shape": (4,), "y_dtype": I32}, "RT_ERR_OP_ATTRIBUTE"),
    ("ARG_MAX", _arg() + [1], {"y_shape": (4,), "y_dtype": I32}, "RT_ERR_OP_RESERVED"),
    ("ARG_MAX", _arg(), {"y_shape": (4,)}, "RT_ERR_TENSOR_DTYPE"),                             # float32 indices
    ("ARG_MAX", _arg(), {"y_shape": (4,), "y_dtype": I32, "x_dtype": I32}, "RT_ERR_TENSOR_DTYPE"),
    ("ARG_MAX", _arg(keep=1), {"y_shape": (4,), "y_dtype": I32}, "RT_ERR_OP_SHAPE"),          # keepdims: [4, 1]
    ("ARG_MAX", _arg(), {"y_shape": (8,), "y_dtype": I32}, "RT_ERR_OP_SHAPE"),
    ("COMPARE", _mode(5), {"extra": [FLOATS], "y_dtype": I32}, "RT_ERR_OP_ATTRIBUTE"),
    ("COMPARE", _mode(-1), {"extra": [FLOATS], "y_dtype": I32}, "RT_ERR_OP_ATTRIBUTE"),
    ("COMPARE", _mode("less") + [1], {"extra": [FLOATS], "y_dtype": I32}, "RT_ERR_OP_RESERVED"),
    ("COMPARE", _mode("equal"), {"extra": [INTS], "y_dtype": I32}, "RT_ERR_TENSOR_DTYPE"),       # float vs int32
    ("COMPARE", _mode("equal"), {"extra": [FLOATS]}, "RT_ERR_TENSOR_DTYPE"),                   # float32 output
    ("COMPARE", _mode("greater"), {"extra": [np.ones((3,), np.float32)], "y_dtype": I32}, "RT_ERR_OP_SHAPE"),
    ("NOT", [], {"y_dtype": I32}, "RT_ERR_TENSOR_DTYPE"),                                     # float32 input
    ("NOT", [1], {"x_dtype": I32, "y_dtype": I32}, "RT_ERR_OP_RESERVED"),
    ("AND", [], {"x_dtype": I32, "extra": [FLOATS], "y_dtype": I32}, "RT_ERR_TENSOR_DTYPE"),
    ("XOR", [], {"x_dtype": I32, "extra": [np.ones((2, 8), np.int32)], "y_dtype": I32}, "RT_ERR_OP_SHAPE"),
    ("WHERE", [], {"extra": [FLOATS, FLOATS]}, "RT_ERR_TENSOR_DTYPE"),                        # float condition
    ("WHERE", [], {"x_dtype": I32, "extra": [FLOATS, INTS]}, "RT_ERR_TENSOR_DTYPE"),          # branches differ
    ("WHERE", [], {"x_dtype": I32, "extra": [INTS, INTS]}, "RT_ERR_TENSOR_DTYPE"),            # output not int32
    ("WHERE", [], {"x_dtype": I32, "extra": [FLOATS]}, "RT_ERR_OP_ARITY"),
    ("WHERE", [], {"x_dtype": I32, "extra": [FLOATS, np.ones((5, 1), np.float32)]}, "RT_ERR_OP_SHAPE"),
    ("WHERE", [0, 1], {"x_dtype": I32, "extra": [FLOATS, FLOATS]}, "RT_ERR_OP_RESERVED"),
    ("SIN", [1], {}, "RT_ERR_OP_RESERVED"),
    ("ATANH", [], {"y_shape": (8, 4)}, "RT_ERR_OP_SHAPE"),
    ("ACOS", [], {"x_dtype": I32, "y_dtype": I32}, "RT_ERR_TENSOR_DTYPE"),
])
def test_bad_records_are_refused(code, ints, kw, status):
    x = (INTS if kw.get("x_dtype") == I32 else FLOATS)
    result, _ = _run_body(_one_op_body(code, ints, **kw), x)
    assert result.status == status


@pytest.mark.parametrize("code,ints,kw,ref", [
    ("ARG_MAX", _arg(axis=1, keep=1), {"y_shape": (4, 1), "y_dtype": I32},
     lambda x: np.argmax(x, axis=1, keepdims=True)),
    ("ARG_MIN", _arg(axis=0), {"y_shape": (8,), "y_dtype": I32}, lambda x: np.argmin(x, axis=0)),
    ("COMPARE", _mode("greater_or_equal"), {"extra": [np.zeros((8,), np.float32)], "y_dtype": I32},
     lambda x: (x >= 0).astype(np.int32)),
    ("WHERE", [], {"x_dtype": I32, "extra": [np.full((1, 8), 2.0, np.float32), np.full((4, 1), -3.0, np.float32)]},
     lambda c: np.where(c != 0, 2.0, -3.0).astype(np.float32)),
    ("SIN", [], {}, np.sin),
])
def test_good_records_run(code, ints, kw, ref):
    x = (RNG.integers(0, 2, (4, 8)).astype(np.int32) if kw.get("x_dtype") == I32
         else RNG.standard_normal((4, 8)).astype(np.float32))
    result, region = _run_body(_one_op_body(code, ints, **kw), x)
    assert result.status == "RT_OK"
    want = np.asarray(ref(x))
    got = region.read(256, want.shape, np.int32 if kw.get("y_dtype") == I32 else np.float32)
    np.testing.assert_allclose(got, want, rtol=1e-6)


NEW_CODES = {"ARG_MAX": 1, "ARG_MIN": 1, "SIN": 1, "ATANH": 1, "NOT": 1, "COMPARE": 2, "AND": 2, "OR": 2, "XOR": 2,
             "WHERE": 3}   # code: its arity


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_random_records_of_the_new_ops_never_crash(data):
    """Random attribute slots, shapes, types and operand counts: the validator answers with a status
    (mostly a refusal), and whatever runs stays inside the region."""
    shape = st.lists(st.integers(1, 5), min_size=0, max_size=3).map(tuple)
    dtype = st.sampled_from([fmt.DTYPE_FLOAT32, I32])
    code = data.draw(st.sampled_from(sorted(NEW_CODES)))
    ints = data.draw(st.lists(st.integers(-2, 6), max_size=4))
    count = data.draw(st.sampled_from([NEW_CODES[code] - 1] * 3 + [0, 1, 2]))   # mostly the right arity
    extra = [np.ones(data.draw(shape), data.draw(st.sampled_from([np.float32, np.int32]))) for _ in range(count)]
    x_shape = data.draw(shape)
    body = _one_op_body(code, ints, x_shape=x_shape, y_shape=data.draw(shape), extra=extra,
                        x_dtype=data.draw(dtype), y_dtype=data.draw(dtype))
    result, region = _run_body(body, np.ones(x_shape, np.float32))
    assert result.status.startswith("RT_")
    assert region.guards_intact()
