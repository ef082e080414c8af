"""Timing harness: warm-up, repeats, medians, and interleaving of the things compared.

Each measurement runs `warmup` untimed calls, then `repeats` timed ones, and keeps every sample;
reports use the median (robust to the odd descheduled run on a shared machine) and keep the
spread (min, max) so a reader can judge the noise.  Functions may return their own breakdown
(a dict of named seconds, e.g. compute/load from the simulator's counters): each named component
gets its own median, independently.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable, Mapping


@dataclass(frozen=True)
class Samples:
    """The raw samples of one quantity (seconds, or any number) and their summary."""

    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def min(self) -> float:
        return min(self.values)

    @property
    def max(self) -> float:
        return max(self.values)

    def to_json(self) -> dict:
        return {"median": self.median, "min": self.min, "max": self.max, "samples": list(self.values)}


def repeat_interleaved(runs: Mapping[str, Callable[[], Mapping[str, float]]], *, repeats: int,
                       warmup: int = 1) -> dict[str, dict[str, Samples]]:
    """Time several things against each other, round-robin: round r calls every run once.

    On a shared machine the load drifts over seconds; timing A five times and then B five times
    would charge the drift to whichever ran in the busy period.  Interleaving spreads it over all of
    them alike, and the starting position rotates each round so no run always goes first.  The first
    `warmup` rounds are not recorded.  Each run returns a mapping of component name -> value for one
    call (e.g. {"compute": 0.012, "load": 0.003}); the harness adds "wall", the call's wall time.
    Returns {run name: {component: Samples}}.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    names = list(runs)
    collected: dict[str, dict[str, list[float]]] = {name: {} for name in names}
    for round_index in range(warmup + repeats):
        shift = round_index % len(names) if names else 0
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            components = dict(runs[name]())
            components["wall"] = time.perf_counter() - start
            if round_index >= warmup:
                for component, value in components.items():
                    collected[name].setdefault(component, []).append(float(value))
    return {name: {c: Samples(tuple(v)) for c, v in by_component.items()} for name, by_component in collected.items()}


def repeat_components(run: Callable[[], Mapping[str, float]], *, repeats: int,
                      warmup: int = 1) -> dict[str, Samples]:
    """`repeat_interleaved` of a single run: `warmup` untimed calls, then `repeats` recorded ones."""
    return repeat_interleaved({"run": run}, repeats=repeats, warmup=warmup)["run"]
