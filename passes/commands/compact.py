"""`python cli.py compact MODEL -o OUT.onnx`: run the compaction pipeline and report each pass."""
from __future__ import annotations

import argparse
from pathlib import Path

import models

from ..compact import compaction_pipeline
from ..core import PassRecord
from ..errors import UserError
from ..modelio import save_model
from ..sizes import format_size
from .common import console, table


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compact", help="fold constants and BatchNorms, drop dead nodes and unused or duplicate weights",
        description="Run the compaction passes on MODEL (an .onnx path or a zoo name) until none changes it, "
                    "and write the result. Outputs stay numerically equivalent.")
    parser.add_argument("model", metavar="MODEL", help="path to an .onnx file or a zoo name")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.onnx", help="where to write the result")
    parser.add_argument("--validate", action="store_true",
                        help="check the model (onnx.checker full check) after every pass")
    parser.set_defaults(func=run)


def pass_rows(records: list[PassRecord]) -> list[list]:
    """One row per pass, summed over the pipeline's rounds: runs, changes, time, bytes."""
    rows: dict[str, dict] = {}
    for record in records:
        row = rows.setdefault(record.name, {"runs": 0, "changed": 0, "seconds": 0.0, "saved": 0})
        row["runs"] += 1
        row["changed"] += record.modified
        row["seconds"] += record.seconds
        row["saved"] += record.bytes_saved
    return [[name, r["runs"], r["changed"], f"{r['seconds'] * 1000:.0f} ms", format_size(r["saved"])]
            for name, r in rows.items()]


def print_records(records: list[PassRecord]) -> None:
    rows = pass_rows(records)
    before, after = records[0].bytes_before, records[-1].bytes_after
    rows.append(["total", len(records), sum(r.modified for r in records),
                 f"{sum(r.seconds for r in records) * 1000:.0f} ms", format_size(before - after)])
    out = console()
    out.print(table("compaction passes", ["pass", "runs", "changed", "time", "weight bytes saved"], rows,
                    right={1, 2, 3, 4}))
    out.print(f"weight bytes: {format_size(before)} ({before} B) -> {format_size(after)} ({after} B)")


def run(args: argparse.Namespace) -> int:
    output = Path(args.output)
    model_path = Path(args.model)
    if model_path.exists() and output.resolve() == model_path.resolve():
        raise UserError(f"-o {args.output} would overwrite the input model: choose another output path")
    label, model = models.resolve(args.model)
    pipeline = compaction_pipeline(validate=args.validate)
    result = pipeline(model)
    print_records(pipeline.records)
    save_model(result.model, output)
    console().print(f"{label}: {len(model.graph.node)} -> {len(result.model.graph.node)} nodes, wrote {output}")
    return 0
