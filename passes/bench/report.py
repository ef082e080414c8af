"""Benchmark reports: table rows (for the console and Markdown), a Markdown report, JSON.

The Markdown report is what `benchmarks/results/` commits; it leads with the comparison the method
is judged by (`ours` against `layerwise`, per model and as a geometric mean) at several costs per
world switch side by side (`headline.py`), then where that speed-up comes from (`attribution.py`),
then the full breakdown that explains every figure (compute, load, world switches, peak secure
memory, partitions, accuracy) and the machine and command that produced it.
"""
from __future__ import annotations

import json
import statistics
from pathlib import Path

from ..sizes import format_size
from . import headline
from .attribution import COMPONENTS, attributions
from .configs import BY_NAME
from .results import COMPARISONS, BenchRun, Measurement, at_switch_cost, geometric_mean, group_cells, ratio, summarise


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


def _cost(cost_ms: float) -> str:
    return "no switch cost" if cost_ms == headline.NO_SWITCH_COST else f"{cost_ms:g} ms/switch"


def _share(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.0f}%"


def _configs_in(run: BenchRun) -> list[str]:
    present = {m.config for m in run.measurements}
    return [name for name in BY_NAME if name in present]


def summary_rows(run: BenchRun) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the per-cell table: per (model, budget) the total ms of each configuration at
    the run's switch cost, then ours' speed-up over layerwise at that cost and at every other reported
    cost (priced from the same counts), and over ort."""
    configs = _configs_in(run)
    own = headline.run_cost_ms(run)
    others = [c for c in headline.at_costs(run, without=False) if c != own]
    priced = [group_cells(at_switch_cost(run.measurements, c)) for c in others]
    header = (["model", "budget"] + [f"{c} (ms)" for c in configs] + ["ours vs layerwise"]
              + [f"ours vs layerwise at {c:g} ms" for c in others] + ["ours vs ort"])
    rows = []
    for key, cells in group_cells(run.measurements).items():
        rows.append([key[0], _size(key[1])]
                    + [_ms(cells[c].total_s) if c in cells and cells[c].ok else _status(cells.get(c)) for c in configs]
                    + [_x(ratio(cells, "layerwise", "ours"))]
                    + [_x(ratio(p[key], "layerwise", "ours")) for p in priced]
                    + [_x(ratio(cells, "ort", "ours"))])
    return header, rows


def _range(entry: dict) -> str:
    if entry["geomean"] is None:
        return "—"
    return f"**{_x(entry['geomean'])}** ({_x(entry['min'])} – {_x(entry['max'])})"


def headline_rows(run: BenchRun) -> tuple[list[str], list[list[str]]]:
    """Every comparison's geometric mean (and range over cells) at each reported switch cost, side by side."""
    priced = headline.at_costs(run)
    header = ["comparison", "cells"] + [_cost(c) for c in priced]
    rows = []
    for label, _, _ in COMPARISONS:
        entries = [priced[c]["comparisons"][label] for c in priced]
        rows.append([label, str(entries[-1]["cells"])] + [_range(e) for e in entries])
    return header, rows


def attribution_rows(run: BenchRun) -> tuple[list[str], list[list[str]]]:
    """At each reported switch cost: ours' speed-up over layerwise as the product of the factor from
    fewer partitions and the factor from pruning, and the share of the time saved in each component."""
    header = (["switch cost", "cells", "ours vs layerwise", "from fewer partitions", "from pruning"]
              + [f"saved in {label}" for label, _ in COMPONENTS])
    rows = []
    for cost, entry in headline.at_costs(run).items():
        split = entry["attribution"]
        if split is None:
            continue
        shares = split["shares"] or {}
        rows.append([_cost(cost), str(split["cells"]), _x(split["speedup"]), _x(split["partitions_factor"]),
                     _x(split["pruning_factor"])] + [_share(shares.get(label)) for label, _ in COMPONENTS])
    return header, rows


def attribution_cell_rows(run: BenchRun) -> tuple[list[str], list[list[str]]]:
    """`attribution_rows` per (model, budget), at the run's switch cost."""
    header = (["model", "budget", "ours vs layerwise", "from fewer partitions", "from pruning", "time saved ms"]
              + [f"saved in {label}" for label, _ in COMPONENTS])
    rows = [[a.model, _size(a.budget), _x(a.speedup), _x(a.partitions_factor), _x(a.pruning_factor),
             _ms(a.saved_s)] + [_share((a.shares or {}).get(label)) for label, _ in COMPONENTS]
            for a in attributions(run.measurements)]
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


