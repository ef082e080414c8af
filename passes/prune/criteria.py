"""Channel importance criteria, summed over the members of a group.

A criterion scores every member of a group (a weight slice, a BN scale, an activation) per
unit.  Each member's scores are divided by their mean over the units it touches, so every
member weighs the same whatever its scale, then summed per unit (DepGraph's group importance)::

    importance(u) = sum over members m of  s_m(u) / mean_u' s_m(u')

`group_scores` then divides by the group mean, so that scores of different groups compare
(global ranking).  Criteria:

- ``l1`` / ``l2``: sum |w| / sum w^2 of each layer's filters ("out") and input columns ("in");
- ``bn_scale``: |gamma| of the BatchNormalizations in the group (network slimming); groups
  without one use ``l1``;
- ``activation``: mean |x| of each channel where the group's channels are read (the inputs of
  the layers that consume them), on calibration data;
- ``reconstruction`` (ThiNet): the energy each input channel contributes to the output of the
  layers reading it, E[(sum_k W[o,c,k] x[c,k])^2] over calibration patches and outputs o;
- ``residual``: the weight energy of the part of each channel the other channels cannot predict
  linearly, i.e. what the least-squares recovery cannot restore (see `ResidualEnergy`).
"""
from __future__ import annotations

import numpy as np
import onnx

from ..errors import UserError
from ..graph import node_label
from . import calibration
from .groups import ChannelGraph, ChannelGroup
from .tensors import ConstantStore

WEIGHT_ROLES = ("out", "in")


