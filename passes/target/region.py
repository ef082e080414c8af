"""The TA's one region: its alignment, the staging buffer, the heap the TA keeps for itself; the load chunk.

Every offset and size the memory plan gives is a multiple of ALIGN (the body format's alignment).
STAGING_BYTES is the staging buffer: the TA copies every chunk of a blob out of shared memory
through it, a tile of this size at a time, and decrypts each tile from there (runtime_ta/ta/model.c,
stage_and_consume), so it bounds the secure memory loading takes, not the bytes one command carries.
RESERVE_BYTES is the allowance for the TA's own heap (contexts, manifest, bookkeeping) the region
must leave free inside the budget.

LOAD_CHUNK_BYTES is the most blob bytes one OT_CMD_LOAD_CHUNK carries, the normal world's choice.
OP-TEE maps every memref into the TA's address space: on QEMU v8's OP-TEE 4.10 a 4.2 MiB chunk maps
beside a TA of BUDGET 4 or 8 MiB, while beside a 12 MiB TA 2 MiB does and 3 MiB does not.  The device
client starts at this size (runtime_ta/host/main.c, DEFAULT_MAX_CHUNK, `--max-chunk`) and halves a
chunk the secure world cannot map; the simulated client sends this size, and the residency plan
counts world switches with it.
"""
from __future__ import annotations

from ..lower.format import ALIGN

STAGING_BYTES = 64 * 1024
LOAD_CHUNK_BYTES = 4 * 1024 * 1024
RESERVE_BYTES = 16 * 1024


def align(nbytes: int) -> int:
    """Round up to a multiple of ALIGN (a python int)."""
    return -(-int(nbytes) // ALIGN) * ALIGN
