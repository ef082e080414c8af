#!/usr/bin/env python3
"""How fast the simulated TA loads partitions (copy into staging + decrypt + digest + validate), per
lowered model: bytes of sealed blobs per second of wall time and per second of the loading thread's
CPU time (the time a loaded machine deschedules the load left out).  The runs of all models are
interleaved, so that each sees the same machine.

    python cli.py lower resnet50 --budget 8MiB -o out/f
    python cli.py lower resnet50 --budget 8MiB --quantize int8 -o out/q
    python scripts/load_rate.py out/f out/q [--repeats 7]
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    from onnx_tee.passes.commands.run import input_signature, read_manifest, run_sim
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="+", type=Path, help="output directories of `cli.py lower`")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    runs = {}
    for out_dir in args.dirs:
        manifest = read_manifest(out_dir)
        rng = np.random.default_rng(0)
        feeds = {name: rng.standard_normal(shape).astype(dtype)
                 for name, (shape, dtype) in input_signature(out_dir, manifest).items()}
        runs[out_dir] = (manifest, feeds, [])
    for _ in range(args.repeats):
        for out_dir, (manifest, feeds, stats) in runs.items():
            stats.append(run_sim(out_dir, manifest, feeds, None)[1])
    print("| model | partitions | sealed MB | load ms (wall) | load ms (CPU) | MB/s (wall) | MB/s (CPU) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for out_dir, (_, _, stats) in runs.items():
        megabytes = sum(p.blob_bytes for p in stats[0].partitions) / 1e6
        wall = statistics.median(sum(p.load_seconds for p in s.partitions) for s in stats)
        cpu = statistics.median(sum(p.load_cpu_seconds for p in s.partitions) for s in stats)
        print(f"| {out_dir} | {len(stats[0].partitions)} | {megabytes:.1f} | {wall * 1e3:.1f} | {cpu * 1e3:.1f} "
              f"| {megabytes / wall:.0f} | {megabytes / cpu:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
