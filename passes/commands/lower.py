"""`python cli.py lower [MODEL] [--budget 8MiB] [--input-shape ...] [-o out/]`: the main job.

`lower()` runs a list of steps over a `LowerJob`; each step is a small function that calls the
library and records what it did in `job.report`: fix input shapes, compact, analyse, check
that the interpreter supports every op, partition, lower to bodies, write the partitions, the
manifest and the encrypted device bundle, run the bundle in the simulator (lower_runtime.py),
write `compacted.onnx` and `report.json`.

`report.json` holds: `model`, `budget` (bytes), `input_shapes`, `compaction` (weight bytes before
and after, and one entry per pass execution: name, seconds, bytes before/after, modified),
`analysis` (the compacted model's `ModelSummary`: ops, params, weight bytes, MACs, peak
activation bytes, largest tensors and nodes) and `seconds` per step.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import onnx

from onnx_tee import models

from ..analysis.shapes import fix_input_shapes, infer_static_shapes
from ..analysis.summary import summarize
from ..analysis.weights import weight_bytes
from ..compact import compaction_pipeline
from ..lower.lowering import check_supported
from ..modelio import save_model
from ..sizes import format_size, parse_size
from ..errors import UserError
from .common import add_input_shape_option, check_output_dir, console, format_count, input_shapes, table
from . import lower_runtime as runtime
from .compact import records_table
from .prune import add_prune_options, with_prune_step

DEFAULT_BUDGET = "8MiB"


@dataclass
class LowerJob:
    """The state `lower` threads through its steps."""

    label: str
    model: onnx.ModelProto
    budget: int
    out_dir: Path
    input_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    report: dict = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    key_path: Path | None = None   # --key FILE; None: DIR/model.key (reused if valid, else created)
    key: bytes | None = None
    model_id: bytes | None = None  # --model-id; None: the id of an earlier build in DIR, else a new one
    model_version: int | None = None   # --model-version; None: the earlier build's + 1, else 1
    partition: object = None       # passes.partition.partitioner.PartitionResult
    bodies: list[bytes] = field(default_factory=list)


def fix_shapes(job: LowerJob) -> None:
    """Give every graph input a static shape (from --input-shape where the model has none)."""
    job.model = fix_input_shapes(job.model, job.input_shapes)


def compact(job: LowerJob) -> None:
    """Run the compaction pipeline; record weight bytes before/after and the per-pass rows."""
    pipeline = compaction_pipeline()
    before = weight_bytes(job.model)
    job.model = pipeline(job.model).model
    job.report["compaction"] = {
        "weight_bytes_before": before, "weight_bytes_after": weight_bytes(job.model),
        "passes": [{"pass": r.name, "seconds": r.seconds, "bytes_before": r.bytes_before,
                    "bytes_after": r.bytes_after, "modified": r.modified} for r in pipeline.records]}
    job.report["_table"] = records_table(pipeline.records, len(pipeline.records) // len(pipeline.passes))


def analyse(job: LowerJob) -> None:
    """Static analysis of the compacted model (params, MACs, peak activations, largest parts)."""
    job.report["analysis"] = summarize(job.model).to_json()


def check_support(job: LowerJob) -> None:
    """Fail before anything is written if the interpreter cannot run an op or attribute (all listed)."""
    check_supported(job.model, infer_static_shapes(job.model))


def write_outputs(job: LowerJob) -> None:
    """Write `compacted.onnx` and `report.json` into the output directory."""
    job.out_dir.mkdir(parents=True, exist_ok=True)
    save_model(job.model, job.out_dir / "compacted.onnx")
    report = {key: value for key, value in job.report.items() if not key.startswith("_")}
    report["seconds"] = job.seconds
    (job.out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")


Step = Callable[[LowerJob], None]
STEPS: list[tuple[str, Step]] = [("fix shapes", fix_shapes), ("compact", compact), ("analyse", analyse),
                                 ("check support", check_support), ("partition", runtime.partition),
                                 ("lower", runtime.lower_bodies), ("write bundle", runtime.write_bundle),
                                 ("simulate", runtime.simulate), ("write", write_outputs)]


def lower(job: LowerJob, steps: list[tuple[str, Step]] | None = None) -> LowerJob:
    """Run `steps` (default `STEPS`) in order over `job`, timing each."""
    job.report.update({"model": job.label, "budget": job.budget,
                       "input_shapes": {k: list(v) for k, v in job.input_shapes.items()}})
    for name, step in STEPS if steps is None else steps:
        start = time.perf_counter()
        step(job)
        job.seconds[name] = time.perf_counter() - start
    return job


def print_summary(job: LowerJob) -> None:
    out = console()
    compaction, analysis = job.report["compaction"], job.report["analysis"]
    out.print(job.report["_table"])
    out.print(table(f"lower {job.label}", ["", "value"], [
        ["budget", format_size(job.budget)],
        ["weight bytes", f"{format_size(compaction['weight_bytes_before'])} -> "
                         f"{format_size(compaction['weight_bytes_after'])}"],
        ["params", format_count(analysis["params"])],
        ["MACs", format_count(analysis["macs"])],
        ["peak activation bytes", format_size(analysis["peak_activation_bytes"])],
        ["nodes", analysis["nodes"]],
        *runtime.summary_rows(job),
        ["output", str(job.out_dir)],
    ]))


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "lower", help="compact, analyse and lower a model for the TEE (the main job)",
        description="Lower MODEL (an .onnx path or a zoo name; default: the zoo's "
                    f"'{models.DEFAULT_MODEL}') for a TEE with BUDGET bytes of memory.")
    parser.add_argument("model", nargs="?", metavar="MODEL", help="path to an .onnx file or a zoo name")
    parser.add_argument("--budget", default=DEFAULT_BUDGET, help=f"TEE memory budget (default {DEFAULT_BUDGET})")
    add_input_shape_option(parser)
    parser.add_argument("-o", "--output", default="out", metavar="DIR", help="output directory (default out/)")
    parser.add_argument("--key", metavar="FILE", help="encrypt the partitions for this model key (from `keygen`; "
                                                      "default: a new key written to DIR/model.key)")
    parser.add_argument("--model-id", metavar="ID",
                        help="the model's identity across releases, for the device's rollback guard: 32 hex "
                             "digits or a name of at most 16 bytes (default: the id of the build already in DIR, "
                             "else a new random one)")
    parser.add_argument("--model-version", metavar="N", type=int,
                        help="release number (>= 1); a device refuses versions older than the newest it opened "
                             "for this model id (default: the version of the build in DIR + 1, else 1)")
    parser.add_argument("--prune", action="store_true", help="prune first (progressive, accuracy-guarded; "
                                                             "see the pruning options and `prune --help`)")
    add_prune_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    budget = parse_size(args.budget)
    shapes = input_shapes(args)
    label, model = models.resolve(args.model)
    steps = with_prune_step(STEPS, args) if args.prune else None
    out_dir = check_output_dir(args.output)
    runtime.check_key_option(args.key, out_dir)
    model_id = runtime.parse_model_id(args.model_id) if args.model_id is not None else None
    if args.model_version is not None and not 0 < args.model_version < 2**64:
        raise UserError(f"--model-version must be a positive 64-bit integer, got {args.model_version}")
    job = lower(LowerJob(label, model, budget, out_dir, shapes, key_path=Path(args.key) if args.key else None,
                         model_id=model_id, model_version=args.model_version), steps)
    print_summary(job)
    return 0
