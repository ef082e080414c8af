"""Share one copy of initializers that hold identical data."""
from __future__ import annotations

import hashlib

import onnx
from onnx import numpy_helper

from ..core import Pass, PassResult
from ..graph import constant_initializers
from .graph_edit import graph_output_names, remove_initializers, rename_uses


def _digest(tensor: onnx.TensorProto) -> str:
    return hashlib.sha256(numpy_helper.to_array(tensor).tobytes()).hexdigest()


class DeduplicateInitializers(Pass):
    """Make all readers of byte-identical initializers (same dtype, shape and data) read the
    first of them, and delete the others.

    Before:  initializers {A = [1, 2], B = [1, 2]};  y = Add(x, A);  z = Mul(y, B)
    After:   initializers {A = [1, 2]};              y = Add(x, A);  z = Mul(y, A)

    Initializers that are graph outputs are left alone.  Exact (same bytes).
    """

    def call(self, model: onnx.ModelProto) -> PassResult:
        graph = model.graph
        outputs = graph_output_names(graph)
        constants = constant_initializers(model)
        same_type: dict[tuple, list[onnx.TensorProto]] = {}
        for tensor in graph.initializer:
            if tensor.name not in outputs and tensor.name in constants:
                same_type.setdefault((tensor.data_type, tuple(tensor.dims)), []).append(tensor)
        renames: dict[str, str] = {}
        for candidates in same_type.values():  # only tensors of equal dtype and shape can be equal
            first: dict[str, str] = {}
            for tensor in candidates if len(candidates) > 1 else []:
                key = _digest(tensor)
                if key in first:
                    renames[tensor.name] = first[key]
                else:
                    first[key] = tensor.name
        if not renames:
            return PassResult(model, False, {"removed": 0})
        rename_uses(graph, renames)
        remove_initializers(model, renames)
        return PassResult(model, True, {"removed": len(renames)})
