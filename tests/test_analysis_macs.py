"""MACs per node: formulas checked against multiplications counted by explicit loops."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st
from onnx import helper, numpy_helper

from onnx_tee import models
from onnx_tee.passes.analysis.macs import model_macs, node_macs
from onnx_tee.passes.analysis.shapes import infer_static_shapes
from conftest import make_model


def counted_conv_macs(n, c_in, h, w, c_out, k, stride, pad, dilation, group) -> int:
    """Count the multiplies of a direct convolution loop (padded taps included, like im2col)."""
    out_h = (h + 2 * pad - dilation * (k - 1) - 1) // stride + 1
    out_w = (w + 2 * pad - dilation * (k - 1) - 1) // stride + 1
    count = 0
    for _b, oc, _y, _x in itertools.product(range(n), range(c_out), range(out_h), range(out_w)):
        count += (c_in // group) * k * k
    return count


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 2), groups=st.integers(1, 3), cin_per=st.integers(1, 3), cout_per=st.integers(1, 3),
       size=st.integers(4, 9), k=st.integers(1, 3), stride=st.integers(1, 2), pad=st.integers(0, 1),
       dilation=st.integers(1, 2))
def test_conv_macs_match_loop_count(n, groups, cin_per, cout_per, size, k, stride, pad, dilation):
    assume(size + 2 * pad >= dilation * (k - 1) + 1)  # the dilated kernel fits: at least one output
    c_in, c_out = groups * cin_per, groups * cout_per
    weight = numpy_helper.from_array(np.zeros((c_out, cin_per, k, k), np.float32), "w")
    node = helper.make_node("Conv", ["x", "w"], ["y"], group=groups, strides=[stride, stride],
                            pads=[pad] * 4, dilations=[dilation, dilation])
    model = make_model([node], [("x", [n, c_in, size, size])], [("y", None)], [weight])
    infos = infer_static_shapes(model)
    assert node_macs(node, infos) == counted_conv_macs(n, c_in, size, size, c_out, k, stride, pad, dilation, groups)


def test_gemm_matmul_convtranspose_macs():
    w = numpy_helper.from_array(np.zeros((10, 6), np.float32), "w")        # transB: N=10, K=6
    m3 = numpy_helper.from_array(np.zeros((2, 6, 5), np.float32), "m3")
    ct = numpy_helper.from_array(np.zeros((4, 3, 3, 3), np.float32), "ct")  # C_in=4, C_out=3
    nodes = [helper.make_node("Gemm", ["a", "w"], ["g"], transB=1),
             helper.make_node("MatMul", ["b", "m3"], ["mm"]),
             helper.make_node("ConvTranspose", ["x", "ct"], ["yt"], strides=[2, 2]),
             helper.make_node("Relu", ["g"], ["r"])]
    model = make_model(nodes, [("a", [7, 6]), ("b", [3, 1, 4, 6]), ("x", [1, 4, 5, 5])],
                       [("r", None), ("mm", None), ("yt", None)], [w, m3, ct])
    macs = model_macs(model, infer_static_shapes(model))
    values = list(macs.values())
    assert values[0] == 7 * 10 * 6
    assert values[1] == 3 * 2 * 4 * 5 * 6            # batch (3,2), M=4, N=5, K=6
    assert values[2] == 1 * 4 * 25 * 3 * 9            # every input element through the 3x3 kernel, 3 outputs
    assert values[3] == 0


@pytest.mark.parametrize("op, gates", [("LSTM", 4), ("GRU", 3), ("RNN", 1)])
@pytest.mark.parametrize("direction, layout", [("forward", 0), ("bidirectional", 1)])
def test_recurrent_macs_count_every_gate_step_and_direction(op, gates, direction, layout):
    seq, batch, inp, hidden = 7, 2, 5, 3
    dirs = 2 if direction == "bidirectional" else 1
    w = numpy_helper.from_array(np.zeros((dirs, gates * hidden, inp), np.float32), "w")
    r = numpy_helper.from_array(np.zeros((dirs, gates * hidden, hidden), np.float32), "r")
    x_shape = [batch, seq, inp] if layout else [seq, batch, inp]
    nodes = [helper.make_node(op, ["x", "w", "r"], ["y"], hidden_size=hidden, direction=direction, layout=layout)]
    model = make_model(nodes, [("x", x_shape)], [("y", None)], [w, r])
    counted = sum(inp + hidden for _step in range(seq) for _b in range(batch) for _d in range(dirs)
                  for _unit in range(gates * hidden))   # each gate unit: a dot with x_t, one with h_(t-1)
    assert list(model_macs(model, infer_static_shapes(model)).values()) == [counted]


# Published conv + fc multiply-accumulates at 224x224 (torchvision's model table, which lists MACs as
# "GFLOPS"): ResNet-50 4.09 G, DenseNet-121 2.83 G, SqueezeNet 1.1 0.35 G, VGG-19 19.63 G.
@pytest.mark.parametrize("name, published", [("resnet50", 4.09e9), ("densenet121", 2.83e9), ("squeezenet", 0.35e9),
                                             pytest.param("vgg19", 19.63e9, marks=pytest.mark.slow)])
def test_zoo_macs_match_published_figures(name, published):
    model = models.load(name)
    assert sum(model_macs(model, infer_static_shapes(model)).values()) == pytest.approx(published, rel=0.005)
