"""Control flow: an `If` on a constant condition becomes the branch it takes; what stays is refused."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..core import Pass, PassResult
from ..graph import Constants, attribute, graph_inputs, node_label
from .graph_edit import add_initializer, all_tensor_names, producers, replace_nodes, subgraphs, unique_name

CONTROL_FLOW = frozenset({"If", "Loop", "Scan"})


def _names_deep(graph: onnx.GraphProto, skip: set[int] = frozenset()) -> set[str]:
    """Every tensor name of `graph` and of the subgraphs of its nodes (but those in `skip`, by id)."""
    names = all_tensor_names(graph) | {v.name for v in graph.value_info}
    for node in graph.node:
        if id(node) not in skip:
            for sub in subgraphs(node):
                names |= _names_deep(sub)
    return names


def _rename_inside(graph: onnx.GraphProto, renames: dict[str, str]) -> None:
    """Rename every read of a renamed tensor in `graph`'s nodes and nested subgraphs (outer-scope
    reads of a branch's locals included)."""
    for node in graph.node:
        for index, name in enumerate(node.input):
            if name in renames:
                node.input[index] = renames[name]
        for sub in subgraphs(node):
            _rename_inside(sub, renames)
            for output in sub.output:
                if output.name in renames:
                    output.name = renames[output.name]


def _inline(model: onnx.ModelProto, node: onnx.NodeProto, branch: onnx.GraphProto, taken: set[str],
            node_names: set[str]) -> list[onnx.NodeProto]:
    """The nodes replacing `node` by `branch`: the branch's locals (node outputs, initializers)
    get names unique in the model, its initializers become the model's, and an Identity per
    output writes the If's output (RemoveIdentityOps rewires it away)."""
    branch = onnx.GraphProto.FromString(branch.SerializeToString())   # the If node keeps its own
    local = [t.name for t in branch.initializer] + [o for inner in branch.node for o in inner.output if o]
    renames = {name: unique_name(None, name, taken) for name in local}
    renames = {k: v for k, v in renames.items() if k != v}
    for inner in branch.node:
        for index, name in enumerate(inner.output):
            if name in renames:
                inner.output[index] = renames[name]
    _rename_inside(branch, renames)
    for tensor in branch.initializer:
        add_initializer(model, numpy_helper.to_array(tensor), renames.get(tensor.name, tensor.name))
    prefix = node_label(node)
    nodes = []
    for inner in branch.node:
        inner.name = unique_name(None, f"{prefix}/{inner.name or inner.op_type}", node_names)
        nodes.append(inner)
    for result, output in zip(node.output, branch.output):
        if result:
            nodes.append(helper.make_node("Identity", [renames.get(output.name, output.name)], [result],
                                          name=unique_name(None, f"{prefix}/output", node_names)))
    return nodes


class InlineConstantIf(Pass):
    """Replace every top-level `If` whose condition is a constant by the branch it takes.

    Before:  c = initializer true;  y = If(c, then_branch={t = Relu(x); out t}, else_branch={...})
    After:   t = Relu(x);  y = Identity(t)            (RemoveIdentityOps then rewires y)

    The branch's nodes read outer-scope tensors by name, so they run unchanged at the top level;
    its local tensors and initializers are renamed where a name is taken, its node names are
    prefixed with the If's.  A condition becomes constant when FoldConstants folds it, e.g. once
    `lower --input-value sample_rate=16000` has frozen the input it compares.  Exact: the taken
    branch is what the If computes.
    """

    def call(self, model: onnx.ModelProto) -> PassResult:
        graph = model.graph
        constants = Constants(model)
        targets = [node for node in graph.node if node.op_type == "If" and node.domain in ("", "ai.onnx")
                   and node.input and node.input[0] in constants]
        if not targets:
            return PassResult(model, False, {"inlined": 0})
        chosen = {id(node): bool(np.asarray(constants[node.input[0]]).reshape(-1)[0]) for node in targets}
        taken, node_names = _names_deep(graph, skip=set(chosen)), {n.name for n in graph.node}
        nodes = []
        for node in graph.node:
            if id(node) not in chosen:
                nodes.append(node)
                continue
            branch = attribute(node, "then_branch" if chosen[id(node)] else "else_branch")
            nodes.extend(_inline(model, node, branch, taken, node_names))
        replace_nodes(graph, nodes)
        return PassResult(model, True, {"inlined": len(targets)})


def _upstream_inputs(model: onnx.ModelProto, name: str) -> list[str]:
    """The graph inputs that tensor `name` depends on."""
    inputs = {i.name for i in graph_inputs(model)}
    made_by = producers(model.graph)
    seen, stack, found = set(), [name], []
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        if current in inputs:
            found.append(current)
        node = made_by.get(current)
        if node is not None:
            stack.extend(x for x in node.input if x)
            for sub in subgraphs(node):   # outer-scope reads of a subgraph
                stack.extend(x for inner in sub.node for x in inner.input if x)
    return sorted(found)


def _is_mode_input(value: onnx.ValueInfoProto) -> bool:
    """A graph input one would freeze to pick a branch: a single value (a sample rate, a flag, a
    threshold), not the data itself (an image, an audio frame, token ids)."""
    tensor_type = value.type.tensor_type
    if not tensor_type.HasField("shape"):
        return False
    dims = [d.dim_value if d.HasField("dim_value") else 0 for d in tensor_type.shape.dim]
    return all(d == 1 for d in dims)


def control_flow_problems(model: onnx.ModelProto) -> list[str]:
    """One line per top-level If/Loop/Scan left in `model` (the interpreter runs straight-line
    graphs): what its condition or trip count depends on and, for an If on a mode input (a
    single-valued input such as a sample rate), how to freeze it."""
    found = []
    declared = {i.name: i for i in graph_inputs(model)}
    for node in model.graph.node:
        if node.op_type not in CONTROL_FLOW or node.domain not in ("", "ai.onnx"):
            continue
        where = f"node '{node_label(node)}' ({node.op_type})"
        if node.op_type == "If":
            inputs = _upstream_inputs(model, node.input[0])
            modes = [name for name in inputs if name in declared and _is_mode_input(declared[name])]
            hint = (f"; freeze {'it' if len(modes) == 1 else 'them'} with "
                    + " ".join(f"--input-value {name}=VALUE" for name in modes)) if modes else (
                "; its branches cannot both run and be selected with Where (nested control flow, a "
                "run-time index, or outputs of different shapes): export the model with one branch")
            found.append(f"{where}: its condition '{node.input[0]}' depends on the model's input(s) "
                         f"{', '.join(inputs) or '(none)'}, so the branch is only known at run time{hint}")
        else:
            found.append(f"{where}: data-dependent control flow cannot run in the TA interpreter "
                         f"(export the model with the loop unrolled)")
    return found
