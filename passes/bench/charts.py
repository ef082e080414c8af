"""PNG charts of a benchmark (matplotlib, Agg backend):

- `time_<budget>.png` (e.g. `time_8MiB.png`): per model, one stacked bar per configuration — compute, load, world switches;
- `speedup_vs_budget.png`: ours' speed-up over layerwise against the budget, per model and as the
  geometric mean;
- `accuracy_vs_flops.png`: top-1 accuracy against FLOPs (2 x multiply-accumulates) of the unpruned
  and the pruned model (models with a labelled test set only).
"""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
from matplotlib.ticker import FuncFormatter  # noqa: E402

from ..sizes import format_size  # noqa: E402
from .configs import BY_NAME  # noqa: E402
from .results import BenchRun, geometric_mean, group_cells, speedups  # noqa: E402

STACK = (("compute_s", "compute", "#4c72b0"), ("load_s", "load (copy+decrypt+validate)", "#dd8452"),
         ("switch_s", "world switches (modelled)", "#c44e52"))


def time_breakdown_chart(run: BenchRun, budget: int, path: Path) -> Path:
    """Stacked compute / load / switch time (ms) per configuration, one panel per model."""
    cells = {model: c for (model, b), c in group_cells(run.measurements).items() if b == budget}
    configs = [name for name in BY_NAME if any(name in c for c in cells.values())]
    columns = min(3, len(cells))
    rows = math.ceil(len(cells) / columns)
    height = 3.2 * rows + 0.6
    figure, axes = plt.subplots(rows, columns, figsize=(max(4.2 * columns, 8.5), height), squeeze=False)
    for axis, (model, model_cells) in zip(axes.flat, cells.items()):
        bottoms = [0.0] * len(configs)
        for field, label, colour in STACK:
            heights = [1000 * (getattr(model_cells[c], field) or 0.0) if c in model_cells and model_cells[c].ok
                       else 0.0 for c in configs]
            axis.bar(range(len(configs)), heights, bottom=bottoms, color=colour, label=label)
            bottoms = [b + h for b, h in zip(bottoms, heights)]
        for index, config in enumerate(configs):
            if config in model_cells and not model_cells[config].ok:
                axis.text(index, 0, "n/a", ha="center", va="bottom", fontsize=7)
        axis.set_title(model, fontsize=9)
        axis.set_xticks(range(len(configs)), configs, rotation=35, ha="right", fontsize=7)
        axis.set_ylabel("ms per inference", fontsize=8)
        axis.tick_params(axis="y", labelsize=7)
    for axis in list(axes.flat)[len(cells):]:
        axis.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    figure.suptitle(f"Time per inference at a {format_size(budget)} TEE budget", fontsize=10)
    figure.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 1 - 0.3 / height), ncol=3, fontsize=8)
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.7 / height))
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def speedup_chart(run: BenchRun, path: Path) -> Path:
    """ours' speed-up over layerwise against the budget: a line per model, the geometric mean in bold."""
    per_cell = speedups(run.measurements, "layerwise", "ours")
    budgets = sorted({b for _, b in per_cell})
    models = list(dict.fromkeys(model for model, _ in per_cell))
    figure, axis = plt.subplots(figsize=(7, 4.5))
    for model in models:
        points = [(b / 2**20, per_cell[(model, b)]) for b in budgets if per_cell.get((model, b)) is not None]
        if points:
            axis.plot(*zip(*points), marker="o", linewidth=1, alpha=0.7, label=model)
    means = [(b / 2**20, geometric_mean(per_cell.get((m, b)) for m in models)) for b in budgets]
    means = [(x, y) for x, y in means if y is not None]
    if means:
        axis.plot(*zip(*means), color="black", linewidth=3, marker="s", label="geometric mean")
    axis.axhspan(2, 30, color="grey", alpha=0.12, label="paper's claim (2-30x)")
    axis.axhline(1, color="grey", linewidth=1, linestyle="--")
    axis.set_xscale("log", base=2)
    axis.set_yscale("log")
    axis.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}x"))
    axis.yaxis.set_minor_formatter(FuncFormatter(lambda value, _: ""))
    axis.set_xlabel("TEE memory budget (MiB)")
    axis.set_ylabel("speed-up of ours over layerwise (x)")
    axis.set_xticks([b / 2**20 for b in budgets], [f"{b / 2**20:g}" for b in budgets])
    axis.legend(fontsize=7, ncol=2)
    axis.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def accuracy_flops_chart(run: BenchRun, path: Path) -> Path | None:
    """Accuracy against FLOPs, unpruned (circle) to pruned (triangle) per model; None if no accuracy."""
    points: dict[str, dict[bool, tuple[int, float]]] = {}
    for m in run.measurements:
        if m.accuracy is not None and m.macs:
            points.setdefault(m.model, {})[BY_NAME[m.config].pruned] = (2 * m.macs, m.accuracy)
    if not points:
        return None
    figure, axis = plt.subplots(figsize=(6.5, 4.5))
    for model, variants in points.items():
        line = None
        for pruned, marker in ((False, "o"), (True, "^")):
            if pruned in variants:
                flops, accuracy = variants[pruned]
                colour = line.get_color() if line else None
                (line,) = axis.plot([flops], [100 * accuracy], marker=marker, linestyle="", color=colour,
                                    label=f"{model} ({'pruned' if pruned else 'unpruned'})")
        if len(variants) == 2:
            (x0, y0), (x1, y1) = variants[False], variants[True]
            axis.annotate("", xy=(x1, 100 * y1), xytext=(x0, 100 * y0),
                          arrowprops={"arrowstyle": "->", "color": line.get_color(), "alpha": 0.6})
    axis.set_xscale("log")
    axis.set_xlabel("FLOPs per inference (2 x multiply-accumulates)")
    axis.set_ylabel("top-1 accuracy (%)")
    axis.legend(fontsize=7)
    axis.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def budget_tag(budget: int) -> str:
    """`8MiB`, `256KiB`, or plain bytes: for file names."""
    for unit, size in (("MiB", 2**20), ("KiB", 2**10)):
        if budget % size == 0:
            return f"{budget // size}{unit}"
    return str(budget)


def write_charts(run: BenchRun, out_dir: Path) -> list[Path]:
    """Every chart of `run` into `out_dir`; returns the files written."""
    written = [time_breakdown_chart(run, budget, out_dir / f"time_{budget_tag(budget)}.png")
               for budget in sorted({m.budget for m in run.measurements})]
    written.append(speedup_chart(run, out_dir / "speedup_vs_budget.png"))
    accuracy = accuracy_flops_chart(run, out_dir / "accuracy_vs_flops.png")
    if accuracy:
        written.append(accuracy)
    return written
