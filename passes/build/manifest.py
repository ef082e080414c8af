"""manifest.json: the one description of a partitioned (and, after lowering, sealed) model.

Written by `PartitionedModel.save` and `LoweredModel.save`, read by `run` and the tests::

    {"generator": "onnx-tee partition" | "onnx-tee lower", "format": 1, "model": label,
     "budget": bytes, "strategy": ..., "region_bytes": ..., "align": 64, "staging_bytes": ...,
     "reserve_bytes": ..., "inputs": [model input names], "outputs": [model output names],
     "tiled": {node output: tile count}, "crossing_bytes": ...,
     "tensors": {name: {"shape": [...], "dtype": "float32"}},     # every partition input/output
     "key": key file (lowered only),
     "partitions": [{"onnx": "partition_000.onnx", "inputs": [...], "outputs": [...], "nodes": count,
                     "memory": {weights, arena, scratch, carried, staging, pinned, reserve, total,
                                steady_total},
                     "pinned": the body stays loaded for a stream session (residency plan),
                     "layout": {body_offset, scratch_offset, staging_offset, tensor_offsets, aliases,
                                node_order, lower_bound},
                     "sha256": of the .onnx file,
                     # lowered only:
                     "blob": "device/partition_000.blob", "blob_sha256": ..., "body_bytes": ...,
                     "body_offset": ...}, ...]}

The layout is everything the lowering step needs to write a blob (absolute region offsets).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Sequence

from ..modelio import save_model
from ..partition.partitioner import PartitionResult

FILE = "manifest.json"
FORMAT = 1


def partition_file(index: int) -> str:
    return f"partition_{index:03d}.onnx"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_partitions(result: PartitionResult, directory: Path) -> list[str]:
    """Save every partition model into `directory`; their files' SHA-256, in order."""
    digests = []
    for k, model in enumerate(result.models):
        save_model(model, directory / partition_file(k))
        digests.append(sha256(directory / partition_file(k)))
    return digests


def manifest(result: PartitionResult, label: str, generator: str, digests: Sequence[str]) -> dict:
    """The manifest of a partitioning whose partition files have the given SHA-256."""
    plan, graph = result.plan, result.graph
    names = {x for s in result.specs for x in list(s.inputs) + list(s.outputs)}
    return {
        "generator": generator, "format": FORMAT, "model": label, "budget": plan.budget, "strategy": result.strategy,
        "region_bytes": plan.region_bytes, "align": 64, "staging_bytes": plan.staging_bytes,
        "reserve_bytes": plan.reserve_bytes, "inputs": list(graph.model_inputs), "outputs": list(graph.model_outputs),
        "tiled": dict(result.tiling), "crossing_bytes": result.crossing_bytes,
        "tensors": {n: {"shape": list(result.infos[n].shape), "dtype": str(result.infos[n].dtype)} for n in sorted(names)},
        "partitions": [{"onnx": partition_file(k), "inputs": list(s.inputs), "outputs": list(s.outputs),
                        "nodes": len(s.nodes), "memory": p.breakdown(), "pinned": p.is_pinned, "layout": p.layout(),
                        "sha256": d}
                       for k, (s, p, d) in enumerate(zip(result.specs, plan.partitions, digests))],
    }


def write_manifest(data: dict, directory: Path) -> None:
    (directory / FILE).write_text(json.dumps(data, indent=1) + "\n")


def generator_of(directory: Path) -> str | None:
    """The generator an existing manifest.json in `directory` names (None: none, or unreadable)."""
    try:
        return json.loads((directory / FILE).read_text()).get("generator")
    except (OSError, ValueError, AttributeError):
        return None
