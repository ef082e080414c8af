"""What decides a benchmark's numbers: `BenchSettings` (recorded with the results) and
`PruningSettings` (how the pruned variant is made, see `pruned.py`)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from .configs import Configuration
from .switches import WorldSwitchModel


@dataclass(frozen=True)
class PruningSettings:
    """How `pruned-layerwise` and `ours` get their pruned model."""

    ratio: float = 0.3                 # data-free: fraction of each prunable group's channels removed
    max_accuracy_drop: float = 0.01    # with data: accuracy tolerance of the progressive schedule

    def to_json(self) -> dict:
        return {**asdict(self), "data_free_criterion": "l1", "data_free_ranking": "per group",
                "with_data": "progressive schedule + least-squares recovery"}


@dataclass(frozen=True)
class BenchSettings:
    """Everything that decides a benchmark's numbers (recorded in its results)."""

    models: tuple[str, ...]
    budgets: tuple[int, ...]
    configs: tuple[Configuration, ...]
    out_dir: Path
    repeats: int = 5
    warmup: int = 1
    seed: int = 0
    switch_model: WorldSwitchModel = field(default_factory=WorldSwitchModel)
    accuracy_limit: int | None = None
    pruning: PruningSettings = field(default_factory=PruningSettings)
    profile: bool = False              # time every op of the secure configurations (profile.md)

    def to_json(self) -> dict:
        return {"models": list(self.models), "budgets": list(self.budgets),
                "configs": [c.name for c in self.configs], "repeats": self.repeats, "warmup": self.warmup,
                "seed": self.seed, "switch_model": self.switch_model.to_json(),
                "accuracy_test_samples": self.accuracy_limit or "all", "pruning": self.pruning.to_json(),
                "profile": self.profile}
