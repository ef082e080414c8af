"""What "within one quantization step" means for each output of a quantized model.

Integer arithmetic that rounds (requantization) can land one step away from onnxruntime's float
rounding of the same value (runtime_ta/interp/KERNELS.md), so a quantized model's outputs are compared
in steps, not in relative error:

    an int8 / uint8 output                              step 1
    y = DequantizeLinear(q, scale, zp), scale constant   step max(scale)  (per axis: its largest value)

Every other output has no step (None): it is compared as a float output.  A dynamically quantized
model's (onnxruntime's quantize_dynamic) float output has a step that is only known at run time, the
scale of one unit of its last integer sum:

    acc = MatMulInteger(a, b, ...) or ConvInteger(...);  y = Mul(Cast(acc), s) [+ bias]      step max(s)

`dynamic_step_tensors` names s for each such output (run the model with s as an extra output to read it).
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto

from ..compact.graph_edit import producers
from ..graph import Constants

QUANTIZED_TYPES = (TensorProto.INT8, TensorProto.UINT8)


def output_steps(model: onnx.ModelProto) -> dict[str, float]:
    """The quantization step of every quantized graph output of `model`, by name."""
    producer = producers(model.graph)
    consts = Constants(model)
    steps = {}
    for out in model.graph.output:
        node = producer.get(out.name)
        if out.type.tensor_type.elem_type in QUANTIZED_TYPES:
            steps[out.name] = 1.0
        elif node is not None and node.op_type == "DequantizeLinear" and node.input[1] in consts:
            steps[out.name] = float(np.max(np.abs(np.asarray(consts[node.input[1]], np.float64))))
    return steps


INTEGER_SUMS = ("MatMulInteger", "ConvInteger")


def dynamic_step_tensors(model: onnx.ModelProto) -> dict[str, str]:
    """For every graph output y = Mul(Cast(integer sum), s), optionally + a constant bias: the name of s."""
    producer = producers(model.graph)
    consts = Constants(model)
    steps = {}
    for out in model.graph.output:
        node = producer.get(out.name)
        if node is not None and node.op_type == "Add":
            computed = [t for t in node.input if t not in consts]
            node = producer.get(computed[0]) if len(computed) == 1 else None
        if node is None or node.op_type != "Mul":
            continue
        for k, name in enumerate(node.input):
            cast = producer.get(name)
            if cast is not None and cast.op_type == "Cast" and getattr(producer.get(cast.input[0]), "op_type",
                                                                        None) in INTEGER_SUMS:
                steps[out.name] = node.input[1 - k]
    return steps
