"""The staging rule: one choice of the staging buffer, applied alike to every strategy.

Loading partition k sends its blob to the TA in chunks of the staging size S, one TA invocation
(one normal -> secure -> normal round trip) per chunk, and running it is one more, so loading and
running a plan costs

    invocations(plan, S) = sum_k ( ceil(blob_k / S) + 1 )

Every partitioning, whatever strategy made it (optimal, greedy, layerwise), goes through the same
two steps (`stage`), so no configuration of a benchmark loads through a mechanism another one was
denied:

1. **Free widening** (`widest_free_staging`).  Staging is live only while k loads, and the planner
   overlaps it with whatever is not live then (k's activation arena, scratch, the carried tensors
   k produces), so a wider S costs no region bytes until it outgrows that space.  Keeping the
   partitions and the region of the plan made with the minimum S0 = `STAGING_BYTES`, take

       S* = max { S = m * S0 : S <= largest blob (rounded up to S0), region(S) <= region(S0) }

   by bisection on m; every S it keeps had its full plan made and checked, so the result is never
   larger than the plan it started from even where first fit is not monotone in S.

2. **A wider staging reserved** (`STAGING_CANDIDATES`).  Where partitions are packed to the budget
   with weights (AlexNet's fully connected layers, tiled), no staging wider than S0 is free.  The
   strategy then searches again with S reserved in every partition (tiles get smaller, so there
   may be more partitions) and the result, widened for free in turn, replaces the plain one when

       invocations(candidate) <= invocations(plain) / 2

   Like every partitioning it fits the budget, and the TA's heap is the budget whatever region the
   plan uses (TA_DATA_SIZE = budget + reserve), so the only price is the extra partitions' runs,
   which `invocations` counts.  No condition relative to the plain plan's region: that would make
   the staging depend on the strategy's path, not on the plan -- a chain of 900 KiB MatMuls at
   2 MiB gets six single-MatMul partitions through 1 MiB from "optimal" (its plain plan pairs them
   in a 1.8 MiB region) but, under a cap of 1/8 more region, 64 KiB from "layerwise" for the very
   same partitions (its plain region is 1 MiB).  A candidate S is skipped when even the plain
   partition count and ceil(weights / S) chunks could not win (`cannot_beat`).

Before (step 1 only): ResNet-50 at 32 MiB, 4 partitions, S = 64 KiB: 1,561 LOAD_CHUNK invocations;
after: the same partitions and region, S = 2 MiB: 38.  Step 2: AlexNet at 8 MiB, 17 adaptive
partitions through 64 KiB: 1,949 invocations; 62 partitions through 4 MiB: 124.  Layer-wise AlexNet at
32 MiB took 3,776 invocations through 64 KiB while step 2 was kept from it (995 at 16 MiB, where
its tiles happened to leave room free); under the one rule, 112 (30 partitions through 4 MiB).
"""
from __future__ import annotations

import math
from typing import Callable, Optional, Protocol

from ..target import STAGING_BYTES, blob_bytes
from .memory import MemoryPlan

STAGING_CANDIDATES = (256 * 1024, 1024 * 1024, 4096 * 1024)


class Planned(Protocol):
    """A partitioning with its memory plan (`partitioner.PartitionResult`)."""

    plan: MemoryPlan


def invocations(plan: MemoryPlan) -> int:
    """TA invocations that load and run the plan's partitions: its chunks, and one run each."""
    return sum(math.ceil(blob_bytes(p.weights) / plan.staging_bytes) + 1 for p in plan.partitions)


def cannot_beat(plan: MemoryPlan, staging: int, best: int) -> bool:
    """True when any partitioning with at least `plan`'s partitions and weights, loaded through
    `staging`, needs at least `best` invocations."""
    weights = sum(blob_bytes(p.weights) for p in plan.partitions)
    return math.ceil(weights / staging) + len(plan.partitions) >= best


def widest_free_staging(plan_with: Callable[[int], MemoryPlan], base: MemoryPlan,
                        step: int = STAGING_BYTES) -> MemoryPlan:
    """Step 1: the plan with the widest staging (a multiple of `step`) whose region is no larger than `base`'s.

    `plan_with(S)` plans the same partitions with staging S; `base` is its plan at its own staging,
    a multiple of `step`."""
    largest = max((blob_bytes(p.weights) for p in base.partitions), default=0)
    lo = base.staging_bytes // step
    hi = max(lo, -(-largest // step))
    best = base
    while lo < hi:
        mid = (lo + hi + 1) // 2
        plan = plan_with(mid * step)
        if plan.region_bytes <= base.region_bytes:
            lo, best = mid, plan
        else:
            hi = mid - 1
    return best


def stage(plain: Planned, search: Callable[[int], Optional[Planned]],
          widen: Callable[[Planned], MemoryPlan]) -> Planned:
    """Both steps of the rule, for a partitioning made by any strategy.

    `plain` was searched with the minimum staging reserved; `search(S)` runs the same strategy with
    S reserved (None when nothing fits); `widen(result)` is step 1 on a result's own partitions.
    Returns the chosen result, its `plan` set to the widened one."""
    plain.plan = widen(plain)
    best, fewest = plain, invocations(plain.plan) // 2 + 1
    for staging in STAGING_CANDIDATES:
        if staging <= plain.plan.staging_bytes or cannot_beat(plain.plan, staging, fewest):
            continue
        candidate = search(staging)
        if candidate is None:
            continue
        candidate.plan = widen(candidate)
        count = invocations(candidate.plan)
        if count < fewest:
            best, fewest = candidate, count
    return best
