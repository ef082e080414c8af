"""PNG chart of per-partition memory: stacked weights, arena, carried, scratch, staging vs the budget.

The bars stack the parts of the memory model; since staging overlaps the arena and scratch
(loading precedes running), the planned total (marked per bar) may sit below the stack.
"""
from __future__ import annotations

from pathlib import Path

from .memory import MemoryPlan

PARTS = ("weights", "arena", "carried", "scratch", "staging")


def memory_chart(plan: MemoryPlan, path: Path, title: str) -> None:
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
    ax.set_xlabel("partition")
    ax.set_ylabel("MiB")
    ax.set_title(title)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
