"""Property tests: BN/affine folding and constant folding on random small graphs keep
onnxruntime outputs, and leave nothing of what they fold."""
from __future__ import annotations

import collections

import numpy as np
import onnx
from hypothesis import HealthCheck, given, settings, strategies as st
from onnx import helper, numpy_helper

from onnx_tee.passes import FoldBatchNorm, FoldConstants, MergeAffineChains, functional
from conftest import assert_outputs_close, make_model, random_inputs, run_ort

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def per_channel_shape(draw, channels: int, rank: int) -> tuple[int, ...]:
    options = [(channels,) + (1,) * (rank - 2), (1, channels) + (1,) * (rank - 2), (1,)]
    if rank == 2:
        options.append((channels,))
    return draw(st.sampled_from(options))


@st.composite
def affine_chains(draw, channels: int, rank: int, x: str, prefix: str):
    """A random chain of BatchNormalization / Mul / Add / Sub by per-channel constants."""
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    nodes, inits, tensor = [], [], x
    for k in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["BatchNormalization", "Mul", "Add", "Sub"]))
        out = f"{prefix}{k}"
        if op == "BatchNormalization":
            params = [rng.uniform(0.5, 1.5, channels), rng.normal(0, 0.5, channels), rng.normal(0, 0.5, channels),
                      rng.uniform(0.5, 2.0, channels)]
            names = [f"{out}_{p}" for p in ("s", "b", "m", "v")]
            inits += [numpy_helper.from_array(p.astype(np.float32), n) for p, n in zip(params, names)]
            nodes.append(helper.make_node(op, [tensor] + names, [out], epsilon=draw(st.sampled_from([1e-5, 1e-3]))))
        else:
            shape = per_channel_shape(draw, channels, rank)
            value = rng.uniform(0.5, 1.5, shape) if op == "Mul" else rng.normal(0, 1, shape)
            inits.append(numpy_helper.from_array(value.astype(np.float32), f"{out}_c"))
            operands = [f"{out}_c", tensor] if op != "Sub" and draw(st.booleans()) else [tensor, f"{out}_c"]
            nodes.append(helper.make_node(op, operands, [out]))
        tensor = out
    return nodes, inits, tensor


