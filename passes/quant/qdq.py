"""QDQ models: a float op between DequantizeLinear inputs and one QuantizeLinear becomes its integer op."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from ..compact.graph_edit import add_initializer, consumers, graph_output_names, producers, replace_nodes, unique_name
from ..core import Pass, PassResult
from ..graph import Constants, attributes, opset_of
from .qgemm import MS_DOMAIN

# Ops that move or select quantized values without changing them: with the same scale and zero point
# on both sides, DQ -> op -> Q is the op on the quantized tensor (the target runs them on int8 / uint8).
VALUE_PRESERVING = ("MaxPool", "Flatten", "Reshape", "Squeeze", "Unsqueeze")
# The opset from which each takes int8 / uint8 tensors (onnxruntime checks the model's own opset).
INT8_SINCE = {"MaxPool": 12, "Flatten": 11, "Reshape": 5, "Squeeze": 1, "Unsqueeze": 1}
# Float ops whose quantized form is an onnxruntime QOperator op over per-tensor parameters, as its own
# QDQ fusion writes them: y = Q(op(DQ(a), DQ(b)...)) -> QLinear<op>(a, a_s, a_zp, ..., y_s, y_zp).
ELEMENTWISE = {"Add": "QLinearAdd", "Mul": "QLinearMul", "GlobalAveragePool": "QLinearGlobalAveragePool",
               "Sigmoid": "QLinearSigmoid", "LeakyRelu": "QLinearLeakyRelu", "Concat": "QLinearConcat"}


class _Graph:
    """What the pattern predicates read: producers, readers, constants, graph outputs."""

    def __init__(self, model: onnx.ModelProto):
        graph = model.graph
        self.producer = producers(graph)
        self.readers = consumers(graph)
        self.consts = Constants(model)
        self.outputs = graph_output_names(graph)
        self.opset = opset_of(model)
        self.model = model
        self.zeros: dict[str, str] = {}   # quantized tensor -> the all-zero zero point made for it

    def zero_point(self, dq: onnx.NodeProto) -> str:
        """The name of `dq`'s zero point; for a DequantizeLinear without one (0 of its input's type, which
        QLinearConv and QLinearMatMul take as a required input), an all-zero initializer of the scale's shape
        and the input's type, made once.  '' when that type is not known here."""
        if len(dq.input) > 2 and dq.input[2]:
            return dq.input[2]
        x = dq.input[0]
        if x not in self.zeros:
            if x in self.consts:
                dtype = np.asarray(self.consts[x]).dtype
            else:
                q = self.producer.get(x)
                if q is None or q.op_type != "QuantizeLinear":
                    return ""
                dtype = np.asarray(self.consts[q.input[2]]).dtype if len(q.input) > 2 and q.input[2] else np.uint8
            name = unique_name(self.model.graph, x + "_zero_point")
            add_initializer(self.model, np.zeros(np.asarray(self.consts[dq.input[1]]).shape, dtype), name)
            self.zeros[x] = name
        return self.zeros[x]

    def dq(self, name: str) -> onnx.NodeProto | None:
        """The DequantizeLinear making `name`, with a constant scale (and zero point), or None."""
        node = self.producer.get(name)
        if node is None or node.op_type != "DequantizeLinear" or node.domain not in ("", "ai.onnx"):
            return None
        return node if all(x in self.consts for x in node.input[1:] if x) else None

    def only_q(self, name: str) -> onnx.NodeProto | None:
        """The QuantizeLinear that is the only reader of `name` (per tensor, constant parameters), or None."""
        readers = self.readers.get(name, [])
        if name in self.outputs or len(readers) != 1:
            return None
        q = readers[0]
        if q.op_type != "QuantizeLinear" or q.domain not in ("", "ai.onnx") or len(q.input) < 3 or not q.input[2]:
            return None
        if not all(x in self.consts for x in q.input[1:3]) or self.size(q.input[1]) != 1:
            return None
        return q

    def size(self, name: str) -> int:
        return int(np.asarray(self.consts[name]).size)

    def per_axis(self, dq: onnx.NodeProto, axis: int, rank: int) -> bool:
        """The DequantizeLinear is per tensor, or per channel along `axis` of a rank-`rank` tensor."""
        return self.size(dq.input[1]) == 1 or int(attributes(dq).get("axis", 1)) % rank == axis

    def same_params(self, dq: onnx.NodeProto, q: onnx.NodeProto) -> bool:
        """The DequantizeLinear and the QuantizeLinear use the same scale and zero point (per tensor)."""
        return (len(dq.input) > 2 and dq.input[2] and self.size(dq.input[1]) == 1 and
                all(np.array_equal(np.asarray(self.consts[a]), np.asarray(self.consts[b])) and
                    np.asarray(self.consts[a]).dtype == np.asarray(self.consts[b]).dtype
                    for a, b in zip(dq.input[1:3], q.input[1:3])))