def _accumulate(total: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> None:
    """Add one member's scores (per id) to `total` (per unit), normalised by their mean."""
    per_unit = np.bincount(labels, weights=scores.astype(np.float64), minlength=len(total))
    touched = np.unique(labels)
    mean = per_unit[touched].mean()
    if mean > 0:
        total[touched] += per_unit[touched] / mean


def _reduce_except(value: np.ndarray, axis: int, power: int) -> np.ndarray:
    other = tuple(a for a in range(value.ndim) if a != axis)
    return (np.abs(value) ** power).sum(axis=other) if other else np.abs(value) ** power


def _layer_readers(model: onnx.ModelProto, graph: ChannelGraph, data: np.ndarray):
    """The Conv/Gemm/MatMul weights that read pruned channels, and those layers' input activations.

    Returns (nodes by name, constant store, reader params, {input tensor: calibration activations}).
    """
    nodes = {node_label(n): n for n in model.graph.node}
    readers = [p for p in graph.params if p.role == "in" and p.op in ("Conv", "Gemm", "MatMul")]
    inputs = sorted({nodes[p.node].input[0] for p in readers})
    return nodes, ConstantStore(model), readers, calibration.collect(model, inputs, data, graph.shapes)


class Criterion:
    """Base: `unit_scores(model, graph, data) -> array` indexed by unit label."""

    name = "criterion"
    needs_data = False

    def unit_scores(self, model: onnx.ModelProto, graph: ChannelGraph, data: np.ndarray | None) -> np.ndarray:
        raise NotImplementedError


class Magnitude(Criterion):
    """L1 (power 1) or L2 (power 2) norm of the group's weight slices."""

    def __init__(self, power: int):
        self.power = power
        self.name = f"l{power}"

    def unit_scores(self, model, graph, data=None):
        store = ConstantStore(model)
        total = np.zeros(int(graph.labels.max()) + 1)
        for param in graph.params:
            if param.role in WEIGHT_ROLES:
                value = store.value(param.tensor)
                _accumulate(total, graph.labels[param.ids], _reduce_except(value, param.axis, self.power))
        return total


class BNScale(Criterion):
    """|gamma| of BatchNormalization members; L1 for groups without one."""

    name = "bn_scale"

    def unit_scores(self, model, graph, data=None):
        store = ConstantStore(model)
        total = np.zeros(int(graph.labels.max()) + 1)
        for param in graph.params:
            if param.role == "bn_scale":
                _accumulate(total, graph.labels[param.ids], np.abs(store.value(param.tensor)))
        if not total.any():
            raise UserError("criterion bn_scale: the model has no BatchNormalization to rank channels by "
                            "(it may have been folded); use l1, l2 or activation")
        fallback = Magnitude(1).unit_scores(model, graph)
        with_bn = np.zeros(len(total), dtype=bool)
        for param in graph.params:
            if param.role == "bn_scale":
                with_bn[graph.labels[param.ids]] = True
        return np.where(with_bn, total, fallback)


class ActivationMean(Criterion):
    """Mean |activation| per channel over calibration data, at the inputs of the layers reading it."""

    name = "activation"
    needs_data = True

    def unit_scores(self, model, graph, data):
        nodes = {node_label(n): n for n in model.graph.node}
        read = {nodes[p.node].input[0] for p in graph.params if p.role == "in"}
        names = [n for n in graph.spaces if n in read and n in graph.shapes]
        total = np.zeros(int(graph.labels.max()) + 1)
        sums = {n: np.zeros(len(graph.spaces[n].ids)) for n in names}
        per_sample = sum(graph.shapes[n].nbytes for n in names)
        for _, values in calibration.activations(model, names, data, sample_bytes=per_sample):
            for name, value in values.items():
                sums[name] += _reduce_except(value, graph.spaces[name].axis, 1)
        for name in names:
            _accumulate(total, graph.labels[graph.spaces[name].ids], sums[name])
        return total


class Reconstruction(Criterion):
    """ThiNet-style: each input channel's contribution energy to the layers that read it."""

    name = "reconstruction"
    needs_data = True
    positions = 512

    def unit_scores(self, model, graph, data):
        nodes, store, readers, acts = _layer_readers(model, graph, data)
        total = np.zeros(int(graph.labels.max()) + 1)
        for param in readers:
            node = nodes[param.node]
            x = acts[node.input[0]]
            weight = store.value(param.tensor)
            if param.op == "Conv":
                if weight.ndim != 4 or weight.shape[1] != x.shape[1]:
                    continue                                   # grouped: magnitude of its "out" side decides
                geometry = calibration.conv_geometry(node, weight.shape[2:])
                out_shape = graph.shapes[node.output[0]].shape
                positions = calibration.sample_positions((len(x),) + out_shape[1:], self.positions, seed=0)
                patches = calibration.conv_patches(x, geometry, positions)            # (P, C, KH, KW)
                # sum_o (sum_k W[o,c,k] x[p,c,k])^2 = x[p,c]^T (W_c^T W_c) x[p,c]
                flat_x = patches.reshape(len(positions), x.shape[1], -1)
                flat_w = weight.reshape(weight.shape[0], weight.shape[1], -1)
                gram = np.einsum("ock,ocl->ckl", flat_w, flat_w)
                energy = np.einsum("pck,ckl,pcl->c", flat_x, gram, flat_x, optimize=True) / (
                    len(positions) * weight.shape[0])
            else:
                w = weight if param.axis == 0 else weight.T                            # (features, outputs)
                energy = (x.reshape(-1, x.shape[-1]) ** 2).mean(axis=0) * (w ** 2).mean(axis=1)
            _accumulate(total, graph.labels[param.ids], energy)
        return total


class ResidualEnergy(Criterion):
    """What a least-squares refit cannot recover: weight energy x unpredictable variance.

    For a layer reading channels x (covariance S over calibration samples and positions), the part
    of channel c that the other channels cannot predict linearly has variance 1 / (S^-1)_cc; a
    refit of the layer on the remaining channels recovers the rest.  Score of c:
    sum_{o,k} W[o,c,k]^2 / (S^-1)_cc, summed over the layers reading c.
    """

    name = "residual"
    needs_data = True
    samples = 8192

    def unit_scores(self, model, graph, data):
        nodes, store, readers, acts = _layer_readers(model, graph, data)
        rng = np.random.default_rng(0)
        total = np.zeros(int(graph.labels.max()) + 1)
        for param in readers:
            x = acts[nodes[param.node].input[0]]
            weight = store.value(param.tensor)
            if param.op == "Conv" and (weight.ndim != 4 or weight.shape[1] != x.shape[1]):
                continue
            rows = np.moveaxis(x, 1 if param.op == "Conv" else -1, -1).reshape(-1, x.shape[1 if param.op == "Conv" else -1])
            rows = rows[rng.choice(len(rows), size=min(self.samples, len(rows)), replace=False)].astype(np.float64)
            rows -= rows.mean(axis=0)
            cov = rows.T @ rows / len(rows)
            cov += 1e-6 * max(float(np.trace(cov)) / len(cov), 1e-12) * np.eye(len(cov))
            unexplained = 1.0 / np.diag(np.linalg.inv(cov))
            energy = _reduce_except(weight, param.axis, 2)
            _accumulate(total, graph.labels[param.ids], energy * unexplained)
        return total


CRITERIA = {"l1": lambda: Magnitude(1), "l2": lambda: Magnitude(2), "bn_scale": BNScale,
            "activation": ActivationMean, "reconstruction": Reconstruction, "residual": ResidualEnergy}


def make_criterion(name: str) -> Criterion:
    try:
        return CRITERIA[name]()
    except KeyError:
        raise UserError(f"unknown criterion '{name}': choose one of {', '.join(CRITERIA)}") from None


def group_scores(scores: np.ndarray, group: ChannelGroup) -> np.ndarray:
    """Scores of the group's units, divided by their mean (comparable across groups)."""
    values = scores[group.units]
    mean = values.mean()
    return values / mean if mean > 0 else np.ones_like(values)