@st.composite
def producer_with_chain(draw):
    """Conv / ConvTranspose / Gemm with random attributes, followed by a random affine chain."""
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    kind = draw(st.sampled_from(["Conv", "ConvTranspose", "Gemm"]))
    group = draw(st.integers(1, 2)) if kind != "Gemm" else 1
    c_in, c_out = group * draw(st.integers(1, 3)), group * draw(st.integers(1, 3))
    has_bias = draw(st.booleans())
    inits = []
    if kind == "Gemm":
        trans_b = draw(st.integers(0, 1))
        weight = rng.normal(0, 1, (c_out, c_in) if trans_b else (c_in, c_out))
        attrs = dict(transB=trans_b, alpha=draw(st.sampled_from([1.0, 0.5])), beta=draw(st.sampled_from([1.0, 2.0])))
        x_shape, rank = [draw(st.integers(1, 3)), c_in], 2
        bias_shape = draw(st.sampled_from([(c_out,), (1, c_out), (1,)]))
    else:
        k = draw(st.integers(1, 3))
        shape = (c_out, c_in // group, k, k) if kind == "Conv" else (c_in, c_out // group, k, k)
        weight = rng.normal(0, 1, shape)
        attrs = dict(group=group, strides=[draw(st.integers(1, 2))] * 2)
        x_shape, rank = [draw(st.integers(1, 2)), c_in, draw(st.integers(3, 6)), draw(st.integers(3, 6))], 4
        bias_shape = (c_out,)
    inits.append(numpy_helper.from_array(weight.astype(np.float32), "W"))
    inputs = ["x", "W"]
    if has_bias:
        inits.append(numpy_helper.from_array(rng.normal(0, 1, bias_shape).astype(np.float32), "B"))
        inputs.append("B")
    nodes = [helper.make_node(kind, inputs, ["y"], **attrs)]
    chain, chain_inits, out = draw(affine_chains(c_out, rank, "y", "a"))
    return make_model(nodes + chain, [("x", x_shape)], [(out, None)], inits + chain_inits), len(chain)


@SETTINGS
@given(producer_with_chain())
def test_fold_batchnorm_keeps_outputs_and_removes_the_chain(case):
    model, _ = case
    folded = functional(FoldBatchNorm())(model)
    assert folded.modified
    assert [n.op_type for n in folded.model.graph.node] == [model.graph.node[0].op_type]
    onnx.checker.check_model(folded.model, full_check=True)
    feeds = random_inputs(model, seed=1)
    assert_outputs_close(run_ort(model, feeds), run_ort(folded.model, feeds))


@st.composite
def pooled_batchnorm_chain(draw):
    """MaxPool -> BatchNormalization -> random Mul/Add/Sub chain: nothing to fold into."""
    channels = draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    params = [rng.uniform(0.5, 1.5, channels), rng.normal(0, 0.5, channels), rng.normal(0, 0.5, channels),
              rng.uniform(0.5, 2.0, channels)]
    inits = [numpy_helper.from_array(p.astype(np.float32), n) for p, n in zip(params, ["s", "b", "m", "v"])]
    nodes = [helper.make_node("MaxPool", ["x"], ["p"], kernel_shape=[2, 2]),
             helper.make_node("BatchNormalization", ["p", "s", "b", "m", "v"], ["n"])]
    chain, chain_inits, out = draw(affine_chains(channels, 4, "n", "a"))
    return make_model(nodes + chain, [("x", [1, channels, 4, 4])], [(out, None)], inits + chain_inits), chain


@SETTINGS
@given(pooled_batchnorm_chain())
def test_merge_affine_chain_leaves_the_batchnorms_only(case):
    model, chain = case
    merged = functional(MergeAffineChains())(model).model
    ops = collections.Counter(n.op_type for n in merged.graph.node)
    assert ops["Mul"] == ops["Add"] == ops["Sub"] == 0
    assert ops["BatchNormalization"] == 1 + sum(step.op_type == "BatchNormalization" for step in chain)
    feeds = random_inputs(model, seed=2)
    assert_outputs_close(run_ort(model, feeds), run_ort(merged, feeds))


@st.composite
def constant_chains(draw):
    """A random chain of shape and arithmetic ops over constants, finally added to input x."""
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    shape = tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=3)))
    value = rng.normal(0, 1, shape).astype(np.float32)
    inits = [numpy_helper.from_array(value, "c0")]
    nodes, tensor = [], "c0"
    for k in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["Reshape", "Transpose", "Unsqueeze", "Squeeze", "Cast", "Concat", "Gather",
                                   "Mul", "Add", "Sub", "Div", "Shape"]))
        out = f"c{k + 1}"
        rank = value.ndim
        if op == "Reshape":
            target = np.array([int(value.size)] if rank > 1 else [1, -1], np.int64)
            inits.append(numpy_helper.from_array(target, f"{out}_shape"))
            nodes.append(helper.make_node(op, [tensor, f"{out}_shape"], [out]))
            value = value.reshape(target)
        elif op == "Transpose":
            perm = draw(st.permutations(list(range(rank))))
            nodes.append(helper.make_node(op, [tensor], [out], perm=perm))
            value = value.transpose(perm)
        elif op == "Unsqueeze" and rank < 4:
            inits.append(numpy_helper.from_array(np.array([0], np.int64), f"{out}_axes"))
            nodes.append(helper.make_node(op, [tensor, f"{out}_axes"], [out]))
            value = value[None]
        elif op == "Squeeze" and 1 in value.shape and rank > 1:
            axis = value.shape.index(1)
            inits.append(numpy_helper.from_array(np.array([axis], np.int64), f"{out}_axes"))
            nodes.append(helper.make_node(op, [tensor, f"{out}_axes"], [out]))
            value = np.squeeze(value, axis)
        elif op == "Cast":  # through float64 and back: exact
            nodes += [helper.make_node(op, [tensor], [f"{out}_d"], to=onnx.TensorProto.DOUBLE),
                      helper.make_node(op, [f"{out}_d"], [out], to=onnx.TensorProto.FLOAT)]
        elif op == "Concat":
            nodes.append(helper.make_node(op, [tensor, tensor], [out], axis=0))
            value = np.concatenate([value, value], 0)
        elif op == "Gather":
            indices = np.array([0] * value.shape[0], np.int64)
            inits.append(numpy_helper.from_array(indices, f"{out}_idx"))
            nodes.append(helper.make_node(op, [tensor, f"{out}_idx"], [out], axis=0))
            value = value[indices]
        elif op in ("Mul", "Add", "Sub", "Div"):
            other = rng.uniform(0.5, 1.5, value.shape[-1:]).astype(np.float32)
            inits.append(numpy_helper.from_array(other, f"{out}_k"))
            nodes.append(helper.make_node(op, [tensor, f"{out}_k"], [out]))
        elif op == "Shape":  # the shape of x is static: Shape(x) -> Reshape(c, Shape(x)) folds once known
            continue
        else:
            continue
        tensor = out
    nodes.append(helper.make_node("Shape", ["x"], ["x_shape"]))
    nodes.append(helper.make_node("Reshape", [tensor, "flat"], ["flat_c"]))
    inits.append(numpy_helper.from_array(np.array([-1], np.int64), "flat"))
    nodes.append(helper.make_node("ReduceSum", ["flat_c"], ["total"], keepdims=1))
    nodes.append(helper.make_node("Expand", ["total", "x_shape"], ["t"]))  # t = sum(c) broadcast to x's shape
    nodes.append(helper.make_node("Add", ["x", "t"], ["y"]))
    return make_model(nodes, [("x", [2, 3])], [("y", [2, 3])], inits)


@SETTINGS
@given(constant_chains())
def test_fold_constants_leaves_only_the_input_dependent_node_and_same_bits(model):
    folded = functional(FoldConstants())(model)
    assert [n.op_type for n in folded.model.graph.node] == ["Add"]
    onnx.checker.check_model(folded.model, full_check=True)
    feeds = random_inputs(model, seed=3)
    expected, actual = run_ort(model, feeds), run_ort(folded.model, feeds)
    np.testing.assert_array_equal(actual["y"], expected["y"])  # same kernels, same bits
