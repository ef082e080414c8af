"""Every headline at several costs per world switch, from the counts measured in one run.

The simulator measures compute and load and counts the TA invocations; the switch time is modelled,

    total(c) = compute + load + switches x c        (c = cost of one round trip, ms)

so a run made at one cost is priced at any other without measuring again (`results.at_switch_cost`).
`at_costs` does that for `switches.reported_costs` (0.05 ms, 0.3 ms and the run's own) and, at each,
gives every comparison's geometric mean and range and the attribution of ours' speed-up
(`attribution.py`); `without` is the same with c = 0, i.e. the measured part alone.
"""
from __future__ import annotations

from .attribution import attributions, overall
from .results import COMPARISONS, BenchRun, Measurement, at_switch_cost, speedups, geometric_mean
from .switches import reported_costs

NO_SWITCH_COST = 0.0


def headline(measurements: list[Measurement]) -> dict:
    """Per comparison: cells, geometric mean, min and max of the speed-up; and the attribution."""
    comparisons = {}
    for label, slower, faster in COMPARISONS:
        values = [v for v in speedups(measurements, slower, faster).values() if v is not None]
        comparisons[label] = {"cells": len(values), "geomean": geometric_mean(values),
                              "min": min(values, default=None), "max": max(values, default=None)}
    return {"comparisons": comparisons, "attribution": overall(attributions(measurements))}


def run_cost_ms(run: BenchRun) -> float | None:
    """The cost per switch the run was measured at (its settings)."""
    return run.settings.get("switch_model", {}).get("cost_ms_per_switch")


def at_costs(run: BenchRun, *, without: bool = True) -> dict[float, dict]:
    """{cost in ms: headline at that cost}, ascending; with `without`, cost 0 first."""
    costs = ((NO_SWITCH_COST,) if without else ()) + reported_costs(run_cost_ms(run))
    return {cost: headline(at_switch_cost(run.measurements, cost)) for cost in dict.fromkeys(costs)}


def to_json(run: BenchRun) -> dict:
    """`at_costs` for results.json, keyed by the cost as text ("0", "0.05", "0.3")."""
    return {f"{cost:g}": entry for cost, entry in at_costs(run).items()}
