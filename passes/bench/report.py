"""Benchmark reports: table rows (for the console and Markdown), a Markdown report, JSON.

The Markdown report is what `benchmarks/results/` commits; it leads with the comparison the method
is judged by (`ours` against `layerwise`, per model and as a geometric mean), then the full
breakdown that explains every figure (compute, load, world switches, peak secure memory,
partitions, accuracy) and the machine and command that produced it.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..sizes import format_size
from .configs import BY_NAME
from .results import COMPARISONS, BenchRun, Measurement, geometric_mean, group_cells, ratio, summarise


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    ms = seconds * 1000.0
    return f"{ms:.3g}" if ms < 100 else f"{ms:,.0f}"


def _x(value: float | None) -> str:
    return "—" if value is None else (f"{value:.2f}x" if value < 10 else f"{value:.1f}x")


def _size(nbytes: int | None) -> str:
    return "—" if nbytes is None else format_size(nbytes)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.2f}%"


def _configs_in(run: BenchRun) -> list[str]:
    present = {m.config for m in run.measurements}
    return [name for name in BY_NAME if name in present]


def summary_rows(run: BenchRun) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the headline table: per (model, budget) the total ms of each configuration,
    then ours' speed-up over layerwise and over ort."""
    configs = _configs_in(run)
    header = ["model", "budget"] + [f"{c} (ms)" for c in configs] + ["ours vs layerwise", "ours vs ort"]
    rows = []
    for (model, budget), cells in group_cells(run.measurements).items():
        rows.append([model, _size(budget)]
                    + [_ms(cells[c].total_s) if c in cells and cells[c].ok else _status(cells.get(c)) for c in configs]
                    + [_x(ratio(cells, "layerwise", "ours")), _x(ratio(cells, "ort", "ours"))])
    return header, rows


def _status(m: Measurement | None) -> str:
    return "—" if m is None else m.status.split(":")[0]


def breakdown_rows(run: BenchRun) -> tuple[list[str], list[list[str]]]:
    """Every measurement with its components."""
    header = ["model", "budget", "config", "compute ms", "load ms", "switches", "switch ms", "total ms",
              "peak secure", "partitions", "accuracy", "sim vs ort error", "status"]
    rows = []
    for m in run.measurements:
        rows.append([m.model, _size(m.budget), m.config, _ms(m.compute_s), _ms(m.load_s),
                     "—" if m.switches is None else str(m.switches), _ms(m.switch_s), _ms(m.total_s),
                     _size(m.peak_secure_bytes), "—" if m.partitions is None else str(m.partitions),
                     _pct(m.accuracy), "—" if m.max_rel_error is None else f"{m.max_rel_error:.1e}", m.status])
    return header, rows


def compute_vs_ort_rows(run: BenchRun) -> tuple[list[str], list[list[str]]]:
    """Per (model, budget): each secure configuration's compute time over onnxruntime's (the kernels'
    pace, without loading or switches; above 1 = slower than onnxruntime) in thread CPU time and in
    wall time, and their geometric means."""
    configs = [c for c in _configs_in(run) if c != "ort"]
    clocks = (("CPU", "compute_cpu_s"), ("wall", "compute_s"))
    header = ["model", "budget", "ort compute CPU ms", "ort wall ms"] + [
        f"{c} / ort ({clock})" for c in configs for clock, _ in clocks]
    rows, ratios = [], {(c, f): [] for c in configs for _, f in clocks}
    for (model, budget), cells in group_cells(run.measurements).items():
        base = cells.get("ort")
        if base is None or not base.ok or not base.compute_s:
            continue
        row = [model, _size(budget), _ms(base.compute_cpu_s), _ms(base.compute_s)]
        for c in configs:
            for _, field_name in clocks:
                m, anchor = cells.get(c), getattr(base, field_name)
                mine = getattr(m, field_name) if m is not None and m.ok else None
                value = mine / anchor if mine and anchor else None
                ratios[(c, field_name)].append(value)
                row.append(_x(value))
        rows.append(row)
    if rows:
        rows.append(["geomean", "", "", ""] + [_x(geometric_mean(ratios[(c, f)])) for c in configs for _, f in clocks])
    return header, rows


def _arrow(a, b, fmt) -> str:
    return f"{fmt(a)} → {fmt(b)}"


