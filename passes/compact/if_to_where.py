"""If-conversion: an `If` whose condition is only known at run time runs both branches and selects with Where."""
from __future__ import annotations

import onnx
from onnx import helper

from ..analysis.shapes import partial_shapes
from ..core import Pass, PassResult
from ..graph import Constants, attribute, graph_inputs
from .fold_constants import NONDETERMINISTIC
from .graph_edit import replace_nodes, subgraphs, unique_name
from .inline_if import _inline, _is_mode_input, _names_deep, _upstream_inputs

# ops that may fail at run time on the values they read (an index out of range): a branch the If would not
# have taken must not be able to stop the TA
_INDEXING = {"Gather": 1, "GatherElements": 1, "GatherND": 1, "ScatterElements": 1, "ScatterND": 1, "OneHot": 0}


def _branch_is_pure(branch: onnx.GraphProto, outer_constants) -> bool:
    """No control flow or randomness, and every index a constant (branch initializer, Constant, outer)."""
    local = {t.name for t in branch.initializer} | {n.output[0] for n in branch.node if n.op_type == "Constant"}
    for node in branch.node:
        if any(True for _ in subgraphs(node)) or node.op_type in NONDETERMINISTIC or node.domain not in ("", "ai.onnx"):
            return False
        index = _INDEXING.get(node.op_type)
        if index is not None:
            name = node.input[index] if len(node.input) > index else ""
            if name and name not in local and name not in outer_constants:
                return False
    return True


class IfToWhere(Pass):
    """Replace every top-level `If` whose condition is computed from the data by both of its branches,
    inlined, and one Where per output.

    Before:  c = GreaterOrEqual(p, 0.5);  y = If(c, then={q = verifier(x); out q}, else={out p})
    After:   q = verifier(x);  y = Where(c, q, p)

    Exported `torch.jit` code branches on values (openWakeWord's "hey jarvis" runs a verifier MLP only
    when the first score passes 0.5); the interpreter runs straight-line graphs.  Preconditions, per If:
    both branches are pure (no nested control flow, no random ops, no custom domain, every Gather/Scatter
    index a constant, so the branch not taken cannot fail), and each output's two branch values have the
    same static shape (shape inference of the converted graph; Where would broadcast otherwise).  An If
    that does not qualify is left for `control_flow_problems` to refuse.  Exact: Where picks, element by
    element, the value the taken branch computes (a NaN or Inf in the other one is not selected); the
    cost is that both branches run.  Not in `compaction_pipeline`: `lower` applies it to what the
    pipeline could not fold, since it trades compute for straight-line code.  With `keep_mode_switches`
    (the default) an If whose condition depends on a mode input (a single-valued graph input such as
    a sample rate) is left alone: freezing that input (`lower --input-value`) keeps one
    branch, which is cheaper, and the refusal says so.
    """

    def __init__(self, keep_mode_switches: bool = True):
        self.keep_mode_switches = keep_mode_switches

    def call(self, model: onnx.ModelProto) -> PassResult:
        constants = Constants(model)
        modes = {i.name for i in graph_inputs(model) if _is_mode_input(i)} if self.keep_mode_switches else set()
        candidates = [index for index, node in enumerate(model.graph.node)
                      if node.op_type == "If" and node.domain in ("", "ai.onnx") and node.input
                      and node.input[0] not in constants
                      and not modes & set(_upstream_inputs(model, node.input[0]))
                      and all(_branch_is_pure(attribute(node, b), constants) for b in ("then_branch", "else_branch"))]
        while candidates:
            trial = onnx.ModelProto()
            trial.CopyFrom(model)
            pairs = _convert(trial, set(candidates))
            shapes = partial_shapes(trial)
            failed = {index for index, condition, then_value, else_value in pairs
                      if not _same_static_shape(shapes, then_value, else_value)
                      or len(shapes.get(condition, (None,) * 9)) > len(shapes[then_value])}
            if not failed:
                model.CopyFrom(trial)
                return PassResult(model, True, {"converted": len(candidates)})
            candidates = [c for c in candidates if c not in failed]
        return PassResult(model, False, {"converted": 0})


def _same_static_shape(shapes: dict, a: str, b: str) -> bool:
    return shapes.get(a) is not None and None not in shapes[a] and shapes[a] == shapes.get(b)


def _convert(model: onnx.ModelProto, indices: set[int]) -> list[tuple[int, str, str, str]]:
    """Convert the Ifs at node positions `indices` in place; (position, condition, then value, else value)
    per output."""
    graph = model.graph
    taken = _names_deep(graph, skip={id(graph.node[i]) for i in indices})
    node_names = {n.name for n in graph.node}
    nodes, pairs = [], []
    for index, node in enumerate(graph.node):
        if index not in indices:
            nodes.append(node)
            continue
        values = {}
        for branch_name in ("then_branch", "else_branch"):
            results = [unique_name(None, f"{out}_{branch_name[:4]}", taken) if out else "" for out in node.output]
            stand_in = helper.make_node("If", list(node.input), results,
                                        name=f"{node.name or node.output[0]}/{branch_name[:4]}")
            nodes.extend(_inline(model, stand_in, attribute(node, branch_name), taken, node_names))
            values[branch_name] = results
        for out, then_value, else_value in zip(node.output, values["then_branch"], values["else_branch"]):
            if out:
                nodes.append(helper.make_node("Where", [node.input[0], then_value, else_value], [out],
                                              name=unique_name(None, f"{node.name or out}/where", node_names)))
                pairs.append((index, node.input[0], then_value, else_value))
    replace_nodes(graph, nodes)
    return pairs