def _bias_ok(g: _Graph, bias: onnx.NodeProto | None, x: onnx.NodeProto, w: onnx.NodeProto) -> bool:
    """An int32 bias dequantized at x_scale * w_scale (float32, per channel) with zero point 0."""
    if bias is None or bias.input[0] not in g.consts:
        return False
    scale = np.asarray(g.consts[bias.input[1]], np.float32)
    want = np.float32(np.asarray(g.consts[x.input[1]], np.float32).reshape(())) * \
        np.asarray(g.consts[w.input[1]], np.float32).reshape(-1)
    zero = np.asarray(g.consts[bias.input[2]]) if len(bias.input) > 2 and bias.input[2] else np.zeros(1)
    return (np.asarray(g.consts[bias.input[0]]).dtype == np.int32 and not zero.any() and
            np.array_equal(np.broadcast_to(scale.reshape(-1), want.shape), want))


def _params(g: _Graph, dq: onnx.NodeProto) -> list[str]:
    """A DequantizeLinear's quantized input, scale and zero point (made when absent: `_Graph.zero_point`)."""
    return [dq.input[0], dq.input[1], g.zero_point(dq)]


def _clamp_bounds(g: _Graph, act: onnx.NodeProto) -> tuple[float, float] | None:
    """(lo, hi) of a Relu or of a Clip with constant (or absent) bounds, else None."""
    if act.op_type == "Relu":
        return 0.0, np.inf
    at = attributes(act)
    bounds = [float(at.get("min", -np.inf)), float(at.get("max", np.inf))]
    for k in (1, 2):
        if len(act.input) > k and act.input[k]:
            if act.input[k] not in g.consts:
                return None
            bounds[k - 1] = float(np.asarray(g.consts[act.input[k]]).reshape(()))
    return bounds[0], bounds[1]


def _implied_clamp(g: _Graph, name: str) -> tuple[onnx.NodeProto, onnx.NodeProto] | None:
    """(act, q) when `name`'s only reader is a Relu / Clip whose only reader is a QuantizeLinear that
    saturates at least as tightly: lo <= s (qmin - zp) and hi >= s (qmax - zp), so Q(act(y)) == Q(y)
    for every y (values below lo already quantize to qmin, above hi to qmax)."""
    readers = g.readers.get(name, [])
    if name in g.outputs or len(readers) != 1 or readers[0].op_type not in ("Relu", "Clip"):
        return None
    act = readers[0]
    q, bounds = g.only_q(act.output[0]), _clamp_bounds(g, act)
    if q is None or bounds is None:
        return None
    s = float(np.asarray(g.consts[q.input[1]], np.float64).reshape(()))
    zp = np.asarray(g.consts[q.input[2]])
    info = np.iinfo(zp.dtype)
    z = int(zp.reshape(()))
    return (act, q) if bounds[0] <= s * (info.min - z) and bounds[1] >= s * (info.max - z) else None


def _fuse(g: _Graph, node: onnx.NodeProto) -> tuple[onnx.NodeProto, list[onnx.NodeProto]] | None:
    """(the integer node, the nodes it replaces besides `node`: the QuantizeLinear, and a Relu / Clip
    the QuantizeLinear's saturation implies) for a fusable `node`, else None."""
    if node.domain not in ("", "ai.onnx") or not node.output or not node.output[0]:
        return None
    q, extra = g.only_q(node.output[0]), []
    if q is None and node.op_type in ("Conv", "Gemm", "MatMul"):
        implied = _implied_clamp(g, node.output[0])
        if implied is not None:
            extra, q = [implied[0]], implied[1]
    dqs = [g.dq(x) if x else None for x in node.input]
    if q is None or not dqs or dqs[0] is None or g.size(dqs[0].input[1]) != 1:
        return None
    at, op = attributes(node), node.op_type
    if op in VALUE_PRESERVING:
        if not g.same_params(dqs[0], q) or g.opset < INT8_SINCE[op]:
            return None
        fused = helper.make_node(op, [dqs[0].input[0], *node.input[1:]], [q.output[0]], name=node.name, **at)
        return fused, [q, *extra]
    if op in ELEMENTWISE:
        fused = _fuse_elementwise(g, node, dqs, q)
        return None if fused is None else (fused, [q, *extra])
    if op not in ("Conv", "Gemm", "MatMul") or len(dqs) < 2 or dqs[1] is None or dqs[1].input[0] not in g.consts:
        return None
    x, w, bias = dqs[0], dqs[1], dqs[2] if len(dqs) > 2 else None
    w_rank = np.asarray(g.consts[w.input[0]]).ndim
    tail = [*q.input[1:3]]
    if op == "Conv" and g.per_axis(w, 0, w_rank) and (len(node.input) < 3 or _bias_ok(g, bias, x, w)):
        inputs = _params(g, x) + _params(g, w) + tail + ([bias.input[0]] if bias else [])
        return helper.make_node("QLinearConv", inputs, [q.output[0]], name=node.name, **at), [q, *extra]
    if op == "MatMul" and w_rank == 2 and g.per_axis(w, 1, 2):
        fused = helper.make_node("QLinearMatMul", _params(g, x) + _params(g, w) + tail, [q.output[0]], name=node.name)
        return fused, [q, *extra]
    if op == "Gemm" and w_rank == 2 and not at.get("transA", 0) and at.get("alpha", 1.0) == 1.0 and \
            at.get("beta", 1.0) == 1.0 and g.per_axis(w, 0 if at.get("transB", 0) else 1, 2) and \
            (len(node.input) < 3 or _bias_ok(g, bias, x, w)):
        inputs = _params(g, x) + _params(g, w) + [bias.input[0] if bias else ""] + tail
        return helper.make_node("QGemm", inputs, [q.output[0]], name=node.name, domain=MS_DOMAIN,
                                transB=int(at.get("transB", 0))), [q, *extra]
    return None


