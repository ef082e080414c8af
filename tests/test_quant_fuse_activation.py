"""FuseQDQ drops a Relu / Clip between a quantized Conv / MatMul and its QuantizeLinear exactly when the
QuantizeLinear's saturation implies it (lo <= y_s (qmin - y_zp), hi >= y_s (qmax - y_zp)), and leaves
it otherwise.  hypothesis draws the zero point, the output scale and the Clip bounds around the boundary;
the fused model (run by onnxruntime, which rounds the float Conv once more, and by the C interpreter) is
compared with onnxruntime on the unfused QDQ model, graph optimizations off."""
from __future__ import annotations

import numpy as np
import onnx
from hypothesis import HealthCheck, given, settings, strategies as st
from onnx import TensorProto, helper, numpy_helper

from conftest import run_ort
from lower_harness import lower, run
from onnx_tee.passes.quant import FuseQDQ


def qdq_conv_act(act: str, y_s: float, y_zp: int, lo: float, hi: float, seed: int) -> onnx.ModelProto:
    """uint8 x -> DQ -> Conv (per-channel int8 weights, int32 bias) -> Relu / Clip(lo, hi) -> Q(y_s, y_zp)."""
    rng = np.random.default_rng(seed)
    c_in, c_out = 3, 4
    x_s, w_s = np.float32(0.02), rng.uniform(0.002, 0.01, c_out).astype(np.float32)
    inits = [numpy_helper.from_array(v, k) for k, v in {
        "x_s": x_s, "x_zp": np.uint8(128), "w": rng.integers(-127, 127, (c_out, c_in, 3, 3)).astype(np.int8),
        "w_s": w_s, "w_zp": np.zeros(c_out, np.int8), "b": rng.integers(-2000, 2000, c_out).astype(np.int32),
        "b_s": (x_s * w_s).astype(np.float32), "b_zp": np.zeros(c_out, np.int32), "y_s": np.float32(y_s),
        "y_zp": np.uint8(y_zp), "lo": np.float32(lo), "hi": np.float32(hi)}.items()]
    n = helper.make_node
    nodes = [n("DequantizeLinear", ["x", "x_s", "x_zp"], ["xf"]),
             n("DequantizeLinear", ["w", "w_s", "w_zp"], ["wf"], axis=0),
             n("DequantizeLinear", ["b", "b_s", "b_zp"], ["bf"], axis=0),
             n("Conv", ["xf", "wf", "bf"], ["c"], pads=[1, 1, 1, 1]),
             n("Relu", ["c"], ["a"]) if act == "Relu" else n("Clip", ["c", "lo", "hi"], ["a"]),
             n("QuantizeLinear", ["a", "y_s", "y_zp"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.UINT8, [1, c_in, 6, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.UINT8, [1, c_out, 6, 6])],
                              initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)], ir_version=10)


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(act=st.sampled_from(["Relu", "Clip"]), y_zp=st.sampled_from([0, 0, 3, 128]),
       y_s=st.sampled_from([0.005, 0.01, float(np.float32(6 / 255)), 0.03, 0.05]),
       lo=st.sampled_from([-1.0, -0.01, 0.0, 0.2]),
       hi=st.sampled_from([1.0, 4.0, 6.0, 100.0]), seed=st.integers(0, 1000))
def test_an_implied_activation_is_fused_away_and_no_other(act, y_zp, y_s, lo, hi, seed):
    model = qdq_conv_act(act, y_s, y_zp, lo, hi, seed)
    lo, hi = (0.0, np.inf) if act == "Relu" else (lo, hi)
    implied = lo <= float(np.float32(y_s)) * (0 - y_zp) and hi >= float(np.float32(y_s)) * (255 - y_zp)
    fused = onnx.ModelProto()
    fused.CopyFrom(model)
    result = FuseQDQ()(fused)
    ops = [node.op_type for node in fused.graph.node]
    assert ("QLinearConv" in ops and act not in ops) == implied, ops
    x = {"x": np.random.default_rng(seed).integers(0, 255, (1, 3, 6, 6), endpoint=True).astype(np.uint8)}
    want = run_ort(model, x)["y"].astype(np.int32)
    for got in (run_ort(fused, x)["y"], run(lower(fused), x)[0]["y"]):
        diff = np.abs(got.astype(np.int32) - want)
        assert diff.max() <= 1 and (diff == 0).mean() >= 0.95, (diff.max(), (diff == 0).mean())
    assert result.modified == implied
