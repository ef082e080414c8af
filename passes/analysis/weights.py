"""Bytes held by a model's weights (initializers and Constant node values)."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from .shapes import element_bytes


def tensor_nbytes(tensor: onnx.TensorProto) -> int:
    """Bytes of a TensorProto's data once loaded into the TA: prod(dims) * shapes.element_bytes."""
    count = int(np.prod(tensor.dims, dtype=np.int64)) if len(tensor.dims) else 1
    return count * element_bytes(helper.tensor_dtype_to_np_dtype(tensor.data_type))


def weight_bytes(model: onnx.ModelProto) -> int:
    """Bytes of all initializers plus the tensors held by Constant nodes (main graph)."""
    total = sum(tensor_nbytes(t) for t in model.graph.initializer)
    for node in model.graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.TENSOR:
                    total += tensor_nbytes(attr.t)
    return total
