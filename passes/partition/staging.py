"""The staging buffer as wide as the memory plan allows for free: fewer chunks, fewer world switches.

Loading partition k sends its blob to the TA in chunks of the staging size S, one TA invocation
(one normal -> secure -> normal round trip) per chunk, so loading costs

    switches = sum_k ceil(blob_k / S)

Staging is live only while k loads, and the planner overlaps it with whatever is not live then
(k's activation arena, scratch, the carried tensors k produces).  A wider S therefore costs no
region bytes until it outgrows that space.  The search keeps the partitions and the region of the
plan made with the minimum S0 = `STAGING_BYTES` and takes

    S* = max { S = m * S0 : S <= largest blob (rounded up to S0), region(S) <= region(S0) }

by bisection on m; every S it keeps had its full plan made and checked, so the result is never
larger than the plan it started from even where first fit is not monotone in S.

Before: ResNet-50 at 32 MiB, 4 partitions, S = 64 KiB: 1,561 LOAD_CHUNK invocations.
After:  the same partitions and region, S = 2 MiB: 38.

Where partitions are packed to the budget with weights (AlexNet's fully connected layers), no
staging wider than S0 is free, and fewer, fuller partitions can need more invocations than more,
emptier ones.  The "optimal" strategy therefore also searches with a wider staging reserved
(`STAGING_CANDIDATES`) and takes such a result only when it needs at most half the loading and
running invocations (`invocations`) of the plain one in a region at most `REGION_GROWTH` times
as large: secure memory is the scarce resource, so a few invocations are not worth megabytes of
it (SqueezeNet at 16 MiB would save 3 invocations for 4.3 MB more region).  A candidate S is
skipped when even the current partition count and ceil(weights / S) chunks could not win.

Before: AlexNet at 8 MiB, 17 partitions through 64 KiB: 1,949 invocations.
After:  62 partitions through 4 MiB: 124.
"""
from __future__ import annotations

import math
from typing import Callable

from ..target import STAGING_BYTES, blob_bytes
from .memory import MemoryPlan

STAGING_CANDIDATES = (256 * 1024, 1024 * 1024, 4096 * 1024)
REGION_GROWTH = 1.125


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
    """The plan with the widest staging (a multiple of `step`) whose region is no larger than `base`'s.

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
