"""Models quantized by onnxruntime's own quantizer, end to end: small CNNs of the zoo (compacted, then
`quantize_static` with random calibration data, in its QOperator and its QDQ format) lower through
`cli.py lower`, and the simulator's outputs are within one quantization step of onnxruntime's on the
quantized model as the quantizer wrote it (on >= 99.9 % of the elements, issue 16's criterion; QDQ: as
onnxruntime runs it by default, fusing the groups itself, and with its graph optimizations off, the float
ops between DequantizeLinear and QuantizeLinear).  The front end's rewrites are exact in onnxruntime:
ExpressQGemm (its com.microsoft QGemm as a 1x1 QLinearConv) and FuseQDQ (the QDQ groups as integer ops,
as onnxruntime's own fusion)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from conftest import run_ort
from onnx_tee import models
from onnx_tee.passes.compact import compaction_pipeline
from onnx_tee.passes.quant import ExpressQGemm
from onnx_tee.passes.quant.steps import dynamic_step_tensors, output_steps

ROOT = Path(__file__).resolve().parents[1]


def quantize(model: onnx.ModelProto, path: Path, *, per_channel: bool, fmt: str = "QOperator",
             samples: int = 16) -> onnx.ModelProto:
    """`model` compacted and quantized by onnxruntime (format `fmt`, uint8 activations, int8 weights) on
    random calibration inputs; written to `path`."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    compacted = compaction_pipeline()(model).model
    source = path.with_name(path.stem + "_float.onnx")
    onnx.save(compacted, source)
    name = compacted.graph.input[0].name
    shape = [d.dim_value for d in compacted.graph.input[0].type.tensor_type.shape.dim]

    class Random(CalibrationDataReader):
        def __init__(self):
            rng = np.random.default_rng(0)
            self.batches = iter([{name: rng.standard_normal(shape).astype(np.float32)} for _ in range(samples)])

        def get_next(self):
            return next(self.batches, None)

    quantize_static(str(source), str(path), Random(), quant_format=getattr(QuantFormat, fmt), per_channel=per_channel,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return onnx.load(str(path))


def within_one_step(got: np.ndarray, want: np.ndarray, step: float) -> float:
    """The share of the elements within one quantization step (all of them must be within two)."""
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    assert diff.max(initial=0) <= 2 * step * (1 + 1e-6), f"{diff.max()} > two steps of {step}"
    return float(np.mean(diff <= step * (1 + 1e-6)))


def run_in_sim(out: Path, input_name: str, x: np.ndarray, tmp_path: Path):
    """`cli.py run OUT --backend sim` on one input: the outputs' .npz."""
    np.savez(tmp_path / "x.npz", **{input_name: x})
    done = subprocess.run([sys.executable, str(ROOT / "cli.py"), "run", str(out), "--input",
                           str(tmp_path / "x.npz"), "--backend", "sim", "--output", str(tmp_path / "y.npz")],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return np.load(tmp_path / "y.npz")


def test_express_qgemm_is_exact_in_onnxruntime(tmp_path):
    quantized = quantize(models.load("lenet5_fmnist"), tmp_path / "lenet_q.onnx", per_channel=True)
    assert any(n.op_type == "QGemm" and n.domain == "com.microsoft" for n in quantized.graph.node)
    rewritten = onnx.ModelProto()
    rewritten.CopyFrom(quantized)
    result = ExpressQGemm()(rewritten)
    assert result.modified and result.stats["rewritten"] == 3
    assert not any(n.domain == "com.microsoft" for n in rewritten.graph.node)
    onnx.checker.check_model(rewritten, full_check=True)
    from onnx_tee.passes.analysis import infer_static_shapes
    from onnx_tee.passes.analysis.macs import model_macs
    lenet = models.load("lenet5_fmnist")
    float_macs = sum(model_macs(lenet, infer_static_shapes(lenet)).values())
    assert sum(model_macs(rewritten, infer_static_shapes(rewritten)).values()) == float_macs   # int8 MACs counted
    x = np.random.default_rng(1).standard_normal((8, 1, 28, 28)).astype(np.float32)
    for sample in x:
        feeds = {quantized.graph.input[0].name: sample[None]}
        want, got = run_ort(quantized, feeds), run_ort(rewritten, feeds)
        for name in want:
            np.testing.assert_array_equal(got[name], want[name])


@pytest.mark.parametrize("name,fused_count,kinds", [
    ("lenet5_fmnist", 8, ["Flatten", "MaxPool", "QGemm", "QLinearConv"]),
    ("resnet_fmnist", 15, ["Flatten", "QGemm", "QLinearAdd", "QLinearConv", "QLinearGlobalAveragePool"])])
def test_fuse_qdq_is_onnxruntimes_own_fusion(tmp_path, name, fused_count, kinds):
    """The fused QDQ model is the QOperator one's op for op, and equals onnxruntime's run of the QDQ
    model (which fuses the same groups) on >= 99.9 % of the elements, within one step on all (bit for
    bit where no float op is left between the integer ones)."""
    from onnx_tee.passes.quant import FuseQDQ, express_quantized
    qdq = quantize(models.load(name), tmp_path / "qdq.onnx", per_channel=True, fmt="QDQ")
    qop = quantize(models.load(name), tmp_path / "qop.onnx", per_channel=True)
    fused = onnx.ModelProto()
    fused.CopyFrom(qdq)
    result = FuseQDQ()(fused)
    assert result.stats["fused"] == fused_count and result.stats["ops"] == kinds
    express_quantized(fused)
    express_quantized(qop)
    assert [n.op_type for n in fused.graph.node] == [n.op_type for n in qop.graph.node]
    onnx.checker.check_model(fused, full_check=True)
    name = qdq.graph.input[0].name
    step = output_steps(qdq)[qdq.graph.output[0].name]
    default = ort.InferenceSession(qdq.SerializeToString(), providers=["CPUExecutionProvider"])  # its QDQ fusion
    for k in range(6):
        x = np.random.default_rng(k).standard_normal((1, 1, 28, 28)).astype(np.float32)
        want = default.run(None, {name: x})[0]
        assert within_one_step(list(run_ort(fused, {name: x}).values())[0], want, step) >= 0.999


def test_dropping_all_zero_weight_zero_points_changes_no_output_and_no_fusion(tmp_path):
    """quantize_static stores a zero point of zeros per channel for every symmetric weight and int32
    bias; without them the model runs the same in onnxruntime (its default session fuses the same QDQ
    groups into integer ops), FuseQDQ fuses the same groups (giving the integer ops all-zero zero points
    again) into a model that runs as the fused original does, and the bytes go."""
    from onnx_tee.passes.analysis.weights import weight_bytes
    from onnx_tee.passes.quant import DropZeroZeroPoints, FuseQDQ
    qdq = quantize(models.load("resnet_fmnist"), tmp_path / "qdq.onnx", per_channel=True, fmt="QDQ")
    zero_points = {t.name: t for t in qdq.graph.initializer if t.name.endswith("_zero_point")}
    result = DropZeroZeroPoints()(onnx.ModelProto.FromString(qdq.SerializeToString()))
    dropped = zero_points.keys() - {t.name for t in result.model.graph.initializer}
    assert result.stats["dropped"] == 2 * (9 + 1) and len(dropped) == result.stats["dropped"]   # Convs' and Gemm's W, B
    assert all(not onnx.numpy_helper.to_array(zero_points[n]).any() for n in dropped)
    assert weight_bytes(qdq) - weight_bytes(result.model) == result.stats["bytes_freed"] > 0
    fused = [FuseQDQ()(onnx.ModelProto.FromString(m.SerializeToString())) for m in (qdq, result.model)]
    assert fused[0].stats == fused[1].stats
    onnx.checker.check_model(fused[1].model, full_check=True)   # QLinearConv's required zero points are back
    name = qdq.graph.input[0].name
    sessions = [ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
                for m in (qdq, result.model, fused[0].model, fused[1].model)]
    for k in range(4):
        x = np.random.default_rng(k).standard_normal((1, 1, 28, 28)).astype(np.float32)
        outputs = [s.run(None, {name: x})[0] for s in sessions]
        np.testing.assert_array_equal(outputs[0], outputs[1])
        np.testing.assert_array_equal(outputs[2], outputs[3])


@pytest.mark.parametrize("name,per_channel,fmt", [("lenet5_fmnist", True, "QOperator"),
                                                  ("lenet5_fmnist", False, "QOperator"),
                                                  ("cnn_digits", True, "QOperator"), ("lenet5_fmnist", True, "QDQ"),
                                                  ("cnn_digits", False, "QDQ"), ("resnet_fmnist", True, "QOperator")])
def test_quantized_cnn_through_the_cli_matches_onnxruntime(tmp_path, name, per_channel, fmt):
    quantized = quantize(models.load(name), tmp_path / f"{name}_q.onnx", per_channel=per_channel, fmt=fmt)
    ops = {n.op_type for n in quantized.graph.node}
    assert {"QuantizeLinear", "QLinearConv" if fmt == "QOperator" else "Conv", "DequantizeLinear"} <= ops
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, str(ROOT / "cli.py"), "lower", str(tmp_path / f"{name}_q.onnx"),
                           "--budget", "256KiB", "-o", str(out)], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "report.json").read_text())
    assert all(p["measured"] == p["planned"] for p in report["simulation"]["partitions"])
    steps = output_steps(quantized)
    assert steps and report["simulation"]["tolerance"]["quantization_steps"] == steps
    # more inputs through `run --backend sim`, against onnxruntime on the quantizer's own model
    input_name = quantized.graph.input[0].name
    shape = [d.dim_value for d in quantized.graph.input[0].type.tensor_type.shape.dim]
    rng = np.random.default_rng(2)
    shares = []
    for k in range(4):
        x = rng.standard_normal(shape).astype(np.float32)
        got = run_in_sim(out, input_name, x, tmp_path)
        references = [run_ort(quantized, {input_name: x})]      # optimizations off: QDQ's float ops
        if fmt == "QDQ":                                        # and as onnxruntime runs it by default
            session = ort.InferenceSession(quantized.SerializeToString(), providers=["CPUExecutionProvider"])
            references.append(dict(zip([o.name for o in session.get_outputs()], session.run(None, {input_name: x}))))
        shares += [within_one_step(got[o], want[o], steps[o]) for want in references for o in want]
    assert min(shares) >= 0.999, shares


