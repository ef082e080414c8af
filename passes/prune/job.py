"""Prune a model against a data set with the built-in hooks: what `prune` and `lower --prune` run.

Data hygiene: the schedule's `evaluate` hook (when to stop) reads the data set's "validation" split,
which the zoo's training held out (`onnx_tee.passes.datasets`).  The criteria and the least-squares recovery
read a seeded calibration part of the "train" split (no labels); recoveries "distill" (built in,
numpy: `distill.Distillation`) and "finetune" (PyTorch, the optional extra) train on the labelled
"train" split.  The TEST split is only used to report accuracy before and after, never to make a
decision.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx

from ..errors import UserError
from .criteria import make_criterion
from .recovery import LeastSquaresRecovery
from .report import build_report
from .schedule import PruneOutcome, PruneStep, ScheduleConfig, prune_progressively

RECOVERIES = ("least-squares", "distill", "finetune", "none")


@dataclass
class PruneOptions:
    data: str | None = None
    max_accuracy_drop: float | None = None
    target_flops: float | None = None
    target_params: float | None = None
    target_bytes: float | None = None
    criterion: str = "l1"
    fraction: float = 0.1
    ranking: str = "global"
    min_channels: int = 1
    round_to: int = 1
    protected: list[str] = field(default_factory=list)
    recovery: str = "least-squares"
    finetune_epochs: float = 0.25                 # per step, for recoveries "distill" and "finetune"
    final_epochs: float = 0.0                     # recovery "distill": once more after the last step
    steps: int = 100
    calibration: int = 1024
    validation: int | None = None                 # samples of the validation split to use (None: all)
    seed: int = 0

    def validate(self) -> None:
        if self.recovery not in RECOVERIES:
            raise UserError(f"unknown recovery '{self.recovery}': choose one of {', '.join(RECOVERIES)}")
        if self.steps < 1:
            raise UserError(f"--steps must be at least 1, got {self.steps}")
        if self.data is None:
            if self.max_accuracy_drop is not None:
                raise UserError("--max-accuracy-drop needs labelled data to measure accuracy: give --data "
                                "fashion-mnist or --data digits")
            if self.recovery != "none":
                raise UserError("least-squares recovery needs calibration data: give --data, or --recovery none")
        if self.final_epochs < 0 or (self.final_epochs > 0 and self.recovery != "distill"):
            raise UserError(f"--final-epochs {self.final_epochs}: a final distillation needs --recovery distill "
                            f"and a number of epochs >= 0")
        if self.calibration < 16 or (self.validation is not None and self.validation < 100):
            raise UserError("use at least 16 calibration and 100 validation samples")


@dataclass
class DataSplits:
    """What the prune job reads: the labelled validation split, the labelled train split, a calibration part."""

    validation_x: np.ndarray
    validation_y: np.ndarray
    train_x: np.ndarray
    train_y: np.ndarray
    calibration: np.ndarray                       # unlabelled samples of the train split


def split_train(name: str, validation: int | None, calibration: int, seed: int) -> DataSplits:
    """The first `validation` samples (None: all) of the validation split, and `calibration` train samples drawn by `seed`."""
    from onnx_tee.passes.datasets import calibration_set, load_dataset

    x_val, y_val = load_dataset(name, "validation")
    if validation is not None and validation > len(x_val):
        raise UserError(f"data set '{name}' holds out {len(x_val)} validation samples: fewer than --validation "
                        f"{validation}")
    return DataSplits(x_val[:validation], y_val[:validation], *load_dataset(name, "train"),
                      calibration_set(name, calibration, seed))


def accuracy_hook(name: str, x: np.ndarray, y: np.ndarray):
    """`evaluate(model) -> top-1 accuracy` on (x, y), checking the model's outputs fit the data set."""
    from onnx_tee.passes.datasets import dataset_info, predict_logits

    classes = dataset_info(name).num_classes

    def evaluate(model: onnx.ModelProto) -> float:
        scores = predict_logits(model, x)
        if scores.ndim != 2 or scores.shape[1] != classes:
            raise UserError(f"the model's first output has shape {list(scores.shape[1:])} per sample; data set "
                            f"'{name}' needs {classes} class scores")
        return float(np.mean(scores.argmax(axis=1) == y))

    return evaluate


