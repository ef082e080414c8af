"""3-D convolutions and pools as 2-D ones: the depth axis of a 5-D region unrolled into 4-D slices."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..analysis.shapes import infer_static_shapes
from ..analysis.spatial import window_extents
from ..core import Pass, PassResult
from ..errors import UnsupportedModelError
from ..graph import attributes, constant_initializers, node_label, opset_of
from .graph_edit import (NodeWriter, all_tensor_names, consumers, drop_stale_value_info,
                         graph_output_names, referenced_names, remove_initializers, replace_nodes, subgraphs)

ONNX_DOMAINS = ("", "ai.onnx")
WINDOW_3D = ("Conv", "MaxPool", "AveragePool")
# ops applied to each depth slice as they are: every input either a slice of the same depth, or a
# tensor that does not vary along depth (numpy broadcasting right-aligns it past the depth axis)
SLICEWISE = frozenset({
    "Relu", "LeakyRelu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Elu", "Selu", "Celu", "Gelu",
    "Softplus", "Softsign", "Mish", "ThresholdedRelu", "Neg", "Abs", "Exp", "Log", "Sqrt", "Reciprocal", "Erf",
    "Floor", "Ceil", "Round", "Add", "Sub", "Mul", "Div", "Sum", "Max", "Min", "Pow", "PRelu",
    "BatchNormalization"})
GLOBAL_POOLS = ("GlobalAveragePool", "GlobalMaxPool")


def depth_taps(d: int, stride: int, dilation: int, begin: int, kernel: int, size: int) -> list[tuple[int, int]]:
    """(tap t, input depth i) of output depth d whose i lies in [0, size): i = d * stride + t * dilation - begin."""
    return [(t, i) for t in range(kernel) if 0 <= (i := d * stride + t * dilation - begin) < size]


def average_count(d: int, stride: int, dilation: int, begin: int, end: int, kernel: int, size: int,
                  count_include_pad: bool) -> int:
    """How many depth taps AveragePool divides by at output depth d: the taps inside the input, or with
    count_include_pad also those on the pads (never the ones past the trailing pad that ceil_mode adds)."""
    lowest, highest = (-begin, size + end) if count_include_pad else (0, size)
    return sum(1 for t in range(kernel) if lowest <= d * stride + t * dilation - begin < highest)


def has_3d_windows(model: onnx.ModelProto) -> bool:
    """Whether a Conv / MaxPool / AveragePool of the top graph has a rank-5 input (by its weight or its
    kernel_shape attribute: no shape inference needed)."""
    weights = {t.name: len(t.dims) for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type not in WINDOW_3D or node.domain not in ONNX_DOMAINS:
            continue
        kernel = attributes(node).get("kernel_shape")
        rank = len(kernel) + 2 if kernel is not None else weights.get(node.input[1] if len(node.input) > 1 else "")
        if rank == 5:
            return True
    return False


def read_slice_by_slice(graph: onnx.GraphProto) -> set[str]:
    """Tensors (no graph outputs) whose one reader takes them slice by slice: a 3-D window, a `SLICEWISE` op or
    a Concat on channels.  Their slices are made when that reader's slice asks for them, so that a chain of
    them runs depth slice after depth slice (a residual block's Conv, Relu, Conv, Add, Relu) and holds a few
    slices of each tensor rather than the whole of each."""
    uses, outputs = consumers(graph), graph_output_names(graph)
    lazy: set[str] = set()
    for node in graph.node:
        for name in node.output:
            readers = uses.get(name, [])
            if name in outputs or len(readers) != 1 or readers[0].domain not in ONNX_DOMAINS:
                continue
            reader = readers[0]
            if reader.op_type in WINDOW_3D or reader.op_type in SLICEWISE or (
                    reader.op_type == "Concat" and attributes(reader).get("axis") in (1, -4)):
                lazy.add(name)
    return lazy


@dataclass
class _Group:
    """Nodes held back until something reads one of their outputs (`_Builder.deferring`)."""

    nodes: list[onnx.NodeProto] = field(default_factory=list)
    reads: set[str] = field(default_factory=set)     # tensors made outside the group
    emitted: bool = False


@dataclass
class _Builder(NodeWriter):
    """The new node list, fresh names and the small constants the rewrite adds.

    Nodes made while `deferring` go into a group that is emitted only when a node outside it reads one of
    its outputs (after the groups it reads in turn): the slices of a tensor that only a 3-D window reads
    are then made just before the window's first tap on them, and the ones it never reads are not made."""

    group: _Group | None = None
    made_by: dict[str, _Group] = field(default_factory=dict)

    @contextmanager
    def deferring(self, enabled: bool = True):
        self.group = _Group() if enabled else None
        try:
            yield
        finally:
            self.group = None

    def emit(self, node: onnx.NodeProto) -> None:
        group = self.group
        if group is None:
            for name in node.input:
                self.flush(name)
            self.nodes.append(node)
            return
        group.nodes.append(node)
        group.reads.update(i for i in node.input if i and self.made_by.get(i) is not group)
        self.made_by.update((o, group) for o in node.output if o)

    def flush(self, name: str) -> None:
        """Emit the held-back group that makes `name`, after the groups it reads (iteratively)."""
        stack = [self.made_by.get(name)]
        while stack:
            group = stack[-1]
            if group is None or group.emitted:
                stack.pop()
                continue
            waiting = [g for g in (self.made_by.get(i) for i in group.reads) if g is not None and not g.emitted]
            if waiting:
                stack.extend(waiting)
                continue
            group.emitted = True
            self.nodes.extend(group.nodes)
            stack.pop()


class UnrollDepth(Pass):
    """Rewrite every 3-D Conv / MaxPool / AveragePool into 2-D ones on depth slices.

    A 5-D tensor X[N, C, D, H, W] that a 3-D window reads is held as its D slices X_i[N, C, H, W]
    (a Split on axis 2, or a Slice each made as it is read when X has other readers; then a Reshape
    each), unless the producer already made slices.  With the window's
    depth kernel k, stride s, dilation r and leading pad b (`analysis.spatial.window_extents`; auto_pad
    and ceil_mode resolved as in 2-D), output depth d reads the taps t with i = d*s + t*r - b in [0, D)
    (taps on the pads are zeros for Conv, ignored by the pools):

        Conv:         Y_d = Sum_t Conv2D(X_i, W[:, :, t]) (+ bias, once)      (same group, H/W attributes;
                      the taps added one by one as they are made, in place)
        MaxPool:      Y_d = Max_t MaxPool2D(X_i)
        AveragePool:  Y_d = Sum_t AveragePool2D(X_i) / n_d,  n_d = the depth taps counted (`average_count`):
                      onnxruntime's 3-D divisor is the product of the per-axis counts, in both
                      count_include_pad modes, so H/W divide in the 2-D pool and depth here

    Before:  y = Conv(x[1,64,16,56,56], W[64,64,3,3,3], pads=[1,1,1,1,1,1]);  z = Relu(y);  g = GlobalAveragePool(z)
    After:   x_0..x_15 = Reshape(Split(x, axis=2));  y_d = Conv(x_(d-1), W_0) + Conv(x_d, W_1) + Conv(x_(d+1), W_2)
             (one tap less at d = 0 and 15);  z_d = Relu(y_d);  g = Reshape(Mul(Sum_d GlobalAveragePool(z_d), 1/16))

    Slices flow on through ops that work slice by slice (`SLICEWISE`: activations, BatchNormalization,
    element-wise arithmetic whose other inputs are slices, constants or tensors that do not vary along depth;
    Concat on channels); a global pool over slices combines them (mean or max of the per-slice pools).  Any
    other reader, and a graph output, gets the 5-D tensor back (Reshape each slice to [N, C, 1, H, W],
    Concat on axis 2).  Weights split by depth tap keep their bytes.  A slice is made when its one reader's
    slice asks for it (`read_slice_by_slice`), so a residual block runs depth slice after depth slice and
    holds a few slices of each inner tensor: peak live activations in graph order, r3d_18 36.75 MiB as
    3-D ops, 16.08 MiB unrolled; r2plus1d_18 67.38 -> 22.59 MiB; s3d (224x224) 98.0 -> 34.26 MiB.

    Exact up to float32 summation order (a 3-D sum computed as k partial sums); tests compare with
    onnxruntime on random shapes.  Preconditions: static shapes, Conv weights and bias are initializers
    (else the node is left as it is, and `lower` names it).  In place.
    """

    def call(self, model: onnx.ModelProto) -> PassResult:
        if not has_3d_windows(model):
            return PassResult(model, False, {"unrolled": 0})
        graph = model.graph
        infos = infer_static_shapes(model)
        weights = constant_initializers(model)
        rewrite = _Rewrite(_Builder(model, all_tensor_names(graph)), infos, weights, opset_of(model))
        rewrite.lazy = read_slice_by_slice(graph)
        outputs = graph_output_names(graph)
        rewrite.single_reader = {name for name, readers in consumers(graph).items()
                                 if len(readers) == 1 and name not in outputs}
        unrolled = 0
        for node in list(graph.node):
            if rewrite.window(node):
                unrolled += 1
            elif not rewrite.slicewise(node):
                rewrite.keep(node)
        for name in graph_output_names(graph):
            rewrite.materialize(name)
        replace_nodes(graph, rewrite.out.nodes)
        used = referenced_names(graph)
        remove_initializers(model, {t.name for t in graph.initializer if t.name not in used})
        drop_stale_value_info(graph)
        return PassResult(model, unrolled > 0, {"unrolled": unrolled, "nodes": len(graph.node)})


class _Rewrite:
    """The walk over the nodes: which tensors are held as depth slices, and the nodes that replace each."""

    def __init__(self, out: _Builder, infos, weights, opset: int):
        self.out, self.infos, self.weights, self.opset = out, infos, weights, opset
        self.slices: dict[str, list[str]] = {}        # 5-D tensor -> its depth slices
        self.slice_shape: dict[str, tuple[int, ...]] = {}   # 5-D tensor -> the [N, C, H, W] of its slices
        self.whole: set[str] = set()                  # unrolled tensors already rebuilt whole
        self.arrays: dict[str, np.ndarray] = {}
        self.pieces: dict[tuple[str, int], str] = {}  # (constant, depth index) -> its slice
        self.single_reader: set[str] = set()          # tensors one node reads (and no graph output)
        self.lazy: set[str] = set()                   # slices made when read (`read_slice_by_slice`)

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.infos[name].shape)

    def array(self, name: str) -> np.ndarray | None:
        if name not in self.weights:
            return None
        if name not in self.arrays:
            self.arrays[name] = numpy_helper.to_array(self.weights[name])
        return self.arrays[name]

    # ---------------------------------------------------------------- slices in and out

    def slices_of(self, name: str) -> list[str]:
        """The depth slices of the 5-D tensor `name`: with one reader, a Split on axis 2 (the tensor goes at
        once, its slices as they are used); with more, a Slice each, made only when read (the tensor stays
        for its other readers anyway, no copy of all of it is made); a Reshape to 4-D each."""
        if name not in self.slices:
            n, c, depth, h, w = self.shape(name)
            if name in self.single_reader:
                attrs = {"axis": 2, **({"num_outputs": depth} if self.opset >= 18 else {})}
                pieces = [self.out.name(f"{name}_depth{i}_5d") for i in range(depth)]
                self.out.emit(helper.make_node("Split", [name], pieces, name=self.out.name(f"{name}_split_node"),
                                               **attrs))
                parts = [self.out.reshape(p, (n, c, h, w), f"{name}_depth{i}") for i, p in enumerate(pieces)]
            else:
                parts = []
                for i in range(depth):
                    with self.out.deferring():
                        if self.opset >= 10:
                            bounds = [self.out.int64s((v,)) for v in (i, i + 1, 2)]
                            piece = self.out.node("Slice", [name, *bounds], f"{name}_depth{i}_5d")
                        else:
                            piece = self.out.node("Slice", [name], f"{name}_depth{i}_5d", starts=[i], ends=[i + 1],
                                                  axes=[2])
                        parts.append(self.out.reshape(piece, (n, c, h, w), f"{name}_depth{i}"))
            self.slices[name] = parts
            self.slice_shape[name] = (n, c, h, w)
            self.whole.add(name)
        return self.slices[name]

    def materialize(self, name: str) -> None:
        """Rebuild the 5-D tensor `name` from its slices (once), under its own name."""
        if name not in self.slices or name in self.whole:
            return
        n, c, h, w = self.slice_shape[name]
        parts = [self.out.reshape(s, (n, c, 1, h, w), f"{name}_depth{i}_5d") for i, s in enumerate(self.slices[name])]
        self.out.emit(helper.make_node("Concat", parts, [name], name=self.out.name(f"{name}_concat_node"), axis=2))
        self.whole.add(name)

    def keep(self, node: onnx.NodeProto) -> None:
        for name in [*node.input, *(n for sub in subgraphs(node) for n in referenced_names(sub))]:
            self.materialize(name)
        self.out.emit(node)

    def depth_of(self, name: str, depth: int) -> int | None:
        """How input `name` of a slicewise op with output depth `depth` varies along depth: `depth` (one
        piece per slice), 1 (the same for every slice), or None (it cannot be given per slice)."""
        if not name:
            return 1
        if name in self.slices:
            return len(self.slices[name]) if len(self.slices[name]) in (1, depth) else None
        shape = self.shape(name)
        if len(shape) < 3:
            return 1       # right-aligned, it broadcasts over H, W (or is a scalar)
        along = shape[len(shape) - 3]
        if along not in (1, depth) or (len(shape) != 5 and name not in self.weights):
            return None    # a run-time tensor of rank 3 or 4 would need its own slicing: kept whole
        return along

    def piece(self, name: str, d: int, depth: int) -> str:
        """Input `name` of a slicewise op at output depth d (`depth_of` said it can be given)."""
        if not name or name in self.slices:
            return name and self.slices[name][d if len(self.slices[name]) == depth else 0]
        shape = self.shape(name)
        if len(shape) < 3:
            return name
        index = d if shape[len(shape) - 3] == depth else 0
        if name not in self.weights:
            return self.slices_of(name)[index]
        key = (name, index)
        if key not in self.pieces:
            value = self.array(name).reshape((1,) * (5 - len(shape)) + shape)
            self.pieces[key] = self.out.constant(np.ascontiguousarray(value[:, :, index]), f"{name}_depth{index}")
        return self.pieces[key]

    # ---------------------------------------------------------------- the rewrites

    def slicewise(self, node: onnx.NodeProto) -> bool:
        """Apply `node` slice by slice when it reads a sliced tensor and can (module docstring)."""
        if node.domain not in ONNX_DOMAINS or not any(i in self.slices for i in node.input):
            return False
        if len(node.output) != 1:
            return False
        if node.op_type in GLOBAL_POOLS:
            return self._global_pool(node)
        concat = node.op_type == "Concat" and attributes(node).get("axis") in (1, -4)
        if node.op_type not in SLICEWISE and not concat:
            return False
        if node.op_type == "BatchNormalization" and any(i in self.slices for i in node.input[1:]):
            return False
        if node.output[0] not in self.infos:
            return False
        out_shape = self.shape(node.output[0])
        if len(out_shape) != 5:
            return False
        depth = max(len(self.slices[i]) for i in node.input if i in self.slices)
        if concat and not all(i in self.slices or (len(self.shape(i)) == 5 and i not in self.weights)
                              for i in node.input):
            return False
        if any(self.depth_of(i, depth) is None for i in node.input):
            return False
        per_depth = [[self.slices_of(i)[d] if concat and i not in self.slices else self.piece(i, d, depth)
                      for i in node.input] for d in range(depth)]
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if concat:
            attrs["axis"] = 1
        self.slice_shape[node.output[0]] = out_shape[:2] + out_shape[3:]
        parts = []
        for d, inputs in enumerate(per_depth):
            with self.out.deferring(node.output[0] in self.lazy):
                parts.append(self.out.node(node.op_type, inputs, f"{node.output[0]}_depth{d}", **attrs))
        self.slices[node.output[0]] = parts
        return True

    def _global_pool(self, node: onnx.NodeProto) -> bool:
        parts = self.slices[node.input[0]]
        n, c = self.shape(node.input[0])[:2]
        pooled = [self.out.node(node.op_type, [s], f"{node.output[0]}_depth{d}") for d, s in enumerate(parts)]
        if len(pooled) == 1:
            combined = pooled[0]
        elif node.op_type == "GlobalMaxPool":
            combined = self.out.node("Max", pooled, f"{node.output[0]}_max")
        else:
            total = self.out.node("Sum", pooled, f"{node.output[0]}_sum")
            scale = self.out.constant(np.array(1.0 / len(parts), np.float32), f"{node.output[0]}_mean")
            combined = self.out.node("Mul", [total, scale], f"{node.output[0]}_mean")
        self.out.emit(helper.make_node("Reshape", [combined, self.out.int64s((n, c, 1, 1, 1))],
                                               [node.output[0]], name=node.name))
        return True

    def window(self, node: onnx.NodeProto) -> bool:
        """Rewrite a 3-D Conv / MaxPool / AveragePool (module docstring); False leaves it to the caller."""
        if node.op_type not in WINDOW_3D or node.domain not in ONNX_DOMAINS or len(self.shape(node.input[0])) != 5:
            return False
        at = attributes(node)
        if node.op_type == "MaxPool" and ((len(node.output) > 1 and node.output[1]) or at.get("storage_order", 0)):
            return False
        if node.op_type == "Conv" and any(self.array(i) is None for i in node.input[1:] if i):
            return False
        e = window_extents(node, self.infos)
        n, _, size, _, _ = self.shape(node.input[0])
        y = node.output[0]
        kernel, stride, dilation, begin = e.kernel[0], e.strides[0], e.dilations[0], e.begin[0]
        flat = {"kernel_shape": list(e.kernel[1:]), "strides": list(e.strides[1:]),
                "pads": [e.begin[1], e.begin[2], e.end[1], e.end[2]]}
        if node.op_type != "AveragePool" or any(v != 1 for v in e.dilations[1:]):
            flat["dilations"] = list(e.dilations[1:])
        if node.op_type == "Conv":
            flat["group"] = e.group
        elif node.op_type == "AveragePool":
            flat["count_include_pad"] = int(at.get("count_include_pad", 0))
        if node.op_type != "Conv" and at.get("ceil_mode", 0):
            flat["ceil_mode"] = 1
        x = self.slices_of(node.input[0])
        # the window's own output size, as the 2-D slices compute it (with ceil_mode it can be one less
        # than onnx's shape inference says: the kernels and onnxruntime drop a window that starts past the input)
        self.slice_shape[y] = (n, e.c_out, *e.out[1:])
        if node.op_type == "Conv":
            self.slices[y] = self._conv(node, e, x, flat, n, size)
            return True
        pooled: dict[int, str] = {}
        parts = []
        for d in range(e.out[0]):
            with self.out.deferring(y in self.lazy):
                taps = depth_taps(d, stride, dilation, begin, kernel, size)
                if not taps:
                    raise UnsupportedModelError(f"{node.op_type} node '{node_label(node)}': output depth {d} has its "
                                                "whole window on the pads")
                for _, i in taps:
                    if i not in pooled:
                        pooled[i] = self.out.node(node.op_type, [x[i]], f"{y}_pool{i}", **flat)
                terms = [pooled[i] for _, i in taps]
                if node.op_type == "MaxPool":
                    parts.append(terms[0] if len(terms) == 1 else self.out.node("Max", terms, f"{y}_depth{d}"))
                    continue
                count = average_count(d, stride, dilation, begin, e.end[0], kernel, size,
                                      bool(flat["count_include_pad"]))
                total = terms[0] if len(terms) == 1 else self.out.node("Sum", terms, f"{y}_sum{d}")
                if count == 1:
                    parts.append(total)
                else:
                    scale = self.out.constant(np.array(1.0 / count, np.float32), f"{y}_scale{d}")
                    parts.append(self.out.node("Mul", [total, scale], f"{y}_depth{d}"))
        self.slices[y] = parts
        return True

    def _conv(self, node: onnx.NodeProto, e, x: list[str], flat: dict, n: int, size: int) -> list[str]:
        y = node.output[0]
        weight = self.array(node.input[1])
        bias = node.input[2] if len(node.input) > 2 and node.input[2] else ""
        taps_w: dict[int, str] = {}
        parts = []
        for d in range(e.out[0]):
            with self.out.deferring(y in self.lazy):
                taps = depth_taps(d, e.strides[0], e.dilations[0], e.begin[0], e.kernel[0], size)
                if not taps:   # the whole depth window on the zero pads: the bias alone
                    b = self.array(bias) if bias else np.zeros(e.c_out, np.float32)
                    value = np.broadcast_to(b.reshape(1, -1, 1, 1), (n, e.c_out, *e.out[1:]))
                    parts.append(self.out.constant(np.ascontiguousarray(value, np.float32), f"{y}_depth{d}"))
                    continue
                total = ""
                for k, (t, i) in enumerate(taps):   # each tap added as it is made: two slices live, not k
                    if t not in taps_w:
                        taps_w[t] = self.out.constant(np.ascontiguousarray(weight[:, :, t]), f"{node.input[1]}_tap{t}")
                    inputs = [x[i], taps_w[t]] + ([bias] if bias and k == 0 else [])
                    term = self.out.node("Conv", inputs, f"{y}_depth{d}_tap{t}", **flat)
                    total = self.out.node("Add", [total, term], f"{y}_depth{d}_sum{t}") if total else term
                parts.append(total)
        return parts
