#!/usr/bin/env python3
"""Partitioning time and result per model and budget (default: DenseNet-121 and ResNet-50, compacted, at 8 MiB).

    python benchmarks/bench_partition.py [--budgets 8MiB ...] [--models densenet121 resnet50] [--strategy optimal]

Prints, per model and budget: nodes after compaction, partitions, crossing bytes, tiled layers, region,
and the wall and CPU time of `partition_model` (tiling + search + memory plan + extraction), the
figure the issue bounds at 10 s.  An infeasible budget prints the smallest one that works.
"""
from __future__ import annotations

import argparse
import sys
import time


from onnx_tee import models  # noqa: E402
from onnx_tee.passes.commands.common import console, table  # noqa: E402
from onnx_tee.passes.compact import compaction_pipeline  # noqa: E402
from onnx_tee.passes.errors import UserError  # noqa: E402
from onnx_tee.passes.partition.partitioner import STRATEGIES, partition_model  # noqa: E402
from onnx_tee.passes.sizes import format_size, parse_size  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", nargs="+", default=["8MiB"])
    parser.add_argument("--models", nargs="+", default=["densenet121", "resnet50"])
    parser.add_argument("--strategy", choices=STRATEGIES, default="optimal")
    parser.add_argument("--raw", action="store_true", help="partition the models as shipped (no compaction)")
    args = parser.parse_args()
    rows = []
    for name in args.models:
        model = models.load(name) if args.raw else compaction_pipeline()(models.load(name)).model
        for budget in map(parse_size, args.budgets):
            start, cpu = time.perf_counter(), time.process_time()
            try:
                result = partition_model(model, budget, strategy=args.strategy)
            except UserError as exc:
                rows.append([name, format_size(budget), "-", "-", "-", "-", "-", "-", str(exc).split(": ")[-1]])
                continue
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
            rows.append([name, format_size(budget), result.graph.n, len(result.parts),
                         format_size(result.crossing_bytes),
                         ", ".join(f"{k} x{v}" for k, v in result.tiling.items()) or "-",
                         format_size(result.plan.region_bytes), f"{seconds:.2f} s", f"{cpu:.2f} s"])
    console().print(table(f"partitioning ({args.strategy})",
                          ["model", "budget", "nodes", "partitions", "crossing", "tiled", "region", "wall",
                           "cpu"], rows, right={1, 2, 3, 4, 6, 7, 8}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
