"""`python cli.py inspect MODEL [--input-shape NAME:1,3,224,224 ...] [--json]`: what a model
holds and needs: ops, params, weight bytes, MACs, peak activation bytes, largest tensors/nodes."""
from __future__ import annotations

import argparse
import json

from onnx_tee import models

from ..analysis.summary import ModelSummary, summarize
from ..errors import UserError
from ..sizes import format_size
from .common import add_input_shape_option, console, format_count, input_shapes, table


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "inspect", help="analyse a model: ops, params, weight bytes, MACs, peak activation bytes",
        description="Analyse MODEL (an .onnx path or a zoo name). The peak activation bytes are those of "
                    "running the nodes in the graph's order with every tensor live from its production "
                    "to its last use (weights excluded).")
    parser.add_argument("model", metavar="MODEL", help="path to an .onnx file or a zoo name")
    add_input_shape_option(parser)
    parser.add_argument("--top", type=int, default=10, help="how many of the largest tensors and nodes to list")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON instead of tables")
    parser.add_argument("--groups", action="store_true",
                        help="also list the channel groups for pruning: members, channels, prunable or why not")
    parser.set_defaults(func=run)


def print_summary(label: str, summary: ModelSummary) -> None:
    out = console()
    out.print(table(f"{label}", ["", "value"], [
        ["nodes", summary.nodes],
        ["params", format_count(summary.params)],
        ["weight bytes", f"{format_size(summary.weight_bytes)} ({summary.weight_bytes} B)"],
        ["MACs", format_count(summary.macs)],
        ["peak activation bytes", f"{format_size(summary.peak_activation_bytes)} "
                                  f"({summary.peak_activation_bytes} B, at node {summary.peak_node})"],
        ["inputs", ", ".join(f"{k} {list(v)}" for k, v in summary.inputs.items())],
        ["outputs", ", ".join(f"{k} {list(v)}" for k, v in summary.outputs.items())],
    ]))
    out.print(table("ops", ["op", "count"], [[op, n] for op, n in summary.ops.items()], right={1}))
    out.print(table("largest tensors", ["tensor", "kind", "shape", "dtype", "bytes"],
                    [[t.name, t.kind, list(t.shape), t.dtype, format_size(t.nbytes)] for t in summary.largest_tensors],
                    right={4}))
    out.print(table("largest nodes (weights + activations they touch)",
                    ["node", "op", "MACs", "weights", "activations", "total"],
                    [[n.name, n.op_type, format_count(n.macs), format_size(n.weight_bytes),
                      format_size(n.activation_bytes), format_size(n.total_bytes)] for n in summary.largest_nodes],
                    right={2, 3, 4, 5}))


def run(args: argparse.Namespace) -> int:
    if args.top < 0:
        raise UserError(f"--top {args.top}: give a count of zero or more")
    label, model = models.resolve(args.model)
    summary = summarize(model, input_shapes=input_shapes(args), top=args.top)
    from .prune import groups_json, print_groups
    if args.json:
        groups = {"groups": groups_json(model)} if args.groups else {}
        print(json.dumps({"model": label, **summary.to_json(), **groups}, indent=2))
    else:
        print_summary(label, summary)
        if args.groups:
            print_groups(label, model)
    return 0
