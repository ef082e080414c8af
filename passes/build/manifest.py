"""Write a partitioning to a directory: `partition_NNN.onnx` files, `manifest.json`, a chart.

manifest.json (README.md, "What lower writes")::

    {"generator": "onnx-tee partition", "format": 1, "model": ..., "budget": bytes, "strategy": ...,
     "region_bytes": ..., "align": 64, "staging_bytes": ..., "reserve_bytes": ...,
     "inputs": [model input names], "outputs": [model output names],
     "tiled": {node output: tile count}, "crossing_bytes": ...,
     "tensors": {name: {"shape": [...], "dtype": "float32"}}     # every partition input/output
     "partitions": [{"onnx": "partition_000.onnx", "inputs": [...], "outputs": [...],
                     "nodes": count, "memory": {weights, arena, scratch, carried, staging, reserve, total},
                     "layout": {body_offset, scratch_offset, staging_offset, tensor_offsets,
                                aliases, node_order, lower_bound},
                     "sha256": ...}, ...]}

The layout is everything the lowering step needs to write a blob (absolute region offsets).
`write_partition_dir` writes into a fresh temporary directory beside the target and renames it
into place, so a failed run leaves nothing half-written; an existing target is replaced only
if it holds an earlier output of this command (its manifest says so) or `force` is given.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from ..errors import UserError
from ..modelio import save_model
from .partitioner import PartitionResult

GENERATOR = "onnx-tee partition"
MANIFEST = "manifest.json"


def manifest_dict(result: PartitionResult, files: list[str], digests: list[str], label: str) -> dict:
    plan, graph = result.plan, result.graph
    names = {x for s in result.specs for x in list(s.inputs) + list(s.outputs)}
    return {
        "generator": GENERATOR, "format": 1, "model": label, "budget": plan.budget, "strategy": result.strategy,
        "region_bytes": plan.region_bytes, "align": 64, "staging_bytes": plan.staging_bytes,
        "reserve_bytes": plan.reserve_bytes, "inputs": list(graph.model_inputs), "outputs": list(graph.model_outputs),
        "tiled": dict(result.tiling), "crossing_bytes": result.crossing_bytes,
        "tensors": {n: {"shape": list(result.infos[n].shape), "dtype": str(result.infos[n].dtype)} for n in sorted(names)},
        "partitions": [{"onnx": f, "inputs": list(s.inputs), "outputs": list(s.outputs), "nodes": len(s.nodes),
                        "memory": p.breakdown(), "layout": p.layout(), "sha256": d}
                       for f, s, p, d in zip(files, result.specs, plan.partitions, digests)],
    }


def is_ours(directory: Path) -> bool:
    try:
        return json.loads((directory / MANIFEST).read_text()).get("generator") == GENERATOR
    except (OSError, ValueError, AttributeError):
        return False


def write_partition_dir(result: PartitionResult, target: Path, label: str, *, force: bool = False,
                        extra: Callable[[Path], None] | None = None) -> dict:
    """Write partitions + manifest (+ whatever `extra(tmpdir)` adds) to `target` atomically."""
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise UserError(f"output '{target}' exists and is not a directory")
    if target.exists() and any(target.iterdir()) and not is_ours(target) and not force:
        raise UserError(f"output directory '{target}' exists and was not written by `partition`: "
                        f"choose another -o or pass --force to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        files, digests = [], []
        for k, model in enumerate(result.models):
            name = f"partition_{k:03d}.onnx"
            save_model(model, staging / name)
            digests.append(hashlib.sha256((staging / name).read_bytes()).hexdigest())
            files.append(name)
        manifest = manifest_dict(result, files, digests, label)
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1))
        if extra:
            extra(staging)
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
            staging.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest
