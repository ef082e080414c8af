#!/usr/bin/env python3
"""Parity and memory table of lowered zoo models in the TA simulator (what `lower` checks, for many).

    python scripts/lower_parity.py [--models squeezenet resnet50 ...] [--budgets 4MiB 8MiB 16MiB 32MiB] [--json F]

Per model and budget: partitions, max abs / rel error of the simulator's outputs against
onnxruntime on a sample input, the largest deviation of measured from planned memory over the
partitions, and the TEE_Malloc high-water mark.  Each model runs in its own process (the large
reference models hold hundreds of MiB of weights).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure(name: str, budgets: list[int]) -> list[dict]:
    from onnxruntime import InferenceSession, SessionOptions

    from onnx_tee import models
    from onnx_tee.passes.analysis.shapes import fix_input_shapes, infer_static_shapes
    from onnx_tee.passes.compact import compaction_pipeline
    from onnx_tee.passes.errors import UserError
    from onnx_tee.passes.lower.keys import generate_key
    from onnx_tee.passes.lower.pipeline import (model_io, parity, partition_bodies, run_in_simulator, sample_feeds,
                                       seal_bundle)
    from onnx_tee.passes.partition.partitioner import partition_model

    model = compaction_pipeline()(fix_input_shapes(models.load(name))).model
    inputs, outputs = model_io(model)
    feeds = sample_feeds(model, infer_static_shapes(model))
    options = SessionOptions()
    options.intra_op_num_threads = 1
    session = InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    expected = dict(zip(outputs, session.run(outputs, feeds)))
    del session  # the large models hold hundreds of MiB of weights: one copy at a time
    rows = []
    for budget in budgets:
        row = {"model": name, "budget": budget}
        try:
            result = partition_model(model, budget)
        except UserError as exc:
            rows.append({**row, "infeasible": str(exc)})
            continue
        bodies = partition_bodies(result, model)
        key = generate_key()
        with tempfile.TemporaryDirectory() as tmp:
            seal_bundle(bodies, result, model, key, Path(tmp) / "device")
            got, stats = run_in_simulator(Path(tmp) / "device", key, budget, feeds, inputs, outputs)
        report = parity(got, expected)
        deviation = max(abs(p.touched_bytes - p.planned_bytes) / p.planned_bytes for p in stats.partitions)
        rows.append({**row, "partitions": len(bodies), "max_abs": report.worst_abs, "max_rel": report.worst_rel,
                     "memory_deviation": deviation, "heap_high_water": stats.heap_high_water,
                     "region_bytes": result.plan.region_bytes})
        del result, bodies, got
    return rows


def main() -> int:
    from onnx_tee import models
    from onnx_tee.passes.sizes import format_size, parse_size

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=models.names())
    parser.add_argument("--budgets", nargs="+", default=["4MiB", "8MiB", "16MiB", "32MiB"])
    parser.add_argument("--json", help="also write the rows to this JSON file")
    parser.add_argument("--one", help=argparse.SUPPRESS)   # worker mode: one model, rows as JSON on stdout
    args = parser.parse_args()
    budgets = [parse_size(b) for b in args.budgets]
    if args.one:
        print(json.dumps(measure(args.one, budgets)))
        return 0
    rows = []
    for name in args.models:
        proc = subprocess.run([sys.executable, __file__, "--one", name, "--budgets", *args.budgets],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            rows.append({"model": name, "error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"})
        else:
            rows.extend(json.loads(proc.stdout.strip().splitlines()[-1]))
        print_row_table(rows[-len(budgets):], format_size)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    print_row_table(rows, format_size, title="all")
    bad = [r for r in rows if "error" in r or r.get("max_rel", 0) > 1e-4 or r.get("memory_deviation", 0) > 0.01]
    return 1 if bad else 0


def print_row_table(rows: list[dict], format_size, title: str = "") -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"lowered models in the simulator {title}".strip(), title_justify="left")
    for column in ("model", "budget", "partitions", "max abs err", "max rel err", "measured vs planned",
                   "heap high-water"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for r in rows:
        if "error" in r:
            table.add_row(r["model"], "", "", "", "", "", r["error"][:60])
        elif "infeasible" in r:
            table.add_row(r["model"], format_size(r["budget"]), "infeasible", "", "", "", "")
        else:
            table.add_row(r["model"], format_size(r["budget"]), str(r["partitions"]), f"{r['max_abs']:.2e}",
                          f"{r['max_rel']:.2e}", f"{r['memory_deviation']:.2%}", format_size(r["heap_high_water"]))
    Console(width=140).print(table)


if __name__ == "__main__":
    sys.exit(main())
