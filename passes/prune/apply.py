"""Physical pruning: remove channel units from every member of their groups.

Before (group of 4 units, remove unit 2)::

    W1[4,C,3,3] ─ BN(γ[4], β[4], μ[4], σ²[4]) ─ Relu ─ W2[K,4,3,3]
    Reshape(shape=[1,4,2,7,7]) / Split(split=[4,..]) / Slice(starts=[s], ends=[e]) / Conv(group=4)

After::

    W1[3,C,3,3] ─ BN(γ[3], β[3], μ[3], σ²[3]) ─ Relu ─ W2[K,3,3,3]
    Reshape(shape=[1,3,2,7,7]) / Split(split=[3,..]) / Slice(starts=[s'], ends=[e']) / Conv(group=3)

Every parameter slice is cut with `keep = unit of its ids not removed`; shape literals follow the
kept channel counts of the tensors they describe.  Stale `value_info` shape annotations are
dropped.  Tensor names are unchanged, so a pruned tensor can be compared with its original
through the returned keep masks.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import onnx
from onnx import helper

from .. import core
from ..compact.graph_edit import set_attribute
from .groups import ChannelGraph, analyze, node_label
from .tensors import ConstantStore


def prune_units(model: onnx.ModelProto, graph: ChannelGraph, removed: np.ndarray) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """Return (a pruned copy of `model`, {tensor: keep mask along its channel axis}).

    `removed` lists component labels (units of `graph.groups`) to remove; they must belong to
    prunable groups, and every group must keep at least one unit.
    """
    removed = np.unique(np.asarray(removed, dtype=np.int64))
    drop = np.zeros(int(graph.labels.max()) + 1 if len(graph.labels) else 0, dtype=bool)
    drop[removed] = True
    for group in graph.groups:
        hit = drop[group.units]
        if hit.any() and not group.prunable:
            raise ValueError(f"group {group.index} is not prunable: {group.reasons[0]}")
        if hit.all():
            raise ValueError(f"group {group.index} would lose all of its {group.channels} channels")
    pruned = onnx.ModelProto()
    pruned.CopyFrom(model)
    store = ConstantStore(pruned)
    keep_of = {name: ~drop[graph.labels[space.ids]] for name, space in graph.spaces.items()}

    masks: dict[str, dict[int, np.ndarray]] = defaultdict(dict)
    for param in graph.params:
        keep = ~drop[graph.labels[param.ids]]
        previous = masks[param.tensor].get(param.axis)
        if previous is not None and not np.array_equal(previous, keep):
            raise AssertionError(f"inconsistent pruning of '{param.tensor}' axis {param.axis}")
        masks[param.tensor][param.axis] = keep
    for tensor, by_axis in masks.items():
        if all(mask.all() for mask in by_axis.values()):
            continue
        value = store.value(tensor)
        for axis, mask in by_axis.items():
            value = np.compress(mask, value, axis=axis)
        store.set(tensor, value)

    nodes = {node_label(n): n for n in pruned.graph.node}
    for rewrite in graph.rewrites:
        _REWRITERS[rewrite.kind](nodes[rewrite.node], rewrite.info, graph, keep_of, store)
    del pruned.graph.value_info[:]
    return pruned, keep_of


def _rewrite_reshape(node, info, graph, keep_of, store) -> None:
    target = store.value(node.input[1]).copy()
    axis = info["axis"]
    if target[axis] > 0:
        target[axis] = int(keep_of[node.output[0]].sum())
        node.input[1] = store.add_initializer(f"{node.input[1]}_pruned", target.astype(np.int64))


def _rewrite_split(node, info, graph, keep_of, store) -> None:
    sizes = np.array([int(keep_of[out].sum()) for out in info["outputs"]], dtype=np.int64)
    opset = next((o.version for o in store.model.opset_import if o.domain in ("", "ai.onnx")), 1)
    if opset < 13:
        set_attribute(node, "split", sizes.tolist())
        return
    for index, attr in enumerate(node.attribute):
        if attr.name == "num_outputs":
            del node.attribute[index]
            break
    name = store.add_initializer(f"{node_label(node)}_split", sizes)
    if len(node.input) > 1:
        node.input[1] = name
    else:
        node.input.append(name)


def _rewrite_slice(node, info, graph, keep_of, store) -> None:
    keep = keep_of[info["input"]]
    start = int(keep[:info["start"]].sum())
    stop = start + int(keep[info["start"]:info["stop"]].sum())
    k = info["position"]
    if len(node.input) == 1:                                  # opset < 10: attributes
        starts = list(helper.get_attribute_value(next(a for a in node.attribute if a.name == "starts")))
        ends = list(helper.get_attribute_value(next(a for a in node.attribute if a.name == "ends")))
        starts[k], ends[k] = start, stop
        set_attribute(node, "starts", starts)
        set_attribute(node, "ends", ends)
        return
    for index, value in ((1, start), (2, stop)):
        bounds = store.value(node.input[index]).copy()
        bounds[k] = value
        node.input[index] = store.add_initializer(f"{node.input[index]}_pruned", bounds)


def _rewrite_resize(node, info, graph, keep_of, store) -> None:
    sizes = store.value(node.input[3]).copy()
    sizes[info["axis"]] = int(keep_of[node.output[0]].sum())
    node.input[3] = store.add_initializer(f"{node.input[3]}_pruned", sizes)


def _rewrite_conv_group(node, info, graph, keep_of, store) -> None:
    set_attribute(node, "group", int(keep_of[info["input"]].sum()))


_REWRITERS = {"reshape": _rewrite_reshape, "split": _rewrite_split, "slice": _rewrite_slice,
              "resize": _rewrite_resize, "conv_group": _rewrite_conv_group}


class PruneChannels(core.Pass):
    """Remove channels by group: `PruneChannels({group_index: [unit positions]})(model)`.

    Unit positions index `analyze(model).groups[i].units`.  Stats: channels removed per group.
    Functional: the pruned model is a new one (with nothing to remove, a copy).
    """

    in_place = False

    def __init__(self, selection: dict[int, list[int]]):
        self.selection = selection

    def call(self, model: onnx.ModelProto) -> core.PassResult:
        graph = analyze(model)
        removed = [graph.groups[g].units[np.asarray(positions, dtype=np.int64)]
                   for g, positions in self.selection.items() if len(positions)]
        if not removed:
            return core.PassResult(core.copy_model(model), False, {"removed": {}})
        pruned, _ = prune_units(model, graph, np.concatenate(removed))
        return core.PassResult(pruned, True, {"removed": {g: len(p) for g, p in self.selection.items()}})
