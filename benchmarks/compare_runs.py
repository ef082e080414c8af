"""Before/after of two `cli.py bench --configs ort,partitioned --profile` runs: per model, the compute
ratio of `partitioned` over `ort` (thread CPU time, the kernels' pace) in each run, and the geometric
means; then the kernel paths that take the most compute summed over the models of the second run.

    python benchmarks/compare_runs.py BEFORE_DIR AFTER_DIR [--config partitioned] [--top 12]

Each DIR is a bench output directory (its results.json).  Prints markdown.
"""
from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from pathlib import Path


def compute_ratios(run: dict, config: str) -> dict[str, float]:
    """{model: config's compute / ort's compute} (thread CPU time) where both ran."""
    cells: dict[str, dict[str, dict]] = defaultdict(dict)
    for m in run["measurements"]:
        if m["status"] == "ok":
            cells[m["model"]][m["config"]] = m
    return {model: c[config]["compute_cpu_s"] / c["ort"]["compute_cpu_s"] for model, c in cells.items()
            if config in c and "ort" in c and c["ort"].get("compute_cpu_s") and c[config].get("compute_cpu_s")}


def geomean(values) -> float | None:
    values = list(values)
    return math.exp(sum(map(math.log, values)) / len(values)) if values else None


def _x(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}x"


def ratio_table(before: dict, after: dict, config: str) -> str:
    old, new = compute_ratios(before, config), compute_ratios(after, config)
    lines = [f"| model | {config} / ort before | after | speed-up |", "|---|---:|---:|---:|"]
    for model in dict.fromkeys([*old, *new]):
        a, b = old.get(model), new.get(model)
        lines.append(f"| {model} | {_x(a)} | {_x(b)} | {_x(a / b) if a and b else '—'} |")
    both = [m for m in new if m in old]
    lines.append(f"| geomean ({len(both)} models) | {_x(geomean(old[m] for m in both))} | "
                 f"{_x(geomean(new[m] for m in both))} | "
                 f"{_x(geomean(old[m] / new[m] for m in both))} |")
    worst = max(both, key=lambda m: new[m], default=None)
    if worst is not None:
        lines.append(f"\nHighest after: {worst} at {new[worst]:.2f}x.")
    return "\n".join(lines) + "\n"


def top_paths(run: dict, config: str, top: int) -> str:
    """Kernel paths by their share of the compute summed over the profiled models."""
    seconds: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)
    total = 0.0
    for m in run["measurements"]:
        if m["config"] != config or not m.get("profile"):
            continue
        total += m["profile"]["compute_s"]
        for row in m["profile"]["by_path"]:
            seconds[row["key"]] += row["seconds"]
            calls[row["key"]] += row["calls"]
        for key, label in (("revalidate_s", "(revalidation)"), ("wipe_s", "(body wipe)"), ("other_s", "(other)")):
            seconds[label] += m["profile"].get(key, 0.0)
    lines = ["| kernel path | calls | ms | % of compute |", "|---|---:|---:|---:|"]
    for key, value in sorted(seconds.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"| {key} | {calls.get(key, '')} | {value * 1e3:.2f} | {100 * value / total:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--config", default="partitioned")
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args(argv)
    before, after = (json.loads((d / "results.json").read_text()) for d in (args.before, args.after))
    print(ratio_table(before, after, args.config))
    for title, run in (("before", before), ("after", after)):
        print(f"Kernel paths by compute summed over the models ({title}):\n")
        print(top_paths(run, args.config, args.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
