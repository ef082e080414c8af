"""Small protobuf-level graph edits shared by the compaction passes.

The passes edit `onnx.GraphProto` directly rather than through an IR so that IR < 4 models
(whose initializers must also be listed as graph inputs) keep that invariant, and so that
hundreds of MiB of weights are never copied just to rewire a few nodes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..graph import lists_initializers_as_inputs


def subgraphs(node: onnx.NodeProto) -> Iterator[onnx.GraphProto]:
    for attr in node.attribute:
        if attr.type == onnx.AttributeProto.GRAPH:
            yield attr.g
        elif attr.type == onnx.AttributeProto.GRAPHS:
            yield from attr.graphs


def referenced_names(graph: onnx.GraphProto) -> set[str]:
    """Every tensor name read by a node of `graph` or of its subgraphs, plus graph outputs."""
    names = {o.name for o in graph.output}
    for node in graph.node:
        names.update(i for i in node.input if i)
        for sub in subgraphs(node):
            names |= referenced_names(sub)
    return names


def consumers(graph: onnx.GraphProto) -> dict[str, list[onnx.NodeProto]]:
    """Nodes of `graph` (top level) reading each tensor."""
    uses: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in dict.fromkeys(node.input):
            if name:
                uses.setdefault(name, []).append(node)
    return uses


def producers(graph: onnx.GraphProto) -> dict[str, onnx.NodeProto]:
    return {name: node for node in graph.node for name in node.output if name}


def initializers(graph: onnx.GraphProto) -> dict[str, onnx.TensorProto]:
    return {t.name: t for t in graph.initializer}


def graph_output_names(graph: onnx.GraphProto) -> set[str]:
    return {o.name for o in graph.output}


def unique_name(graph: onnx.GraphProto, base: str, taken: set[str] | None = None) -> str:
    """A tensor name not yet used in `graph` (pass `taken` to reuse one scan for many names)."""
    if taken is None:
        taken = all_tensor_names(graph)
    name, index = base, 0
    while name in taken:
        index += 1
        name = f"{base}_{index}"
    taken.add(name)
    return name


def all_tensor_names(graph: onnx.GraphProto) -> set[str]:
    names = {i.name for i in graph.input} | {t.name for t in graph.initializer} | graph_output_names(graph)
    for node in graph.node:
        names.update(node.input)
        names.update(node.output)
    return names


def add_initializer(model: onnx.ModelProto, array: np.ndarray, name: str) -> None:
    """Add an initializer (and, for IR < 4, its graph-input entry).  The value keeps its rank: a 0-d
    scalar stays 0-d (`np.ascontiguousarray` would make it [1], and a later Unsqueeze -> Concat of
    shape arithmetic would then mix ranks)."""
    tensor = numpy_helper.from_array(np.asarray(array, order="C"), name)
    model.graph.initializer.append(tensor)
    if lists_initializers_as_inputs(model):
        model.graph.input.append(helper.make_tensor_value_info(name, tensor.data_type, list(tensor.dims)))


def remove_initializers(model: onnx.ModelProto, names: Iterable[str]) -> int:
    """Remove initializers by name together with any graph-input entry of the same name."""
    names = set(names)
    graph = model.graph
    removed = 0
    for index in reversed(range(len(graph.initializer))):  # in place: no copy of the other weights
        if graph.initializer[index].name in names:
            del graph.initializer[index]
            removed += 1
    for index in reversed(range(len(graph.input))):
        if graph.input[index].name in names:
            del graph.input[index]
    return removed


def replace_nodes(graph: onnx.GraphProto, nodes: list[onnx.NodeProto]) -> None:
    del graph.node[:]
    graph.node.extend(nodes)


def rename_uses(graph: onnx.GraphProto, renames: dict[str, str]) -> None:
    """Make every reader of a renamed tensor (including in subgraphs) read the new name."""
    if not renames:
        return
    for node in graph.node:
        for index, name in enumerate(node.input):
            if name in renames:
                node.input[index] = renames[name]
        for sub in subgraphs(node):
            rename_uses(sub, renames)


def drop_stale_value_info(graph: onnx.GraphProto) -> None:
    """Forget value_info entries of tensors that no node produces any more."""
    produced = {name for node in graph.node for name in node.output}
    kept = [v for v in graph.value_info if v.name in produced]
    if len(kept) != len(graph.value_info):
        del graph.value_info[:]
        graph.value_info.extend(kept)


def set_attribute(node: onnx.NodeProto, name: str, value) -> None:
    """Set (or add) attribute `name` of `node`."""
    new = helper.make_attribute(name, value)
    for attr in node.attribute:
        if attr.name == name:
            attr.CopyFrom(new)
            return
    node.attribute.append(new)


@dataclass
class NodeWriter:
    """New nodes for a rewrite, in order, with fresh tensor and node names and the int64 constants they
    read (one initializer per distinct tuple: shapes, axes, Slice bounds)."""

    model: onnx.ModelProto
    taken: set[str]
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    int64_constants: dict[tuple, str] = field(default_factory=dict)

    def name(self, base: str) -> str:
        return unique_name(self.model.graph, base, self.taken)

    def emit(self, node: onnx.NodeProto) -> None:
        self.nodes.append(node)

    def node(self, op: str, inputs: list[str], base: str, output: str | None = None, **attrs) -> str:
        """Emit `op` writing `output` (a fresh name from `base` when None); returns the output's name."""
        out = output or self.name(base)
        self.emit(helper.make_node(op, inputs, [out], name=self.name(f"{base}_node"), **attrs))
        return out

    def constant(self, array: np.ndarray, base: str) -> str:
        name = self.name(base)
        add_initializer(self.model, array, name)
        return name

    def int64s(self, values) -> str:
        """A 1-D int64 initializer holding `values`."""
        values = tuple(int(v) for v in values)
        if values not in self.int64_constants:
            self.int64_constants[values] = self.constant(np.array(values, np.int64), "ints")
        return self.int64_constants[values]

    def reshape(self, x: str, shape, base: str, output: str | None = None) -> str:
        return self.node("Reshape", [x, self.int64s(shape)], base, output)
