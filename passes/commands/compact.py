"""`python cli.py compact MODEL -o OUT.onnx`: run the compaction pipeline and report each pass."""
from __future__ import annotations

import argparse
from pathlib import Path

from onnx_tee import models

from ..analysis.shapes import fix_input_shapes
from ..compact import compaction_pipeline
from ..core import PassRecord
from ..errors import UserError
from ..modelio import save_model
from ..sizes import format_size
from .common import add_input_shape_option, check_output_file, console, input_shapes, table


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compact", help="fold constants and BatchNorms, drop dead nodes and unused or duplicate weights",
        description="Run the compaction passes on MODEL (an .onnx path or a zoo name) until none changes it, "
                    "and write the result. Outputs stay numerically equivalent.")
    parser.add_argument("model", metavar="MODEL", help="path to an .onnx file or a zoo name")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.onnx", help="where to write the result")
    add_input_shape_option(parser)
    parser.add_argument("--validate", action="store_true",
                        help="check the model (onnx.checker full check) after every pass")
    parser.set_defaults(func=run)


def signed_size(nbytes: int) -> str:
    return ("-" if nbytes < 0 else "+" if nbytes > 0 else "") + format_size(abs(nbytes))


PASS_COLUMNS = ["round", "pass", "changed", "time", "weight bytes before", "after", "change"]


def pass_rows(records: list[PassRecord], rounds: int) -> list[list]:
    """One row per pass execution: the pipeline's round, time and weight bytes before/after."""
    per_round = len(records) // max(rounds, 1)
    return [[index // per_round + 1, r.name, "yes" if r.modified else "", f"{r.seconds * 1000:.0f} ms",
             format_size(r.bytes_before), format_size(r.bytes_after), signed_size(r.bytes_after - r.bytes_before)]
            for index, r in enumerate(records)]


def records_table(records: list[PassRecord], rounds: int):
    rows = pass_rows(records, rounds)
    before, after = records[0].bytes_before, records[-1].bytes_after
    rows.append(["", "total", sum(r.modified for r in records), f"{sum(r.seconds for r in records) * 1000:.0f} ms",
                 format_size(before), format_size(after), signed_size(after - before)])
    return table("compaction passes (repeated until none changes the model)", PASS_COLUMNS, rows,
                 right={0, 3, 4, 5, 6})


def run(args: argparse.Namespace) -> int:
    output = Path(args.output)
    model_path = Path(args.model)
    if model_path.exists() and output.resolve() == model_path.resolve():
        raise UserError(f"-o {args.output} would overwrite the input model: choose another output path")
    check_output_file(output)
    shapes = input_shapes(args)
    label, model = models.resolve(args.model)
    if shapes:  # static input shapes let Shape chains fold
        model = fix_input_shapes(model, shapes)
    result = compaction_pipeline(validate=args.validate)(model)
    console().print(records_table(result.stats["records"], result.stats["rounds"]))
    save_model(result.model, output)
    console().print(f"{label}: {len(model.graph.node)} -> {len(result.model.graph.node)} nodes, wrote {output}")
    return 0
