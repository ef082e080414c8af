"""Training-free recovery after a pruning step: least-squares refit + BN statistics correction.

1. **Refit** (He et al., ICCV'17 "Channel Pruning"; Luo et al., ICCV'17 ThiNet).  Every layer
   (Conv with group 1, Gemm, MatMul) from the first one that lost input channels on gets new
   weights that best reproduce the *original* model's output from the *pruned* model's input,
   on calibration data::

       min_{W', b'}  || Y_orig[:, kept_out] - [X_pruned, 1] [W'; b'] ||^2 + lam ||W'||^2

   X rows are input patches (im2col) at sampled output positions; layers are refit in
   topological order, each seeing the already-refit layers before it.
2. **BN statistics correction**.  A BatchNormalization whose input statistics moved gets its
   running mean and variance re-chosen so that its output statistics match the original's:
   with m, s the original input's mean/std and m', s' the pruned one's,
   mu' = m' - (m - mu) s'/s and var' = (var + eps) (s'/s)^2 - eps.

Use as the `fine_tune` hook of `prune_progressively`; the original model and a calibration batch
(unlabelled) are all it needs.
"""
from __future__ import annotations

import numpy as np
import onnx

from ..compact.graph_edit import add_initializer, unique_name
from ..graph import attribute, node_label
from . import calibration
from .groups import analyze
from .schedule import PruneStep
from .tensors import ConstantStore

REFIT_OPS = ("Conv", "Gemm", "MatMul")


def _ridge_solve(a: np.ndarray, y: np.ndarray, ridge: float, intercept: bool) -> tuple[np.ndarray, np.ndarray]:
    """argmin ||y - a w - b||^2 + lam ||w||^2 with lam = ridge * mean(diag(a^T a)); returns (w, b)."""
    a64, y64 = a.astype(np.float64), y.astype(np.float64)
    if intercept:
        a_mean, y_mean = a64.mean(axis=0), y64.mean(axis=0)
        a64, y64 = a64 - a_mean, y64 - y_mean
    gram = a64.T @ a64
    lam = ridge * max(float(np.mean(np.diag(gram))), 1e-12)
    w = np.linalg.solve(gram + lam * np.eye(len(gram)), a64.T @ y64)
    b = (y_mean - a_mean @ w) if intercept else np.zeros(y.shape[1])
    return w, b


