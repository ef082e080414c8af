"""Can the interpreter run this model?  Every node is translated once, before anything is written;
each op or attribute it cannot run is collected and all of them are reported together, naming the
node (e.g. ``node 'conv3' (Conv): auto_pad=...``)."""
from __future__ import annotations

from typing import Mapping

import onnx

from ..analysis.shapes import TensorInfo
from ..errors import UnsupportedModelError
from ..graph import Constants, node_label, opset_of
from .op import Unsupported
from .table import kept_outputs, translate


def problems(model: onnx.ModelProto, infos: Mapping[str, TensorInfo]) -> list[str]:
    """Every op or attribute of `model` the interpreter cannot run, one line per node."""
    consts, opset = Constants(model, overridable=True), opset_of(model)
    used = {name for node in model.graph.node for name in node.input} | {o.name for o in model.graph.output}
    found = []
    for node in model.graph.node:
        if node.domain not in ("", "ai.onnx"):
            found.append(f"node '{node_label(node)}' ({node.domain}.{node.op_type}): custom-domain op")
            continue
        if node.op_type == "Constant":
            continue
        try:
            translate(node, infos, consts, opset)
            dropped = [o for o in node.output[len(kept_outputs(node)):] if o and o in used]
            if dropped:
                raise Unsupported(f"output(s) {', '.join(dropped)} are used but only the first output is computed")
        except Unsupported as exc:
            found.append(f"node '{node_label(node)}' ({node.op_type}): {exc}")
    return found


def check_supported(model: onnx.ModelProto, infos: Mapping[str, TensorInfo]) -> None:
    """Raise UnsupportedModelError listing every node the interpreter cannot run."""
    found = problems(model, infos)
    if found:
        raise UnsupportedModelError(f"{len(found)} node(s) cannot run in the TA interpreter: " + "; ".join(found))
