"""Sealed model I/O: the side of a trusted data source/sink that holds the model key.

With sealed I/O, model inputs and outputs cross the normal world only as AES-256-GCM messages under
a key fresh per I/O session (runtime_ta/include/onnx_tee_ta.h, OT_CMD_OPEN_IO_SESSION)::

    K_io    = HKDF-Expand-SHA256(PRK = model key, info = b"onnx-tee io v2" || session nonce, L = 32)
    message = counter (u64 LE) || nonce[12] || AES-256-GCM_K_io(tensor, AAD) || tag[16]
    AAD     = session nonce[16] || direction (u32: 1 input, 2 output) || index (u32) || counter (u64)
              || tensor bytes (u64) || inputs digest[32]
    inputs digest (outputs only; zero in inputs): d_0 = 0^32, d_(j+1) = SHA-256(d_j || index (u32) ||
              counter (u64) || tag) over the inputs sealed for this inference, in order

The TA draws the session nonce; one counter counts every message of the session (inputs and
outputs, from 0), so a replayed, reordered, dropped or other-session message fails; the TA seals each
output once per inference, and the inputs digest ties it to the inputs this sink sealed for it, so an
output computed from other inputs (the normal world's own, or an earlier request's) is refused.
"""
from __future__ import annotations

import hashlib
import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from ..errors import UserError
from .envelope import NONCE_BYTES, TAG_BYTES
from .keys import KEY_BYTES

LABEL = b"onnx-tee io v2"
SESSION_NONCE_BYTES = 16
INPUT, OUTPUT = 1, 2
PREFIX = struct.Struct("<Q12s")                 # counter, GCM nonce
AAD = struct.Struct("<16sIIQQ32s")              # struct ot_io_aad
DIGEST_ITEM = struct.Struct("<IQ")              # index, counter (then the tag)
OVERHEAD = PREFIX.size + TAG_BYTES              # OT_IO_OVERHEAD


def io_key(model_key: bytes, session_nonce: bytes) -> bytes:
    """K_io of one I/O session."""
    if len(model_key) != KEY_BYTES or len(session_nonce) != SESSION_NONCE_BYTES:
        raise UserError(f"sealed I/O needs a {KEY_BYTES}-byte model key and a {SESSION_NONCE_BYTES}-byte "
                        f"session nonce")
    return HKDFExpand(hashes.SHA256(), KEY_BYTES, LABEL + session_nonce).derive(model_key)


class SealedChannel:
    """One I/O session seen from the data source/sink: seals inputs, opens outputs, in order."""

    def __init__(self, model_key: bytes, session_nonce: bytes):
        self.session_nonce = session_nonce
        self._aead = AESGCM(io_key(model_key, session_nonce))
        self.counter = 0
        self.inputs_digest = bytes(32)   # over the inputs of the current inference
        self._outputs_opened = False     # the next input starts a new inference

    def _aad(self, direction: int, index: int, counter: int, nbytes: int) -> bytes:
        digest = self.inputs_digest if direction == OUTPUT else bytes(32)
        return AAD.pack(self.session_nonce, direction, index, counter, nbytes, digest)

    def seal_input(self, index: int, data: bytes) -> bytes:
        """The message for model input `index`; takes the session's next counter.  The first input
        after outputs were opened starts a new inference (as in the TA)."""
        if self._outputs_opened:
            self.inputs_digest, self._outputs_opened = bytes(32), False
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, data, self._aad(INPUT, index, self.counter, len(data)))
        message = PREFIX.pack(self.counter, nonce) + sealed
        self.inputs_digest = hashlib.sha256(self.inputs_digest + DIGEST_ITEM.pack(index, self.counter)
                                            + sealed[-TAG_BYTES:]).digest()
        self.counter += 1
        return message

    def open_output(self, index: int, message: bytes) -> bytes:
        """The plaintext of the TA's message for model output `index` (checked, in order)."""
        if len(message) < OVERHEAD:
            raise UserError(f"sealed output {index}: {len(message)} bytes, shorter than a sealed message")
        counter, nonce = PREFIX.unpack_from(message)
        if counter != self.counter:
            raise UserError(f"sealed output {index}: counter {counter}, expected {self.counter} (replayed or "
                            f"reordered)")
        nbytes = len(message) - OVERHEAD
        try:
            data = self._aead.decrypt(nonce, message[PREFIX.size:], self._aad(OUTPUT, index, counter, nbytes))
        except InvalidTag:
            raise UserError(f"sealed output {index} is not authentic (altered, another session, or computed "
                            f"from other inputs than this inference's)") from None
        self.counter += 1
        self._outputs_opened = True
        return data