class LeastSquaresRecovery:
    """`fine_tune` hook: refit layers whose inputs were pruned, then correct BN statistics."""

    def __init__(self, original: onnx.ModelProto, data: np.ndarray, *, positions: int = 4096,
                 ridge: float = 1e-3, correct_batchnorm: bool = True, seed: int = 0):
        self.original = original
        self.data = data
        self.positions = positions
        self.ridge = ridge
        self.correct_batchnorm = correct_batchnorm
        self.seed = seed
        graph = analyze(original)
        self.shapes = graph.shapes
        self.original_channels = {name: len(space.ids) for name, space in graph.spaces.items()}
        self._targets: dict[str, tuple[np.ndarray | None, np.ndarray]] = {}
        self._bn_stats: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    # -- original-model references, computed once ---------------------------------------------
    def _sample(self, node: onnx.NodeProto) -> np.ndarray | None:
        if node.op_type != "Conv":
            return None
        shape = (len(self.data),) + self.shapes[node.output[0]].shape[1:]
        return calibration.sample_positions(shape, self.positions, seed=self.seed + len(self._targets))

    def _ensure_targets(self, nodes: list[onnx.NodeProto]) -> None:
        missing = [n for n in nodes if node_label(n) not in self._targets]
        if not missing:
            return
        values = calibration.collect(self.original, [n.output[0] for n in missing], self.data, self.shapes)
        for node in missing:
            positions = self._sample(node)
            y = values[node.output[0]]
            if positions is not None:
                y = y[positions[:, 0], :, positions[:, 1], positions[:, 2]]            # (P, O)
            self._targets[node_label(node)] = (positions, y.reshape(-1, y.shape[-1]) if positions is None else y)

    # -- the hook --------------------------------------------------------------------------------
    def __call__(self, model: onnx.ModelProto, step: PruneStep) -> onnx.ModelProto:
        model = self.refit(model, step.kept)
        if self.correct_batchnorm:
            model = self.correct_statistics(model, step.kept)
        return model

    def _refit_layers(self, model: onnx.ModelProto, kept: dict[str, np.ndarray]) -> list[onnx.NodeProto]:
        """Every refittable layer from the first one that lost input channels on (topological order):
        later layers see inputs that drifted even where no channel of theirs was removed."""
        layers, started = [], False
        for node in model.graph.node:
            if node.op_type not in REFIT_OPS or node.input[0] not in kept or node.output[0] not in kept:
                continue
            if node.op_type == "Conv" and (attribute(node, "group", 1) != 1 or len(self.shapes[node.input[1]].shape) != 4):
                continue
            if node.op_type == "Gemm" and attribute(node, "transA", 0):
                continue
            started |= len(kept[node.input[0]]) < self.original_channels.get(node.input[0], 0)
            if started:
                layers.append(node)
        return layers

    def refit(self, model: onnx.ModelProto, kept: dict[str, np.ndarray]) -> onnx.ModelProto:
        model_copy = onnx.ModelProto()
        model_copy.CopyFrom(model)
        model = model_copy
        layers = self._refit_layers(model, kept)
        self._ensure_targets(layers)
        for node in layers:
            store = ConstantStore(model)
            x = calibration.collect(model, [node.input[0]], self.data)[node.input[0]]
            positions, y_orig = self._targets[node_label(node)]
            y = y_orig[:, kept[node.output[0]]]
            weight = store.value(node.input[1])
            if node.op_type == "Conv":
                geometry = calibration.conv_geometry(node, weight.shape[2:])
                a = calibration.conv_patches(x, geometry, positions).reshape(len(positions), -1)
            else:
                a = x.reshape(-1, x.shape[-1])
            intercept = node.op_type != "MatMul"
            w, b = _ridge_solve(a, y, self.ridge, intercept)                    # w: (features, outputs)
            if node.op_type == "Conv":
                new_weight = w.T.reshape(weight.shape)
            elif node.op_type == "Gemm" and attribute(node, "transB", 0):
                new_weight = w.T
            else:
                new_weight = w
            alpha = attribute(node, "alpha", 1.0) if node.op_type == "Gemm" else 1.0
            store.set(node.input[1], new_weight / alpha)
            if intercept:
                self._set_bias(model, store, node, b, attribute(node, "beta", 1.0) if node.op_type == "Gemm" else 1.0)
        return model

    @staticmethod
    def _set_bias(model: onnx.ModelProto, store: ConstantStore, node: onnx.NodeProto, bias: np.ndarray,
                  beta: float) -> None:
        if len(node.input) > 2 and node.input[2]:
            shape = store.value(node.input[2]).shape
            store.set(node.input[2], (bias / beta).reshape(shape))
            return
        name = unique_name(model.graph, f"{node_label(node)}_bias")
        add_initializer(model, (bias / beta).astype(np.float32), name)
        while len(node.input) < 2:
            node.input.append("")
        node.input.append(name)

    def correct_statistics(self, model: onnx.ModelProto, kept: dict[str, np.ndarray]) -> onnx.ModelProto:
        norms = [n for n in model.graph.node if n.op_type == "BatchNormalization" and n.input[0] in kept]
        if not norms:
            return model
        names = [n.input[0] for n in norms]
        missing = [n for n in names if n not in self._bn_stats]
        if missing:
            values = calibration.collect(self.original, missing, self.data, self.shapes)
            for name in missing:
                v = values[name]
                axes = tuple(a for a in range(v.ndim) if a != 1)
                self._bn_stats[name] = (v.mean(axis=axes), v.std(axis=axes))
        current = calibration.collect(model, names, self.data)
        store = ConstantStore(model)
        for node, name in zip(norms, names):
            v = current[name]
            axes = tuple(a for a in range(v.ndim) if a != 1)
            m_new, s_new = v.mean(axis=axes), v.std(axis=axes)
            m_old, s_old = (stat[kept[name]] for stat in self._bn_stats[name])
            eps = attribute(node, "epsilon", 1e-5)
            mu, var = store.value(node.input[3]), store.value(node.input[4])
            ratio = np.where(s_old > 1e-8, s_new / np.maximum(s_old, 1e-8), 1.0)
            store.set(node.input[3], m_new - (m_old - mu) * ratio)
            store.set(node.input[4], np.maximum((var + eps) * ratio ** 2 - eps, 0.0))
        return model
