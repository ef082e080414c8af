"""The whole compaction pipeline on random small CNN-like graphs: outputs unchanged, and none of
what it removes is left (Constant, Identity, Dropout, dead nodes, unused or duplicate weights)."""
from __future__ import annotations

import hashlib

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st
from onnx import helper, numpy_helper

from onnx_tee.passes.compact import compaction_pipeline
from onnx_tee.passes.compact.graph_edit import referenced_names
from conftest import assert_outputs_close, make_model, random_inputs, run_ort

LAYERS = ["conv", "bn", "scale", "relu", "identity", "dropout", "pool", "concat", "dead", "constant_scale"]


@st.composite
def random_cnns(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    channels = c_in = draw(st.integers(1, 3))
    nodes, inits, tensor = [], [], "x"
    names = iter(f"t{i}" for i in range(1000))

    def const(array, prefix="k"):
        name = next(names) + prefix
        inits.append(numpy_helper.from_array(array.astype(np.float32), name))
        return name

    shared = rng.uniform(0.5, 1.5, (channels, 1, 1))  # reused: produces identical initializers
    for layer in draw(st.lists(st.sampled_from(LAYERS), min_size=1, max_size=7)):
        out = next(names)
        if layer == "conv":
            c_out = draw(st.integers(1, 3))
            w = const(rng.normal(0, 0.5, (c_out, channels, 3, 3)))
            inputs = [tensor, w] + ([const(rng.normal(0, 0.1, c_out))] if draw(st.booleans()) else [])
            nodes.append(helper.make_node("Conv", inputs, [out], pads=[1, 1, 1, 1]))
            channels = c_out
        elif layer == "bn":
            params = [const(rng.uniform(0.5, 1.5, channels)), const(rng.normal(0, 0.1, channels)),
                      const(rng.normal(0, 0.1, channels)), const(rng.uniform(0.5, 1.5, channels))]
            nodes.append(helper.make_node("BatchNormalization", [tensor] + params, [out]))
        elif layer == "scale":
            mul = next(names)
            nodes.append(helper.make_node("Mul", [tensor, const(shared if shared.shape[0] == channels
                                                                else rng.uniform(0.5, 1.5, (channels, 1, 1)))], [mul]))
            nodes.append(helper.make_node("Add", [mul, const(rng.normal(0, 0.1, (channels, 1, 1)))], [out]))
        elif layer == "constant_scale":  # a Constant node reshaped by Unsqueeze, like DenseNet's Scale layers
            vec, axes, col = next(names), next(names), next(names)
            nodes.append(helper.make_node("Constant", [], [vec], value=numpy_helper.from_array(
                rng.uniform(0.5, 1.5, channels).astype(np.float32))))
            nodes.append(helper.make_node("Constant", [], [axes], value=numpy_helper.from_array(
                np.array([1, 2], np.int64))))
            nodes.append(helper.make_node("Unsqueeze", [vec, axes], [col]))
            nodes.append(helper.make_node("Mul", [tensor, col], [out]))
        elif layer == "relu":
            nodes.append(helper.make_node("Relu", [tensor], [out]))
        elif layer == "identity":
            nodes.append(helper.make_node("Identity", [tensor], [out]))
        elif layer == "dropout":
            nodes.append(helper.make_node("Dropout", [tensor], [out]))
        elif layer == "pool":
            nodes.append(helper.make_node("MaxPool", [tensor], [out], kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
        elif layer == "concat":
            branch = next(names)
            nodes.append(helper.make_node("Relu", [tensor], [branch]))
            nodes.append(helper.make_node("Concat", [tensor, branch], [out], axis=1))
            channels *= 2
        elif layer == "dead":
            nodes.append(helper.make_node("Sigmoid", [tensor], [next(names)]))
            const(rng.normal(size=3), "unused")
            continue
        tensor = out
    if tensor == "x":
        nodes.append(helper.make_node("Relu", ["x"], ["y0"]))
        tensor = "y0"
    return make_model(nodes, [("x", [1, c_in, 5, 5])], [(tensor, None)], inits)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_cnns())
def test_compaction_pipeline_on_random_cnns(model):
    compacted = compaction_pipeline(validate=True)(model).model  # checked after every pass
    feeds = random_inputs(model, seed=4)
    assert_outputs_close(run_ort(model, feeds), run_ort(compacted, feeds))
    # an Identity/Dropout straight from the graph input to the graph output must stay: it names the output
    output = compacted.graph.output[0].name
    ops = [n.op_type for n in compacted.graph.node if not (n.input[0] == "x" and n.output[0] == output)]
    assert not {"Constant", "Identity", "Dropout", "Sigmoid", "Unsqueeze"} & set(ops)
    inits = compacted.graph.initializer
    assert {t.name for t in inits} <= referenced_names(compacted.graph)
    digests = [(t.data_type, tuple(t.dims), hashlib.sha256(t.raw_data or numpy_helper.to_array(t).tobytes()).digest())
               for t in inits]
    assert len(set(digests)) == len(digests)
    for node in compacted.graph.node:  # nothing affine left right after a Conv
        if node.op_type == "Conv":
            readers = [n.op_type for n in compacted.graph.node if node.output[0] in n.input]
            assert not {"BatchNormalization", "Mul", "Add"} & set(readers) or len(readers) > 1
