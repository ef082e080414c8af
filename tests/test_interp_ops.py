"""Every op the lowering step supports, lowered to a body and run in the C interpreter, against
onnxruntime on the same model: attributes resolved offline (auto_pad, ceil_mode, opset forms of
Clip/Slice/Pad/Split/Resize) must reproduce the ONNX semantics."""
from __future__ import annotations

import functools
import numpy as np
import pytest
from onnx import TensorProto, numpy_helper

from conftest import i64, make_model, node, weight
from lower_harness import feeds_for, lower, relative_errors

RNG = np.random.default_rng(7)
w = functools.partial(weight, RNG)


def f32(name: str, values) -> TensorProto:
    return numpy_helper.from_array(np.asarray(values, dtype=np.float32), name)


X4 = [("x", [2, 6, 11, 13])]
CASES = {
    "conv3x3_pad": ([node("Conv", ["x", "W", "B"], pads=[1, 1, 1, 1])], X4, [w("W", [8, 6, 3, 3]), w("B", [8])]),
    "conv5x5_s2_nobias": ([node("Conv", ["x", "W"], pads=[2, 1, 2, 0], strides=[2, 2])], X4, [w("W", [4, 6, 5, 5])]),
    "conv_group_dilation": ([node("Conv", ["x", "W", "B"], group=2, dilations=[2, 2], pads=[2, 2, 2, 2])], X4,
                            [w("W", [4, 3, 3, 3]), w("B", [4])]),
    "conv_depthwise_same_upper": ([node("Conv", ["x", "W"], group=6, auto_pad="SAME_UPPER", strides=[2, 2],
                                        kernel_shape=[3, 3])], X4, [w("W", [12, 1, 3, 3])]),
    "conv_same_lower": ([node("Conv", ["x", "W"], auto_pad="SAME_LOWER", kernel_shape=[4, 4])], X4,
                        [w("W", [3, 6, 4, 4])]),
    "conv_pointwise": ([node("Conv", ["x", "W", "B"])], X4, [w("W", [9, 6, 1, 1]), w("B", [9])]),
    "conv_1d": ([node("Conv", ["x", "W", "B"], pads=[1, 2], strides=[2])], [("x", [1, 4, 20])],
                [w("W", [5, 4, 4]), w("B", [5])]),
    "conv_transpose": ([node("ConvTranspose", ["x", "W", "B"], strides=[2, 2], pads=[1, 1, 1, 1],
                             output_padding=[1, 1])], X4, [w("W", [6, 4, 3, 3]), w("B", [4])]),
    "conv_transpose_group_same": ([node("ConvTranspose", ["x", "W"], group=2, strides=[2, 2],
                                        auto_pad="SAME_UPPER", kernel_shape=[3, 3])], X4, [w("W", [6, 2, 3, 3])]),
    "gemm_transb_bias": ([node("Gemm", ["x", "W", "B"], transB=1)], [("x", [3, 20])], [w("W", [7, 20]), w("B", [7])]),
    "gemm_transa_alpha_beta": ([node("Gemm", ["x", "W", "C"], transA=1, alpha=0.5, beta=2.0)], [("x", [20, 3])],
                               [w("W", [20, 7]), w("C", [3, 1])]),
    "gemm_no_c": ([node("Gemm", ["x", "W"])], [("x", [4, 9])], [w("W", [9, 5])]),
    "matmul_batched": ([node("MatMul", ["x", "W"])], [("x", [2, 3, 4])], [w("W", [4, 5])]),
    "matmul_broadcast": ([node("MatMul", ["x", "W"])], [("x", [2, 1, 3, 4])], [w("W", [3, 4, 2])]),
    "matmul_vector": ([node("MatMul", ["x", "W"])], [("x", [6])], [w("W", [6, 3])]),
    "relu": ([node("Relu", ["x"])], X4, []),
    "leaky_relu": ([node("LeakyRelu", ["x"], alpha=0.2)], X4, []),
    "sigmoid": ([node("Sigmoid", ["x"])], X4, []),
    "tanh": ([node("Tanh", ["x"])], X4, []),
    "hard_sigmoid": ([node("HardSigmoid", ["x"], alpha=0.3, beta=0.4)], X4, []),
    "hard_swish": ([node("HardSwish", ["x"])], X4, []),
    "clip_inputs": ([node("Clip", ["x", "lo", "hi"])], X4, [f32("lo", -0.5), f32("hi", 0.7)]),
    "clip_max_only": ([node("Clip", ["x", "", "hi"])], X4, [f32("hi", 0.3)]),
    "softmax_13": ([node("Softmax", ["x"], axis=1)], [("x", [2, 3, 4])], []),
    "lrn": ([node("LRN", ["x"], size=3, alpha=1e-3, beta=0.75, bias=2.0)], X4, []),
    "batchnorm": ([node("BatchNormalization", ["x", "S", "B", "M", "V"], epsilon=1e-3)], X4,
                  [w("S", [6]), w("B", [6]), w("M", [6]), numpy_helper.from_array(
                      RNG.uniform(0.5, 2, 6).astype(np.float32), "V")]),
    "maxpool_ceil": ([node("MaxPool", ["x"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)], X4, []),
    "maxpool_pads_dilation": ([node("MaxPool", ["x"], kernel_shape=[2, 3], pads=[1, 1, 0, 1], dilations=[2, 1])],
                              X4, []),
    "avgpool_include_pad": ([node("AveragePool", ["x"], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                                  count_include_pad=1)], X4, []),
    "avgpool_ceil_exclude_pad": ([node("AveragePool", ["x"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                                       ceil_mode=1)], X4, []),
    "global_average_pool": ([node("GlobalAveragePool", ["x"])], X4, []),
    "global_max_pool": ([node("GlobalMaxPool", ["x"])], X4, []),
    "add_broadcast": ([node("Add", ["x", "W"])], X4, [w("W", [6, 1, 13])]),
    "sub_scalar": ([node("Sub", ["W", "x"])], X4, [w("W", [])]),
    "mul_channel": ([node("Mul", ["x", "W"])], X4, [w("W", [1, 6, 1, 1])]),
    "div_const": ([node("Div", ["x", "W"])], X4, [w("W", [13], low=0.5)]),
    "sum_three_broadcast": ([node("Sum", ["W", "x", "V"])], X4, [w("W", [6, 1, 1]), w("V", [13])]),
    "sum_in_place_abc": ([node("Relu", ["x"], ["a"]), node("Sigmoid", ["x"], ["b"]), node("Tanh", ["x"], ["c"]),
                          node("Sum", ["a", "b", "c"], ["s"]), node("Relu", ["s"])], X4, []),
    "sum_in_place_cab": ([node("Relu", ["x"], ["a"]), node("Sigmoid", ["x"], ["b"]), node("Tanh", ["x"], ["c"]),
                          node("Sum", ["c", "W", "a", "b"], ["s"]), node("Relu", ["s"])], X4, [w("W", [13])]),
    "concat": ([node("Relu", ["x"], ["r"]), node("Sigmoid", ["x"], ["s"]), node("Concat", ["r", "s", "W"], axis=1)],
               X4, [w("W", [2, 3, 11, 13])]),
    "split": ([node("Split", ["x", "parts"], ["a", "b"], axis=1), node("Relu", ["a"], ["ya"]),
               node("Tanh", ["b"], ["yb"])], X4, [i64("parts", [2, 4])]),
    "slice_steps": ([node("Slice", ["x", "st", "en", "ax", "sp"])], X4,
                    [i64("st", [1, -1, 0]), i64("en", [5, 0, 100]), i64("ax", [1, 2, 3]), i64("sp", [2, -3, 4])]),
    "reshape_flatten": ([node("Reshape", ["x", "shape"], ["r"]), node("Flatten", ["r"], axis=1)], X4,
                        [i64("shape", [2, 6, -1])]),
    "squeeze_unsqueeze": ([node("Unsqueeze", ["x", "ax"], ["u"]), node("Squeeze", ["u", "ax"], ["s"]),
                           node("Identity", ["s"])], X4, [i64("ax", [2])]),
    "dropout_12": ([node("Dropout", ["x", "ratio", "training"], ["y", "mask"])], X4,
                   [f32("ratio", 0.3), numpy_helper.from_array(np.array(False), "training")]),
    "transpose": ([node("Transpose", ["x"], perm=[0, 2, 3, 1])], X4, []),
    "pad_constant": ([node("Pad", ["x", "pads", "v"], mode="constant")], X4,
                     [i64("pads", [0, 1, 2, 0, 0, 0, 1, 3]), f32("v", 1.5)]),
    "pad_reflect": ([node("Pad", ["x", "pads"], mode="reflect")], X4, [i64("pads", [0, 0, 2, 1, 0, 0, 3, 4])]),
    "pad_edge_crop": ([node("Pad", ["x", "pads"], mode="edge")], X4, [i64("pads", [0, 0, -2, 1, 0, 0, 3, -4])]),
    "resize_nearest": ([node("Resize", ["x", "", "sc"], mode="nearest")], X4, [f32("sc", [1, 1, 2, 2])]),
    "resize_linear_sizes": ([node("Resize", ["x", "", "", "sz"], mode="linear")], X4, [i64("sz", [2, 6, 17, 9])]),
    "resize_linear_align_corners": ([node("Resize", ["x", "", "sc"], mode="linear",
                                          coordinate_transformation_mode="align_corners")], X4,
                                    [f32("sc", [1, 1, 1.5, 2])]),
}
LEGACY = {
    "softmax_9": ([node("Softmax", ["x"], axis=1)], [("x", [2, 3, 4])], [], 9),
    "clip_6": ([node("Clip", ["x"], min=-0.2, max=0.4)], X4, [], 9),
    "slice_9": ([node("Slice", ["x"], starts=[1, 2], ends=[4, 100], axes=[1, 3])], X4, [], 9),
    "pad_9": ([node("Pad", ["x"], pads=[0, 0, 1, 2, 0, 0, 2, 1], value=0.5)], X4, [], 9),
    "dropout_9": ([node("Dropout", ["x"], ["y", "mask"])], X4, [], 9),
}


def build(nodes, inputs, inits, opset=17):
    outputs = [o for n in nodes for o in n.output if o and o != "mask" and not any(o in m.input for m in nodes)]
    return make_model(nodes, inputs, [(o, None) for o in outputs], inits, opset=opset)


@pytest.mark.parametrize("case", sorted(CASES))
def test_op_matches_onnxruntime(case):
    lowered = lower(build(*CASES[case]))
    errors, results = relative_errors(lowered, feeds_for(lowered))
    assert max(errors.values()) < 1e-5, errors
    assert results[0].ops_run == len([n for n in lowered.model.graph.node])


@pytest.mark.parametrize("case", sorted(LEGACY))
def test_legacy_opset_forms_match_onnxruntime(case):
    nodes, inputs, inits, opset = LEGACY[case]
    lowered = lower(build(nodes, inputs, inits, opset))
    errors, _ = relative_errors(lowered, feeds_for(lowered))
    assert max(errors.values()) < 1e-5, errors


def test_sum_written_over_any_of_its_inputs():
    """A body whose Sum output takes the bytes of its last input (y = x0 + x1 + y): the runner
    adds the other inputs into y instead of overwriting y first."""
    from lower_harness import library
    from onnx_tee.passes.lower import format as fmt
    from onnx_tee.passes.lower.hostlib import Region

    shape, n = (4, 8), 32 * 4
    rng = np.random.default_rng(1)
    values = [rng.standard_normal(shape).astype(np.float32) for _ in range(3)]
    bias = rng.standard_normal(8).astype(np.float32)
    region_size = 4096
    tensors = [fmt.Tensor(shape, fmt.LOC_REGION, 0), fmt.Tensor(shape, fmt.LOC_REGION, 192),
               fmt.Tensor(shape, fmt.LOC_REGION, 384), fmt.Tensor((8,), fmt.LOC_WEIGHT),
               fmt.Tensor(shape, fmt.LOC_REGION, 384)]
    body = fmt.Body(0, 1, tensors, [fmt.Op(fmt.OP_CODES["SUM"], [0, 1, 3, 2], [4])], {3: bias},
                    region_size=region_size, scratch_offset=640, scratch_size=64)
    data = fmt.serialize(body)
    region = Region(library(), region_size)
    for offset, value in zip((0, 192, 384), values):
        region.write(offset, value)
    result = region.run_body(data, 1024, 0, 1)
    assert result.status == "RT_OK" and n == values[0].nbytes
    np.testing.assert_allclose(region.read(384, shape), values[0] + values[1] + bias + values[2], rtol=1e-6)
