"""Residency planning for stream sessions: which partition bodies stay pinned in the TA.

In a stream session (`run --stream`) the TA keeps the model open across inferences.  A pinned body
is loaded (copied, decrypted, validated, prepared) in the first inference only and stays in its own
place of the region (`memory.plan_memory(pinned=...)`); a streamed body is loaded again for every
inference.  The steady-state cost of one inference with the pinned set P is

    cost(P) = sum_{k not in P} blob_k x load_rate                      (bytes loaded)
            + invocations(P) x switch_cost                              (world switches)
            + compute                                                   (the same for every P)

    invocations(P) = 1                                   when P = every partition (OT_CMD_INFER)
                   = inputs + outputs + n + sum_{k not in P} ceil(blob_k / chunk)     otherwise

(chunk: the blob bytes one load command carries, `target.LOAD_CHUNK_BYTES`)

so cost(P) - compute = switch_cost x invocations(P) + load_rate x streamed bytes: pinning a body
saves its load and its chunk commands; pinning all of them also folds the per-partition commands
into one.  P is feasible when the memory plan with P pinned keeps every partition within the budget
(`fits(P)`): the pinned bodies take region bytes from every partition.  P = {} is the single-shot
plan, always feasible for a partitioning that fits.

`plan_exact` finds the cheapest feasible P by branch and bound over the partitions (largest saving
first): a branch stops when even pinning everything left could not beat the best found, or when the
pinned bodies plus the smallest floor of the remaining partitions (`floors`, a lower bound that only
grows with P) exceed the room.  `fits` is only asked for candidates cheaper than the best, so the
result equals the brute force over all 2^n subsets (`plan_brute_force`, the test's reference).
Beyond `EXACT_LIMIT` partitions `plan_heuristic` is used: all pinned if that fits; else pin greedily
by saving per pinned byte, keeping a body when the plan still fits (one plan per partition).  Both
never return a P worse than all-streamed ({}) or the greedy all-pinned-what-fits in partition
order (`pinned_what_fits`), which are candidates too.

`pin_for_stream` applies this to a partitioning and, since a partitioning packed to the budget leaves
no room to pin, on request (`lower --stream`, the bench's `ours`) also to the model cut at smaller
budgets (`REPARTITION_FRACTIONS`) and pinned within the whole budget; the cheapest steady state wins.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Collection, Sequence

from ..bench.switches import DEFAULT_SWITCH_COST_MS
from ..target.region import LOAD_CHUNK_BYTES

# Load (copy into staging, decrypt, digest, validate) per blob byte in the simulator: the reference
# bench (benchmarks/results/reference, SqueezeNet at 8 MiB) loaded 2.73 MiB in 2.63 ms.
LOAD_SECONDS_PER_BYTE = 1.0e-9
EXACT_LIMIT = 16


@dataclass(frozen=True)
class StreamCost:
    """What a steady-state inference costs apart from compute, for a pinned set."""

    blob_bytes: tuple[int, ...]          # per partition
    io_commands: int                     # model inputs + outputs written / read one command each
    chunk_bytes: int = LOAD_CHUNK_BYTES
    switch_seconds: float = DEFAULT_SWITCH_COST_MS / 1000.0
    load_seconds_per_byte: float = LOAD_SECONDS_PER_BYTE

    def invocations(self, pinned: Collection[int]) -> int:
        n = len(self.blob_bytes)
        if len(set(pinned)) == n:
            return 1
        return self.io_commands + n + sum(math.ceil(b / self.chunk_bytes)
                                          for k, b in enumerate(self.blob_bytes) if k not in pinned)

    def bytes_loaded(self, pinned: Collection[int]) -> int:
        return sum(b for k, b in enumerate(self.blob_bytes) if k not in pinned)

    def seconds(self, pinned: Collection[int]) -> float:
        return self.invocations(pinned) * self.switch_seconds + self.bytes_loaded(pinned) * self.load_seconds_per_byte

    def saving(self, k: int) -> float:
        """What pinning k alone saves (its load and its chunk commands)."""
        return (math.ceil(self.blob_bytes[k] / self.chunk_bytes) * self.switch_seconds
                + self.blob_bytes[k] * self.load_seconds_per_byte)


@dataclass(frozen=True)
class Residency:
    pinned: frozenset[int]
    seconds: float                       # steady-state cost apart from compute
    method: str                          # "exact", "heuristic" or "brute force"
    plans_checked: int


def pinned_what_fits(count: int, fits: Callable[[frozenset[int]], bool]) -> frozenset[int]:
    """All-pinned-what-fits: partitions in order, each pinned when the plan still fits with it."""
    chosen: frozenset[int] = frozenset()
    for k in range(count):
        if fits(chosen | {k}):
            chosen = chosen | {k}
    return chosen


def plan_brute_force(cost: StreamCost, fits: Callable[[frozenset[int]], bool]) -> Residency:
    """Every subset: the cheapest that fits (ties: fewer pinned, then the lower indices)."""
    n, best, checked = len(cost.blob_bytes), None, 0
    for mask in range(1 << n):
        pinned = frozenset(k for k in range(n) if mask >> k & 1)
        checked += 1
        if fits(pinned):
            key = (cost.seconds(pinned), len(pinned), sorted(pinned))
            if best is None or key < best[0]:
                best = (key, pinned)
    return Residency(best[1], best[0][0], "brute force", checked)


def plan_exact(cost: StreamCost, fits: Callable[[frozenset[int]], bool], bodies: Sequence[int],
               room: int, floors: Sequence[int]) -> Residency:
    """Branch and bound (module docstring).  `bodies[k]` = k's body bytes in the region, `floors[k]`
    = the least region bytes partition k needs with nothing pinned, `room` = budget - reserve.

    Bounds: cost only falls as bodies are added (each drops its load and chunk commands; all of them
    drop to one command), so no completion of P with the undecided partitions R costs less than
    cost(P | R).  Pinned bodies add to every other partition's floor, so when
    sum_{j in P, j != k} body_j + floor_k > room for some k, no superset of P fits."""
    n = len(cost.blob_bytes)
    order = sorted(range(n), key=lambda k: -cost.saving(k))
    best = {"seconds": cost.seconds(()), "pinned": frozenset()}   # P = {} always fits
    checked = 0

    def may_fit(pinned: frozenset[int]) -> bool:
        held = sum(bodies[k] for k in pinned)
        return all(held - (bodies[k] if k in pinned else 0) + floors[k] <= room for k in range(n))

    def visit(depth: int, pinned: frozenset[int]) -> None:
        nonlocal checked
        if not may_fit(pinned) or cost.seconds(pinned | set(order[depth:])) >= best["seconds"]:
            return
        if depth == n:
            checked += 1
            if fits(pinned):
                best.update(seconds=cost.seconds(pinned), pinned=pinned)
            return
        visit(depth + 1, pinned | {order[depth]})
        visit(depth + 1, pinned)

    visit(0, frozenset())
    return Residency(best["pinned"], best["seconds"], "exact", checked)


def plan_heuristic(cost: StreamCost, fits: Callable[[frozenset[int]], bool], bodies: Sequence[int]) -> Residency:
    """All pinned if that fits; else greedy by saving per body byte (module docstring)."""
    n, checked = len(cost.blob_bytes), 1
    everything = frozenset(range(n))
    if fits(everything):
        return Residency(everything, cost.seconds(everything), "heuristic", checked)
    chosen: frozenset[int] = frozenset()
    for k in sorted(range(n), key=lambda k: -cost.saving(k) / max(bodies[k], 1)):
        checked += 1
        if fits(chosen | {k}):
            chosen = chosen | {k}
    in_order = pinned_what_fits(n, fits)
    checked += n
    best = min((chosen, in_order, frozenset()), key=lambda p: (cost.seconds(p), len(p)))
    return Residency(best, cost.seconds(best), "heuristic", checked)


def plan_residency(cost: StreamCost, fits: Callable[[frozenset[int]], bool], bodies: Sequence[int],
                   room: int, floors: Sequence[int]) -> Residency:
    """The exact plan up to EXACT_LIMIT partitions, the heuristic beyond."""
    if len(bodies) <= EXACT_LIMIT:
        return plan_exact(cost, fits, bodies, room, floors)
    return plan_heuristic(cost, fits, bodies)


# Smaller budgets the partitioning is also searched at (fractions of the budget), so that smaller
# partitions leave room to pin some of them (`pin_for_stream`).
REPARTITION_FRACTIONS = (0.75, 0.5)


def _pin(result, budget: int, reserve: int, io_commands: int, switch_seconds: float,
         load_seconds_per_byte: float, cache: dict):
    """The cheapest residency of one partitioning under `budget`: (plan, Residency), or None when the
    partitioning does not fit."""
    from ..target import blob_bytes
    from .memory import plan_memory

    plan, plans = result.plan, {}

    def planned(pinned: frozenset[int]):
        if pinned not in plans:
            plans[pinned] = plan_memory(result.specs, result.infos, budget=budget, staging_bytes=plan.staging_bytes,
                                        reserve_bytes=reserve, model_outputs=result.graph.model_outputs,
                                        cache=cache, pinned=pinned, resident=plan.resident)
        return plans[pinned]

    base = planned(frozenset())
    if base.over_budget():
        return None
    cost = StreamCost(tuple(blob_bytes(p.weights) for p in base.partitions), io_commands,
                      switch_seconds=switch_seconds, load_seconds_per_byte=load_seconds_per_byte)
    residency = plan_residency(cost, lambda p: not planned(p).over_budget(),
                               [p.weights for p in base.partitions], budget - reserve, base.floors)
    return planned(residency.pinned), residency


def pin_for_stream(result, *, switch_seconds: float = DEFAULT_SWITCH_COST_MS / 1000.0,
                   load_seconds_per_byte: float = LOAD_SECONDS_PER_BYTE, io_commands: int | None = None,
                   repartition: Sequence[float] = ()):
    """The residency plan of a `PartitionResult`: (the result with the chosen bodies pinned, the
    Residency).  Plans are made by `plan_memory` with the partitioning's own budget and reserve, so
    the pinned plan is what lowering writes and the TA checks.

    A partitioning packed to the budget leaves no room to pin, so with `repartition` (e.g.
    REPARTITION_FRACTIONS) and several partitions the model is also partitioned at each fraction of
    the budget and pinned within the whole budget: more partitions, a slower single shot, a faster
    steady state.  The cheapest steady state wins (ties:
    the given partitioning, then the larger fraction)."""
    from dataclasses import replace

    from ..errors import UserError
    from .partitioner import partition_model

    plan = result.plan
    if io_commands is None:
        io_commands = len(result.graph.model_inputs) + len(result.graph.model_outputs)
    terms = (io_commands, switch_seconds, load_seconds_per_byte)
    best = _pin(result, plan.budget, plan.reserve_bytes, *terms, {})
    chosen = (result, *best)
    for fraction in repartition if len(plan.partitions) > 1 else ():
        try:
            smaller = partition_model(result.model, int(plan.budget * fraction), reserve_bytes=plan.reserve_bytes,
                                      infos=result.infos, resident=plan.resident, strategy=result.strategy)
        except UserError:   # nothing fits so small
            continue
        found = _pin(smaller, plan.budget, plan.reserve_bytes, *terms, {})
        if found is not None and found[1].seconds < chosen[2].seconds:
            chosen = (smaller, *found)
    partitioning, pinned_plan, residency = chosen
    return replace(partitioning, plan=pinned_plan), residency
