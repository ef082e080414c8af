"""PNG chart of per-partition memory: stacked weights, arena, carried, scratch, staging vs the budget.

The bars stack the parts of the memory model; since staging overlaps the arena and scratch
(loading precedes running), the planned total (marked per bar) may sit below the stack.
Spatially tiled stages (`spatial_plan.stage_report`) shade the partitions that run their tiles and
name the stage's output, its tile count and its memory per tile (the largest planned total of those
partitions, drawn as a dotted line over them).
"""
from __future__ import annotations

from pathlib import Path

from .memory import MemoryPlan

PARTS = ("weights", "arena", "carried", "scratch", "staging")


def stage_label(stage: dict) -> str:
    """The chart's caption of a tiled stage: output, tiles, memory per tile."""
    return f"{stage['output']}: {stage['tiles']} tiles, {stage['memory_per_tile'] / 2**20:.2f} MiB/tile"


def memory_chart(plan: MemoryPlan, path: Path, title: str, stages: list[dict] = ()) -> None:
    """Draw `plan` into `path`; `stages`: `stage_report` rows, each with its "partition_indices"."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mib = 1024 * 1024
    xs = range(len(plan.partitions))
    fig, ax = plt.subplots(figsize=(max(7, 0.35 * len(plan.partitions) + 5), 4))
    bottom = [0.0] * len(plan.partitions)
    for part in PARTS:
        values = [getattr(p, part) / mib for p in plan.partitions]
        ax.bar(xs, values, bottom=bottom, label=part)
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.scatter(xs, [(p.total + p.reserve) / mib for p in plan.partitions], marker="_", s=200, color="black",
               label="planned total + reserve", zorder=3)
    ax.axhline(plan.budget / mib, color="red", linestyle="--", label="budget")
    for k, stage in enumerate(stages):
        first, last = min(stage["partition_indices"]), max(stage["partition_indices"])
        ax.axvspan(first - 0.45, last + 0.45, color="grey", alpha=0.2, zorder=0,
                   label="spatially tiled stage" if k == 0 else None)
        ax.hlines(stage["memory_per_tile"] / mib, first - 0.45, last + 0.45, colors="black", linestyles=":",
                  label="memory per tile" if k == 0 else None)
        ax.annotate(stage_label(stage), (first - 0.45, plan.budget / mib), xytext=(2, 4 + 12 * k),
                    textcoords="offset points", fontsize="small")
    ax.set_xlabel("partition")
    ax.set_ylabel("MiB")
    ax.set_title(title)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
