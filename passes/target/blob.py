"""What sealing adds to a partition body: the blob framing the TA copies through staging.

    blob = header (BLOB_HEADER, nonce included) || AES-256-GCM ciphertext of the body || tag

The layout mirrors `runtime_ta/include/onnx_tee_ta.h`; `lower/envelope.py` packs it.
"""
from __future__ import annotations

import struct

NONCE_BYTES = 12
TAG_BYTES = 16
# magic, envelope version, body format version, model id, model version, partition index and
# count, body size, region size, nonce, reserved (little-endian, no padding)
BLOB_HEADER = struct.Struct("<8sII16sQIIQQ12sI")                 # 80 bytes


def blob_bytes(body: int) -> int:
    """The sealed size of a blob whose body is `body` bytes (header + ciphertext + tag)."""
    return BLOB_HEADER.size + body + TAG_BYTES
