"""Share one copy of initializers that hold identical data."""
from __future__ import annotations

import hashlib

import onnx
from onnx import numpy_helper

from ..core import Pass, PassResult
from .graph_edit import constant_initializers, graph_output_names, remove_initializers, rename_uses


def _fingerprint(tensor: onnx.TensorProto) -> tuple:
    array = numpy_helper.to_array(tensor)
    return tensor.data_type, tuple(tensor.dims), hashlib.sha256(array.tobytes()).hexdigest()


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
        first: dict[tuple, str] = {}
        renames: dict[str, str] = {}
        for tensor in graph.initializer:
            if tensor.name in outputs or tensor.name not in constants:
                continue
            key = _fingerprint(tensor)
            if key in first:
                renames[tensor.name] = first[key]
            else:
                first[key] = tensor.name
        if not renames:
            return PassResult(model, False, {"removed": 0})
        rename_uses(graph, renames)
        remove_initializers(model, renames)
        return PassResult(model, True, {"removed": len(renames)})
