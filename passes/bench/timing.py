"""Timing harness: warm-up, repeats, medians.

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


def repeat_components(run: Callable[[], Mapping[str, float]], *, repeats: int,
                      warmup: int = 1) -> dict[str, Samples]:
    """Call `run` `warmup` times untimed, then `repeats` times; collect each returned component.

    `run` returns a mapping of component name -> value for one call (e.g. {"compute": 0.012,
    "load": 0.003}); the harness adds "wall", the call's own wall time in seconds.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    for _ in range(warmup):
        run()
    collected: dict[str, list[float]] = {}
    for _ in range(repeats):
        start = time.perf_counter()
        components = dict(run())
        components["wall"] = time.perf_counter() - start
        for name, value in components.items():
            collected.setdefault(name, []).append(float(value))
    return {name: Samples(tuple(values)) for name, values in collected.items()}
