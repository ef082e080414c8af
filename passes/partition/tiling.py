"""Operator tiling: split a Conv/Gemm/MatMul whose weights cannot fit along its output channels.

Before::

    X ──Conv(W[M,C,kh,kw], B[M])──> Y

After (T tiles, M split into nearly equal chunks M_1 + ... + M_T = M)::

    X ──Conv(W[0:M_1], B[0:M_1])──────> Y_tile0 ─┐
    X ──Conv(W[M_1:M_1+M_2], ...)─────> Y_tile1 ─┼─Concat(axis=1)──> Y
    ...                                          ┘

Gemm splits B along N (columns, or rows when transB=1) and a per-column C; MatMul splits its
2-D constant B along N and concatenates on the last axis.  Each output element is computed by
exactly the same dot product as before, so the rewrite is exact.

A node is tiled when it does not fit as a partition of its own (`cost.segment_cost`); T is
the smallest count whose tile (weights / T, same input, the full output carried) fits.
When no T fits, the node is left whole: the partitioner then reports the smallest budget.

Memory: the search tiles a shape-only copy of the model (`without_bulk_data`: large
initializers keep their name, type and dims, not their bytes), however many budgets it tries;
the real model is tiled once, in place (`apply_tiling`), and each split weight is released as
soon as its tiles exist.
"""
from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .cost import Limits, SegmentCost, segment_cost
from .graph import PartitionGraph
from ..analysis.weights import tensor_nbytes
from ..compact.graph_edit import all_tensor_names, unique_name
from ..graph import attribute
from ..target import align

TILEABLE = frozenset({"Conv", "Gemm", "MatMul"})


def output_channels(node: onnx.NodeProto, weights: dict[str, onnx.TensorProto]) -> int | None:
    """The number of output channels a tiling may split, or None if the node is not tileable."""
    if node.op_type not in TILEABLE or len(node.input) < 2 or node.input[1] not in weights:
        return None
    dims = list(weights[node.input[1]].dims)
    if node.op_type == "Conv":
        return dims[0] if attribute(node, "group", 1) == 1 and len(dims) >= 3 else None
    if len(dims) != 2:
        return None
    if node.op_type == "Gemm":
        if len(node.input) > 2 and node.input[2] and node.input[2] not in weights:
            return None
        return dims[0] if attribute(node, "transB", 0) else dims[1]
    return dims[1]


def tile_count(graph: PartitionGraph, v: int, channels: int, limits: Limits) -> int | None:
    """The smallest number of tiles whose every tile fits, 1 if the node fits whole, None if
    not even one channel per tile fits."""
    whole = segment_cost(graph, [v], limits)
    if whole.fits(limits):
        return 1
    own = sum(graph.weight_size[w] for w in graph.node_weights[v])
    for tiles in range(2, channels + 1):
        share = sum(align(math.ceil(graph.weight_size[w] / tiles)) for w in graph.node_weights[v])
        tile = SegmentCost(whole.weights - own + share, whole.peak, whole.scratch, whole.loading, whole.staging)
        if tile.fits(limits):
            return tiles
        if share <= 2 * len(graph.node_weights[v]) * 64:
            break
    return None


def plan_tiling(graph: PartitionGraph, limits: Limits) -> dict[str, int]:
    """Node output name -> tile count, for every tileable node that does not fit whole."""
    weights = {t.name: t for t in graph.model.graph.initializer}
    plan = {}
    for v, node in enumerate(graph.nodes):
        channels = output_channels(node, weights)
        if channels is None or channels < 2:
            continue
        tiles = tile_count(graph, v, channels, limits)
        if tiles and tiles > 1:
            plan[node.output[0]] = tiles
    return plan


