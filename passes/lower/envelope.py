"""The crypto envelope around partition bodies: AES-256-GCM blobs and the device manifest.

Mirrors `runtime_ta/include/onnx_tee_ta.h` (the C definition; the structures below are packed
with the same little-endian, padding-free layouts).

    blob     = header || AES-256-GCM_key(nonce, body, aad=header) || tag
    header   = magic, envelope version, body format version, model id, model version,
               partition index, partition count, body size, region size, nonce
    manifest = header || partition entries || input/output slots || state pairs || tag
               (GCM over an empty plaintext with everything before the tag as AAD)

Every blob and the manifest gets its own random 96-bit nonce (`os.urandom`), so a nonce is never
reused under one key in practice (2^-32 collision bound after 2^32 blobs).  The manifest carries
each blob's GCM tag, sizes and region offsets, so the TA binds every partition it loads to the
manifest it opened: a blob of another model, build or version, or at another position, is refused.
The tag binds as a digest would: it is a MAC under the model key over the blob's header and
ciphertext, and the manifest is authenticated under the same key, so no other blob passes the TA's
tag check with the tag the manifest lists without a GCM forgery, and whoever holds the key could
rewrite the manifest anyway.  Unlike a digest it costs the TA no pass over the blob's bytes.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import UserError
from ..target.blob import BLOB_HEADER, NONCE_BYTES, TAG_BYTES
from .keys import KEY_BYTES

ENVELOPE_VERSION = 2
MANIFEST_MAGIC = b"OTEEMAN1"
BLOB_MAGIC = b"OTEEBLB1"
MODEL_ID_BYTES = 16
MAX_RANK = 8
MAX_PARTITIONS = 4096
MAX_IO_TENSORS = 64

# struct layouts of onnx_tee_ta.h (little-endian, no padding)
MANIFEST_HEADER = struct.Struct("<8sII16sQIIIIQ12sI")           # 80 bytes
MANIFEST_PARTITION = struct.Struct("<QQQQQ16sII")                # 64 bytes
MANIFEST_TENSOR = struct.Struct(f"<QQII{MAX_RANK}Q")             # 88 bytes
MANIFEST_STATE = struct.Struct("<II")                            # 8 bytes
PART_PINNED = 1                                                  # OT_PART_PINNED

MANIFEST_FILE = "manifest.bin"


def blob_file_name(index: int) -> str:
    return f"partition_{index:03d}.blob"


@dataclass(frozen=True)
class TensorSlot:
    """Where a model input or output lives in the region, and what it is."""
    offset: int
    nbytes: int
    dtype: int                 # onnx.TensorProto data type
    shape: tuple[int, ...]


@dataclass(frozen=True)
class PartitionBody:
    """One partition's plaintext body and where the plan puts it."""
    body: bytes
    body_offset: int
    staging_offset: int
    planned_bytes: int
    pinned: bool = False       # the body stays loaded for the whole session (OT_PART_PINNED)


@dataclass(frozen=True)
class ManifestPartition:
    blob_bytes: int
    body_bytes: int
    body_offset: int
    staging_offset: int
    planned_bytes: int
    blob_tag: bytes            # the blob's GCM tag (its last TAG_BYTES bytes)
    flags: int = 0
    reserved: int = 0

    @property
    def pinned(self) -> bool:
        return bool(self.flags & PART_PINNED)


@dataclass(frozen=True)
class DeviceManifest:
    """The parsed device manifest (after its tag was checked, or for inspection)."""
    format_version: int
    model_id: bytes
    model_version: int
    staging_bytes: int
    region_bytes: int
    partitions: tuple[ManifestPartition, ...]
    inputs: tuple[TensorSlot, ...]
    outputs: tuple[TensorSlot, ...]
    states: tuple[tuple[int, int], ...] = ()   # (model input index, model output index) kept in the TA


