"""Facts about an ONNX graph that every part of the library asks the same way.

    attributes(node)            {name: python value} of a node's attributes
    attribute(node, name, d)    one attribute, `d` when absent
    node_label(node)            how messages, plans and prune reports name a node
    opset_of(model)             the default-domain opset
    graph_inputs(model)         the real inputs (initializers listed as inputs are not)
    constant_initializers(m)    initializers whose value is fixed (see below)
    constant_node_value(node)   the array a Constant node holds
    Constants(model)            every constant tensor by name, as numpy on read

What is a constant: every initializer and every Constant node's output, except that from IR 4
on an initializer that is also listed as a graph input is only a default the caller may
override.  Passes that change values (folding, pruning) must not treat those as constants:
they ask with `overridable=False` (the default of `constant_initializers`).  Planning and
lowering run the model with its defaults — a model input is what `graph_inputs` lists — so
they ask with `overridable=True`.  Before IR 4 every initializer must be listed as an input,
and all of them are constants.
"""
from __future__ import annotations

from typing import Iterator, Mapping

import numpy as np
import onnx
from onnx import helper, numpy_helper

# Constant node attributes that hold a list or scalar instead of a tensor, and their dtype.
_LIST_ATTRS = {"value_float": np.float32, "value_floats": np.float32, "value_int": np.int64,
               "value_ints": np.int64}


def attributes(node: onnx.NodeProto) -> dict:
    """The node's attributes as python values, by name."""
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def attribute(node: onnx.NodeProto, name: str, default=None):
    """Attribute `name` of `node` as a python value, or `default` when it has none."""
    for attr in node.attribute:
        if attr.name == name:
            return helper.get_attribute_value(attr)
    return default


def node_label(node: onnx.NodeProto) -> str:
    """A node's name, else its first present output (the name a memory plan and a prune report use;
    a recurrent op may leave its first output out)."""
    return node.name or next((o for o in node.output if o), node.op_type)


def opset_of(model: onnx.ModelProto) -> int:
    """The model's opset version of the default ONNX domain."""
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)


def lists_initializers_as_inputs(model: onnx.ModelProto) -> bool:
    """IR < 4 requires every initializer to be declared as a graph input too."""
    return model.ir_version < 4


def graph_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """The graph inputs that are real inputs (not initializers listed as inputs)."""
    inits = {t.name for t in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in inits]


def constant_initializers(model: onnx.ModelProto, *, overridable: bool = False) -> dict[str, onnx.TensorProto]:
    """Initializers whose value is fixed, by name; with `overridable`, also those an IR >= 4
    model lists as graph inputs (module docstring)."""
    graph = model.graph
    if overridable or lists_initializers_as_inputs(model):
        return {t.name: t for t in graph.initializer}
    inputs = {i.name for i in graph.input}
    return {t.name: t for t in graph.initializer if t.name not in inputs}


def constant_node_value(node: onnx.NodeProto) -> np.ndarray | None:
    """The array a Constant node holds, or None for the forms that stay nodes (sparse, strings)."""
    for attr in node.attribute:
        if attr.name == "value":
            return numpy_helper.to_array(attr.t)
        if attr.name in _LIST_ATTRS:
            return np.array(helper.get_attribute_value(attr), dtype=_LIST_ATTRS[attr.name])
    return None


def _constant_sources(model: onnx.ModelProto, overridable: bool) -> Iterator[tuple[str, object]]:
    """(name, initializer or Constant node) of every constant tensor of the top-level graph."""
    yield from constant_initializers(model, overridable=overridable).items()
    for node in model.graph.node:
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx") and any(
                a.name == "value" or a.name in _LIST_ATTRS for a in node.attribute):
            yield node.output[0], node


class Constants(Mapping):
    """Every constant tensor (module docstring) by name, converted to numpy only when read, so a
    model's weights are not duplicated in memory."""

    def __init__(self, model: onnx.ModelProto, *, overridable: bool = False):
        self._sources: dict[str, object] = dict(_constant_sources(model, overridable))

    def __getitem__(self, name: str) -> np.ndarray:
        source = self._sources[name]
        if isinstance(source, onnx.TensorProto):
            return numpy_helper.to_array(source)
        return constant_node_value(source)

    def __contains__(self, name: object) -> bool:
        return name in self._sources

    def __iter__(self):
        return iter(self._sources)

    def __len__(self) -> int:
        return len(self._sources)
