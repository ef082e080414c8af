"""Property tests of lowering: random window ops (Conv, ConvTranspose, MaxPool, AveragePool with
random kernels, strides, dilations, pads, auto_pad, ceil_mode) and random broadcasting chains are
lowered, accepted by the C validator (its shape rules agree with ONNX's) and match onnxruntime."""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, assume, given, note, settings, strategies as st
from onnx import helper, numpy_helper

from conftest import make_model
from onnx_tee.passes.errors import UnsupportedModelError
from lower_harness import feeds_for, lower, relative_errors

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def window_case(draw):
    op = draw(st.sampled_from(["Conv", "ConvTranspose", "MaxPool", "AveragePool"]))
    spatial = draw(st.sampled_from([1, 2]))
    size = [draw(st.integers(3, 12)) for _ in range(spatial)]
    kernel = [draw(st.integers(1, 4)) for _ in range(spatial)]
    strides = [draw(st.integers(1, 3)) for _ in range(spatial)]
    auto_pad = draw(st.sampled_from(["NOTSET", "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"]))
    # onnxruntime supports no dilation with SAME padding
    dilations = [1 if auto_pad.startswith("SAME") else draw(st.integers(1, 2)) for _ in range(spatial)]
    if auto_pad.startswith("SAME"):  # onnxruntime computes negative SAME pads when stride > kernel
        strides = [min(s, k) for s, k in zip(strides, kernel)]
    attrs = {"strides": strides, "kernel_shape": kernel}
    if auto_pad == "NOTSET":
        attrs["pads"] = [draw(st.integers(0, k - 1)) for k in kernel] * 2
    else:
        attrs["auto_pad"] = auto_pad
    channels = draw(st.integers(1, 4))
    group = 1
    inits = []
    if op in ("Conv", "ConvTranspose"):
        attrs["dilations"] = dilations
        group = draw(st.sampled_from([1, channels]))
        out_channels = group * draw(st.integers(1, 3))
        rng = np.random.default_rng(draw(st.integers(0, 1000)))
        w_shape = [out_channels, channels // group] if op == "Conv" else [channels, out_channels // group]
        inits = [numpy_helper.from_array(rng.standard_normal(w_shape + kernel).astype(np.float32), "W"),
                 numpy_helper.from_array(rng.standard_normal(out_channels).astype(np.float32), "B")]
        attrs["group"] = group
        if op == "ConvTranspose":
            if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
                assume(False)  # onnxruntime and the ONNX spec disagree on ConvTranspose SAME padding
            attrs["output_padding"] = [draw(st.integers(0, s - 1)) for s in strides]
        inputs = ["x", "W", "B"]
    else:
        inputs = ["x"]
        attrs["ceil_mode"] = draw(st.integers(0, 1))
        if op == "MaxPool":
            attrs["dilations"] = dilations
        else:
            attrs["count_include_pad"] = draw(st.integers(0, 1))
    node = helper.make_node(op, inputs, ["y"], **attrs)
    return make_model([node], [("x", [draw(st.integers(1, 2)), channels, *size])], [("y", None)], inits, opset=19)


@SETTINGS
@given(window_case())
def test_window_ops_match_onnxruntime(model):
    note(f"{model.graph.node[0]} input {model.graph.input[0].type.tensor_type.shape}")
    try:
        lowered = lower(model)
    except UnsupportedModelError as exc:
        # windows that do not fit the input, and ceil_mode sizes on which ONNX shape inference and
        # onnxruntime disagree, are refused by the support check: not a lowering case
        assume(not any(why in str(exc) for why in ("does not fit", "cannot be inferred", "shape inference gives", "is empty")))
        raise
    errors, _ = relative_errors(lowered, feeds_for(lowered))
    assert max(errors.values()) < 1e-5, errors


@st.composite
def broadcast_chain(draw):
    rank = draw(st.integers(1, 4))
    shape = [draw(st.integers(1, 5)) for _ in range(rank)]
    nodes, inits, current = [], [], "x"
    rng = np.random.default_rng(draw(st.integers(0, 1000)))
    for k in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["Add", "Sub", "Mul", "Div", "Sum"]))
        other_rank = draw(st.integers(0, rank))
        other = [draw(st.sampled_from([1, d])) for d in shape[rank - other_rank:]]
        data = rng.standard_normal(other).astype(np.float32)
        if op == "Div":
            data = np.sign(data) * (np.abs(data) + 0.5)
        inits.append(numpy_helper.from_array(np.asarray(data, np.float32), f"c{k}"))
        operands = [current, f"c{k}"] if draw(st.booleans()) else [f"c{k}", current]
        nodes.append(helper.make_node(op, operands, [f"t{k}"]))
        current = f"t{k}"
    nodes.append(helper.make_node("Relu", [current], ["y"]))
    return make_model(nodes, [("x", shape)], [("y", None)], inits)


@SETTINGS
@given(broadcast_chain())
def test_broadcasting_chains_match_onnxruntime(model):
    lowered = lower(model)
    errors, _ = relative_errors(lowered, feeds_for(lowered))
    assert max(errors.values()) < 1e-5, errors