def _check_key(key: bytes) -> None:
    if not isinstance(key, (bytes, bytearray)) or len(key) != KEY_BYTES:
        raise UserError(f"an AES-256 key has {KEY_BYTES} bytes")


def seal_blob(body: bytes, *, key: bytes, model_id: bytes, model_version: int, index: int, count: int,
              region_bytes: int, format_version: int) -> bytes:
    """Encrypt one partition body into a blob (header authenticated as AAD)."""
    _check_key(key)
    nonce = os.urandom(NONCE_BYTES)
    header = BLOB_HEADER.pack(BLOB_MAGIC, ENVELOPE_VERSION, format_version, model_id, model_version,
                              index, count, len(body), region_bytes, nonce, 0)
    return header + AESGCM(key).encrypt(nonce, bytes(body), header)


def open_blob(blob: bytes, key: bytes) -> tuple[dict, bytes]:
    """Authenticate and decrypt a blob: (header fields, body).  Raises UserError if it is not authentic."""
    _check_key(key)
    if len(blob) < BLOB_HEADER.size + TAG_BYTES:
        raise UserError(f"blob of {len(blob)} bytes is shorter than header and tag")
    fields = BLOB_HEADER.unpack_from(blob)
    names = ("magic", "envelope_version", "format_version", "model_id", "model_version", "partition_index",
             "partition_count", "body_bytes", "region_bytes", "nonce", "reserved")
    header = dict(zip(names, fields))
    if header["magic"] != BLOB_MAGIC:
        raise UserError("not an onnx-tee partition blob (bad magic)")
    try:
        body = AESGCM(key).decrypt(header["nonce"], blob[BLOB_HEADER.size:], blob[:BLOB_HEADER.size])
    except InvalidTag:
        raise UserError("blob is not authentic under this key (tampered, or another key)") from None
    return header, body


def _pack_slot(slot: TensorSlot) -> bytes:
    if len(slot.shape) > MAX_RANK:
        raise UserError(f"tensor of rank {len(slot.shape)} exceeds the TA's limit of {MAX_RANK}")
    dims = list(slot.shape) + [0] * (MAX_RANK - len(slot.shape))
    return MANIFEST_TENSOR.pack(slot.offset, slot.nbytes, slot.dtype, len(slot.shape), *dims)


def seal_manifest(*, key: bytes, format_version: int, model_id: bytes, model_version: int, staging_bytes: int,
                  region_bytes: int, partitions: list[ManifestPartition], inputs: list[TensorSlot],
                  outputs: list[TensorSlot], states: list[tuple[int, int]] = ()) -> bytes:
    """The authenticated device manifest (GMAC: empty plaintext, everything before the tag is AAD)."""
    _check_key(key)
    if not 0 < len(partitions) <= MAX_PARTITIONS:
        raise UserError(f"a model has 1..{MAX_PARTITIONS} partitions, got {len(partitions)}")
    if len(inputs) + len(outputs) > MAX_IO_TENSORS:
        raise UserError(f"a model has at most {MAX_IO_TENSORS} inputs and outputs together")
    nonce = os.urandom(NONCE_BYTES)
    aad = MANIFEST_HEADER.pack(MANIFEST_MAGIC, ENVELOPE_VERSION, format_version, model_id, model_version,
                               len(partitions), len(inputs), len(outputs), staging_bytes, region_bytes, nonce,
                               len(states))
    aad += b"".join(MANIFEST_PARTITION.pack(p.blob_bytes, p.body_bytes, p.body_offset, p.staging_offset,
                                            p.planned_bytes, p.blob_tag, p.flags, 0) for p in partitions)
    aad += b"".join(_pack_slot(s) for s in (*inputs, *outputs))
    aad += b"".join(MANIFEST_STATE.pack(i, o) for i, o in states)
    return aad + AESGCM(key).encrypt(nonce, b"", aad)


