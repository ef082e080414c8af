"""Where the speed-up of `ours` over `layerwise` comes from: fewer partitions, pruning, and which part of the time.

The four secure configurations are a 2 x 2 design, (unpruned, pruned) x (one layer per partition,
adaptive partitions), so within one (model, budget) cell, with T the total time per inference:

    T_lw = T(layerwise)   T_pa = T(partitioned)   T_pl = T(pruned-layerwise)   T_o = T(ours)

The speed-up S = T_lw / T_o is the product of two factors, each the effect of one change averaged
over the two orders in which the changes can be made (the Shapley value of the two, in log space):

    F_partitions = sqrt( (T_lw / T_pa) * (T_pl / T_o) )    adaptive partitions instead of one per layer
    F_pruning    = sqrt( (T_lw / T_pl) * (T_pa / T_o) )    the pruned, compacted model
    F_partitions * F_pruning = S   exactly

The time saved, T_lw - T_o, is the sum of what each component saves, c in {compute, load, switches}:

    saved_c = T_lw,c - T_o,c,      sum_c saved_c = T_lw - T_o

and `shares` gives saved_c / (T_lw - T_o): how much of the speed-up is faster compute (pruning's MACs)
and how much is loading (copy + decrypt + validate of fewer bytes) and world-switch mechanics (fewer
invocations: fewer partitions to run, fewer chunks to load).  A share can be negative (a component that
got slower) and the shares sum to 1.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

from .results import Measurement, geometric_mean, group_cells

FOUR = ("layerwise", "partitioned", "pruned-layerwise", "ours")
COMPONENTS = (("compute", "compute_s"), ("load", "load_s"), ("switches", "switch_s"))


@dataclass(frozen=True)
class Attribution:
    """The split of one cell's speed-up (module docstring)."""

    model: str
    budget: int
    speedup: float
    partitions_factor: float
    pruning_factor: float
    saved_s: float
    shares: dict[str, float] | None      # component -> share of the time saved; None when nothing was saved

    def to_json(self) -> dict:
        return {"model": self.model, "budget": self.budget, "speedup": self.speedup,
                "partitions_factor": self.partitions_factor, "pruning_factor": self.pruning_factor,
                "saved_s": self.saved_s, "shares": self.shares}


def attribute(cells: dict[str, Measurement]) -> Attribution | None:
    """The split of one (model, budget) cell; None unless all four secure configurations ran."""
    runs = [cells.get(name) for name in FOUR]
    if any(m is None or not m.ok or not m.total_s for m in runs):
        return None
    lw, pa, pl, o = runs
    saved = lw.total_s - o.total_s
    shares = None
    if saved > 0:
        shares = {label: (getattr(lw, field) - getattr(o, field)) / saved for label, field in COMPONENTS}
    return Attribution(o.model, o.budget, lw.total_s / o.total_s,
                       math.sqrt(lw.total_s / pa.total_s * pl.total_s / o.total_s),
                       math.sqrt(lw.total_s / pl.total_s * pa.total_s / o.total_s), saved, shares)


def attributions(measurements: Iterable[Measurement]) -> list[Attribution]:
    """Every cell where the four secure configurations ran, in first-seen order."""
    found = (attribute(cells) for cells in group_cells(measurements).values())
    return [a for a in found if a is not None]


def overall(found: list[Attribution]) -> dict | None:
    """Over the cells: geometric means of the speed-up and of both factors (their product is the
    speed-up's geometric mean), and the mean share of each component; None without cells."""
    if not found:
        return None
    with_shares = [a.shares for a in found if a.shares is not None]
    return {"cells": len(found),
            "speedup": geometric_mean(a.speedup for a in found),
            "partitions_factor": geometric_mean(a.partitions_factor for a in found),
            "pruning_factor": geometric_mean(a.pruning_factor for a in found),
            "shares": {label: sum(s[label] for s in with_shares) / len(with_shares) for label, _ in COMPONENTS}
            if with_shares else None}
