"""Benchmark records and what is derived from them: totals, ratios, geometric means.

One `Measurement` = one (model, budget, configuration), holding medians of repeats:

    total = compute + load + switch_time          (seconds per inference)
    switch_time = switches x cost per switch      (see `switches.py`)
    steady_total = the same for an inference of a stream session after the first (resident bodies and
                   state); onnxruntime keeps its session, so its steady_total is its total

`ratio(a, b)` for one model and budget is `total(a) / total(b)`: the speed-up of `b` over `a`
(e.g. ratio(layerwise, ours) = 12.0 means ours is 12x faster than layer-wise loading).  Geometric
means are taken over the (model, budget) cells where both configurations ran.

Since switch_time is a count times a cost, a run measured at one cost is priced at another without
re-running: `at_switch_cost(measurements, c)` keeps compute, load and the counts, and sets
switch_time = switches x c (the report shows every headline at `switches.REPORTED_SWITCH_COSTS_MS`).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Iterable

from .switches import WorldSwitchModel


@dataclass
class Measurement:
    """Medians (seconds) and counters of one configuration of one model at one budget.

    `status` is "ok", or why it did not run (e.g. "infeasible: needs 12.1 MiB"); then the
    timing fields are None.
    """

    model: str
    budget: int
    config: str
    status: str = "ok"
    compute_s: float | None = None
    compute_cpu_s: float | None = None       # compute in thread CPU time (the machine's other load left out)
    load_s: float | None = None
    load_cpu_s: float | None = None          # load in thread CPU time
    aes_gcm_s: float | None = None           # AES-256-GCM alone over the loaded bytes, in the same run
    aes_gcm_cpu_s: float | None = None       # the same in thread CPU time
    loaded_bytes: int | None = None          # blob bytes loaded per inference
    switches: int | None = None
    switch_s: float | None = None
    wall_s: float | None = None
    peak_secure_bytes: int | None = None
    partitions: int | None = None
    accuracy: float | None = None
    macs: int | None = None
    weight_bytes: int | None = None
    region_bytes: int | None = None          # the one planned region the TA allocates
    bytes_into_ta: int | None = None         # per inference, through shared memory
    max_rel_error: float | None = None       # simulator outputs vs onnxruntime, max |a-b| / max |b|
    spread: dict = field(default_factory=dict)       # component -> {median, min, max, samples}
    per_partition: list = field(default_factory=list)
    profile: dict | None = None              # with bench --profile: lower.profile.Profile.to_json()
    steady_compute_s: float | None = None    # stream session, an inference after the first (medians)
    steady_load_s: float | None = None
    steady_switches: int | None = None
    steady_switch_s: float | None = None
    steady_bytes_loaded: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def total_s(self) -> float | None:
        if not self.ok:
            return None
        return self.compute_s + (self.load_s or 0.0) + (self.switch_s or 0.0)

    @property
    def steady_total_s(self) -> float | None:
        """Per inference in a stream session's steady state; the single-shot total when there is no
        stream measurement (onnxruntime: its session stays open either way)."""
        if not self.ok or self.steady_compute_s is None:
            return self.total_s
        return self.steady_compute_s + (self.steady_load_s or 0.0) + (self.steady_switch_s or 0.0)

    @property
    def compute_load_s(self) -> float | None:
        """The measured part of the total: compute + load, without the modelled world switches."""
        return None if not self.ok else self.compute_s + (self.load_s or 0.0)

    def to_json(self) -> dict:
        data = asdict(self)
        data["total_s"] = self.total_s
        data["steady_total_s"] = self.steady_total_s
        return data


def at_switch_cost(measurements: Iterable[Measurement], cost_ms: float) -> list[Measurement]:
    """The measurements priced at `cost_ms` per world switch: switch_s = switches x cost_ms, the measured
    compute and load and the counts unchanged (a measurement that did not run stays as it is)."""
    model = WorldSwitchModel(cost_ms)
    return [replace(m, switch_s=model.seconds(m.switches),
                    steady_switch_s=None if m.steady_switches is None else model.seconds(m.steady_switches))
            if m.ok and m.switches is not None else m for m in measurements]


def ratio(cells: dict[str, Measurement], slower: str, faster: str) -> float | None:
    """total(slower) / total(faster) within one (model, budget) cell; None if either did not run."""
    a, b = cells.get(slower), cells.get(faster)
    if a is None or b is None or not a.ok or not b.ok or not b.total_s:
        return None
    return a.total_s / b.total_s


def geometric_mean(values: Iterable[float | None]) -> float | None:
    """exp(mean(log v)) over the values that are not None; None when there are none."""
    kept = [v for v in values if v is not None]
    if not kept:
        return None
    if any(v <= 0 for v in kept):
        raise ValueError("geometric mean of non-positive values")
    return math.exp(sum(math.log(v) for v in kept) / len(kept))


def group_cells(measurements: Iterable[Measurement]) -> dict[tuple[str, int], dict[str, Measurement]]:
    """{(model, budget): {config: Measurement}}, in first-seen order."""
    cells: dict[tuple[str, int], dict[str, Measurement]] = {}
    for m in measurements:
        cells.setdefault((m.model, m.budget), {})[m.config] = m
    return cells


def speedups(measurements: Iterable[Measurement], slower: str, faster: str) -> dict[tuple[str, int], float | None]:
    """ratio(slower, faster) for every (model, budget) cell."""
    return {key: ratio(cells, slower, faster) for key, cells in group_cells(measurements).items()}


# The comparisons every report shows: (name, slower configuration, faster configuration).
COMPARISONS = (
    ("ours vs layerwise", "layerwise", "ours"),
    ("partitioned vs layerwise", "layerwise", "partitioned"),
    ("pruned-layerwise vs layerwise", "layerwise", "pruned-layerwise"),
    ("ours vs partitioned", "partitioned", "ours"),
    ("ours vs ort", "ort", "ours"),
)


COMPONENTS = ("compute_s", "load_s", "switch_s", "compute_load_s")


def component_ratio(cells: dict[str, Measurement], slower: str, faster: str, component: str) -> float | None:
    """getattr(slower, component) / getattr(faster, component) in one cell; None if undefined or zero."""
    a, b = cells.get(slower), cells.get(faster)
    if a is None or b is None or not a.ok or not b.ok:
        return None
    top, bottom = getattr(a, component), getattr(b, component)
    return top / bottom if top and bottom else None


# Stream comparisons: (name, slower configuration, its time, faster configuration, its time).
STEADY_COMPARISONS = (
    ("ours steady vs ours single-shot", "ours", "total_s", "ours", "steady_total_s"),
    ("ours steady vs ort", "ort", "total_s", "ours", "steady_total_s"),
)


def steady_summary(measurements: list[Measurement]) -> dict:
    """For each stream comparison: the speed-up per cell (slower time / faster time), its geometric
    mean overall and per budget."""
    summary = {}
    cells = group_cells(measurements)
    for label, slower, slow_field, faster, fast_field in STEADY_COMPARISONS:
        per_cell = {}
        for key, cell in cells.items():
            a, b = cell.get(slower), cell.get(faster)
            top = getattr(a, slow_field) if a is not None and a.ok else None
            bottom = getattr(b, fast_field) if b is not None and b.ok else None
            per_cell[key] = top / bottom if top and bottom else None
        budgets = sorted({budget for _, budget in per_cell})
        summary[label] = {
            "per_cell": [{"model": model, "budget": budget, "speedup": value}
                         for (model, budget), value in per_cell.items()],
            "geomean": geometric_mean(per_cell.values()),
            "geomean_per_budget": {str(b): geometric_mean(v for (_, bb), v in per_cell.items() if bb == b)
                                   for b in budgets}}
    return summary


def summarise(measurements: list[Measurement]) -> dict:
    """For each comparison: the speed-up per cell, its geometric mean overall and per budget, and the
    geometric mean of each component's ratio (compute, load, switches) — what explains the speed-up."""
    summary = {}
    cells = group_cells(measurements)
    for label, slower, faster in COMPARISONS:
        per_cell = speedups(measurements, slower, faster)
        budgets = sorted({budget for _, budget in per_cell})
        summary[label] = {
            "slower": slower, "faster": faster,
            "per_cell": [{"model": model, "budget": budget, "speedup": value}
                         for (model, budget), value in per_cell.items()],
            "geomean": geometric_mean(per_cell.values()),
            "geomean_per_budget": {str(b): geometric_mean(v for (_, bb), v in per_cell.items() if bb == b)
                                   for b in budgets},
            "cells": sum(v is not None for v in per_cell.values()),
            "component_geomeans": {c: geometric_mean(component_ratio(cell, slower, faster, c)
                                                     for cell in cells.values()) for c in COMPONENTS},
        }
    return summary


@dataclass
class BenchRun:
    """A whole benchmark: the command that produced it, the machine, the settings, every measurement."""

    command: str
    machine: dict
    settings: dict
    measurements: list[Measurement] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"command": self.command, "machine": self.machine, "settings": self.settings,
                "summary": summarise(self.measurements), "steady_state": steady_summary(self.measurements),
                "measurements": [m.to_json() for m in self.measurements]}

    @classmethod
    def from_json(cls, data: dict) -> "BenchRun":
        names = set(Measurement.__dataclass_fields__)
        return cls(data["command"], data["machine"], data["settings"],
                   [Measurement(**{k: v for k, v in m.items() if k in names}) for m in data["measurements"]])