def parse_manifest(data: bytes) -> DeviceManifest:
    """Read a device manifest's fields (no authentication: the TA does that)."""
    if len(data) < MANIFEST_HEADER.size + TAG_BYTES:
        raise UserError("device manifest is truncated")
    (magic, _version, format_version, model_id, model_version, count, n_in, n_out, staging_bytes, region_bytes,
     _nonce, n_states) = MANIFEST_HEADER.unpack_from(data)
    if magic != MANIFEST_MAGIC:
        raise UserError("not an onnx-tee device manifest (bad magic)")
    expected = (MANIFEST_HEADER.size + count * MANIFEST_PARTITION.size + (n_in + n_out) * MANIFEST_TENSOR.size
                + n_states * MANIFEST_STATE.size)
    if len(data) != expected + TAG_BYTES:
        raise UserError(f"device manifest has {len(data)} bytes, its header implies {expected + TAG_BYTES}")
    pos = MANIFEST_HEADER.size
    parts = []
    for _ in range(count):
        parts.append(ManifestPartition(*MANIFEST_PARTITION.unpack_from(data, pos)))
        pos += MANIFEST_PARTITION.size
    slots = []
    for _ in range(n_in + n_out):
        offset, nbytes, dtype, rank, *dims = MANIFEST_TENSOR.unpack_from(data, pos)
        slots.append(TensorSlot(offset, nbytes, dtype, tuple(dims[:min(rank, MAX_RANK)])))
        pos += MANIFEST_TENSOR.size
    states = tuple(MANIFEST_STATE.unpack_from(data, pos + 8 * k) for k in range(n_states))
    return DeviceManifest(format_version, model_id, model_version, staging_bytes, region_bytes, tuple(parts),
                          tuple(slots[:n_in]), tuple(slots[n_in:]), states)


def seal_model(bodies: list[PartitionBody], *, key: bytes, out_dir: str | Path, region_bytes: int,
               staging_bytes: int, inputs: list[TensorSlot], outputs: list[TensorSlot], format_version: int,
               model_id: bytes | None = None, model_version: int = 1,
               states: list[tuple[int, int]] = ()) -> tuple[Path, list[Path]]:
    """Write the deployable bundle: `out_dir/manifest.bin` and one `partition_NNN.blob` per body.

    `states` pairs a model input index with the model output index whose value the TA carries into
    that input from one inference to the next (recurrent state kept in secure memory).

    `model_id` names the model across versions (random when not given); `model_version` must grow
    with each release the device should accept, since the TA refuses versions older than it has seen.
    Returns (manifest path, blob paths).
    """
    _check_key(key)
    model_id = os.urandom(MODEL_ID_BYTES) if model_id is None else bytes(model_id)
    if len(model_id) != MODEL_ID_BYTES:
        raise UserError(f"a model id has {MODEL_ID_BYTES} bytes")
    if not 0 < model_version < 2**64:
        raise UserError(f"model version must be a positive 64-bit integer, got {model_version}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    blob_paths, entries = [], []
    for index, part in enumerate(bodies):
        blob = seal_blob(part.body, key=key, model_id=model_id, model_version=model_version, index=index,
                         count=len(bodies), region_bytes=region_bytes, format_version=format_version)
        path = out_dir / blob_file_name(index)
        path.write_bytes(blob)
        blob_paths.append(path)
        entries.append(ManifestPartition(len(blob), len(part.body), part.body_offset, part.staging_offset,
                                         part.planned_bytes, blob[-TAG_BYTES:],
                                         PART_PINNED if part.pinned else 0))
    manifest = seal_manifest(key=key, format_version=format_version, model_id=model_id,
                             model_version=model_version, staging_bytes=staging_bytes, region_bytes=region_bytes,
                             partitions=entries, inputs=inputs, outputs=outputs, states=list(states))
    manifest_path = out_dir / MANIFEST_FILE
    manifest_path.write_bytes(manifest)
    return manifest_path, blob_paths
