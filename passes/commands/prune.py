"""`python cli.py prune MODEL --data NAME [--max-accuracy-drop 0.01] [--target-flops 0.5] -o OUT.onnx`:
progressive structured pruning with the built-in hooks (validation accuracy from the data set's
held-out validation split, least-squares recovery on calibration data from the train split), then
the test-split accuracy."""
from __future__ import annotations

import argparse
from pathlib import Path

from onnx_tee import models

from ..errors import UserError
from ..modelio import save_model
from ..prune.criteria import CRITERIA
from ..prune.groups import analyze
from ..prune.job import RECOVERIES, PruneOptions, run_prune
from ..prune.report import write_report
from ..prune.schedule import RANKINGS
from .common import console, format_count, table


def add_prune_options(parser: argparse.ArgumentParser) -> None:
    """The options `prune` and `lower --prune` share."""
    group = parser.add_argument_group("pruning")
    group.add_argument("--data", metavar="NAME", help="data set for accuracy and calibration: fashion-mnist, digits")
    group.add_argument("--max-accuracy-drop", type=float, metavar="FRACTION",
                       help="stop (rolling back the last step) when validation top-1 drops by more than this "
                            "(0.01 = 1 point; default 0.01 with --data)")
    group.add_argument("--target-flops", type=float, metavar="RATIO", help="stop at this fraction of the FLOPs")
    group.add_argument("--target-params", type=float, metavar="RATIO", help="stop at this fraction of the params")
    group.add_argument("--target-bytes", type=float, metavar="RATIO", help="stop at this fraction of the weight bytes")
    group.add_argument("--criterion", default="l1", choices=sorted(CRITERIA), help="channel importance (default l1)")
    group.add_argument("--step", type=float, default=0.1, metavar="FRACTION",
                       help="fraction of the prunable channels removed per step (default 0.1)")
    group.add_argument("--steps", type=int, default=100, help="at most this many accepted steps (default 100)")
    group.add_argument("--ranking", choices=RANKINGS, default="global",
                       help="rank channels across all groups, by importance per FLOP across all groups, or "
                            "within each group (default global)")
    group.add_argument("--min-channels", type=int, default=1, help="keep at least this many per group")
    group.add_argument("--round-to", type=int, default=1, metavar="M", help="kept channels a multiple of M (SIMD)")
    group.add_argument("--protect", action="append", default=[], metavar="NODE",
                       help="never prune the groups this node belongs to (repeatable)")
    group.add_argument("--recovery", choices=RECOVERIES, default="least-squares",
                       help="recovery after each step: least-squares (training-free, the default), distill "
                            "(least-squares, then built-in numpy distillation from the original model on labelled "
                            "train samples), finetune (least-squares, then SGD with the PyTorch example hook), none; "
                            "needs --data")
    group.add_argument("--finetune-epochs", type=float, default=0.25, metavar="E",
                       help="recoveries distill and finetune: epochs of training per step (default 0.25)")
    group.add_argument("--final-epochs", type=float, default=0.0, metavar="E",
                       help="recovery distill: epochs of distillation once more after the last step (default 0)")
    group.add_argument("--calibration", type=int, default=1024, help="calibration samples (default 1024)")
    group.add_argument("--validation", type=int, metavar="N",
                       help="use the first N samples of the held-out validation split (default: all of it)")


def options_from_args(args: argparse.Namespace) -> PruneOptions:
    drop = args.max_accuracy_drop
    if drop is None and args.data is not None:
        drop = 0.01
    targets = (args.target_flops, args.target_params, args.target_bytes)
    if drop is None and all(t is None for t in targets) and args.steps == 100:
        raise UserError("give a stopping rule: --data (accuracy tolerance), --target-flops/--target-params/"
                        "--target-bytes, or --steps N")
    return PruneOptions(data=args.data, max_accuracy_drop=drop, target_flops=args.target_flops,
                        target_params=args.target_params, target_bytes=args.target_bytes, criterion=args.criterion,
                        fraction=args.step, ranking=args.ranking, min_channels=args.min_channels,
                        round_to=args.round_to, protected=args.protect,
                        recovery=args.recovery if args.data is not None else "none", steps=args.steps,
                        finetune_epochs=args.finetune_epochs, final_epochs=args.final_epochs,
                        calibration=args.calibration, validation=args.validation)


