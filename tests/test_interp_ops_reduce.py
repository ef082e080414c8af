"""Reduce*, LayerNormalization, InstanceNormalization, GroupNormalization, LogSoftmax and batched
MatMul lowered to bodies and run in the C interpreter, against onnxruntime on the same model (every
opset form of the axes: attribute, constant input, noop_with_empty_axes), with the plan's memory
equal to the measured high-water mark; and a small transformer block end to end through the CLI."""
from __future__ import annotations

import functools

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import i64, make_model, node, weight
from lower_harness import feeds_for, lower, lower_through_the_cli, relative_errors

RNG = np.random.default_rng(11)
w = functools.partial(weight, RNG)
REDUCES = ("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
           "ReduceLogSumExp", "ReduceSumSquare")


X4 = [("x", [2, 6, 5, 7])]


def _reduce_cases():
    cases = {}
    for op in REDUCES:
        cases[f"{op}_attr_axes_13"] = ([node(op, ["x"], axes=[1, 3], keepdims=1)], X4, [], 13 if op != "ReduceSum" else 11)
        cases[f"{op}_input_axes_18_drop"] = ([node(op, ["x", "ax"], keepdims=0)], X4, [i64("ax", [-1])], 18)
        cases[f"{op}_all_axes_18"] = ([node(op, ["x"], keepdims=0)], X4, [], 18)
        cases[f"{op}_noop_18"] = ([node(op, ["x"], noop_with_empty_axes=1)], X4, [], 18)
        cases[f"{op}_middle_axes_18"] = ([node(op, ["x", "ax"])], X4, [i64("ax", [0, 2])], 18)
    # products stay finite and away from 0 with inputs of magnitude ~1
    return cases


CASES = {
    **_reduce_cases(),
    "layer_norm_last": ([node("LayerNormalization", ["x", "S", "B"], epsilon=1e-3)], X4, [w("S", [7]), w("B", [7])],
                        17),
    "layer_norm_axis1_no_bias": ([node("LayerNormalization", ["x", "S"], axis=1)], X4, [w("S", [6, 5, 7])], 17),
    "layer_norm_negative_axis": ([node("LayerNormalization", ["x", "S", "B"], axis=-2)], X4,
                                 [w("S", [5, 7]), w("B", [1, 5, 7])], 17),
    "instance_norm": ([node("InstanceNormalization", ["x", "S", "B"], epsilon=1e-4)], X4, [w("S", [6]), w("B", [6])],
                      17),
    "group_norm_18": ([node("GroupNormalization", ["x", "S", "B"], num_groups=3)], X4, [w("S", [3]), w("B", [3])], 18),
    "group_norm_21": ([node("GroupNormalization", ["x", "S", "B"], num_groups=2, epsilon=1e-3)], X4,
                      [w("S", [6]), w("B", [6])], 21),
    "group_norm_21_inside": ([node("GroupNormalization", ["x", "S", "B"], ["g"], num_groups=6),
                              node("Relu", ["g"], ["r"]), node("ReduceMean", ["r", "ax"])], X4,
                             [w("S", [6]), w("B", [6]), i64("ax", [2, 3])], 21),
    "log_softmax_13": ([node("LogSoftmax", ["x"], axis=1)], X4, [], 13),
    "log_softmax_11_coerced": ([node("LogSoftmax", ["x"], axis=2)], X4, [], 11),
    "log_softmax_last_in_place": ([node("Relu", ["x"], ["r"]), node("LogSoftmax", ["r"])], X4, [], 13),
    "matmul_attention_scores": ([node("MatMul", ["x", "k"])], [("x", [2, 3, 5, 4]), ("k", [2, 3, 4, 5])], [], 17),
    "matmul_weights_right_rank3": ([node("MatMul", ["x", "W"])], [("x", [2, 9, 8])], [w("W", [8, 12])], 17),
    "matmul_broadcast_batch": ([node("MatMul", ["x", "W"])], [("x", [3, 1, 4, 6])], [w("W", [2, 6, 5])], 17),
}


def build(nodes, inputs, inits, opset):
    outputs = [o for n in nodes for o in n.output if o and not any(o in m.input for m in nodes)]
    if any(n.op_type == "GroupNormalization" for n in nodes):
        # onnx infers no shape past GroupNormalization (a function op) and its checker calls
        # GroupNormalization-18 deprecated (scale/bias per group, fixed in 21); exporters still write
        # it and onnxruntime runs it: the project's shape inference fills its output in
        graph = helper.make_graph(nodes, "test", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s)
                                                  for n, s in inputs],
                                  [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
                                  initializer=inits)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)
    return make_model(nodes, inputs, [(o, None) for o in outputs], inits, opset=opset)


@pytest.mark.parametrize("case", sorted(CASES))
def test_op_matches_onnxruntime_with_planned_memory(case):
    lowered = lower(build(*CASES[case]))
    errors, results = relative_errors(lowered, feeds_for(lowered))
    assert max(errors.values()) < 1e-5, errors
    for run, planned in zip(results, lowered.result.plan.partitions):
        assert run.max_region_end == planned.total, (run.max_region_end, planned.total)