def _split_node(node: onnx.NodeProto, tiles: int, weights: dict[str, onnx.TensorProto], rank: int,
                taken: set[str], node_names: set[str]) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """The tile nodes + Concat replacing `node`, and the new initializers (sliced from the
    weights' data, or shape-only when the weights are (`without_bulk_data`)).

    Every new tensor and node name is unique in the graph (`taken`, `node_names`: the names used
    so far, updated): two tiled nodes may share a weight or bias (deduplicated initializers) and
    cut it into different tiles, and an exporter's node names may be empty or repeated.  The
    names only depend on the graph, so the shape-only copy and the real model agree."""
    weight = weights[node.input[1]]
    trans_b = node.op_type == "Gemm" and attribute(node, "transB", 0)
    axis = 0 if node.op_type == "Conv" or trans_b else 1
    channels = weight.dims[axis]
    chunks = np.array_split(np.arange(channels), tiles)
    bias_name = node.input[2] if len(node.input) > 2 and node.input[2] else None
    bias = weights[bias_name] if bias_name else None
    per_channel = bias is not None and len(bias.dims) >= 1 and bias.dims[-1] == channels and channels > 1
    out = node.output[0]
    new_nodes, new_inits, pieces = [], [], []
    for t, chunk in enumerate(chunks):
        lo, hi = int(chunk[0]), int(chunk[-1]) + 1
        w_name = unique_name(None, f"{node.input[1]}__tile{t}", taken)
        new_inits.append(_slice(weight, axis, lo, hi, w_name))
        inputs = [node.input[0], w_name]
        if bias is not None:
            if per_channel:
                b_name = unique_name(None, f"{bias_name}__tile{t}", taken)
                new_inits.append(_slice(bias, len(bias.dims) - 1, lo, hi, b_name))
                inputs.append(b_name)
            else:
                inputs.append(bias_name)
        piece = unique_name(None, f"{out}__tile{t}", taken)
        pieces.append(piece)
        tile_node = helper.make_node(node.op_type, inputs, [piece],
                                     name=unique_name(None, f"{node.name or out}__tile{t}", node_names))
        tile_node.attribute.extend(node.attribute)
        new_nodes.append(tile_node)
    concat_axis = 1 if node.op_type in ("Conv", "Gemm") else rank - 1
    new_nodes.append(helper.make_node("Concat", pieces, [out], axis=concat_axis,
                                      name=unique_name(None, f"{node.name or out}__concat", node_names)))
    return new_nodes, new_inits


def _has_data(tensor: onnx.TensorProto) -> bool:
    return tensor.HasField("raw_data") or any(len(getattr(tensor, f)) for f in _DATA_FIELDS) or \
        tensor.data_location == onnx.TensorProto.EXTERNAL


_DATA_FIELDS = ("float_data", "int32_data", "int64_data", "double_data", "uint64_data", "string_data")


def _slice(tensor: onnx.TensorProto, axis: int, lo: int, hi: int, name: str) -> onnx.TensorProto:
    """tensor[lo:hi] along `axis` as a new initializer (shape-only if `tensor` has no data)."""
    if not _has_data(tensor) and tensor_nbytes(tensor):
        dims = list(tensor.dims)
        dims[axis] = hi - lo
        return onnx.TensorProto(name=name, data_type=tensor.data_type, dims=dims)
    array = numpy_helper.to_array(tensor)
    return numpy_helper.from_array(np.ascontiguousarray(np.take(array, range(lo, hi), axis=axis)), name)


def without_bulk_data(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model with every initializer above BULK_BYTES replaced by a shape-only tensor (name,
    type, dims, no data): what the partition search needs, at a fraction of the memory.  The
    model's own data is not copied."""
    light = onnx.ModelProto()
    _copy_fields(model, light, skip="graph")
    source, graph = model.graph, light.graph
    _copy_fields(source, graph, skip="initializer")
    for tensor in source.initializer:
        if tensor_nbytes(tensor) <= BULK_BYTES:
            graph.initializer.append(tensor)
        else:
            graph.initializer.append(onnx.TensorProto(name=tensor.name, data_type=tensor.data_type, dims=tensor.dims))
    return light


BULK_BYTES = 4096


def _copy_fields(source, target, skip: str) -> None:
    """Copy every set field of protobuf message `source` into `target` except `skip`."""
    for descriptor, value in source.ListFields():
        if descriptor.name == skip:
            continue
        if descriptor.is_repeated or descriptor.type == descriptor.TYPE_MESSAGE:
            getattr(target, descriptor.name).MergeFrom(value)
        else:
            setattr(target, descriptor.name, value)


def apply_tiling(model: onnx.ModelProto, plan: dict[str, int], infos) -> onnx.ModelProto:
    """Split each node of `plan` (keyed by its first output) in tiles, editing `model` IN PLACE
    (no copy of the model): the tile initializers are added, the split weights removed as soon
    as no node reads them any more.  Returns `model`."""
    graph = model.graph
    weights = {t.name: t for t in graph.initializer}
    taken, node_names = all_tensor_names(graph), {n.name for n in graph.node}
    nodes = []
    split: set[str] = set()
    for node in graph.node:
        if node.output and node.output[0] in plan:
            parts, inits = _split_node(node, plan[node.output[0]], weights, len(infos[node.output[0]].shape),
                                       taken, node_names)
            nodes.extend(parts)
            graph.initializer.extend(inits)
            split.update(x for x in node.input[1:] if x in weights)
        else:
            nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    used = {x for n in graph.node for x in n.input}
    for index in reversed(range(len(graph.initializer))):  # release the split weights
        if graph.initializer[index].name in split and graph.initializer[index].name not in used:
            del graph.initializer[index]
    listed = [i for i in graph.input if i.name in used or i.name not in weights]
    if model.ir_version < 4:  # initializers must also be graph inputs
        names = {i.name for i in listed}
        listed += [helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in graph.initializer
                   if t.name not in names]
    del graph.input[:]
    graph.input.extend(listed)
    return model