def _fuse_elementwise(g: _Graph, node: onnx.NodeProto, dqs: list, q: onnx.NodeProto):
    """The QLinear<op> node replacing `node` and `q` when every input is dequantized per tensor with a zero
    point of q's type, else None."""
    y_type = np.asarray(g.consts[q.input[2]]).dtype
    if any(dq is None or len(dq.input) < 3 or not dq.input[2] or g.size(dq.input[1]) != 1 or
           np.asarray(g.consts[dq.input[2]]).dtype != y_type for dq in dqs):
        return None
    op, at = node.op_type, attributes(node)
    if op == "Concat":
        inputs = [*q.input[1:3]] + [x for dq in dqs for x in _params(g, dq)]
    else:
        inputs = [x for dq in dqs for x in _params(g, dq)] + [*q.input[1:3]]
    keep = {k: v for k, v in at.items() if k in ("alpha", "axis")}
    return helper.make_node(ELEMENTWISE[op], inputs, [q.output[0]], name=node.name, domain=MS_DOMAIN, **keep)


class FuseQDQ(Pass):
    """Turn the QDQ format's DequantizeLinear -> float op -> QuantizeLinear groups into integer ops.

    Before:  xf = DQ(xq, x_s, x_zp); wf = DQ(wq, w_s, w_zp); bf = DQ(bq, x_s*w_s, 0)
             y = Conv(xf, wf, bf);  yq = Q(y, y_s, y_zp)
    After:   yq = QLinearConv(xq, x_s, x_zp, wq, w_s, w_zp, y_s, y_zp, bq)

    Likewise MatMul -> QLinearMatMul, Gemm (transA 0, alpha = beta = 1) -> QGemm (then a 1x1
    QLinearConv, ExpressQGemm), Add / Mul / GlobalAveragePool / Sigmoid / LeakyRelu / Concat with every
    input and the output quantized per tensor (one type) -> onnxruntime's QLinear<op> (com.microsoft),
    a Conv / MatMul / Gemm followed by a Relu or Clip that the QuantizeLinear's saturation implies
    (lo <= y_s (qmin - y_zp), hi >= y_s (qmax - y_zp): the activation goes, exactly),
    and MaxPool / Flatten / Reshape / Squeeze / Unsqueeze between a DQ and a
    Q of the same scale and zero point -> the op on the quantized tensor (from the opset where the op
    takes int8: MaxPool 12, Flatten 11).  Preconditions: every scale
    and zero point constant; activations and y per tensor; the weight a constant, per tensor or per
    output channel; the bias int32 at scale x_s * w_s with zero point 0; the float op's output read by
    that QuantizeLinear alone.  DequantizeLinear nodes left without readers go.  Anything else stays
    as it is (the target runs QuantizeLinear and DequantizeLinear too).

    Numerics: the integer op is what onnxruntime itself runs for these groups (its QDQ fusion), exact
    integer sums requantized once; the float ops of the unfused graph round the dequantized products
    first, so the two may differ by one step where a value lies at a rounding tie.  In place.
    """

    def call(self, model: onnx.ModelProto) -> PassResult:
        g = _Graph(model)
        fused: dict[int, onnx.NodeProto] = {}
        dropped: set[str] = set()   # the replaced QuantizeLinear (and implied Relu / Clip) nodes, by output
        for k, node in enumerate(model.graph.node):
            match = _fuse(g, node)
            if match is not None:
                fused[k] = match[0]
                dropped.update(n.output[0] for n in match[1])
        if not fused:
            return PassResult(model, False, {"fused": 0})
        nodes = [fused.get(k, n) for k, n in enumerate(model.graph.node)
                 if not (n.output and n.output[0] in dropped and k not in fused)]
        read = {x for n in nodes for x in n.input} | g.outputs
        nodes = [n for n in nodes if n.op_type != "DequantizeLinear" or any(o in read for o in n.output)]
        replace_nodes(model.graph, nodes)
        if any(n.domain == MS_DOMAIN for n in nodes) and all(o.domain != MS_DOMAIN for o in model.opset_import):
            model.opset_import.append(helper.make_opsetid(MS_DOMAIN, 1))
        kinds = sorted({n.op_type for n in fused.values()})
        return PassResult(model, True, {"fused": len(fused), "ops": kinds})
