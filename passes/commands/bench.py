"""`python cli.py bench`: the six configurations per model and TEE budget, timed and reported.

    python cli.py bench [--models ...] [--budgets 8MiB,16MiB,32MiB] [--repeats N] [--quick] [-o DIR]

`--render-only` re-renders the tables and charts of DIR/results.json without measuring.
`--profile` also times every op of the secure configurations: `profile.md` (per model, budget and
configuration: compute by op type and by kernel path, the most expensive ops) and a by-op-type table
per model on the console.

Writes into DIR: `results.json` (every measurement with its samples, the machine, the settings, the
exact command), `results.md` (the tables), `time_<budget>.png`, `speedup_vs_budget.png`,
`accuracy_vs_flops.png`, and the pruned models it made (`pruned/`, reused by later runs).
"""
from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

from ..bench.charts import write_charts
from ..bench.configs import select_configurations
from ..bench.report import geomean_rows, load_path_rows, markdown_report, summary_rows, write_json
from ..bench.results import BenchRun, summarise
from ..bench.settings import BenchSettings, PruningSettings
from ..bench.switches import DEFAULT_SWITCH_COST_MS, WorldSwitchModel
from ..errors import UserError
from ..lower.profile import markdown as profile_markdown
from ..sizes import format_size, parse_size
from .common import console, profile_table, table

DEFAULT_BUDGETS = "8MiB,16MiB,32MiB"
QUICK_MODELS = ["lenet5_fmnist"]
QUICK_BUDGETS = "256KiB,8MiB"
QUICK_REPEATS = 3
QUICK_ACCURACY_SAMPLES = 1000
DEFAULT_REPEATS = 5


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "bench", help="time ort / layerwise / partitioned / pruned-layerwise / ours / ours-int8 per model and budget",
        description="Run each model at each TEE budget in six configurations (onnxruntime; and in the simulated "
                    "TEE: layer-wise, adaptive partitions, pruned layer-wise, pruned + compacted + adaptive "
                    "partitions, the same int8-quantized) and report compute, load, world switches, peak secure memory, accuracy and "
                    "speed-ups.")
    parser.add_argument("--models", nargs="+", metavar="MODEL",
                        help="zoo names or .onnx paths (commas allowed); 'reference' and 'trained' name the two "
                             "halves of the zoo (default: every zoo model; --quick: "
                             f"{', '.join(QUICK_MODELS)})")
    parser.add_argument("--budgets", help=f"comma-separated TEE budgets (default {DEFAULT_BUDGETS}; "
                                          f"--quick: {QUICK_BUDGETS})")
    parser.add_argument("--configs", help="comma-separated subset of ort,layerwise,partitioned,pruned-layerwise,ours,ours-int8")
    parser.add_argument("--repeats", type=int, help=f"timed runs per measurement, the median is reported "
                                                    f"(default {DEFAULT_REPEATS}; --quick: {QUICK_REPEATS})")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs before the timed ones (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the inputs and the pruning (default 0)")
    parser.add_argument("--switch-cost-ms", type=float, default=DEFAULT_SWITCH_COST_MS,
                        help=f"modelled cost of one world-switch round trip in ms (default {DEFAULT_SWITCH_COST_MS}, "
                             f"below the median 0.43 ms null round trip measured on OP-TEE 4.10.0 under QEMU "
                             f"emulation; reports also price the counts at 0.05 ms)")
    parser.add_argument("--accuracy-samples", type=int,
                        help="test samples for accuracy (default: the whole test split; --quick: "
                             f"{QUICK_ACCURACY_SAMPLES})")
    parser.add_argument("--prune-ratio", type=float, default=PruningSettings().ratio,
                        help="fraction of channels removed from each prunable group of a reference architecture "
                             f"(data-free L1 criterion; default {PruningSettings().ratio})")
    parser.add_argument("--max-accuracy-drop", type=float, default=PruningSettings().max_accuracy_drop,
                        help="accuracy tolerance of the progressive pruning of trained models "
                             f"(default {PruningSettings().max_accuracy_drop})")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: a small trained model at two budgets, few repeats (under 2 minutes)")
    parser.add_argument("-o", "--output", type=Path, default=Path("bench-results"),
                        help="output directory (default bench-results/)")
    parser.add_argument("--profile", action="store_true",
                        help="time every op of the secure configurations: profile.md, compute by op type and "
                             "kernel path")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--render-only", action="store_true",
                        help="measure nothing: re-render results.md and the charts from DIR/results.json")
    parser.set_defaults(func=run)


def _model_names(specs: list[str] | None, quick: bool) -> list[str]:
    from onnx_tee import models
    if not specs:
        return list(QUICK_MODELS) if quick else models.names()
    names: list[str] = []
    for spec in specs:
        for item in filter(None, (s.strip() for s in spec.split(","))):
            names += {"reference": models.reference_names(), "trained": models.trained_names(),
                      "all": models.names()}.get(item, [item])
    return list(dict.fromkeys(names))