def explain_rows(run: BenchRun, slower: str = "layerwise", faster: str = "ours") -> tuple[list[str], list[list[str]]]:
    """Per (model, budget) where both ran: what changes from `slower` to `faster` — partitions, MACs,
    weights, and each time component — beside the resulting speed-up."""
    header = ["model", "budget", "partitions", "MACs", "weights", "compute ms", "load ms", "switches",
              f"{faster} vs {slower}"]
    rows = []
    for (model, budget), cells in group_cells(run.measurements).items():
        a, b = cells.get(slower), cells.get(faster)
        if a is None or b is None or not a.ok or not b.ok:
            continue
        rows.append([model, _size(budget), _arrow(a.partitions, b.partitions, str),
                     _arrow(a.macs, b.macs, lambda v: "—" if v is None else f"{v / 1e6:,.1f} M"),
                     _arrow(a.weight_bytes, b.weight_bytes, _size), _arrow(a.compute_s, b.compute_s, _ms),
                     _arrow(a.load_s, b.load_s, _ms), _arrow(a.switches, b.switches, str),
                     _x(ratio(cells, slower, faster))])
    return header, rows


def geomean_rows(summary: dict) -> tuple[list[str], list[list[str]]]:
    """One row per comparison: overall geometric mean, per budget, and per component."""
    budgets = sorted({b for entry in summary.values() for b in entry["geomean_per_budget"]}, key=int)
    header = (["comparison", "cells", "geomean"] + [f"@ {_size(int(b))}" for b in budgets]
              + ["compute ratio", "load ratio", "switch ratio", "without switch cost"])
    rows = []
    for label, _, _ in COMPARISONS:
        entry = summary[label]
        components = entry["component_geomeans"]
        rows.append([label, str(entry["cells"]), _x(entry["geomean"])]
                    + [_x(entry["geomean_per_budget"].get(b)) for b in budgets]
                    + [_x(components[c]) for c in ("compute_s", "load_s", "switch_s", "compute_load_s")])
    return header, rows


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    align = ["---" if i < 3 else "---:" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown_report(run: BenchRun, charts: list[str] = ()) -> str:
    """The whole report as Markdown (charts are linked by relative file name)."""
    summary = summarise(run.measurements)
    settings, machine = run.settings, run.machine
    missing = [m for m in settings.get("models", []) if m not in {x.model for x in run.measurements}
               and Path(m).stem not in {x.model for x in run.measurements}]
    parts = [
        "# onnx-tee benchmark",
        "",
        f"Command: `{run.command}`",
        "",
    ]
    if missing:
        parts += [f"**Partial results**: not measured (the run was stopped first): {', '.join(missing)}.", ""]
    parts += [
        f"Machine: {machine.get('cpu')} ({machine.get('logical_cpus')} logical CPUs, "
        f"{_size(machine.get('memory_bytes'))}), {machine.get('os')}, Python {machine.get('python')}, "
        f"onnxruntime {machine.get('packages', {}).get('onnxruntime')}, {machine.get('c_compiler')}; "
        f"source {str(machine.get('git_commit'))[:12]}{' (uncommitted changes)' if machine.get('git_dirty') else ''}; "
        f"{machine.get('time_utc')}; load average {machine.get('load_average')} at the start, "
        f"{machine.get('load_average_end')} at the end.",
        "",
        "Times are per inference, medians of "
        f"{settings.get('repeats')} repeats after {settings.get('warmup')} warm-up run(s); "
        "total = compute + load + modelled world switches "
        f"({settings.get('switch_model', {}).get('cost_ms_per_switch')} ms per TA invocation: "
        f"{settings.get('switch_model', {}).get('source')}).",
        "",
        "## Speed-up (geometric means; ratio = slower total / faster total)",
        "",
        markdown_table(*geomean_rows(summary)),
        "",
        "## Where the speed-up of `ours` over `layerwise` comes from",
        "",
        markdown_table(*explain_rows(run)),
        "",
        "## Total time per inference (ms)",
        "",
        markdown_table(*summary_rows(run)),
        "",
        "## Compute against onnxruntime (compute time / ort's: the kernels' pace; thread CPU time leaves out "
        "the time a loaded machine takes the CPU away)",
        "",
        markdown_table(*compute_vs_ort_rows(run)),
        "",
        "## Breakdown",
        "",
        markdown_table(*breakdown_rows(run)),
        "",
        "## Settings",
        "",
        "```json",
        json.dumps(settings, indent=2, sort_keys=True),
        "```",
    ]
    if charts:
        parts += ["", "## Charts", ""] + [f"![{Path(c).stem}]({Path(c).name})" for c in charts]
    return "\n".join(parts) + "\n"


def write_json(run: BenchRun, path: Path) -> None:
    path.write_text(json.dumps(run.to_json(), indent=1) + "\n")
