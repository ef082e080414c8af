"""Progressive structured pruning: small steps, a recovery hook after each, stop when accuracy drops.

    step k:  analyse groups -> score units (criterion) -> remove `fraction` of the prunable units
             (global, per-FLOP or per-group ranking; per-group minimum; kept counts rounded to a multiple;
             protected nodes untouched) -> fine_tune(model, step) -> evaluate(model)
    accept   if baseline - accuracy <= max_accuracy_drop; else roll back, halve the fraction and
             retry until it falls below `min_fraction`;
    stop     when the FLOPs / params / bytes target is reached, nothing is left to prune, or
             `max_steps` steps were accepted.

Hooks: `evaluate(model) -> float` (higher is better, e.g. top-1 accuracy) and
`fine_tune(model, step) -> model`, where `step` is a `PruneStep` (its `index`, and `kept`: for
each tracked tensor the original channel indices still present, so a hook can compare the
pruned model with the original tensor by tensor).  FLOPs = 2 x multiply-accumulates.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import onnx
from tqdm import tqdm

from ..analysis.macs import model_macs
from ..analysis.weights import weight_bytes
from ..errors import UserError
from .apply import prune_units
from .criteria import Criterion, Magnitude, group_scores
from .groups import ChannelGraph, ChannelGroup, analyze, require_prunable

Evaluate = Callable[[onnx.ModelProto], float]
RANKINGS = ("global", "flops", "layer")


@dataclass
class PruneStep:
    """What a fine-tune hook learns about the step just taken."""

    index: int
    removed: int                                  # units removed in this step
    kept: dict[str, np.ndarray]                   # tensor -> original channel indices still present
    graph: ChannelGraph                           # the analysis of the model before this step


@dataclass
class ScheduleConfig:
    criterion: Criterion = field(default_factory=lambda: Magnitude(1))
    fraction: float = 0.1                         # of the prunable units, per step
    min_fraction: float = 0.0125                  # retries with halved fractions stop below this
    ranking: str = "global"                       # "global", "flops" (importance per FLOP) or "layer"
    min_channels: int = 1
    group_share: float = 3.0                      # per step, a group loses <= group_share * fraction of it
    round_to: int = 1
    protected: frozenset[str] = frozenset()
    max_accuracy_drop: float | None = None
    target_flops: float | None = None             # ratios of the original, in (0, 1)
    target_params: float | None = None
    target_bytes: float | None = None
    max_steps: int = 100

    def validate(self) -> None:
        if not 0 < self.fraction < 1:
            raise UserError(f"step fraction must be in (0, 1), got {self.fraction}")
        if self.ranking not in RANKINGS:
            raise UserError(f"ranking must be one of {', '.join(RANKINGS)}, got '{self.ranking}'")
        if self.min_channels < 1 or self.round_to < 1:
            raise UserError("minimum channels and rounding multiple must be at least 1")
        if self.max_accuracy_drop is not None and not 0 <= self.max_accuracy_drop < 1:
            raise UserError(f"--max-accuracy-drop must be in [0, 1) (a fraction: 0.01 = 1 point), "
                            f"got {self.max_accuracy_drop}")
        for name in ("target_flops", "target_params", "target_bytes"):
            value = getattr(self, name)
            if value is not None and not 0 < value < 1:
                raise UserError(f"--{name.replace('_', '-')} must be a ratio in (0, 1) of the original "
                                f"(0.5 = half), got {value}")


@dataclass
class Metrics:
    flops: int
    params: int
    bytes: int
    accuracy: float | None = None

    def as_dict(self) -> dict:
        return {"flops": self.flops, "params": self.params, "bytes": self.bytes, "accuracy": self.accuracy}


@dataclass
class PruneOutcome:
    model: onnx.ModelProto
    baseline: Metrics
    final: Metrics
    history: list[dict]
    stop_reason: str
    kept: dict[str, np.ndarray]


def measure(model: onnx.ModelProto, graph: ChannelGraph) -> Metrics:
    """FLOPs (2 x MACs), weight element count and weight bytes of `model`."""
    macs = sum(model_macs(model, graph.shapes).values())
    params = sum(int(np.prod(t.dims, dtype=np.int64)) for t in model.graph.initializer
                 if t.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE))
    return Metrics(2 * macs, params, weight_bytes(model))


def _is_protected(group: ChannelGroup, protected: frozenset[str]) -> bool:
    return any(node in protected for node, _, _ in group.members)


def _rounded_keep(channels: int, keep: int, config: ScheduleConfig) -> int:
    """`keep` moved to the nearest multiple of `round_to` within [minimum, channels]."""
    minimum = min(channels, max(config.min_channels, 1))
    keep = max(keep, minimum)
    m = config.round_to
    if m == 1:
        return keep
    options = [k for k in (keep // m * m, math.ceil(keep / m) * m) if minimum <= k <= channels]
    return min(options, key=lambda k: (abs(k - keep), k)) if options else keep


def unit_macs(model: onnx.ModelProto, graph: ChannelGraph) -> np.ndarray:
    """Multiply-accumulates that go away with each unit: a layer's MACs / its channels, per member."""
    macs = model_macs(model, graph.shapes)
    cost = np.zeros(int(graph.labels.max()) + 1)
    for param in graph.params:
        if param.role in ("in", "out") and macs.get(param.node):
            np.add.at(cost, graph.labels[param.ids], macs[param.node] / len(param.ids))
    return cost