def _then_torch_fine_tune(refit, splits: DataSplits, options: PruneOptions):
    """Least-squares refit, then the PyTorch example hook on the labelled train split."""
    try:
        from .torch_hook import TorchFineTune
    except ImportError as exc:
        raise UserError("recovery 'finetune' needs PyTorch: pip install torch==2.13.0 "
                        "(or use --recovery least-squares)") from exc
    tune = TorchFineTune(splits.train_x, splits.train_y, epochs=options.finetune_epochs, seed=options.seed)
    return lambda model, step: tune(refit(model, step), step)


def _distillation(original: onnx.ModelProto, splits: DataSplits, options: PruneOptions):
    """The built-in distillation from `original` on the labelled train split."""
    from onnx_tee.passes.datasets import predict_logits

    from .distill import Distillation

    x, y = splits.train_x, splits.train_y
    return Distillation(x, y, predict_logits(original, x), epochs=options.finetune_epochs, seed=options.seed)


def _final_distillation(outcome: PruneOutcome, distil, evaluate, epochs: float) -> None:
    """Distil the last accepted model for `epochs` more; its validation accuracy joins the history."""
    distil.epochs = epochs                          # step index 0 (its shuffling seed): no pruning step uses it
    outcome.model = distil(outcome.model, PruneStep(0, 0, outcome.kept, None))
    outcome.final.accuracy = evaluate(outcome.model)
    outcome.history.append({"step": len(outcome.history), "fraction": 0.0, "removed": 0, **outcome.final.as_dict(),
                            "accepted": True, "final_distillation_epochs": epochs})


def run_prune(model: onnx.ModelProto, options: PruneOptions, *, label: str = "model",
              progress: bool = True) -> tuple[PruneOutcome, dict]:
    """Prune `model` as `options` say; returns the outcome and the report (JSON-ready)."""
    options.validate()
    config = ScheduleConfig(criterion=make_criterion(options.criterion), fraction=options.fraction,
                            ranking=options.ranking, min_channels=options.min_channels, round_to=options.round_to,
                            protected=frozenset(options.protected), max_accuracy_drop=options.max_accuracy_drop,
                            target_flops=options.target_flops, target_params=options.target_params,
                            target_bytes=options.target_bytes, max_steps=options.steps)
    config.validate()
    evaluate = fine_tune = calibration = None
    test_before = test_after = None
    if options.data is not None:
        from onnx_tee.passes.datasets import dataset_info, evaluate_accuracy

        dataset_info(options.data)                                  # unknown names fail here
        test_before = evaluate_accuracy(model, options.data, "test")   # so does a model that does not fit
        splits = split_train(options.data, options.validation, options.calibration, options.seed)
        evaluate = accuracy_hook(options.data, splits.validation_x, splits.validation_y)
        calibration = splits.calibration
        if options.recovery != "none":
            fine_tune = LeastSquaresRecovery(model, calibration, seed=options.seed)
        if options.recovery == "distill":
            distil, refit = _distillation(model, splits, options), fine_tune
            fine_tune = lambda candidate, step: distil(refit(candidate, step), step)   # noqa: E731
        if options.recovery == "finetune":
            fine_tune = _then_torch_fine_tune(fine_tune, splits, options)
    outcome = prune_progressively(model, config, evaluate=evaluate, fine_tune=fine_tune, calibration=calibration,
                                  progress=progress)
    if options.final_epochs > 0 and outcome.final.flops < outcome.baseline.flops:
        _final_distillation(outcome, distil, evaluate, options.final_epochs)
    if options.data is not None:
        from onnx_tee.passes.datasets import evaluate_accuracy

        test_after = evaluate_accuracy(outcome.model, options.data, "test")
    extra = {"model": label, "options": {k: v for k, v in vars(options).items()},
             "test_accuracy": {"before": test_before, "after": test_after,
                               "drop": None if test_before is None else test_before - test_after}}
    return outcome, build_report(model, outcome, extra)
