"""Run the configuration matrix: every model x budget x configuration, medians of repeats.

    run = run_benchmark(settings, command="python cli.py bench --quick")

Per model, up to three variants are prepared once: the model as given (`ort`, `layerwise`,
`partitioned`), its pruned version (`pruned-layerwise`, `ours`, see `pruned.py`; cached under the
output directory) and that one quantized (`ours-int8`, `passes.quant.static`).  Each variant goes
once through lower's front end (`build.lowered.front_end`: fixed shapes, compaction; the TEE runs
the result, `ort` the model as given); its onnxruntime outputs on the benchmark input (the
reference the simulator's outputs are checked against), static figures (MACs, weight bytes) and,
for a model trained on a data set, its top-1 accuracy on that set's test split are measured once.
`ort` does not depend on the budget: it is timed once per model, in the round-robin of the first
budget's secure configurations (so that load drifting on a shared machine hits it alike), and
reported at every budget.  At each budget the secure configurations are lowered, then timed against each other (interleaved) in the simulator
(`secure_runner.py`); a budget too small for a configuration is recorded as infeasible, with the
reason, and the run goes on.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Callable

import numpy as np
import onnx
from tqdm import tqdm

from onnx_tee import models
from ..analysis.macs import model_macs
from ..analysis.shapes import infer_static_shapes
from ..analysis.weights import weight_bytes
from ..build.lowered import front_end
from ..compact import compaction_pipeline
from ..errors import UserError
from ..partition.chain import run_whole
from ..quant import express_quantized
from ..quant.static import QuantizeOptions, quantize_model
from ..sizes import format_size
from .inputs import benchmark_feeds
from .machine import load_average, machine_info
from .ort_runner import onnxruntime_inference, time_onnxruntime
from .pruned import pruned_model
from .results import BenchRun, Measurement
from .secure_runner import time_in_simulator
from .settings import BenchSettings


@dataclass
class Variant:
    """A model as configurations deploy it (unpruned or pruned): as given (what `ort` runs), compacted
    (what the TEE runs), its onnxruntime outputs on the benchmark input, and its static figures."""

    model: onnx.ModelProto
    compacted: onnx.ModelProto
    expected: dict[str, np.ndarray]
    macs: int
    weight_bytes: int
    accuracy: float | None


def dataset_of(name: str) -> str | None:
    """The data set a trained zoo model was trained on (from `models/trained/metrics.json`); None for
    the reference architectures and for user files."""
    if name not in models.trained_names():
        return None
    metrics_path = models.TRAINED_DIR / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    if name not in metrics:
        raise UserError(f"{metrics_path} does not say which data set '{name}' was trained on; "
                        f"retrain it with models/train_fmnist.py {name}")
    return metrics[name]["dataset"]


def _variant(model: onnx.ModelProto, feeds, dataset: str | None, accuracy_limit: int | None) -> Variant:
    accuracy = None
    if dataset is not None:
        from onnx_tee.passes.datasets import evaluate_accuracy
        accuracy = evaluate_accuracy(model, dataset, "test", limit=accuracy_limit)
    compacted = front_end(model)
    return Variant(model, compacted, run_whole(model, feeds),
                   sum(model_macs(compacted, infer_static_shapes(compacted)).values()), weight_bytes(model), accuracy)


def quantized_model(label: str, model: onnx.ModelProto, dataset: str | None, accuracy_limit: int | None
                    ) -> onnx.ModelProto:
    """`model` quantized to int8 (`passes.quant.static`, QDQ; its accuracy guard on `dataset`, random
    calibration without one) in the integer ops the TA runs, compacted (the fused groups' leftover
    parameters gone)."""
    quantized, _ = quantize_model(model, QuantizeOptions(data=dataset, evaluation=accuracy_limit), label=label)
    return compaction_pipeline()(express_quantized(quantized)).model


def _ort_anchor(variant: Variant, feeds, settings: BenchSettings):
    """onnxruntime's timed inference, already warmed up `settings.warmup` times."""
    inference = onnxruntime_inference(variant.model, feeds)
    for _ in range(settings.warmup):
        inference()
    return inference