def steady_rows(run: BenchRun) -> tuple[list[str], list[list[str]]]:
    """Per (model, budget): each secure configuration's single-shot and steady-state time per inference,
    steady ours' bytes loaded and TA invocations, and steady ours against its single shot and against
    onnxruntime (speed-ups: above 1 = ours faster); geometric means in the last row."""
    configs = [c for c in _configs_in(run) if c != "ort"]
    header = (["model", "budget", "ort ms"] + [f"{c} {kind} ms" for c in configs for kind in ("single", "steady")]
              + ["ours steady loads", "ours steady invocations", "ours steady vs single", "ours steady vs ort"])
    rows, gains, vs_ort = [], [], []
    for (model, budget), cells in group_cells(run.measurements).items():
        ort_m, ours = cells.get("ort"), cells.get("ours")
        row = [model, _size(budget), _ms(ort_m.total_s if ort_m is not None else None)]
        for c in configs:
            m = cells.get(c)
            row += [_ms(m.total_s if m is not None else None), _ms(m.steady_total_s if m is not None else None)]
        ok = ours is not None and ours.ok and ours.steady_compute_s is not None
        gain = ours.total_s / ours.steady_total_s if ok else None
        against = (ort_m.total_s / ours.steady_total_s if ok and ort_m is not None and ort_m.ok else None)
        gains.append(gain)
        vs_ort.append(against)
        row += [_size(ours.steady_bytes_loaded) if ok else "—", str(ours.steady_switches) if ok else "—",
                _x(gain), _x(against)]
        rows.append(row)
    if rows:
        rows.append(["geomean", "", ""] + [""] * (2 * len(configs)) + ["", "", _x(geometric_mean(gains)),
                                                                      _x(geometric_mean(vs_ort))])
    return header, rows


def load_path_rows(run: BenchRun) -> tuple[list[str], list[list[str]]]:
    """Per secure measurement: the load path's throughput (blob bytes / load time: copy + decrypt +
    validate) beside the machine's AES-256-GCM throughput over the same bytes in the same run, and
    their ratio, in thread CPU time (the machine's other load left out) and in wall time; the last
    row the ratios' medians."""
    header = ["model", "budget", "config", "loaded MB", "load ms (CPU)", "load GB/s (CPU)",
              "AES-GCM GB/s (CPU)", "load / AES-GCM (CPU)", "load GB/s (wall)", "AES-GCM GB/s (wall)",
              "load / AES-GCM (wall)"]
    rows, cpu, wall = [], [], []
    for m in run.measurements:
        if not m.ok or not m.loaded_bytes or not all((m.load_s, m.load_cpu_s, m.aes_gcm_s, m.aes_gcm_cpu_s)):
            continue
        cpu.append(m.aes_gcm_cpu_s / m.load_cpu_s)
        wall.append(m.aes_gcm_s / m.load_s)
        rows.append([m.model, _size(m.budget), m.config, f"{m.loaded_bytes / 1e6:.1f}", _ms(m.load_cpu_s),
                     f"{m.loaded_bytes / m.load_cpu_s / 1e9:.2f}", f"{m.loaded_bytes / m.aes_gcm_cpu_s / 1e9:.2f}",
                     f"{100 * cpu[-1]:.0f}%", f"{m.loaded_bytes / m.load_s / 1e9:.2f}",
                     f"{m.loaded_bytes / m.aes_gcm_s / 1e9:.2f}", f"{100 * wall[-1]:.0f}%"])
    if rows:
        rows.append(["median", "", "", "", "", "", "", f"{100 * statistics.median(cpu):.0f}%", "", "",
                     f"{100 * statistics.median(wall):.0f}%"])
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
        "## Speed-up at several costs per world switch (geometric mean, range over cells)",
        "",
        "The same run priced at each cost: switch time = TA invocations (counted) x cost per round trip; "
        "compute and load as measured.",
        "",
        markdown_table(*headline_rows(run)),
        "",
        f"## Speed-up at {settings.get('switch_model', {}).get('cost_ms_per_switch')} ms per switch "
        "(geometric means; ratio = slower total / faster total)",
        "",
        markdown_table(*geomean_rows(summary)),
        "",
        "## Where the speed-up of `ours` over `layerwise` comes from",
        "",
        "Fewer partitions and pruning: the two factors (their product is the speed-up) split it over the "
        "ablations `partitioned` and `pruned-layerwise`, each change's effect averaged over the two orders, "
        "F_partitions = sqrt(T_lw/T_pa x T_pl/T_o), F_pruning = sqrt(T_lw/T_pl x T_pa/T_o).  Compute, load "
        "and world-switch mechanics: the share of the time saved, T_lw - T_o, in each component "
        "(mean over cells; `passes/bench/attribution.py`).",
        "",
        markdown_table(*attribution_rows(run)),
        "",
        f"Per cell, at {settings.get('switch_model', {}).get('cost_ms_per_switch')} ms per switch:",
        "",
        markdown_table(*attribution_cell_rows(run)),
        "",
        "What changes from `layerwise` to `ours`:",
        "",
        markdown_table(*explain_rows(run)),
        "",
        "## Streams: single-shot and steady-state time per inference",
        "",
        "Steady state = an inference of a stream session after the first (`run --stream`): `ours` and `ours-int8` keep the "
        "bodies its residency plan pins loaded, the other configurations load every body again (a model in "
        "one partition stays loaded in all of them); same switch cost.",
        "",
        markdown_table(*steady_rows(run)),
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
        "## Load path against the machine's AES-256-GCM (throughput of copy + decrypt + validate over the "
        "cipher's alone on the same bytes, same run)",
        "",
        markdown_table(*load_path_rows(run)),
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
    """results.json: the run, its summary, and the headline at every reported switch cost."""
    path.write_text(json.dumps({**run.to_json(), "at_switch_costs": headline.to_json(run)}, indent=1) + "\n")
