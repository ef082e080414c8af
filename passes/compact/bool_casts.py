"""A Cast from bool to a number becomes Where(condition, 1, 0)."""
from __future__ import annotations

import numpy as np
import onnx

from ..analysis.shapes import partial_elem_types
from ..core import Pass, PassResult
from ..graph import attribute, opset_of
from .graph_edit import add_initializer, all_tensor_names, unique_name


class BoolCastToWhere(Pass):
    """Replace Cast(mask, to=T), mask a bool tensor computed at run time, by Where(mask, 1, 0) in type T.

    Before:  m = Equal(ids, iota);  h = Cast(m, to=FLOAT)          (jax / Keras one-hot, attention masks)
    After:   h = Where(m, one, zero)          one = 1.0, zero = 0.0: 0-d initializers of type T

    The interpreter holds booleans as 0/1 and selects with Where; it has no Cast.  Exact: Cast of a bool
    is 1 or 0 in the target type, which is what Where picks (broadcasting the 0-d constants to the mask's
    shape).  Casts of constants are folded before this pass; a Cast to bool or to a string stays.
    """

    def call(self, model: onnx.ModelProto) -> PassResult:
        graph = model.graph
        casts = [n for n in graph.node if n.op_type == "Cast" and n.domain in ("", "ai.onnx")]
        if not casts or opset_of(model) < 9:   # Where is an opset-9 op
            return PassResult(model, False, {"rewritten": 0})
        types = partial_elem_types(model)
        taken: set[str] | None = None
        constants: dict[int, tuple[str, str]] = {}
        rewritten = 0
        for node in casts:
            to = attribute(node, "to")
            if types.get(node.input[0]) != onnx.TensorProto.BOOL or to in (onnx.TensorProto.BOOL,
                                                                            onnx.TensorProto.STRING):
                continue
            if to not in constants:
                taken = all_tensor_names(graph) if taken is None else taken
                dtype = onnx.helper.tensor_dtype_to_np_dtype(to)
                pair = tuple(unique_name(None, f"{name}_{onnx.TensorProto.DataType.Name(to).lower()}", taken)
                             for name in ("one", "zero"))
                add_initializer(model, np.array(1, dtype), pair[0])
                add_initializer(model, np.array(0, dtype), pair[1])
                constants[to] = pair
            one, zero = constants[to]
            node.op_type = "Where"
            del node.attribute[:]
            node.input.extend([one, zero])
            rewritten += 1
        return PassResult(model, rewritten > 0, {"rewritten": rewritten})