def print_report(report: dict) -> None:
    out = console()
    base, final = report["baseline"], report["final"]
    rows = [["FLOPs", format_count(base["flops"]), format_count(final["flops"]),
             f"{final['flops'] / base['flops']:.3f}"],
            ["params", format_count(base["params"]), format_count(final["params"]),
             f"{final['params'] / base['params']:.3f}"],
            ["weight bytes", format_count(base["bytes"]), format_count(final["bytes"]),
             f"{final['bytes'] / base['bytes']:.3f}"]]
    if base["accuracy"] is not None:
        rows.append(["validation top-1", f"{base['accuracy']:.4f}", f"{final['accuracy']:.4f}",
                     f"{final['accuracy'] - base['accuracy']:+.4f}"])
    test = report.get("test_accuracy", {})
    if test.get("before") is not None:
        rows.append(["test top-1", f"{test['before']:.4f}", f"{test['after']:.4f}", f"{-test['drop']:+.4f}"])
    out.print(table(f"prune {report['model']}: {report['stop_reason']}", ["", "before", "after", "ratio / change"],
                    rows, right={1, 2, 3}))
    changed = [row for row in report["layers"] if row["channels_after"] != row["channels_before"]]
    out.print(table("pruned layers", ["layer", "op", "channels", "params"],
                    [[r["layer"], r["op"], f"{r['channels_before']} -> {r['channels_after']}",
                      f"{format_count(r['params_before'])} -> {format_count(r['params_after'] or 0)}"]
                     for r in changed], right={2, 3}))


def groups_json(model) -> list[dict]:
    """The channel groups of `model` for `inspect --groups --json`."""
    return [{"group": g.index, "channels": g.channels, "prunable": g.prunable, "blocked_by": g.reasons,
             "members": [{"node": node, "op": op, "role": role} for node, op, role in g.members]}
            for g in analyze(model).groups]


def print_groups(label: str, model) -> None:
    """`inspect --groups`: every channel group, its members, channel count, prunable or why not."""
    rows = []
    for g in groups_json(model):
        nodes: dict[str, str] = {}
        for m in g["members"]:                      # one entry per node; a layer says if it writes or reads
            role = f" ({m['role']})" if m["role"] in ("in", "out") else ""
            nodes.setdefault(m["node"], f"{m['op']} {m['node']}{role}")
        shown = list(nodes.values())
        rows.append([g["group"], g["channels"], "yes" if g["prunable"] else "no: " + "; ".join(g["blocked_by"]),
                     ", ".join(shown[:8]) + (f", +{len(shown) - 8} more" if len(shown) > 8 else "")])
    prunable = sum(1 for r in rows if r[2] == "yes")
    console().print(table(f"{label}: channel groups ({prunable} of {len(rows)} prunable)",
                          ["group", "channels", "prunable", "members (node, role)"], rows, right={0, 1}))


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "prune", help="progressive structured channel pruning with accuracy-guarded steps",
        description="Prune MODEL (an .onnx path or a zoo name) step by step: channel groups, importance "
                    "ranking, physical removal, least-squares recovery, validation accuracy check.")
    parser.add_argument("model", metavar="MODEL", help="path to an .onnx file or a zoo name")
    add_prune_options(parser)
    parser.add_argument("-o", "--output", required=True, metavar="OUT.onnx", help="where to write the pruned model")
    parser.add_argument("--report", metavar="DIR", help="directory for the JSON report and the PNG plot "
                                                        "(default: next to OUT.onnx)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    options = options_from_args(args)
    label, model = models.resolve(args.model)
    outcome, report = run_prune(model, options, label=label)
    output = Path(args.output)
    save_model(outcome.model, output)
    json_path, png_path = write_report(report, args.report or output.parent, stem=output.stem)
    print_report(report)
    console().print(f"wrote {output}, {json_path}, {png_path}")
    return 0
