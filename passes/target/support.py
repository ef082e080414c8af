"""Can the interpreter run this model?  Every node is translated once, before anything is written;
each op or attribute it cannot run is collected and all of them are reported together.

`problems` gives one line per node (``node 'conv3' (Conv): auto_pad=...``); `check_supported` raises
one line grouped per op type -- its reasons, how many nodes, the first three names -- with the list of
supported ops said once (a ConvNeXt has 41 LayerNormalizations: one entry, not 41)."""
from __future__ import annotations

from typing import Mapping

import onnx

from ..analysis.shapes import TensorInfo
from ..errors import UnsupportedModelError
from ..graph import Constants, node_label, opset_of
from .op import Unsupported
from .table import SUPPORTED_OPS, kept_outputs, registered, translate

_SUPPORTED_SUFFIX = " (supported: "
SHOWN_NODES = 3
SHOWN_REASONS = 2

# Ops whose values are no tensors (a sequence of maps, a map): no tensor program computes them, in a TA or
# elsewhere; the reason says how to export the model without them.
NOT_TENSORS = {
    ("ai.onnx.ml", "ZipMap"): "custom-domain op whose output is a sequence of maps (label -> probability), not a "
                              "tensor: convert without it (skl2onnx: options={'zipmap': False}) to keep the "
                              "probabilities a tensor",
    ("ai.onnx.ml", "DictVectorizer"): "custom-domain op whose input is a map, not a tensor: feed the features as "
                                      "a tensor",
}


def _custom_domain_reason(node: onnx.NodeProto) -> str:
    return NOT_TENSORS.get((node.domain, node.op_type), "custom-domain op")


def _node_problems(model: onnx.ModelProto, infos: Mapping[str, TensorInfo]) -> list[tuple[str, str, str]]:
    """(node label, op, reason) for every node the interpreter cannot run, in graph order."""
    consts, opset = Constants(model, overridable=True), opset_of(model)
    used = {name for node in model.graph.node for name in node.input} | {o.name for o in model.graph.output}
    found = []
    for node in model.graph.node:
        if node.domain not in ("", "ai.onnx") and not registered(node):
            found.append((node_label(node), f"{node.domain}.{node.op_type}", _custom_domain_reason(node)))
            continue
        if node.op_type == "Constant":
            continue
        try:
            translate(node, infos, consts, opset)
            dropped = [o for o in node.output[len(kept_outputs(node)):] if o and o in used]
            if dropped:
                raise Unsupported(f"output(s) {', '.join(dropped)} are used but only the first output is computed")
        except Unsupported as exc:
            found.append((node_label(node), node.op_type, str(exc).split(_SUPPORTED_SUFFIX)[0]))
    return found


def problems(model: onnx.ModelProto, infos: Mapping[str, TensorInfo]) -> list[str]:
    """Every op or attribute of `model` the interpreter cannot run, one line per node."""
    return [f"node '{label}' ({op}): {reason}" for label, op, reason in _node_problems(model, infos)]


def _is_missing_op(op: str, reason: str) -> bool:
    return reason.startswith(f"op {op} is not supported")


def report(found: list[tuple[str, str, str]]) -> str:
    """One line: per op type in order of first appearance, its first node, its distinct reasons
    (the first SHOWN_REASONS), how many nodes and the first SHOWN_NODES names; then the supported
    ops, once, if an op is missing."""
    groups: dict[str, tuple[list[str], list[str]]] = {}
    for label, op, reason in found:
        labels, reasons = groups.setdefault(op, ([], []))
        labels.append(label)
        if reason not in reasons:
            reasons.append(reason)
    entries = []
    for op, (labels, reasons) in groups.items():
        said = " | ".join(reasons[:SHOWN_REASONS])
        if len(reasons) > SHOWN_REASONS:
            said += f" | {len(reasons) - SHOWN_REASONS} more reason(s)"
        count = ""
        if len(labels) > 1:
            shown = ", ".join(f"'{name}'" for name in labels[:SHOWN_NODES])
            count = f" [{len(labels)} nodes: {shown}{', …' if len(labels) > SHOWN_NODES else ''}]"
        entries.append(f"node '{labels[0]}' ({op}): {said}{count}")
    missing = any(_is_missing_op(op, reason) for _, op, reason in found)
    supported = f" (supported: {', '.join(SUPPORTED_OPS)})" if missing else ""
    return (f"{len(found)} node(s) of {len(groups)} op type(s) cannot run in the TA "
            f"interpreter{supported}: " + "; ".join(entries))


def missing_ops(model: onnx.ModelProto) -> list[tuple[str, str, str]]:
    """(node label, op, reason) for every node whose op type the interpreter does not have at all (a custom
    or ai.onnx.ml domain, or a default-domain op missing from the table).  Needs no shapes: a model from the
    wild may hold ops onnx's shape inference has no rule for (com.microsoft's quantized LSTM), and what
    blocks it is the op, not its shape."""
    found = []
    for node in model.graph.node:
        if node.domain not in ("", "ai.onnx") and not registered(node):
            found.append((node_label(node), f"{node.domain}.{node.op_type}", _custom_domain_reason(node)))
        elif node.op_type not in SUPPORTED_OPS and node.op_type not in ("If", "Loop", "Scan"):
            found.append((node_label(node), node.op_type, f"op {node.op_type} is not supported by the interpreter"))
    return found


def check_op_types(model: onnx.ModelProto) -> None:
    """Raise UnsupportedModelError (the `check_supported` line) for the ops the interpreter does not have,
    before anything needs a shape (`missing_ops`)."""
    found = missing_ops(model)
    if found:
        raise UnsupportedModelError(report(found))


def check_supported(model: onnx.ModelProto, infos: Mapping[str, TensorInfo]) -> None:
    """Raise UnsupportedModelError listing every op type and reason the interpreter cannot run."""
    found = _node_problems(model, infos)
    if found:
        raise UnsupportedModelError(report(found))
