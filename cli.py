#!/usr/bin/env python3
"""onnx-tee command line: `python cli.py <command> ...` (also installed as `onnx-tee`).

A thin argparse front over the library.  Each command lives in `passes/commands/<name>.py`
and exposes `register(subparsers)`, which adds its parser and sets `func(args) -> int`.
Installed, this file is `onnx_tee.cli` and the library `onnx_tee.passes` (see pyproject.toml);
run from a checkout, it needs that install too (`pip install -e .`).

Exit codes: 0 success, 2 bad input or infeasible request (one line on stderr), 1 internal error.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# Command modules under passes/commands, in the order `--help` lists them.
COMMANDS = ["lower", "run", "inspect", "compact", "prune", "quantize", "partition", "keygen", "bench"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="onnx-tee",
        description="Prune, compact and partition an ONNX model and run it whole inside an OP-TEE "
                    "Trusted Application.")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"onnx_tee.passes.commands.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        from onnx_tee.passes.errors import UserError
    except ModuleNotFoundError as exc:
        if exc.name not in ("onnx_tee", "onnx_tee.passes"):
            raise
        print("onnx-tee: the package is not installed in this Python: run `pip install -e .` in the repository "
              "(or `pip install onnx-tee`)", file=sys.stderr)
        return 2

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        if args.debug:
            raise
        print(f"onnx-tee {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"onnx-tee {args.command}: interrupted", file=sys.stderr)
        return 1
    except Exception as exc:  # an internal error: say so, keep the traceback behind --debug
        if args.debug:
            raise
        print(f"onnx-tee {args.command}: internal error: {type(exc).__name__}: {exc} "
              f"(run again with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
