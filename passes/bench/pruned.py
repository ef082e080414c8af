"""The pruned variant of a benchmarked model, made once and cached.

- A model with a labelled data set (the trained zoo): what `python cli.py prune MODEL --data NAME
  --max-accuracy-drop D` runs (`passes.prune.job.run_prune`): the progressive schedule (L1, steps
  of 10% of the prunable channels) with the built-in least-squares recovery hook, deciding on a
  held-out validation split, stopping before the accuracy drops by more than D.
- Any other model (the reference architectures have seeded random weights, so accuracy means
  nothing): one data-free step removing `ratio` of the channels of every prunable group, ranked by
  the L1 norm of their weights (`ScheduleConfig(criterion=Magnitude(1), fraction=ratio,
  ranking="layer", max_steps=1)`), no recovery.

The result is compacted (`compaction_pipeline`) and saved as `<cache>/<label>.onnx` beside
`<label>.json`, which records how it was made and a key = sha256(original model bytes, settings,
seed): a later run with the same key loads it instead of pruning again.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict
from pathlib import Path

import onnx

from ..compact import compaction_pipeline
from ..modelio import load_model, save_model
from ..prune.criteria import Magnitude
from ..prune.job import PruneOptions, run_prune
from ..prune.schedule import ScheduleConfig, prune_progressively
from .settings import PruningSettings


def _cache_key(model: onnx.ModelProto, dataset: str | None, settings: PruningSettings, seed: int) -> str:
    digest = hashlib.sha256(model.SerializeToString())
    digest.update(json.dumps([dataset, asdict(settings), seed]).encode())
    return digest.hexdigest()


def prune_data_free(model: onnx.ModelProto, ratio: float) -> tuple[onnx.ModelProto, dict]:
    """One L1-ranked step removing `ratio` of every prunable group's channels."""
    outcome = prune_progressively(model, ScheduleConfig(criterion=Magnitude(1), fraction=ratio, ranking="layer",
                                                        max_steps=1), progress=False)
    return outcome.model, {"method": f"data-free L1, {ratio:g} of each prunable group's channels",
                           "baseline": outcome.baseline.as_dict(), "final": outcome.final.as_dict(),
                           "stop_reason": outcome.stop_reason}


def prune_with_data(model: onnx.ModelProto, dataset: str, max_accuracy_drop: float, *,
                    seed: int) -> tuple[onnx.ModelProto, dict]:
    """The prune command's job against `dataset` with the accuracy tolerance `max_accuracy_drop`.

    It decides on the whole validation split; its calibration part keeps the prune job's default
    size unless the train split is too small for it (sklearn's digits has 1,293 samples): then it
    takes a third of it."""
    from onnx_tee.passes.datasets import load_dataset

    defaults, train = PruneOptions(), len(load_dataset(dataset, "train").y)
    options = PruneOptions(data=dataset, max_accuracy_drop=max_accuracy_drop, seed=seed,
                           calibration=min(defaults.calibration, train // 3))
    outcome, report = run_prune(model, options, progress=False)
    return outcome.model, {"method": f"progressive L1 + least-squares recovery, validation accuracy drop <= "
                                     f"{max_accuracy_drop:g}",
                           "baseline": outcome.baseline.as_dict(), "final": outcome.final.as_dict(),
                           "stop_reason": outcome.stop_reason, "test_accuracy": report.get("test_accuracy")}


def pruned_model(label: str, model: onnx.ModelProto, dataset: str | None, settings: PruningSettings,
                 cache_dir: Path, *, seed: int = 0) -> onnx.ModelProto:
    """The pruned + compacted `model` (see the module docstring), from the cache when it is there."""
    key = _cache_key(model, dataset, settings, seed)
    model_path, info_path = cache_dir / f"{label}.onnx", cache_dir / f"{label}.json"
    if model_path.exists() and info_path.exists() and json.loads(info_path.read_text()).get("key") == key:
        return load_model(model_path)
    start = time.perf_counter()
    if dataset is None:
        pruned, info = prune_data_free(model, settings.ratio)
    else:
        pruned, info = prune_with_data(model, dataset, settings.max_accuracy_drop, seed=seed)
    pruned = compaction_pipeline()(pruned).model
    save_model(pruned, model_path)
    info_path.write_text(json.dumps({"key": key, "model": label, "dataset": dataset, "seed": seed,
                                     "settings": asdict(settings), "seconds": time.perf_counter() - start,
                                     **info}, indent=2) + "\n")
    return pruned
