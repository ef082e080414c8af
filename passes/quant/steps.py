"""What "within one quantization step" means for each output of a quantized model.

Integer arithmetic that rounds (requantization) can land one step away from onnxruntime's float
rounding of the same value (runtime_ta/interp/KERNELS.md), so a quantized model's outputs are compared
in steps, not in relative error:

    an int8 / uint8 output                              step 1
    y = DequantizeLinear(q, scale, zp), scale constant   step max(scale)  (per axis: its largest value)

Every other output has no step (None): it is compared as a float output.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto

from ..graph import Constants

QUANTIZED_TYPES = (TensorProto.INT8, TensorProto.UINT8)


def output_steps(model: onnx.ModelProto) -> dict[str, float]:
    """The quantization step of every quantized graph output of `model`, by name."""
    producer = {o: n for n in model.graph.node for o in n.output if o}
    consts = Constants(model)
    steps = {}
    for out in model.graph.output:
        node = producer.get(out.name)
        if out.type.tensor_type.elem_type in QUANTIZED_TYPES:
            steps[out.name] = 1.0
        elif node is not None and node.op_type == "DequantizeLinear" and node.input[1] in consts:
            steps[out.name] = float(np.max(np.abs(np.asarray(consts[node.input[1]], np.float64))))
    return steps