def _positive(value: int, flag: str) -> int:
    if value < 1:
        raise UserError(f"{flag} must be at least 1, got {value}")
    return value


def settings_from_args(args: argparse.Namespace) -> tuple[BenchSettings, str]:
    """The benchmark settings of parsed arguments, and the canonical command that reproduces them."""
    budget_text = args.budgets or (QUICK_BUDGETS if args.quick else DEFAULT_BUDGETS)
    budget_specs = [b.strip() for b in budget_text.split(",") if b.strip()]
    if not budget_specs:
        raise UserError("--budgets is empty: give sizes such as 8MiB,16MiB,32MiB")
    budgets = tuple(parse_size(b) for b in budget_specs)
    repeats = args.repeats if args.repeats is not None else (QUICK_REPEATS if args.quick else DEFAULT_REPEATS)
    _positive(repeats, "--repeats")
    if args.warmup < 0:
        raise UserError(f"--warmup must be 0 or more, got {args.warmup}")
    accuracy = args.accuracy_samples
    if accuracy is None and args.quick:
        accuracy = QUICK_ACCURACY_SAMPLES
    if accuracy is not None:
        _positive(accuracy, "--accuracy-samples")
    configs = select_configurations([c.strip() for c in args.configs.split(",")] if args.configs else None)
    names = _model_names(args.models, args.quick)
    settings = BenchSettings(
        models=tuple(names), budgets=budgets, configs=tuple(configs), out_dir=args.output, repeats=repeats,
        warmup=args.warmup, seed=args.seed, switch_model=WorldSwitchModel(args.switch_cost_ms),
        accuracy_limit=accuracy,
        pruning=PruningSettings(ratio=args.prune_ratio, max_accuracy_drop=args.max_accuracy_drop),
        profile=args.profile)
    words = ["python", "cli.py", "bench", "--models", *names, "--budgets", ",".join(budget_specs),
             "--configs", ",".join(c.name for c in configs), "--repeats", str(repeats), "--warmup", str(args.warmup),
             "--seed", str(args.seed), "--switch-cost-ms", f"{args.switch_cost_ms:g}",
             "--prune-ratio", f"{args.prune_ratio:g}", "--max-accuracy-drop", f"{args.max_accuracy_drop:g}"]
    if accuracy is not None:
        words += ["--accuracy-samples", str(accuracy)]
    if args.profile:
        words.append("--profile")
    words += ["-o", str(args.output)]
    return settings, shlex.join(words)


def _profiled(result: BenchRun) -> list:
    return [m for m in result.measurements if m.profile]


def _write_report(result: BenchRun, out_dir: Path, charts: list[Path] = ()) -> None:
    write_json(result, out_dir / "results.json")
    (out_dir / "results.md").write_text(markdown_report(result, [c.name for c in charts]))
    if _profiled(result):
        sections = [profile_markdown(m.profile, f"{m.model} at {format_size(m.budget)}, {m.config}")
                    for m in _profiled(result)]
        (out_dir / "profile.md").write_text(f"# Interpreter profile\n\nCommand: `{result.command}`\n\n"
                                            + "\n".join(sections))


def _finish(result: BenchRun, out_dir: Path) -> None:
    charts = write_charts(result, out_dir)
    _write_report(result, out_dir, charts)
    out = console()
    for title, (header, rows) in (("Total time per inference (ms)", summary_rows(result)),
                                  ("Speed-ups (geometric means)", geomean_rows(summarise(result.measurements))),
                                  ("Load path against the machine's AES-256-GCM (same run)", load_path_rows(result))):
        out.print(table(title, header, rows, right=set(range(2, len(header)))))
    for m in _profiled(result):
        out.print(profile_table(f"{m.model} at {format_size(m.budget)}, {m.config}: compute by op type", m.profile))
    out.print(f"Results: {out_dir}/results.md, results.json and {len(charts)} charts"
              + (", profile.md" if _profiled(result) else ""))


def _load_results(out_dir: Path) -> BenchRun:
    path = out_dir / "results.json"
    if not path.is_file():
        raise UserError(f"{path} does not exist: --render-only re-renders the results of an earlier run in -o DIR")
    try:
        return BenchRun.from_json(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{path} is not a results file written by `bench` ({exc})") from exc


def run(args: argparse.Namespace) -> int:
    if args.render_only:
        _finish(_load_results(args.output), args.output)
        return 0
    from ..bench.suite import run_benchmark   # the partitioner, lowering and simulator: loaded when used

    settings, command = settings_from_args(args)
    settings.out_dir.mkdir(parents=True, exist_ok=True)
    result = run_benchmark(settings, command, progress=not args.no_progress,
                           checkpoint=lambda partial: _write_report(partial, settings.out_dir))
    _finish(result, settings.out_dir)
    return 0
