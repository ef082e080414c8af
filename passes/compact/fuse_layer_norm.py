"""Fuse the written-out layer normalization that older exporters emit into one LayerNormalization."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import defs, helper, numpy_helper

from ..analysis.shapes import partial_shapes
from ..core import Pass, PassResult
from ..graph import attribute, constant_initializers, opset_of
from .graph_edit import add_initializer, all_tensor_names, consumers, drop_stale_value_info, graph_output_names, \
    replace_nodes, unique_name

LAYER_NORM_OPSET = 17

# Revisions of ops between opsets 13 and 17 that only add types, attributes whose defaults keep the
# old behaviour, or optional-type support: a graph using the older version means the same under 17.
_SAME_MEANING = {
    # 14: more integer types / bfloat16; defaulted attributes (Reshape allowzero=0, RNN layout=0,
    # BatchNormalization training_mode=0)
    ("Add", 14), ("Sub", 14), ("Mul", 14), ("Div", 14), ("Relu", 14), ("CumSum", 14), ("Identity", 14),
    ("Reshape", 14), ("BatchNormalization", 14), ("GRU", 14), ("LSTM", 14), ("RNN", 14),
    # 15: bfloat16, Shape start/end (default: the whole shape), BatchNormalization type constraints
    ("Pow", 15), ("Shape", 15), ("BatchNormalization", 15),
    # 16: bfloat16, optional types, ScatterElements/ScatterND reduction (default none)
    ("Identity", 16), ("Where", 16), ("LeakyRelu", 16), ("PRelu", 16), ("GreaterOrEqual", 16), ("LessOrEqual", 16),
    ("If", 16), ("Loop", 16), ("ScatterElements", 16), ("ScatterND", 16),
}


@dataclass
class _Match:
    nodes: list[onnx.NodeProto]   # the pattern's nodes, ReduceMean first
    x: str
    y: str
    epsilon: float
    channels: int | None          # the last dim when a scale or bias tells it
    scale: np.ndarray | None      # per channel (or a scalar), float32
    bias: np.ndarray | None


def _const(inits: dict, name: str) -> np.ndarray | None:
    return numpy_helper.to_array(inits[name]) if name in inits else None


def _last_axis_only(node: onnx.NodeProto, inits: dict, opset: int, rank: int | None) -> bool:
    """ReduceMean over the last axis alone, keepdims=1."""
    if node.op_type != "ReduceMean" or node.domain not in ("", "ai.onnx") or attribute(node, "keepdims", 1) != 1:
        return False
    if opset >= 18:
        if len(node.input) < 2 or not node.input[1] or node.input[1] not in inits:
            return False
        axes = [int(a) for a in numpy_helper.to_array(inits[node.input[1]]).reshape(-1)]
    else:
        axes = attribute(node, "axes")
    return axes is not None and len(axes) == 1 and (axes[0] == -1 or (rank is not None and axes[0] == rank - 1))


def _other(node: onnx.NodeProto, name: str) -> str | None:
    """The input of a binary node that is not `name` (None unless exactly one input is `name`)."""
    if len(node.input) != 2 or list(node.input).count(name) != 1:
        return None
    return node.input[1] if node.input[0] == name else node.input[0]


def _per_channel(value: np.ndarray | None, rank: int | None) -> np.ndarray | None:
    """A Mul/Add constant that broadcasts along the last axis only (shape [..1.., C] or a scalar),
    flattened; None otherwise."""
    if value is None or value.dtype != np.float32 or (rank is not None and value.ndim > rank):
        return None
    if value.ndim and any(d != 1 for d in value.shape[:-1]):
        return None
    return value.reshape(-1)


def match(x_reader: onnx.NodeProto, uses: dict, inits: dict, outputs: set[str], opset: int,
          ranks: dict[str, int]) -> _Match | None:
    """The pattern starting at ReduceMean `x_reader`, or None (predicate only: edits nothing)."""
    x = x_reader.input[0] if x_reader.input else ""
    rank = ranks.get(x)
    if not x or not _last_axis_only(x_reader, inits, opset, rank):
        return None

    def only_reader(name: str, op: str) -> onnx.NodeProto | None:
        readers = uses.get(name, [])
        if name in outputs or len(readers) != 1 or readers[0].op_type != op or readers[0].domain not in ("", "ai.onnx"):
            return None
        return readers[0]

    mean = x_reader.output[0]
    sub = only_reader(mean, "Sub")
    if sub is None or list(sub.input) != [x, mean]:
        return None
    d = sub.output[0]
    d_readers = uses.get(d, [])
    if d in outputs or len(d_readers) != 2 or {n.op_type for n in d_readers} != {"Pow", "Div"}:
        return None
    pow_, div = sorted(d_readers, key=lambda n: n.op_type != "Pow")
    exponent = _const(inits, pow_.input[1]) if len(pow_.input) == 2 and pow_.input[0] == d else None
    if exponent is None or exponent.size != 1 or float(exponent.reshape(-1)[0]) != 2.0:
        return None
    var = only_reader(pow_.output[0], "ReduceMean")
    if var is None or not _last_axis_only(var, inits, opset, rank):
        return None
    add_eps = only_reader(var.output[0], "Add")
    eps_name = _other(add_eps, var.output[0]) if add_eps is not None else None
    eps = _const(inits, eps_name) if eps_name else None
    if eps is None or eps.size != 1 or not np.issubdtype(eps.dtype, np.floating):
        return None
    sqrt = only_reader(add_eps.output[0], "Sqrt")
    if sqrt is None or div.input[0] != d or div.input[1] != sqrt.output[0] or \
            only_reader(sqrt.output[0], "Div") is not div:
        return None
    nodes, y, scale, bias = [x_reader, sub, pow_, var, add_eps, sqrt, div], div.output[0], None, None
    mul = only_reader(y, "Mul")
    gamma = _per_channel(_const(inits, _other(mul, y) or ""), rank) if mul is not None else None
    if gamma is not None:
        nodes.append(mul)
        y, scale = mul.output[0], gamma
        add = only_reader(y, "Add")
        beta = _per_channel(_const(inits, _other(add, y) or ""), rank) if add is not None else None
        if beta is not None:
            nodes.append(add)
            y, bias = add.output[0], beta
    sizes = {v.size for v in (scale, bias) if v is not None and v.size > 1}
    if len(sizes) > 1:
        return None
    return _Match(nodes, x, y, float(eps.reshape(-1)[0]), sizes.pop() if sizes else None, scale, bias)


def opset_upgrade_keeps_meaning(model: onnx.ModelProto, target: int = LAYER_NORM_OPSET) -> bool:
    """Whether raising the default-domain opset import to `target` leaves every node's meaning as is:
    each op's schema is the same version at both opsets, or every revision in between only adds types
    or defaulted attributes (_SAME_MEANING)."""
    current = opset_of(model)
    if current >= target:
        return True

    def ops(graph: onnx.GraphProto):
        for node in graph.node:
            if node.domain in ("", "ai.onnx"):
                yield node.op_type
            for attr in node.attribute:
                for sub in ([attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)):
                    yield from ops(sub)

    for op in set(ops(model.graph)):
        try:
            revisions = {defs.get_schema(op, v).since_version for v in range(current, target + 1)}
        except defs.SchemaError:
            return False
        revisions.discard(defs.get_schema(op, current).since_version)
        if any((op, v) not in _SAME_MEANING for v in revisions):
            return False
    return True


class FuseLayerNorm(Pass):
    """Fuse the layer normalization that exporters write out op by op (PyTorch before opset 17,
    Paddle, TF) into one LayerNormalization over the last axis.

    Before:  m = ReduceMean(x, axes=[-1]);  d = Sub(x, m);  p = Pow(d, 2);  v = ReduceMean(p, axes=[-1])
             e = Add(v, eps);  s = Sqrt(e);  n = Div(d, s);  g = Mul(n, gamma);  y = Add(g, beta)
    After:   y = LayerNormalization(x, gamma, beta, axis=-1, epsilon=eps)

    Preconditions: both ReduceMean over the last axis only with keepdims=1 (axes as attribute, or
    as a constant input from opset 18); the exponent is the constant 2; eps, gamma and beta are
    constant initializers, gamma and beta float32 of shape [C] (or [1, ..., 1, C], or a scalar);
    every intermediate tensor has exactly the readers of the pattern (d: Pow and Div; the others
    one) and is not a graph output.  Mul(gamma) and Add(beta) are optional (absent gamma: ones;
    Add(beta) is taken only after a Mul(gamma)).  Either operand order of Add/Mul.  The model's
    opset must be >= 17, or raisable to 17 without changing any other node's meaning
    (`opset_upgrade_keeps_meaning`); otherwise nothing is fused (stats "skipped_opset").  Without
    a gamma or beta of C values the channel count comes from shape inference; unknown: not fused.

    Numeric tolerance: the same arithmetic (two-pass mean and variance over the last axis) in one
    kernel; onnxruntime's fused kernel and ours agree with the written-out graph to <= 1e-5
    relative (max |diff| / max |y|) on random inputs (tests/test_fuse_layer_norm.py).
    """

    def call(self, model: onnx.ModelProto) -> PassResult:
        graph = model.graph
        if not any(n.op_type == "ReduceMean" for n in graph.node):
            return PassResult(model, False, {"fused": 0})
        inits = constant_initializers(model)
        uses, outputs, opset = consumers(graph), graph_output_names(graph), opset_of(model)
        shapes = partial_shapes(model)
        ranks = {name: len(shape) for name, shape in shapes.items()}
        found: list[_Match] = []
        claimed: set[int] = set()
        for node in graph.node:
            if node.op_type != "ReduceMean":
                continue
            m = match(node, uses, inits, outputs, opset, ranks)
            if m is None or any(id(n) in claimed for n in m.nodes):
                continue
            last = (shapes.get(m.x) or (None,))[-1]
            if m.channels is None:
                m.channels = last
            if m.channels is None or (last is not None and last != m.channels):
                continue
            found.append(m)
            claimed.update(id(n) for n in m.nodes)
        if not found:
            return PassResult(model, False, {"fused": 0})
        if not opset_upgrade_keeps_meaning(model):
            return PassResult(model, False, {"fused": 0, "skipped_opset": len(found)})
        if opset < LAYER_NORM_OPSET:
            for entry in model.opset_import:
                if entry.domain in ("", "ai.onnx"):
                    entry.version = LAYER_NORM_OPSET
        taken = all_tensor_names(graph)
        replacement: dict[int, onnx.NodeProto] = {}
        for m in found:
            c = m.channels
            scale = np.ones(c, np.float32) if m.scale is None else np.broadcast_to(m.scale, (c,))
            scale_name = unique_name(graph, f"{m.y}_ln_scale", taken)
            add_initializer(model, np.ascontiguousarray(scale, np.float32), scale_name)
            inputs = [m.x, scale_name]
            if m.bias is not None:
                bias_name = unique_name(graph, f"{m.y}_ln_bias", taken)
                add_initializer(model, np.ascontiguousarray(np.broadcast_to(m.bias, (c,)), np.float32), bias_name)
                inputs.append(bias_name)
            fused = helper.make_node("LayerNormalization", inputs, [m.y], name=m.nodes[-1].name or m.y, axis=-1,
                                     epsilon=m.epsilon)
            replacement[id(m.nodes[-1])] = fused
        dropped = {id(n) for m in found for n in m.nodes}
        nodes = [replacement.get(id(n), n) for n in graph.node if id(n) not in dropped or id(n) in replacement]
        replace_nodes(graph, nodes)
        drop_stale_value_info(graph)
        return PassResult(model, True, {"fused": len(found)})
