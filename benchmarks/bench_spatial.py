#!/usr/bin/env python3
"""Smallest feasible budget of each model without and with spatial tiling, and the tiled stages at a budget.

    python benchmarks/bench_spatial.py [--models vgg19 ... | PATH.onnx ...] [--budget 8MiB] [--out DIR]

Per model (compacted, as `lower` partitions it): the smallest budget `partition_model` accepts with channel
tiling only ("before") and with spatial tiling too ("after"), both by the partitioner's own bisection
(`smallest_budget`, 4 KiB steps); then, at --budget, the partitions and, per tiled stage, its tiles and the
MACs recomputed on the halos as a share of the model's.  Writes smallest_budgets.json and .md into --out
(default benchmarks/results/spatial).  Default models: every zoo model, plus the detection / OCR models of
the coverage corpus at their fixed input sizes when exported (models/realworld/export.py).
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

from onnx_tee import models
from onnx_tee.models import realworld
from onnx_tee.passes.analysis.macs import model_macs
from onnx_tee.passes.analysis.shapes import fix_input_shapes, infer_static_shapes
from onnx_tee.passes.compact import compaction_pipeline
from onnx_tee.passes.errors import UserError
from onnx_tee.passes.partition.cost import Limits
from onnx_tee.passes.partition.partitioner import partition_model, smallest_budget
from onnx_tee.passes.partition.spatial_plan import describe
from onnx_tee.passes.partition.tiling import without_bulk_data
from onnx_tee.passes.sizes import format_size, parse_size
from onnx_tee.passes.target import RESERVE_BYTES, STAGING_BYTES, align

CORPUS = ("yolo_like_416", "db_mobile_640", "dbnet_resnet18")
MIB = 1 << 20


def _load(spec: str):
    path = Path(spec)
    if path.suffix == ".onnx":
        return path.stem, models.resolve(spec)[1]
    if spec in models.names():
        return spec, models.load(spec)
    corpus = realworld.cache_dir(None) / f"{spec}-op17.onnx"
    return spec, models.resolve(str(corpus))[1]


def _default_models() -> list[str]:
    found = [name for name in CORPUS if (realworld.cache_dir(None) / f"{name}-op17.onnx").exists()]
    return models.names() + found


def measure(spec: str, budget: int) -> dict:
    label, model = _load(spec)
    model = compaction_pipeline()(fix_input_shapes(model)).model
    infos = infer_static_shapes(model)
    macs = sum(model_macs(model, infos).values())
    skeleton = without_bulk_data(model)
    limits = Limits(4096, align(STAGING_BYTES), RESERVE_BYTES)
    row = {"model": label, "macs": macs}
    for key, spatial in (("before", False), ("after", True)):
        start = time.perf_counter()
        row[key] = smallest_budget(skeleton, infos, replace(limits), "optimal", spatial=spatial)
        row[f"{key}_seconds"] = round(time.perf_counter() - start, 1)
    try:
        result = partition_model(model, budget, infos=infos)
        row["at_budget"] = {"partitions": len(result.parts), "spatial": result.spatial_report(macs)}
    except UserError as exc:
        row["at_budget"] = {"error": str(exc)}
    return row


def markdown(rows: list[dict], budget: int) -> str:
    lines = ["# Smallest feasible budget before / after spatial tiling", "",
             f"`python benchmarks/bench_spatial.py --budget {format_size(budget).replace(' ', '').replace('.00', '')}`"
             " (models compacted as `lower` does; budgets by the partitioner's bisection, 4 KiB steps)", "",
             f"| model | MACs | smallest budget before | after | at {format_size(budget)}: partitions | "
             f"tiled stages (recomputed MACs) |", "|---|---:|---:|---:|---:|---|"]
    for r in rows:
        at = r["at_budget"]
        parts = at.get("partitions", "infeasible")
        stages = describe(at.get("spatial", [])) if "error" not in at else "-"
        lines.append(f"| {r['model']} | {r['macs'] / 1e9:.2f} G | {format_size(r['before'])} | "
                     f"{format_size(r['after'])} | {parts} | {stages} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=None)
    parser.add_argument("--budget", default="8MiB")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "spatial"))
    args = parser.parse_args()
    budget = parse_size(args.budget)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for spec in args.models or _default_models():
        rows.append(measure(spec, budget))
        print(json.dumps(rows[-1]), flush=True)
        (out / "smallest_budgets.json").write_text(json.dumps(rows, indent=1) + "\n")
        (out / "smallest_budgets.md").write_text(markdown(rows, budget))
    print(markdown(rows, budget))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
