"""Channel dependency analysis: which channels of an ONNX graph must be removed together.

The DepGraph idea (Fang et al., CVPR'23; Torch-Pruning), done on ONNX at the granularity of
single channels.  Every channel of every tracked activation tensor gets an integer id; op rules
either *alias* ids (an activation, a pool or a Concat passes channel c of its input on as a
channel of its output) or *couple* ids (Add joins channel c of both operands; a grouped Conv
joins the k-th channel of every group).  Connected components of the coupling graph are the
smallest removable units; units that touch the same tensors and weights form a **group**::

    x ─Conv(W1)─BN─Relu─Conv(W2)─┐
    │                            Add ─ y        group A: W1 rows, BN params, W2 columns (one unit per channel)
    └──────────────Conv(Ws)──────┘              group B: W2 rows, Ws rows, y's channels, ...

A weight ("parameter slice") records which ids index one of its axes, so pruning a set of units
slices exactly the matching rows/columns of every member.  One channel may stand for a block of
features (Flatten/Reshape into Gemm/MatMul: feature f of a flattened (C, H, W) map is channel
f // (H*W)), and a unit may stand for several channels (the k-th channel of every group of a
grouped Conv or of a channel shuffle Reshape->Transpose->Reshape).

Conservative by construction: an op without a rule *blocks* every channel it touches (with the
reason), and a unit touching a blocked channel is not prunable.  Graph inputs and outputs are
blocked too (the interface stays fixed).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import onnx
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..analysis.shapes import infer_static_shapes
from ..errors import UserError
from ..graph import attribute, graph_inputs, node_label, opset_of
from .tensors import ConstantStore

# Ops that map channel c of their (first) input to channel c of their output, whatever the rest.
UNARY_ALIAS = {
    "Relu", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Elu", "Selu", "Celu", "Softplus",
    "Softsign", "Exp", "Log", "Abs", "Neg", "Sqrt", "Reciprocal", "Identity", "Dropout", "Cast", "Erf", "Gelu",
    "Mish", "ThresholdedRelu", "Floor", "Ceil", "Round", "Sign", "Sin", "Cos", "Clip",
    "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "LpPool",
}
ELEMENTWISE = {"Add", "Sub", "Mul", "Div", "Sum", "Max", "Min", "Mean", "Pow", "PRelu"}
RESHAPING = {"Reshape", "Flatten", "Squeeze", "Unsqueeze"}
# Per-channel parameters of a BatchNormalization / InstanceNormalization, by input index.
NORM_PARAMS = {"BatchNormalization": (1, 2, 3, 4), "InstanceNormalization": (1, 2)}
PARAM_ROLE = {("BatchNormalization", 1): "bn_scale", ("BatchNormalization", 2): "bn_bias",
              ("BatchNormalization", 3): "bn_mean", ("BatchNormalization", 4): "bn_var",
              ("InstanceNormalization", 1): "norm_scale", ("InstanceNormalization", 2): "norm_bias"}


@dataclass
class Space:
    """The tracked channel axis of one activation tensor: `ids[i]` is the id of channel i."""

    tensor: str
    axis: int
    ids: np.ndarray


@dataclass
class ParamSlice:
    """Axis `axis` of constant `tensor` follows channel ids `ids` (one per index along the axis).

    `role`: "out" (a layer's filters), "in" (a layer's input columns), "bias", "bn_scale", ...,
    "const" (a per-channel operand of an element-wise op).
    """

    node: str
    op: str
    role: str
    tensor: str
    axis: int
    ids: np.ndarray


@dataclass
class Rewrite:
    """A node attribute or shape input that must follow the kept channel counts."""

    kind: str          # "reshape" | "split" | "slice" | "resize" | "conv_group"
    node: str
    info: dict


@dataclass
class ChannelGroup:
    """Channels that are removed together: `units` are component labels, one per removable channel."""

    index: int
    units: np.ndarray
    members: list[tuple[str, str, str]]          # (node name, op type, role)
    tensors: list[str]
    prunable: bool
    reasons: list[str] = field(default_factory=list)

    @property
    def channels(self) -> int:
        return len(self.units)

    def describe_members(self, limit: int = 6) -> str:
        shown = [f"{op} {node}({role})" for node, op, role in self.members[:limit]]
        more = len(self.members) - limit
        return ", ".join(shown) + (f", +{more} more" if more > 0 else "")


@dataclass
class ChannelGraph:
    """The result of `analyze`: spaces, parameter slices, rewrites, components and groups."""

    spaces: dict[str, Space]
    params: list[ParamSlice]
    rewrites: list[Rewrite]
    labels: np.ndarray                # component label of every channel id
    groups: list[ChannelGroup]
    shapes: dict

    def prunable_groups(self) -> list[ChannelGroup]:
        return [g for g in self.groups if g.prunable]

    def blocked_summary(self) -> str:
        """Which ops blocked which groups, for an error message."""
        by_reason: dict[str, int] = defaultdict(int)
        for group in self.groups:
            if not group.prunable:
                by_reason[group.reasons[0] if group.reasons else "unknown"] += 1
        return "; ".join(f"{reason} ({n} group{'s' if n > 1 else ''})" for reason, n in
                         sorted(by_reason.items(), key=lambda kv: -kv[1])[:6])


class _Builder:
    """Walks the graph in topological order applying one rule per op."""

    def __init__(self, model: onnx.ModelProto):
        self.model = model
        self.opset = opset_of(model)
        self.shapes = infer_static_shapes(_with_unit_batch(model))
        self.consts = ConstantStore(model)
        self.next_id = 0
        self.spaces: dict[str, Space] = {}
        self.edges_a: list[np.ndarray] = []
        self.edges_b: list[np.ndarray] = []
        self.blocked: list[tuple[np.ndarray, str]] = []
        self.params: list[ParamSlice] = []
        self.rewrites: list[Rewrite] = []
        self.attached_uses: set[tuple[str, str]] = set()   # (node label, const tensor)

    # -- primitives -----------------------------------------------------------------------
    def fresh(self, tensor: str, axis: int) -> Space:
        size = self.shapes[tensor].shape[axis]
        space = Space(tensor, axis, np.arange(self.next_id, self.next_id + size, dtype=np.int64))
        self.next_id += size
        self.spaces[tensor] = space
        return space

    def alias(self, tensor: str, axis: int, ids: np.ndarray) -> Space:
        space = Space(tensor, axis, np.asarray(ids, dtype=np.int64))
        self.spaces[tensor] = space
        return space

    def couple(self, a: np.ndarray, b: np.ndarray) -> None:
        a, b = np.broadcast_arrays(np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64))
        self.edges_a.append(a.ravel())
        self.edges_b.append(b.ravel())

    def block(self, ids: np.ndarray, reason: str) -> None:
        self.blocked.append((np.asarray(ids, dtype=np.int64), reason))

    def attach(self, node: onnx.NodeProto, role: str, tensor: str, axis: int, ids: np.ndarray) -> None:
        source, source_axis = self.consts.source_axis(tensor, axis)
        self.params.append(ParamSlice(node_label(node), node.op_type, role, source, source_axis,
                                      np.asarray(ids, dtype=np.int64)))
        self.attached_uses.add((node_label(node), tensor))

    def is_const(self, name: str) -> bool:
        return self.consts.is_constant(name)

    def rank(self, name: str) -> int:
        return len(self.shapes[name].shape)

    def tracked(self, name: str) -> bool:
        info = self.shapes.get(name)
        return info is not None and info.dtype.kind == "f" and len(info.shape) >= 2

    # -- walking ----------------------------------------------------------------------------
    def run(self) -> None:
        graph = self.model.graph
        for value in graph_inputs(self.model):
            if self.tracked(value.name):
                self.block(self.fresh(value.name, 1).ids, f"graph input '{value.name}'")
        for node in graph.node:
            if node.op_type == "Constant" or all(n == "" or self.is_const(n) for n in node.input) and node.input:
                continue  # constant computation: values, not channels
            rule = getattr(self, f"rule_{node.op_type}", None)
            if rule is None:
                rule = self.rule_identity if node.op_type in UNARY_ALIAS else None
            if rule is None and node.op_type in ELEMENTWISE:
                rule = self.rule_elementwise
            if rule is None and node.op_type in RESHAPING:
                rule = self.rule_reshaping
            reason = rule(node) if rule else f"{node.op_type} has no channel rule"
            if reason:
                self.block_node(node, f"{node.op_type} '{node_label(node)}': {reason}")
        for value in graph.output:
            if value.name in self.spaces:
                self.block(self.spaces[value.name].ids, f"graph output '{value.name}'")
        self.check_shared_constants()

    def block_node(self, node: onnx.NodeProto, reason: str) -> None:
        for name in node.input:
            if name in self.spaces:
                self.block(self.spaces[name].ids, reason)
        for name in node.output:
            if self.tracked(name):
                space = self.spaces.get(name) or self.fresh(name, 1)
                self.block(space.ids, reason)

    def check_shared_constants(self) -> None:
        """A sliced constant must not feed a node that does not slice it the same way."""
        attached = defaultdict(list)
        for param in self.params:
            attached[param.tensor].append(param)
        for node in self.model.graph.node:
            if node.output and node.output[0] in self.consts.views:
                continue                                       # a view of a constant, resolved by attach()
            for name in node.input:
                source = self.consts.source_axis(name, 0)[0] if self.is_const(name) else None
                if source in attached and (node_label(node), name) not in self.attached_uses:
                    for param in attached[source]:
                        self.block(param.ids, f"constant '{source}' is also read by {node.op_type} "
                                              f"'{node_label(node)}'")

    # -- rules: each returns None on success or the reason it blocks ------------------------
    def rule_identity(self, node: onnx.NodeProto) -> str | None:
        src = self.spaces.get(node.input[0])
        if src is None:
            return "its input has no tracked channels"
        if node.op_type == "Clip" and any(n and not self.is_const(n) for n in node.input[1:]):
            return "non-constant clip bounds"
        if node.op_type in ("MaxPool",) and len(node.output) > 1 and node.output[1]:
            return "MaxPool indices output"
        self.alias(node.output[0], src.axis, src.ids)
        return None

    def rule_BatchNormalization(self, node: onnx.NodeProto) -> str | None:
        src = self.spaces.get(node.input[0])
        if src is None or src.axis != 1:
            return "channel axis is not 1"
        for index in NORM_PARAMS[node.op_type]:
            if not self.is_const(node.input[index]):
                return f"parameter '{node.input[index]}' is not constant"
        for index in NORM_PARAMS[node.op_type]:
            self.attach(node, PARAM_ROLE[(node.op_type, index)], node.input[index], 0, src.ids)
        self.alias(node.output[0], 1, src.ids)
        return None

    rule_InstanceNormalization = rule_BatchNormalization

    def rule_elementwise(self, node: onnx.NodeProto) -> str | None:
        out = node.output[0]
        out_rank = self.rank(out)
        inputs = [n for n in node.input if n]
        axes = {out_rank - self.rank(n) + self.spaces[n].axis for n in inputs if n in self.spaces}
        if len(axes) != 1:
            return "operands track channels on different axes"
        axis = axes.pop()
        size = self.shapes[out].shape[axis]
        first = next(self.spaces[n] for n in inputs if n in self.spaces)
        if len(first.ids) != size:
            return "broadcast along the channel axis"
        for name in inputs:
            in_axis = axis - (out_rank - self.rank(name))
            if in_axis < 0 or self.shapes[name].shape[in_axis] == 1:
                continue                                       # broadcast over channels: any pruning works
            if name in self.spaces:
                if self.spaces[name].axis != in_axis:
                    return f"operand '{name}' tracks another axis"
                self.couple(first.ids, self.spaces[name].ids)
            elif self.is_const(name):
                self.attach(node, "const", name, in_axis, first.ids)
            else:
                return f"operand '{name}' has untracked channels"
        self.alias(out, axis, first.ids)
        return None

    def rule_Concat(self, node: onnx.NodeProto) -> str | None:
        axis = attribute(node, "axis") % self.rank(node.output[0])
        if any(n not in self.spaces for n in node.input):
            return "an operand is not a tracked activation"
        spaces = [self.spaces[n] for n in node.input]
        if {s.axis for s in spaces} != {spaces[0].axis}:
            return "operands track channels on different axes"
        if axis == spaces[0].axis:
            self.alias(node.output[0], axis, np.concatenate([s.ids for s in spaces]))
        else:
            for space in spaces[1:]:
                self.couple(spaces[0].ids, space.ids)
            self.alias(node.output[0], spaces[0].axis, spaces[0].ids)
        return None

    def rule_Split(self, node: onnx.NodeProto) -> str | None:
        src = self.spaces.get(node.input[0])
        if src is None:
            return "its input has no tracked channels"
        axis = attribute(node, "axis", 0) % self.rank(node.input[0])
        if axis != src.axis:
            for out in node.output:
                self.alias(out, src.axis, src.ids)
            return None
        if len(node.input) > 1 and node.input[1] and not self.is_const(node.input[1]):
            return "split sizes are not constant"
        offset = 0
        for out in node.output:
            size = self.shapes[out].shape[axis]
            self.alias(out, axis, src.ids[offset:offset + size])
            offset += size
        self.rewrites.append(Rewrite("split", node_label(node), {"outputs": list(node.output)}))
        return None

    def rule_Slice(self, node: onnx.NodeProto) -> str | None:
        src = self.spaces.get(node.input[0])
        if src is None:
            return "its input has no tracked channels"
        rank = self.rank(node.input[0])
        if self.opset < 10:
            starts, ends = attribute(node, "starts"), attribute(node, "ends")
            axes = attribute(node, "axes", list(range(len(starts))))
            steps = [1] * len(starts)
        else:
            if any(n and not self.is_const(n) for n in node.input[1:]):
                return "slice bounds are not constant"
            value = lambda i, default: (self.consts.value(node.input[i]).tolist()  # noqa: E731
                                        if len(node.input) > i and node.input[i] else default)
            starts, ends = value(1, None), value(2, None)
            axes = value(3, list(range(len(starts))))
            steps = value(4, [1] * len(starts))
        axes = [a % rank for a in axes]
        if src.axis not in axes:
            self.alias(node.output[0], src.axis, src.ids)
            return None
        k = axes.index(src.axis)
        if steps[k] != 1:
            return "strided slice along the channel axis"
        size = len(src.ids)
        start = int(np.clip(starts[k] + size if starts[k] < 0 else starts[k], 0, size))
        stop = start + self.shapes[node.output[0]].shape[src.axis]
        self.alias(node.output[0], src.axis, src.ids[start:stop])
        self.rewrites.append(Rewrite("slice", node_label(node), {"position": k, "input": node.input[0],
                                                                 "start": start, "stop": stop}))
        return None

    def rule_Pad(self, node: onnx.NodeProto) -> str | None:
        src = self.spaces.get(node.input[0])
        if src is None:
            return "its input has no tracked channels"
        if self.opset < 11:
            pads = attribute(node, "pads") or attribute(node, "paddings")
        elif self.is_const(node.input[1]):
            pads = self.consts.value(node.input[1]).tolist()
        else:
            return "pads are not constant"
        axes = list(range(self.rank(node.input[0])))
        if len(node.input) > 3 and node.input[3]:
            if not self.is_const(node.input[3]):
                return "pad axes are not constant"
            axes = [a % len(axes) for a in self.consts.value(node.input[3]).tolist()]
        half = len(pads) // 2
        if src.axis in axes and (pads[axes.index(src.axis)] or pads[half + axes.index(src.axis)]):
            return "pads the channel axis"
        self.alias(node.output[0], src.axis, src.ids)
        return None

    def rule_Resize(self, node: onnx.NodeProto) -> str | None:
        src = self.spaces.get(node.input[0])
        if src is None:
            return "its input has no tracked channels"
        if self.shapes[node.output[0]].shape[src.axis] != len(src.ids):
            return "resizes the channel axis"
        sizes = node.input[3] if len(node.input) > 3 and node.input[3] else None
        if sizes is not None:
            if not self.is_const(sizes):
                return "sizes are not constant"
            self.rewrites.append(Rewrite("resize", node_label(node), {"axis": src.axis}))
        self.alias(node.output[0], src.axis, src.ids)
        return None

    rule_Upsample = rule_Resize

    def rule_Transpose(self, node: onnx.NodeProto) -> str | None:
        src = self.spaces.get(node.input[0])
        if src is None:
            return "its input has no tracked channels"
        perm = attribute(node, "perm", list(reversed(range(self.rank(node.input[0])))))
        self.alias(node.output[0], list(perm).index(src.axis), src.ids)
        return None

    def rule_reshaping(self, node: onnx.NodeProto) -> str | None:
        """Reshape/Flatten/Squeeze/Unsqueeze: align input and output dims into blocks of equal product.

        merge  (.., C, H, W) -> (.., C*H*W): output feature f is channel (f // H*W) % C;
        split  (.., C) -> (.., g, C/g): the last factor is tracked; channel c couples to c % (C/g),
               so the k-th channel of every block goes together (a channel shuffle stays a shuffle).
        """
        src = self.spaces.get(node.input[0])
        if src is None:
            return "its input has no tracked channels"
        if node.op_type == "Reshape" and not self.is_const(node.input[1]):
            return "target shape is not constant"
        in_shape, out_shape = self.shapes[node.input[0]].shape, self.shapes[node.output[0]].shape
        block = _aligned_block(in_shape, out_shape, src.axis)
        if block is None:
            return "the channel axis is both split and merged"
        in_axes, out_axes = block
        C = len(src.ids)
        if len(out_axes) == 1:                       # identity or merge
            out_axis = out_axes[0]
            inner = int(np.prod([in_shape[a] for a in in_axes if a > src.axis], dtype=np.int64))
            features = np.arange(out_shape[out_axis])
            self.alias(node.output[0], out_axis, src.ids[(features // inner) % C])
        else:                                        # split: track the last factor
            out_axis = out_axes[-1]
            size = out_shape[out_axis]
            channels = np.arange(C)
            self.couple(src.ids, src.ids[channels % size])
            self.alias(node.output[0], out_axis, src.ids[:size])
        if node.op_type == "Reshape":
            self.rewrites.append(Rewrite("reshape", node_label(node), {"axis": out_axis}))
        return None

    def rule_Conv(self, node: onnx.NodeProto) -> str | None:
        src = self.spaces.get(node.input[0])
        if src is None or src.axis != 1:
            return "input channels are not tracked on axis 1"
        if not all(self.is_const(n) for n in node.input[1:] if n):
            return "weights are not constant"
        group = attribute(node, "group", 1)
        weight = node.input[1]
        c_in, c_out = len(src.ids), self.shapes[weight].shape[0]
        out = self.fresh(node.output[0], 1)
        self.attach(node, "out", weight, 0, out.ids)
        if len(node.input) > 2 and node.input[2]:
            self.attach(node, "bias", node.input[2], 0, out.ids)
        in_per_group, out_per_group = c_in // group, c_out // group
        if group == 1:
            self.attach(node, "in", weight, 1, src.ids)
        elif in_per_group == 1:                      # depthwise: input c feeds outputs [c*m, (c+1)*m)
            self.couple(np.repeat(src.ids, out_per_group), out.ids)
            self.rewrites.append(Rewrite("conv_group", node_label(node), {"input": node.input[0]}))
        else:                                        # grouped: the k-th channel of every group goes together
            self.couple(out.ids, out.ids[np.arange(c_out) % out_per_group])
            self.couple(src.ids, src.ids[np.arange(c_in) % in_per_group])
            self.attach(node, "in", weight, 1, src.ids[:in_per_group])
        return None

    def rule_ConvTranspose(self, node: onnx.NodeProto) -> str | None:
        src = self.spaces.get(node.input[0])
        if src is None or src.axis != 1:
            return "input channels are not tracked on axis 1"
        if attribute(node, "group", 1) != 1:
            return "grouped ConvTranspose"
        if not all(self.is_const(n) for n in node.input[1:] if n):
            return "weights are not constant"
        out = self.fresh(node.output[0], 1)
        self.attach(node, "in", node.input[1], 0, src.ids)
        self.attach(node, "out", node.input[1], 1, out.ids)
        if len(node.input) > 2 and node.input[2]:
            self.attach(node, "bias", node.input[2], 0, out.ids)
        return None

    def rule_Gemm(self, node: onnx.NodeProto) -> str | None:
        src = self.spaces.get(node.input[0])
        if src is None or src.axis != 1 or attribute(node, "transA", 0):
            return "input features are not tracked on axis 1"
        if not all(self.is_const(n) for n in node.input[1:] if n):
            return "weights are not constant"
        trans_b = attribute(node, "transB", 0)
        weight = node.input[1]
        out = self.fresh(node.output[0], 1)
        self.attach(node, "in", weight, 1 if trans_b else 0, src.ids)
        self.attach(node, "out", weight, 0 if trans_b else 1, out.ids)
        if len(node.input) > 2 and node.input[2]:
            bias_shape = self.shapes[node.input[2]].shape
            if bias_shape and bias_shape[-1] == len(out.ids) and len(out.ids) > 1:
                self.attach(node, "bias", node.input[2], len(bias_shape) - 1, out.ids)
            elif bias_shape and bias_shape[-1] != 1:
                return "bias does not broadcast per output feature"
        return None

    def rule_MatMul(self, node: onnx.NodeProto) -> str | None:
        src = self.spaces.get(node.input[0])
        weight = node.input[1]
        if src is None or src.axis != self.rank(node.input[0]) - 1:
            return "input features are not tracked on the last axis"
        if not self.is_const(weight) or self.rank(weight) != 2:
            return "the weight is not a constant matrix"
        out = self.fresh(node.output[0], self.rank(node.output[0]) - 1)
        self.attach(node, "in", weight, 0, src.ids)
        self.attach(node, "out", weight, 1, out.ids)
        return None

    def reduce_axes(self, node: onnx.NodeProto) -> list[int] | None:
        rank = self.rank(node.input[0])
        axes = attribute(node, "axes")
        if axes is None and len(node.input) > 1 and node.input[1]:
            axes = self.consts.value(node.input[1]).tolist() if self.is_const(node.input[1]) else None
            if axes is None:
                return None
        return [a % rank for a in axes] if axes else list(range(rank))

    def rule_reduce(self, node: onnx.NodeProto) -> str | None:
        src = self.spaces.get(node.input[0])
        if src is None:
            return "its input has no tracked channels"
        axes = self.reduce_axes(node)
        if axes is None or src.axis in axes:
            return "reduces over the channel axis"
        keep = attribute(node, "keepdims", 1)
        out_axis = src.axis if keep else src.axis - sum(a < src.axis for a in axes)
        self.alias(node.output[0], out_axis, src.ids)
        return None

    rule_ReduceMean = rule_ReduceSum = rule_ReduceMax = rule_ReduceMin = rule_ReduceL2 = rule_reduce

    def rule_softmax(self, node: onnx.NodeProto) -> str | None:
        src = self.spaces.get(node.input[0])
        if src is None:
            return "its input has no tracked channels"
        rank = self.rank(node.input[0])
        axis = attribute(node, "axis", 1 if self.opset < 13 else -1) % rank
        covers = src.axis >= axis if self.opset < 13 else src.axis == axis
        if covers:
            return "normalises across the channel axis"
        self.alias(node.output[0], src.axis, src.ids)
        return None

    rule_Softmax = rule_LogSoftmax = rule_softmax


def _aligned_block(in_shape, out_shape, axis) -> tuple[list[int], list[int]] | None:
    """The input axes and output axes of the reshape block holding input `axis`.

    Size-1 dims are skipped; blocks are the shortest runs with equal products.  Returns None
    when the block both splits and merges (m-to-n with m, n > 1).
    """
    ins = [i for i, d in enumerate(in_shape) if d != 1]
    outs = [j for j, d in enumerate(out_shape) if d != 1]
    i = j = 0
    while i < len(ins) and j < len(outs):
        block_in, block_out = [ins[i]], [outs[j]]
        p_in, p_out = in_shape[ins[i]], out_shape[outs[j]]
        i, j = i + 1, j + 1
        while p_in != p_out:
            if p_in < p_out:
                block_in.append(ins[i])
                p_in *= in_shape[ins[i]]
                i += 1
            else:
                block_out.append(outs[j])
                p_out *= out_shape[outs[j]]
                j += 1
        if axis in block_in:
            if len(block_in) > 1 and len(block_out) > 1:
                return None
            return block_in, block_out
    return None


def _with_unit_batch(model: onnx.ModelProto) -> onnx.ModelProto:
    """Dynamic input dims set to 1 (shapes are only needed up to the batch size)."""
    if all(d.HasField("dim_value") and d.dim_value > 0 for value in graph_inputs(model)
           for d in value.type.tensor_type.shape.dim):
        return model
    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    for value in graph_inputs(fixed):
        for d in value.type.tensor_type.shape.dim:
            if not (d.HasField("dim_value") and d.dim_value > 0):
                d.dim_value = 1
    return fixed


def analyze(model: onnx.ModelProto) -> ChannelGraph:
    """Find the channel groups of `model` (see the module docstring)."""
    builder = _Builder(model)
    builder.run()
    n = builder.next_id
    if builder.edges_a:
        a, b = np.concatenate(builder.edges_a), np.concatenate(builder.edges_b)
    else:
        a = b = np.zeros(0, dtype=np.int64)
    adjacency = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n))
    _, labels = connected_components(adjacency, directed=False)
    groups = _group_units(builder, labels)
    return ChannelGraph(builder.spaces, builder.params, builder.rewrites, labels, groups, builder.shapes)


def _group_units(builder: _Builder, labels: np.ndarray) -> list[ChannelGroup]:
    """Units (components) touching the same spaces and parameter slices form one group."""
    keys, owners = [], []
    for index, space in enumerate(builder.spaces.values()):
        keys.append(np.full(len(space.ids), index, dtype=np.int64))
        owners.append(labels[space.ids])
    offset = len(builder.spaces)
    for index, param in enumerate(builder.params):
        keys.append(np.full(len(param.ids), offset + index, dtype=np.int64))
        owners.append(labels[param.ids])
    keys_all, owners_all = np.concatenate(keys), np.concatenate(owners)
    pairs = np.unique(np.stack([owners_all, keys_all], axis=1), axis=0)
    split_at = np.flatnonzero(np.diff(pairs[:, 0])) + 1
    signature_units: dict[tuple, list[int]] = defaultdict(list)
    for chunk in np.split(pairs, split_at):
        signature_units[tuple(chunk[:, 1].tolist())].append(int(chunk[0, 0]))
    blocked_reasons: dict[int, list[str]] = defaultdict(list)
    for ids, reason in builder.blocked:
        for label in np.unique(labels[ids]).tolist():
            if len(blocked_reasons[label]) < 3 and reason not in blocked_reasons[label]:
                blocked_reasons[label].append(reason)
    space_names = list(builder.spaces)
    groups = []
    for signature, units in signature_units.items():
        members, tensors = [], []
        for key in signature:
            if key >= offset:
                p = builder.params[key - offset]
                if (p.node, p.op, p.role) not in members:
                    members.append((p.node, p.op, p.role))
            else:
                tensors.append(space_names[key])
        reasons = []
        for unit in units:
            for reason in blocked_reasons.get(unit, []):
                if reason not in reasons:
                    reasons.append(reason)
        if not members:
            continue                                           # activations only: nothing to slice
        groups.append(ChannelGroup(0, np.array(sorted(units), dtype=np.int64), members, tensors,
                                   prunable=not reasons, reasons=reasons[:3]))
    groups.sort(key=lambda g: int(g.units[0]))
    for index, group in enumerate(groups):
        group.index = index
    return groups


def require_prunable(graph: ChannelGraph) -> list[ChannelGroup]:
    """The prunable groups, or a UserError saying which ops blocked which groups."""
    groups = graph.prunable_groups()
    if not groups:
        raise UserError(f"nothing to prune: all {len(graph.groups)} channel groups are blocked — "
                        f"{graph.blocked_summary()}")
    return groups