def test_run_time_axes_are_refused():
    from onnx_tee.passes import target
    from onnx_tee.passes.analysis.shapes import infer_static_shapes
    from onnx_tee.passes.errors import UnsupportedModelError
    graph = helper.make_graph([node("ReduceMean", ["x", "ax"])], "t",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]),
                               helper.make_tensor_value_info("ax", TensorProto.INT64, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    with pytest.raises(UnsupportedModelError, match="axes|cannot be inferred statically"):
        target.check_supported(model, infer_static_shapes(model))


def test_layer_norm_statistics_outputs_in_use_are_refused():
    from onnx_tee.passes import target
    from onnx_tee.passes.analysis.shapes import infer_static_shapes
    from onnx_tee.passes.errors import UnsupportedModelError
    model = make_model([node("LayerNormalization", ["x", "S"], ["y", "mean"])], [("x", [2, 3])],
                       [("y", None), ("mean", None)], [w("S", [3])], opset=17)
    with pytest.raises(UnsupportedModelError, match="only the first output"):
        target.check_supported(model, infer_static_shapes(model))


# ---------------------------------------------------------------------------- a transformer block

def transformer_block(seq: int = 16, dim: int = 32, heads: int = 4, hidden: int = 64, opset: int = 17):
    """Pre-norm encoder block: x + MHA(LN(x)), then + MLP(LN(.)) with Relu; batch 1."""
    hd = dim // heads
    nodes, inits = [], []

    def param(name, shape, scale=None):
        scale = scale if scale is not None else 1 / np.sqrt(shape[0])
        inits.append(numpy_helper.from_array((RNG.standard_normal(shape) * scale).astype(np.float32), name))
        return name

    def ln(x, name):
        g = numpy_helper.from_array((1 + 0.1 * RNG.standard_normal(dim)).astype(np.float32), f"{name}_g")
        b = numpy_helper.from_array((0.1 * RNG.standard_normal(dim)).astype(np.float32), f"{name}_b")
        inits.extend([g, b])
        nodes.append(node("LayerNormalization", [x, g.name, b.name], [name], axis=-1, epsilon=1e-5))
        return name

    inits.append(i64("heads_shape", [1, seq, heads, hd]))
    inits.append(i64("merge_shape", [1, seq, dim]))
    inits.append(numpy_helper.from_array(np.array(1 / np.sqrt(hd), np.float32), "inv_sqrt_d"))
    h = ln("x", "ln1")
    for p in ("q", "k", "v"):
        nodes.append(node("MatMul", [h, param(f"W{p}", [dim, dim])], [f"{p}_lin"]))
        nodes.append(node("Add", [f"{p}_lin", param(f"b{p}", [dim], 0.1)], [f"{p}_b"]))
        nodes.append(node("Reshape", [f"{p}_b", "heads_shape"], [f"{p}_h"]))
        perm = [0, 2, 3, 1] if p == "k" else [0, 2, 1, 3]
        nodes.append(node("Transpose", [f"{p}_h"], [f"{p}_t"], perm=perm))
    nodes.append(node("MatMul", ["q_t", "k_t"], ["scores"]))           # [1,H,S,D] x [1,H,D,S]
    nodes.append(node("Mul", ["scores", "inv_sqrt_d"], ["scaled"]))
    nodes.append(node("Softmax", ["scaled"], ["attn"], axis=-1))
    nodes.append(node("MatMul", ["attn", "v_t"], ["ctx"]))             # [1,H,S,S] x [1,H,S,D]
    nodes.append(node("Transpose", ["ctx"], ["ctx_t"], perm=[0, 2, 1, 3]))
    nodes.append(node("Reshape", ["ctx_t", "merge_shape"], ["ctx_m"]))
    nodes.append(node("MatMul", ["ctx_m", param("Wo", [dim, dim])], ["o_lin"]))
    nodes.append(node("Add", ["o_lin", param("bo", [dim], 0.1)], ["o"]))
    nodes.append(node("Add", ["x", "o"], ["res1"]))
    h2 = ln("res1", "ln2")
    nodes.append(node("MatMul", [h2, param("W1", [dim, hidden])], ["f1"]))
    nodes.append(node("Add", ["f1", param("b1", [hidden], 0.1)], ["f1b"]))
    nodes.append(node("Relu", ["f1b"], ["f1r"]))
    nodes.append(node("MatMul", ["f1r", param("W2", [hidden, dim])], ["f2"]))
    nodes.append(node("Add", ["f2", param("b2", [dim], 0.1)], ["f2b"]))
    nodes.append(node("Add", ["res1", "f2b"], ["y"]))
    return make_model(nodes, [("x", [1, seq, dim])], [("y", [1, seq, dim])], inits, opset=opset)


def test_transformer_block_in_the_host_interpreter():
    lowered = lower(transformer_block())
    errors, results = relative_errors(lowered, feeds_for(lowered))
    assert max(errors.values()) < 1e-5, errors
    for run, planned in zip(results, lowered.result.plan.partitions):
        assert run.max_region_end == planned.total


def test_transformer_block_through_the_cli(tmp_path):
    """`lower` at a budget that splits the block, then `run` in the simulator: onnxruntime's outputs,
    measured memory == planned memory per partition."""
    lower_through_the_cli(transformer_block(seq=32, dim=64, hidden=128), "192KiB", tmp_path)
