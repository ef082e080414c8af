"""`python cli.py partition MODEL --budget 8MiB [--strategy optimal|greedy|layerwise] -o DIR`.

Parses the options, runs `passes.build.build_partitions` (fix input shapes, compact, partition
under the budget, tiling layers too big for it), saves partition_NNN.onnx, manifest.json and
memory.png (per-partition memory against the budget) into DIR and prints the plan.
"""
from __future__ import annotations

import argparse

from onnx_tee import models

from ..build import build_partitions
from ..partition.partitioner import STRATEGIES
from ..partition.spatial_plan import describe
from ..sizes import format_size, parse_size
from .common import add_input_shape_option, console, input_shapes, table


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "partition", help="cut a model into partitions that each fit the TEE memory budget",
        description="Compact MODEL (an .onnx path or a zoo name), then cut it into as few partitions as the budget "
                    "allows (fewest crossing bytes among those); layers too big are tiled. Writes "
                    "partition_NNN.onnx, manifest.json and memory.png into DIR.")
    parser.add_argument("model", metavar="MODEL", help="path to an .onnx file or a zoo name")
    parser.add_argument("--budget", required=True, metavar="SIZE", help="TEE memory budget, e.g. 8MiB")
    parser.add_argument("--strategy", choices=STRATEGIES, default="optimal",
                        help="optimal (DP + min-cut, default), greedy (first fit) or layerwise (one layer each)")
    parser.add_argument("--staging", default="64KiB", metavar="SIZE",
                        help="the TA's decryption staging buffer: blobs are copied through it out of shared memory "
                             "a tile at a time (default 64KiB; wider takes region bytes and saves no world switch)")
    add_input_shape_option(parser)
    parser.add_argument("--force", action="store_true", help="replace DIR even if it was not written by partition")
    parser.add_argument("-o", "--output", required=True, metavar="DIR", help="output directory")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    budget = parse_size(args.budget)
    staging = parse_size(args.staging)
    label, model = models.resolve(args.model)
    partitioned = build_partitions(model, budget, label=label, input_shapes=input_shapes(args),
                                   strategy=args.strategy, staging_bytes=staging)
    data = partitioned.save(args.output, force=args.force)
    result = partitioned.result
    rows = []
    for k, (spec, mem) in enumerate(zip(result.specs, result.plan.partitions)):
        rows.append([k, len(spec.nodes), format_size(mem.weights), format_size(mem.arena), format_size(mem.carried),
                     format_size(mem.scratch), format_size(mem.total), format_size(mem.total + mem.reserve),
                     f"{100 * (mem.total + mem.reserve) / budget:.0f}%", len(spec.inputs), len(spec.outputs)])
    out = console()
    out.print(table(partitioned.title, ["#", "nodes", "weights", "arena", "carried", "scratch", "total", "+reserve", "of budget",
                            "in", "out"], rows, right=set(range(11))))
    tiled = ", ".join(f"{name} x{count}" for name, count in result.tiling.items()) or "none"
    out.print(f"crossing bytes {format_size(result.crossing_bytes)}, region {format_size(result.plan.region_bytes)}, "
              f"tiled: {tiled}, {result.seconds:.2f} s -> {args.output}")
    out.print(f"spatial tiling: {describe(data['spatial'])}")
    return 0