@pytest.mark.parametrize("name", ["lenet5_fmnist", "resnet_fmnist"])
def test_dynamically_quantized_cnn_through_the_cli_matches_onnxruntime(tmp_path, name):
    """quantize_dynamic (DynamicQuantizeLinear, ConvInteger / MatMulInteger, Cast, Mul) lowers; the
    simulator's outputs are within one step of onnxruntime's, the step (one unit of the last integer sum:
    a_scale * w_scale) read from onnxruntime's own run of each input."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    source, path = tmp_path / "float.onnx", tmp_path / f"{name}_dynamic.onnx"
    onnx.save(compaction_pipeline()(models.load(name)).model, source)
    quantize_dynamic(str(source), str(path), weight_type=QuantType.QInt8)
    quantized = onnx.load(str(path))
    assert {"DynamicQuantizeLinear", "ConvInteger", "MatMulInteger", "Cast"} <= {n.op_type for n in quantized.graph.node}
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, str(ROOT / "cli.py"), "lower", str(path), "--budget", "256KiB", "-o",
                           str(out)], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "report.json").read_text())
    assert all(p["measured"] == p["planned"] for p in report["simulation"]["partitions"])
    input_name, output_name = quantized.graph.input[0].name, quantized.graph.output[0].name
    step_name = dynamic_step_tensors(quantized)[output_name]
    reference = onnx.ModelProto()
    reference.CopyFrom(quantized)
    reference.graph.output.add(name=step_name)
    session = ort.InferenceSession(reference.SerializeToString(), providers=["CPUExecutionProvider"])
    shape = [d.dim_value for d in quantized.graph.input[0].type.tensor_type.shape.dim]
    rng = np.random.default_rng(3)
    for k in range(3):
        x = rng.standard_normal(shape).astype(np.float32)
        got = run_in_sim(out, input_name, x, tmp_path)
        want, scale = session.run([output_name, step_name], {input_name: x})
        assert within_one_step(got[output_name], want, float(np.max(scale))) >= 0.999


def test_dynamic_step_tensor_is_the_scale_of_the_last_integer_sum():
    from onnx import TensorProto, helper, numpy_helper
    n = helper.make_node
    inits = [numpy_helper.from_array(np.ones((4, 3), np.int8), "w"), numpy_helper.from_array(np.float32(0.1), "ws"),
             numpy_helper.from_array(np.zeros(3, np.float32), "bias")]
    nodes = [n("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]), n("Mul", ["xs", "ws"], ["s"]),
             n("MatMulInteger", ["xq", "w", "xz"], ["acc"]), n("Cast", ["acc"], ["accf"], to=TensorProto.FLOAT),
             n("Mul", ["accf", "s"], ["y"]), n("Add", ["y", "bias"], ["z"]), n("Relu", ["y"], ["r"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, [2, 3]) for o in ("y", "z", "r")],
                              initializer=inits)
    assert dynamic_step_tensors(helper.make_model(graph)) == {"y": "s", "z": "s"}   # Relu(y): no step


def test_quantized_outputs_are_compared_in_steps():
    from onnx_tee.passes.build.lowered import PARITY_STEP_SHARE, parity_tolerance
    ref = np.linspace(-3, 3, 2000).astype(np.float32)
    one_step_off = ref.copy()
    one_step_off[::500] += 0.05
    assert parity_tolerance(one_step_off, ref, step=0.05).ok                  # 4 of 2000 one step off
    assert not parity_tolerance(one_step_off, ref).ok                         # as a float output: a miss
    many = ref + np.where(np.arange(ref.size) % 100 == 0, 0.1, 0.0).astype(np.float32)
    result = parity_tolerance(many, ref, step=0.05)                            # 1 % two steps off
    assert not result.ok and result.within_step < PARITY_STEP_SHARE


def test_qgemm_outside_the_rewrite_is_left_alone():
    """transA=1 (no 1x1-conv form): the node stays, and the support check names it."""
    from onnx import TensorProto, helper, numpy_helper
    from onnx_tee.passes.errors import UnsupportedModelError
    from lower_harness import lower
    b = numpy_helper.from_array(np.ones((4, 3), np.int8), "b")
    consts = [numpy_helper.from_array(np.asarray(v, t), n) for n, v, t in
              (("a_s", 0.1, np.float32), ("a_zp", 0, np.uint8), ("b_s", 0.1, np.float32), ("b_zp", 0, np.int8),
               ("y_s", 0.2, np.float32), ("y_zp", 0, np.uint8))]
    node = helper.make_node("QGemm", ["a", "a_s", "a_zp", "b", "b_s", "b_zp", "", "y_s", "y_zp"], ["y"],
                            domain="com.microsoft", transA=1)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("a", TensorProto.UINT8, [4, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.UINT8, [2, 3])], [b, *consts])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.microsoft", 1)])
    assert not ExpressQGemm()(model).modified
    with pytest.raises(UnsupportedModelError, match="QGemm"):
        lower(model)


def test_qoperator_residual_cnn_runs_its_integer_add_and_pool(tmp_path):
    """A residual CNN's QOperator form runs onnxruntime's QLinearAdd / QLinearGlobalAveragePool as they are
    (lower_model raises on a parity or memory mismatch); a QOperator op without a kernel is refused by
    name, pointing to the QDQ format."""
    from onnx_tee.passes import lower_model
    from onnx_tee.passes.errors import UnsupportedModelError
    qop = quantize(models.load("resnet_fmnist"), tmp_path / "qop.onnx", per_channel=True)
    assert {"QLinearAdd", "QLinearGlobalAveragePool"} <= {n.op_type for n in qop.graph.node}
    lowered = lower_model(qop, 1 << 20)
    assert {"QLinearAdd", "QLinearGlobalAveragePool"} <= {n.op_type for n in lowered.model.graph.node}
    pool = next(n for n in qop.graph.node if n.op_type == "QLinearGlobalAveragePool")
    pool.op_type = "QLinearAveragePool"
    with pytest.raises(UnsupportedModelError, match=r"QLinearAveragePool.*QuantFormat\.QDQ"):
        lower_model(qop, 1 << 20)
