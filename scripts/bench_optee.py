#!/usr/bin/env python3
"""The world switch, LOAD_CHUNK throughput and per-partition compute, measured in a real OP-TEE secure world.

    python scripts/bench_optee.py [-o benchmarks/results/optee] [--ping-calls 2000] [--repeats 3]

Builds the TA (one per budget) and the client with an optee-kit's dev kit ($ONNX_TEE_OPTEE_KIT, else
../shared/optee-kit), lowers the models, boots the kit's QEMU secure world once and runs every case
there (`onnx_tee.passes.bench.optee`).  Writes DIR/optee.json and DIR/optee.md and prints the tables.
Every figure is QEMU TCG emulation, not hardware: compare them with each other, not with a phone.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from pathlib import Path

from onnx_tee.passes.commands.common import console, table
from onnx_tee.passes.errors import UserError
from onnx_tee.passes.bench import optee_report as report
from onnx_tee.passes.bench.optee import Plan, measure


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=Path("benchmarks/results/optee"))
    parser.add_argument("--ping-calls", type=int, default=Plan.ping_calls)
    parser.add_argument("--repeats", type=int, default=Plan.repeats)
    args = parser.parse_args(argv)
    command = shlex.join(["python", "scripts/bench_optee.py", "-o", str(args.output), "--ping-calls",
                          str(args.ping_calls), "--repeats", str(args.repeats)])
    out = console()
    try:
        with tempfile.TemporaryDirectory(prefix="onnx-tee-optee-bench-") as work:
            figures = measure(Plan(ping_calls=args.ping_calls, repeats=args.repeats), Path(work),
                              progress=out.print)
    except UserError as exc:
        print(f"bench_optee: {exc}", file=sys.stderr)
        return 2
    figures["command"] = command
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "optee.json").write_text(json.dumps(figures, indent=1) + "\n")
    (args.output / "optee.md").write_text(report.markdown(figures, command))
    for title, (header, rows) in (("Round trip", report.round_trip_rows(figures)),
                                  ("LOAD_CHUNK", report.load_rows(figures)),
                                  ("Compute per partition", report.compute_rows(figures))):
        out.print(table(f"{title} — {figures['label']}", header, rows, right=set(range(1, len(header)))))
    out.print(f"Figures: {args.output}/optee.md and optee.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
