"""The library's `partition`: compact a model, cut it under the budget, and save the partitions.

    partitioned = build_partitions(model, 8 * 2**20, input_shapes={"x": (1, 3, 224, 224)})
    partitioned.result.models        # standalone partition models, in run order
    partitioned.result.plan          # the memory plan
    partitioned.save("out/")         # partition_NNN.onnx, manifest.json, memory.png

`save` writes into a fresh temporary directory beside the target and renames it into place, so a
failed run leaves nothing half-written; an existing target is replaced only if it holds an earlier
output of `save` (its manifest says so) or `force` is given.
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import onnx

from ..analysis.shapes import fix_input_shapes, infer_static_shapes
from ..compact import compaction_pipeline
from ..errors import UserError
from ..partition.chart import memory_chart
from ..analysis.macs import model_macs
from ..partition.partitioner import PartitionResult, partition_model
from ..sizes import format_size
from .manifest import generator_of, manifest, write_manifest, write_partitions

GENERATOR = "onnx-tee partition"


@dataclass
class PartitionedModel:
    """A compacted model cut into partitions that fit the budget, with its memory plan."""

    label: str
    model: onnx.ModelProto            # the compacted model
    result: PartitionResult

    @property
    def title(self) -> str:
        return (f"{self.label}: {len(self.result.parts)} partitions, budget {format_size(self.result.plan.budget)} "
                f"({self.result.strategy})")

    def spatial_report(self) -> list[dict]:
        """The spatially tiled stages (`PartitionResult.spatial_report`), shares of this model's MACs."""
        if not self.result.spatial:
            return []
        return self.result.spatial_report(sum(model_macs(self.model, infer_static_shapes(self.model)).values()))

    def save(self, target: str | Path, *, force: bool = False) -> dict:
        """Write partition_NNN.onnx, manifest.json and memory.png into `target` (module docstring);
        returns the manifest."""
        target = Path(target)
        if target.exists() and not target.is_dir():
            raise UserError(f"output '{target}' exists and is not a directory")
        if target.exists() and any(target.iterdir()) and generator_of(target) != GENERATOR and not force:
            raise UserError(f"output directory '{target}' exists and was not written by `partition`: "
                            f"choose another -o or pass --force to replace it")
        target.parent.mkdir(parents=True, exist_ok=True)
        fresh = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            data = manifest(self.result, self.label, GENERATOR, write_partitions(self.result, fresh))
            data["spatial"] = self.spatial_report()
            write_manifest(data, fresh)
            memory_chart(self.result.plan, fresh / "memory.png", self.title, data["spatial"])
            if target.exists():
                old = target.with_name(f".{target.name}.old")
                shutil.rmtree(old, ignore_errors=True)
                target.rename(old)
                fresh.rename(target)
                shutil.rmtree(old, ignore_errors=True)
            else:
                fresh.rename(target)
        except BaseException:
            shutil.rmtree(fresh, ignore_errors=True)
            raise
        return data


def build_partitions(model: onnx.ModelProto, budget: int, *, label: str = "model",
                     input_shapes: dict[str, tuple[int, ...]] | None = None, strategy: str = "optimal",
                     staging_bytes: int | None = None) -> PartitionedModel:
    """Fix the input shapes, compact, and partition `model` under `budget` bytes (`partition_model`:
    `strategy`, `staging_bytes` None = chosen).  `model` is not changed."""
    fixed = fix_input_shapes(model, input_shapes)
    compacted = compaction_pipeline(in_place=True)(fixed).model
    return PartitionedModel(label, compacted, partition_model(compacted, budget, strategy=strategy,
                                                              staging_bytes=staging_bytes))