def select_units(graph: ChannelGraph, scores: np.ndarray, config: ScheduleConfig, fraction: float,
                 cost: np.ndarray | None = None) -> np.ndarray:
    """The unit labels to remove in one step (see the module docstring).

    Ranking "flops" orders units by importance per FLOP, importance(u) / (cost(u) / mean cost),
    so that a FLOPs target is reached with the least important work removed first.
    """
    groups = [g for g in graph.prunable_groups() if not _is_protected(g, config.protected)]
    normalised = [group_scores(scores, g) for g in groups]
    if config.ranking == "flops" and groups:
        relative = cost / max(float(np.mean(np.concatenate([cost[g.units] for g in groups]))), 1e-30)
        normalised = [v / np.maximum(relative[g.units], 1e-6) for v, g in zip(normalised, groups)]
    # a group gives at most `group_share` x fraction of its channels per step (no layer collapses at once)
    capacity = [min(g.channels - min(g.channels, config.min_channels),
                    max(1, math.ceil(config.group_share * fraction * g.channels))) for g in groups]
    if config.ranking in ("global", "flops"):
        total = sum(g.channels for g in groups)
        owner = np.concatenate([np.full(g.channels, i) for i, g in enumerate(groups)]) if groups else np.zeros(0)
        order = np.argsort(np.concatenate(normalised), kind="stable") if groups else np.zeros(0, dtype=int)
        counts = [0] * len(groups)
        budget = int(round(fraction * total))
        for index in order:
            if budget == 0:
                break
            g = int(owner[index])
            if counts[g] < capacity[g]:
                counts[g] += 1
                budget -= 1
    else:
        counts = [min(cap, int(round(fraction * g.channels))) for g, cap in zip(groups, capacity)]
    removed = []
    for group, values, count in zip(groups, normalised, counts):
        count = group.channels - _rounded_keep(group.channels, group.channels - count, config)
        if count > 0:
            removed.append(group.units[np.argsort(values, kind="stable")[:count]])
    return np.concatenate(removed) if removed else np.zeros(0, dtype=np.int64)


def _target_reached(metrics: Metrics, baseline: Metrics, config: ScheduleConfig) -> str | None:
    for name in ("flops", "params", "bytes"):
        target = getattr(config, f"target_{name}")
        if target is not None and getattr(metrics, name) <= target * getattr(baseline, name):
            return f"{name} target reached"
    return None


def prune_progressively(model: onnx.ModelProto, config: ScheduleConfig, *, evaluate: Evaluate | None = None,
                        fine_tune: Callable[[onnx.ModelProto, PruneStep], onnx.ModelProto] | None = None,
                        calibration: np.ndarray | None = None, progress: bool = True) -> PruneOutcome:
    """Prune `model` step by step (see the module docstring)."""
    config.validate()
    if config.max_accuracy_drop is not None and evaluate is None:
        raise UserError("an accuracy tolerance needs an evaluate hook (give --data with a labelled data set)")
    if config.criterion.needs_data and calibration is None:
        raise UserError(f"criterion {config.criterion.name} needs calibration data (give --data)")
    graph = analyze(model)
    require_prunable(graph)
    baseline = measure(model, graph)
    baseline.accuracy = evaluate(model) if evaluate else None
    current, metrics = model, baseline
    kept = {name: np.arange(len(space.ids)) for name, space in graph.spaces.items()}
    history = [{"step": 0, "fraction": 0.0, "removed": 0, **baseline.as_dict(), "accepted": True}]
    fraction, accepted, stop = config.fraction, 0, "maximum steps reached"
    bar = tqdm(total=config.max_steps, desc="prune", unit="step", disable=not progress, leave=False)
    bar.set_postfix(_postfix(metrics, baseline))
    while accepted < config.max_steps:
        reached = _target_reached(metrics, baseline, config)
        if reached:
            stop = reached
            break
        scores = config.criterion.unit_scores(current, graph, calibration)
        cost = unit_macs(current, graph) if config.ranking == "flops" else None
        removed = select_units(graph, scores, config, fraction, cost)
        if len(removed) == 0:
            stop = "nothing left to prune (minimum channels / protected nodes)"
            break
        candidate, keep_of = prune_units(current, graph, removed)
        step_kept = {n: kept[n][mask] for n, mask in keep_of.items() if n in kept}
        step = PruneStep(accepted + 1, len(removed), step_kept, graph)
        if fine_tune is not None:
            candidate = fine_tune(candidate, step)
        candidate_graph = analyze(candidate)
        candidate_metrics = measure(candidate, candidate_graph)
        candidate_metrics.accuracy = evaluate(candidate) if evaluate else None
        ok = (config.max_accuracy_drop is None
              or baseline.accuracy - candidate_metrics.accuracy <= config.max_accuracy_drop + 1e-12)
        history.append({"step": step.index, "fraction": fraction, "removed": len(removed),
                        **candidate_metrics.as_dict(), "accepted": ok})
        if not ok:
            fraction /= 2
            if fraction < config.min_fraction:
                stop = "accuracy tolerance reached (last step rolled back)"
                break
            continue
        accepted += 1
        current, graph, metrics, kept = candidate, candidate_graph, candidate_metrics, {**kept, **step_kept}
        bar.update(1)
        bar.set_postfix(_postfix(metrics, baseline))
    bar.close()
    return PruneOutcome(current, baseline, metrics, history, stop, kept)


def _postfix(metrics: Metrics, baseline: Metrics) -> dict:
    shown = {"flops": f"{metrics.flops / baseline.flops:.0%}", "params": f"{metrics.params / baseline.params:.0%}"}
    if metrics.accuracy is not None:
        shown = {"acc": f"{metrics.accuracy:.4f}", **shown}
    return shown
