"""The TA's one region: its alignment, the smallest staging buffer, the heap the TA keeps for itself.

Every offset and size the memory plan gives is a multiple of ALIGN (the body format's alignment).
STAGING_BYTES is the minimum staging buffer (the chunk size of loading); RESERVE_BYTES is the
allowance for the TA's own heap (contexts, manifest, bookkeeping) the region must leave free
inside the budget.
"""
from __future__ import annotations

from ..lower.format import ALIGN

STAGING_BYTES = 64 * 1024
RESERVE_BYTES = 16 * 1024


def align(nbytes: int) -> int:
    """Round up to a multiple of ALIGN (a python int)."""
    return -(-int(nbytes) // ALIGN) * ALIGN