def _ort_measurement(name: str, variant: Variant, feeds, settings: BenchSettings, samples=None) -> Measurement:
    """`ort`'s measurement from its samples (timed interleaved with the secure configurations), or
    timed on its own when none are given."""
    if samples is None:
        samples = time_onnxruntime(variant.model, feeds, repeats=settings.repeats, warmup=settings.warmup)
    return Measurement(name, 0, "ort", compute_s=samples["compute"].median,
                       compute_cpu_s=samples["compute_cpu"].median, load_s=0.0, switches=0, switch_s=0.0,
                       wall_s=samples["wall"].median, accuracy=variant.accuracy, macs=variant.macs,
                       weight_bytes=variant.weight_bytes,
                       spread={k: s.to_json() for k, s in samples.items()})


def run_benchmark(settings: BenchSettings, command: str, *, progress: bool = True,
                  checkpoint: Callable[[BenchRun], None] | None = None) -> BenchRun:
    """Measure every (model, budget, configuration) of `settings`; see the module docstring.

    `checkpoint(run)` is called after each model, so that a long run interrupted midway leaves the
    results of the models it finished."""
    run = BenchRun(command, machine_info(), settings.to_json())
    total = len(settings.models) * len(settings.budgets) * len(settings.configs)
    bar = tqdm(total=total, desc="bench", unit="run", disable=not progress, dynamic_ncols=True)
    for name in settings.models:
        label, model = models.resolve(name)
        dataset = dataset_of(label)
        feeds = benchmark_feeds(model, seed=settings.seed, dataset=dataset)
        variants: dict[tuple[bool, bool], Variant] = {}

        def variant(pruned: bool, quantized: bool = False) -> Variant:
            if (pruned, quantized) not in variants:
                bar.set_postfix_str(f"{label}: {'quantizing' if quantized else 'pruning' if pruned else 'preparing'}")
                if quantized:
                    source = quantized_model(label, variant(pruned).model, dataset, settings.accuracy_limit)
                elif pruned:
                    source = pruned_model(label, model, dataset, settings.pruning, settings.out_dir / "pruned",
                                          seed=settings.seed)
                else:
                    source = model
                variants[(pruned, quantized)] = _variant(source, feeds, dataset, settings.accuracy_limit)
            return variants[(pruned, quantized)]

        ort_done: Measurement | None = None
        failed: dict[str, str] = {}
        for budget in settings.budgets:
            bar.set_postfix_str(f"{label} @ {format_size(budget)}")
            chosen: dict[str, Variant] = {}
            for config in (c for c in settings.configs if c.name not in failed):
                try:
                    chosen[config.name] = variant(config.pruned, config.quantized)
                except UserError as exc:    # e.g. nothing prunable: the other configurations still run
                    failed[config.name] = f"failed: {'pruning' if config.pruned else 'preparing'}: {exc}"
            secure = [c for c in settings.configs if c.secure and c.name in chosen]
            anchors, anchor_samples = {}, {}
            if ort_done is None and "ort" in chosen and secure:
                anchors["ort"] = _ort_anchor(chosen["ort"], feeds, settings)
            timed = time_in_simulator(label, budget, [(c, chosen[c.name].compacted, chosen[c.name].expected)
                                                      for c in secure], feeds, settings.out_dir,
                                      repeats=settings.repeats, warmup=settings.warmup,
                                      switch_model=settings.switch_model, profile=settings.profile,
                                      anchors=anchors, anchor_samples=anchor_samples) if secure else {}
            anchors.clear()   # the onnxruntime session is not needed any more
            for config in settings.configs:
                if config.name in failed:
                    measurement = Measurement(label, budget, config.name, status=failed[config.name])
                elif config.secure:
                    measurement = timed[config.name]
                    measurement.accuracy, measurement.macs = chosen[config.name].accuracy, chosen[config.name].macs
                    measurement.weight_bytes = chosen[config.name].weight_bytes
                else:
                    ort_done = ort_done or _ort_measurement(label, chosen[config.name], feeds, settings,
                                                            anchor_samples.get("ort"))
                    measurement = dataclasses.replace(ort_done, budget=budget)
                run.measurements.append(measurement)
                bar.update()
        if checkpoint is not None:
            checkpoint(run)
    bar.close()
    run.machine["load_average_end"] = load_average()
    return run
