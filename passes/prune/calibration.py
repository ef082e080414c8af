"""Calibration activations through onnxruntime, and Conv input patches at sampled positions.

Data-driven criteria and the recovery hook need intermediate tensors of a model on a small
calibration batch.  `activations` runs the model with the wanted tensors added as graph
outputs, a chunk of samples at a time (models exported with batch 1 are re-batched when their
ops allow it, else run sample by sample).

`conv_patches(x, node, positions)` gathers, for output positions (n, oh, ow) of a Conv, the
input patch that produces them: X_pad[n, :, oh*s + kh*d, ow*s + kw*d] -> (P, C, KH, KW), so a
Conv output at those positions is `patches.reshape(P, -1) @ W.reshape(O, -1).T + b`.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import onnx
import onnxruntime as ort

from ..errors import UserError
from ..graph import attribute, graph_inputs

CHUNK_BYTES = 256 * 2**20


def _data_input(model: onnx.ModelProto) -> onnx.ValueInfoProto:
    inputs = graph_inputs(model)
    if len(inputs) != 1:
        raise UserError(f"calibration needs a model with exactly one data input, this one has {len(inputs)}: "
                        f"{', '.join(i.name for i in inputs)}")
    return inputs[0]


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _batched(model: onnx.ModelProto, batch: int) -> tuple[onnx.ModelProto, int]:
    """The model with batch dimension `batch` if its graph allows it, else (model, 1)."""
    dims = _data_input(model).type.tensor_type.shape.dim
    fixed = dims[0].dim_value if dims and dims[0].HasField("dim_value") else 0
    if not fixed:
        return model, batch                                  # dynamic batch dimension
    if fixed != 1 or batch == 1:
        return model, fixed
    from onnx_tee.passes.datasets import with_batch   # the zoo's batching rule (rejects Reshape to a fixed batch)
    try:
        return with_batch(model, batch), batch
    except UserError:
        return model, 1


def activations(model: onnx.ModelProto, names: list[str], x: np.ndarray, *,
                sample_bytes: int | None = None) -> Iterator[tuple[slice, dict[str, np.ndarray]]]:
    """Yield (sample slice, {name: value}) for chunks of `x`, with each named tensor computed.

    `sample_bytes` (bytes of the named tensors per sample) sizes the chunks to CHUNK_BYTES.
    """
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    existing = {o.name for o in probe.graph.output}
    for name in names:
        if name not in existing:
            probe.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    chunk = max(1, min(len(x), CHUNK_BYTES // max(1, sample_bytes or 1)))
    probe, chunk = _batched(probe, chunk)
    session = _session(probe)
    input_name = _data_input(model).name
    for start in range(0, len(x), chunk):
        part = x[start:start + chunk]
        real = len(part)
        if real < chunk:
            part = np.concatenate([part, np.zeros((chunk - real,) + part.shape[1:], part.dtype)])
        values = session.run(names, {input_name: part})
        yield slice(start, start + real), {n: v[:real] for n, v in zip(names, values)}


def collect(model: onnx.ModelProto, names: list[str], x: np.ndarray, shapes=None) -> dict[str, np.ndarray]:
    """Every named tensor for all samples of `x`, concatenated along the batch axis."""
    per_sample = sum(shapes[n].nbytes for n in names) if shapes else None
    parts: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for _, values in activations(model, names, x, sample_bytes=per_sample):
        for name, value in values.items():
            parts[name].append(value)
    return {n: np.concatenate(v) for n, v in parts.items()}


def conv_geometry(node: onnx.NodeProto, kernel: tuple[int, int]) -> dict:
    """Strides, dilations and (top, left, bottom, right) pads of a 2-D Conv."""
    strides = attribute(node, "strides", [1, 1])
    dilations = attribute(node, "dilations", [1, 1])
    pads = attribute(node, "pads", [0, 0, 0, 0])
    if attribute(node, "auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise UserError(f"Conv '{node.name}': auto_pad is not supported here")
    return {"strides": strides, "dilations": dilations, "pads": pads, "kernel": kernel}


def conv_patches(x: np.ndarray, geometry: dict, positions: np.ndarray) -> np.ndarray:
    """Input patches (P, C, KH, KW) feeding the Conv outputs at `positions` = rows of (n, oh, ow)."""
    top, left, bottom, right = geometry["pads"]
    padded = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    (sh, sw), (dh, dw), (kh, kw) = geometry["strides"], geometry["dilations"], geometry["kernel"]
    n, oh, ow = positions[:, 0], positions[:, 1], positions[:, 2]
    rows = oh[:, None] * sh + np.arange(kh)[None, :] * dh                  # (P, KH)
    cols = ow[:, None] * sw + np.arange(kw)[None, :] * dw                  # (P, KW)
    patches = padded[n[:, None, None], :, rows[:, :, None], cols[:, None, :]]   # (P, KH, KW, C)
    return np.ascontiguousarray(patches.transpose(0, 3, 1, 2))


def sample_positions(shape: tuple[int, ...], count: int, seed: int) -> np.ndarray:
    """`count` distinct (n, oh, ow) positions of an (N, C, OH, OW) output, chosen at random."""
    n, _, oh, ow = shape
    total = n * oh * ow
    flat = np.random.default_rng(seed).choice(total, size=min(count, total), replace=False)
    return np.stack(np.unravel_index(np.sort(flat), (n, oh, ow)), axis=1)
