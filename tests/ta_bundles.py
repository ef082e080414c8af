"""A small two-partition model written straight in the body format, sealed into a device bundle.

    partition 0:  h = Relu(x @ W1 + b1)      x: [1, 64] model input, W1: [64, 128]
    partition 1:  y = h @ W2 + b2            W2: [128, 10], y: model output

Offsets are planned by hand (one region of 128 KiB): the tensors at the bottom, the bodies at
16 KiB, the staging buffer at 96 KiB.  Security and simulator tests need a model that is quick to
build and whose numbers numpy reproduces exactly; the zoo models are tested through `lower`.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from onnx_tee.passes.lower import format as fmt
from onnx_tee.passes.lower.envelope import PartitionBody, TensorSlot, seal_model

REGION = 128 * 1024
CHUNK = 4096
BODY_OFFSET = 16 * 1024
STAGING_OFFSET = 96 * 1024
SCRATCH_OFFSET = 8 * 1024
SCRATCH_SIZE = 8 * 1024
X_OFFSET, H_OFFSET, Y_OFFSET = 0, 512, 1536   # x: 256 B, pre-activation and h: 512 B each, y: 40 B
PRE_OFFSET = 1024
IN_DIM, HIDDEN, OUT_DIM = 64, 128, 10


@dataclass
class MLP:
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray

    @classmethod
    def random(cls, seed: int = 0) -> "MLP":
        rng = np.random.default_rng(seed)
        f = np.float32
        return cls(rng.standard_normal((IN_DIM, HIDDEN)).astype(f), rng.standard_normal(HIDDEN).astype(f),
                   rng.standard_normal((HIDDEN, OUT_DIM)).astype(f), rng.standard_normal(OUT_DIM).astype(f))

    def reference(self, x: np.ndarray) -> np.ndarray:
        h = np.maximum(x.astype(np.float64) @ self.w1 + self.b1, 0)
        return (h @ self.w2 + self.b2).astype(np.float32)

    def bodies(self) -> list[bytes]:
        region = fmt.LOC_REGION
        x = fmt.Tensor((1, IN_DIM), region, X_OFFSET, fmt.TFLAG_PARTITION_INPUT | fmt.TFLAG_MODEL_INPUT, 0)
        pre = fmt.Tensor((1, HIDDEN), region, PRE_OFFSET)
        h_out = fmt.Tensor((1, HIDDEN), region, H_OFFSET, fmt.TFLAG_PARTITION_OUTPUT)
        p0 = fmt.Body(0, 2, [x, fmt.Tensor((IN_DIM, HIDDEN), fmt.LOC_WEIGHT), fmt.Tensor((HIDDEN,), fmt.LOC_WEIGHT),
                             pre, h_out],
                      [fmt.Op(fmt.OP_CODES["GEMM"], [0, 1, 2], [3], [0, 0], [1.0, 1.0]),
                       fmt.Op(fmt.OP_CODES["RELU"], [3], [4])],
                      {1: self.w1, 2: self.b1}, region_size=REGION, scratch_offset=SCRATCH_OFFSET,
                      scratch_size=SCRATCH_SIZE)
        h_in = fmt.Tensor((1, HIDDEN), region, H_OFFSET, fmt.TFLAG_PARTITION_INPUT)
        y = fmt.Tensor((1, OUT_DIM), region, Y_OFFSET, fmt.TFLAG_PARTITION_OUTPUT | fmt.TFLAG_MODEL_OUTPUT, 0)
        p1 = fmt.Body(1, 2, [h_in, fmt.Tensor((HIDDEN, OUT_DIM), fmt.LOC_WEIGHT),
                             fmt.Tensor((OUT_DIM,), fmt.LOC_WEIGHT), y],
                      [fmt.Op(fmt.OP_CODES["GEMM"], [0, 1, 2], [3], [0, 0], [1.0, 1.0])],
                      {1: self.w2, 2: self.b2}, region_size=REGION, scratch_offset=SCRATCH_OFFSET,
                      scratch_size=SCRATCH_SIZE)
        return [fmt.serialize(p0), fmt.serialize(p1)]

    def weight_bytes(self) -> list[bytes]:
        return [a.tobytes() for a in (self.w1, self.b1, self.w2, self.b2)]


def seal_mlp(mlp: MLP, out_dir: Path, key: bytes, *, model_id: bytes = b"mlp-test-model-1",
             model_version: int = 1) -> Path:
    """Write the MLP's device bundle (manifest.bin + two blobs) into `out_dir`; returns it."""
    bodies = mlp.bodies()
    parts = [PartitionBody(body, BODY_OFFSET, STAGING_OFFSET, STAGING_OFFSET + CHUNK, len(bodies) == 1)
             for body in bodies]
    seal_model(parts, key=key, out_dir=out_dir, region_bytes=REGION, staging_bytes=CHUNK,
               inputs=[TensorSlot(X_OFFSET, IN_DIM * 4, 1, (1, IN_DIM))],
               outputs=[TensorSlot(Y_OFFSET, OUT_DIM * 4, 1, (1, OUT_DIM))],
               format_version=fmt.VERSION, model_id=model_id, model_version=model_version)
    return out_dir


@dataclass
class LoweredZoo:
    """A zoo model lowered at a budget: the compacted model, the partitioner's result, its bundle."""
    model: object
    result: object
    bodies: list[bytes]
    device: Path
    key: bytes
    budget: int


def lower_zoo(name: str, budget: int, out_dir: Path, *, key: bytes | None = None) -> LoweredZoo:
    """Compact, partition and lower a zoo model; seal its bodies into `out_dir/device` under `key`
    (a new key by default)."""
    from onnx_tee import models
    from onnx_tee.passes.analysis.shapes import fix_input_shapes
    from onnx_tee.passes.compact import compaction_pipeline
    from onnx_tee.passes.lower.keys import generate_key
    from onnx_tee.passes.lower.pipeline import partition_bodies, seal_bundle
    from onnx_tee.passes.partition.partitioner import partition_model

    _, model = models.resolve(name)
    model = compaction_pipeline()(fix_input_shapes(model, {})).model
    result = partition_model(model, budget)
    bodies = partition_bodies(result, model)
    key = generate_key() if key is None else key
    seal_bundle(bodies, result, model, key, out_dir / "device")
    return LoweredZoo(model, result, bodies, out_dir / "device", key, budget)


@functools.lru_cache(maxsize=1)
def dev_vendor_key():
    """One RSA-3072 vendor key pair per test process (enrolment wraps device keys for it)."""
    from onnx_tee.passes.lower.keys import generate_vendor_key

    return generate_vendor_key()
