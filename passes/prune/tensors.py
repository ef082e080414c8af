"""Constant tensors of a graph, wherever they live: initializers, Constant nodes, and simple views.

Pruning slices weights, so it must read and write constants uniformly.  A *view* is the output
of an axis-preserving op on a constant (Identity, Unsqueeze, Squeeze with constant axes, as in
`Unsqueeze(bn_scale) -> Mul`): it is constant too, and an axis of the view maps back to an
axis of its source, which is what gets sliced.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..compact.graph_edit import add_initializer, unique_name
from ..graph import attribute, constant_initializers

VIEW_OPS = {"Identity", "Unsqueeze", "Squeeze"}


class ConstantStore:
    """Read and write constant tensors by name; resolve views to their source and axis."""

    def __init__(self, model: onnx.ModelProto):
        self.model = model
        self.initializers = constant_initializers(model)
        self.constant_nodes = {n.output[0]: n for n in model.graph.node
                               if n.op_type == "Constant" and any(a.name == "value" for a in n.attribute)}
        self.views: dict[str, tuple[str, list[int | None]]] = {}   # view -> (source, source axis per view axis)
        for node in model.graph.node:
            if node.op_type in VIEW_OPS and node.input and self._resolvable(node):
                self._add_view(node)

    def _resolvable(self, node: onnx.NodeProto) -> bool:
        return self.is_constant(node.input[0]) and all(self.is_constant(n) for n in node.input[1:] if n)

    def _add_view(self, node: onnx.NodeProto) -> None:
        source, source_axes = self.views.get(node.input[0], (node.input[0], None))
        rank = len(self.value(node.input[0]).shape)
        if source_axes is None:
            source_axes = list(range(rank))
        axes = attribute(node, "axes")
        if axes is None and len(node.input) > 1 and node.input[1]:
            axes = self.value(node.input[1]).tolist()
        if node.op_type == "Identity":
            mapped = list(source_axes)
        elif node.op_type == "Unsqueeze":
            out_rank = rank + len(axes)
            inserted = {a % out_rank for a in axes}
            it = iter(source_axes)
            mapped = [None if a in inserted else next(it) for a in range(out_rank)]
        else:
            shape = self.value(node.input[0]).shape
            removed = {a % rank for a in axes} if axes else {a for a, d in enumerate(shape) if d == 1}
            mapped = [s for a, s in enumerate(source_axes) if a not in removed]
        self.views[node.output[0]] = (source, mapped)

    def is_constant(self, name: str) -> bool:
        return name in self.initializers or name in self.constant_nodes or name in self.views

    def value(self, name: str) -> np.ndarray:
        if name in self.initializers:
            return numpy_helper.to_array(self.initializers[name])
        if name in self.constant_nodes:
            attr = next(a for a in self.constant_nodes[name].attribute if a.name == "value")
            return numpy_helper.to_array(attr.t)
        source, mapped = self.views[name]
        base = self.value(source)
        shape = [1 if s is None else base.shape[s] for s in mapped]
        order = [s for s in mapped if s is not None]
        return np.transpose(base, order).reshape(shape) if order else base.reshape(shape)

    def source_axis(self, name: str, axis: int) -> tuple[str, int]:
        """The stored tensor behind `name` and the axis of it that `axis` of `name` indexes."""
        if name not in self.views:
            return name, axis
        source, mapped = self.views[name]
        if mapped[axis] is None:
            raise ValueError(f"axis {axis} of '{name}' is a broadcast axis")
        return source, mapped[axis]

    def set(self, name: str, array: np.ndarray) -> None:
        """Replace the stored value of initializer or Constant `name` (dtype kept)."""
        if name in self.initializers:
            tensor = self.initializers[name]
            array = array.astype(helper.tensor_dtype_to_np_dtype(tensor.data_type), copy=False)
            tensor.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(array), name))
            for value in self.model.graph.input:       # IR < 4 also lists initializers as inputs
                if value.name == name:
                    shape = value.type.tensor_type.shape
                    shape.ClearField("dim")
                    for d in array.shape:
                        shape.dim.add().dim_value = d
            return
        attr = next(a for a in self.constant_nodes[name].attribute if a.name == "value")
        array = array.astype(helper.tensor_dtype_to_np_dtype(attr.t.data_type), copy=False)
        attr.t.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(array), attr.t.name))

    def add_initializer(self, name: str, array: np.ndarray) -> str:
        """Add a new initializer under a name unused in the graph; returns the name."""
        unique = unique_name(self.model.graph, name)
        add_initializer(self.model, array, unique)
        self.initializers[unique] = self.model.graph.initializer[-1]
        return unique
