#!/usr/bin/env python3
"""Our ONNX pruning against Torch-Pruning on the same trained networks, FLOPs target and recovery budget.

    pip install torch==2.13.0 torch-pruning
    python benchmarks/compare_torch_pruning.py                       # resnet_fmnist and vgg_fmnist
    python benchmarks/compare_torch_pruning.py --models vgg_fmnist --target-flops 0.5

Both sides start from the committed zoo weights (`models/trained/<name>.onnx`; the PyTorch module
is rebuilt from the same weights by `models.training.load_trained`), and both get the same data:
the held-out validation split and the same seeded calibration samples of the train split
(`passes.prune.job.split_train`).
Top-1 is measured on the TEST split, which neither side looks at before the end.

- ours: `run_prune` (L1 group importance by default, progressive 10% steps, least-squares refit +
  BN statistics correction on the calibration samples, stop at the FLOPs target or when the
  validation top-1 drops by more than the tolerance).
- torch-pruning: `MagnitudePruner` with `GroupMagnitudeImportance(p=1)` (DepGraph groups, global
  ranking, the classifier ignored), 0.5% steps until its MAC count reaches the FLOPs ours reached
  (both results are then measured with our counter on the exported ONNX); then
  the same training-free recovery budget Torch-Pruning can use: BatchNorm statistics re-estimated
  on the same calibration samples (forward passes in train mode, no gradient step).  With
  `--recovery distill` (built in, no framework) or `--recovery finetune` (PyTorch) ours trains E
  epochs per step tried, rolled-back steps included (`--finetune-epochs E`), and Torch-Pruning's
  result gets the same total epochs of the same recipe on the same labelled train samples after
  pruning: the built-in distillation (`passes.prune.distill.Distillation`, on its exported ONNX) or
  the same SGD (`passes.prune.torch_hook.fit`).

Prints a table and writes `benchmarks/results/prune_vs_torch_pruning.json`.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


import numpy as np  # noqa: E402
import torch  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from onnx_tee import models  # noqa: E402
from onnx_tee.passes.datasets import evaluate_accuracy, load_dataset  # noqa: E402
from onnx_tee.passes.prune.groups import analyze  # noqa: E402
from onnx_tee.passes.prune.job import PruneOptions, run_prune, split_train  # noqa: E402
from onnx_tee.passes.prune.schedule import measure  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "prune_vs_torch_pruning.json"


def test_accuracy_torch(net: torch.nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    from onnx_tee.models.training import predict

    with torch.no_grad():
        return float(np.mean(predict(net, x).argmax(axis=1) == y))


def onnx_flops_params(model) -> tuple[int, int]:
    """FLOPs and params with the same counter as ours (`passes.prune.schedule.measure`)."""
    metrics = measure(model, analyze(model))
    return metrics.flops, metrics.params


def recalibrate_batchnorm(net: torch.nn.Module, calibration: np.ndarray, batch: int = 128) -> None:
    """Re-estimate every BatchNorm's running statistics on `calibration` (cumulative average, no gradients)."""
    for module in net.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None
    net.train()
    with torch.no_grad():
        for start in range(0, len(calibration), batch):
            net(torch.from_numpy(calibration[start:start + batch]))
    net.eval()


def torch_pruning_to(name: str, flops_ratio: float, splits, finetune_epochs: float, seed: int,
                     recovery: str = "finetune") -> dict:
    import torch_pruning as tp

    from onnx_tee.models.training import export_onnx, load_trained
    from onnx_tee.passes.prune.torch_hook import fit

    torch.manual_seed(seed)
    net = load_trained(name)
    example = torch.zeros(1, *splits.calibration.shape[1:])
    base_macs, base_params = tp.utils.count_ops_and_params(net, example)
    classifier = [m for m in net.modules() if isinstance(m, torch.nn.Linear)][-1]
    pruner = tp.pruner.MagnitudePruner(net, example, importance=tp.importance.GroupMagnitudeImportance(p=1),
                                       global_pruning=True, pruning_ratio=0.9, iterative_steps=180,
                                       ignored_layers=[classifier])
    start = time.perf_counter()
    macs = base_macs
    for _ in range(180):
        if macs <= flops_ratio * base_macs:
            break
        pruner.step()
        macs, params = tp.utils.count_ops_and_params(net, example)
    seconds = time.perf_counter() - start
    x_test, y_test = load_dataset("fashion-mnist", "test")
    exported = export_onnx(net, None, tuple(splits.calibration.shape[1:]))
    ours_before, ours_after = (onnx_flops_params(m) for m in (models.load(name), exported))
    result = {"flops_ratio": ours_after[0] / ours_before[0], "params_ratio": ours_after[1] / ours_before[1],
              "torch_pruning_macs_ratio": macs / base_macs,
              "test_no_recovery": test_accuracy_torch(net, x_test, y_test), "prune_seconds": seconds}
    recalibrate_batchnorm(net, splits.calibration)
    result["test_bn_recalibrated"] = test_accuracy_torch(net, x_test, y_test)
    if finetune_epochs > 0 and recovery == "distill":
        from onnx_tee.passes.datasets import predict_logits
        from onnx_tee.passes.prune.distill import Distillation

        start = time.perf_counter()
        x, y = splits.train_x, splits.train_y
        tuned = Distillation(x, y, predict_logits(models.load(name), x), epochs=finetune_epochs, seed=seed)(
            export_onnx(net, None, tuple(splits.calibration.shape[1:])), None)
        result["test_finetuned"] = evaluate_accuracy(tuned, "fashion-mnist", "test")
        result["finetune_seconds"] = time.perf_counter() - start
    elif finetune_epochs > 0:
        start = time.perf_counter()
        fit(net, torch.from_numpy(splits.train_x), torch.from_numpy(splits.train_y), epochs=finetune_epochs,
            seed=seed)
        result["test_finetuned"] = test_accuracy_torch(net.eval(), x_test, y_test)
        result["finetune_seconds"] = time.perf_counter() - start
    return result


def ours_to(name: str, options: PruneOptions, reuse: Path | None = None) -> dict:
    start = time.perf_counter()
    if reuse is not None:
        report = json.loads((reuse / f"{name}_report.json").read_text())
        options = PruneOptions(**report["options"])
    else:
        report = run_prune(models.load(name), options, label=name)[1]
    return {"flops_ratio": report["ratios"]["flops"], "params_ratio": report["ratios"]["params"],
            "test_before": report["test_accuracy"]["before"], "test_after": report["test_accuracy"]["after"],
            "validation_before": report["baseline"]["accuracy"], "validation_after": report["final"]["accuracy"],
            "stop_reason": report["stop_reason"], "seconds": time.perf_counter() - start,
            "recovery": options.recovery, "criterion": options.criterion, "step": options.fraction,
            "finetune_epochs": _epochs_trained(report, options)}


def _epochs_trained(report: dict, options: PruneOptions) -> float:
    """Every epoch our side trained, kept or not: each step tried (a rolled-back step trained too) + the final one."""
    if options.recovery not in ("distill", "finetune"):
        return 0.0
    tried = sum(1 for s in report["steps"][1:] if "final_distillation_epochs" not in s)
    return options.finetune_epochs * tried + options.final_epochs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["resnet_fmnist", "vgg_fmnist"])
    parser.add_argument("--target-flops", type=float, default=0.5)
    parser.add_argument("--max-accuracy-drop", type=float, default=0.01)
    parser.add_argument("--criterion", default="l1")
    parser.add_argument("--ranking", default="global")
    parser.add_argument("--step", type=float, default=0.1)
    parser.add_argument("--recovery", choices=("least-squares", "distill", "finetune"), default="least-squares",
                        help="ours: training-free (default), least-squares + built-in distillation, or "
                             "least-squares + PyTorch fine-tuning per step; torch-pruning then gets the same total "
                             "epochs of the same recipe")
    parser.add_argument("--finetune-epochs", type=float, default=0.25, help="per step, with --recovery finetune")
    parser.add_argument("--final-epochs", type=float, default=0.0, help="with --recovery distill: once more at the end")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--reuse-reports", type=Path, metavar="DIR",
                        help="take our side from DIR/<model>_report.json, written by `python cli.py prune <model> "
                             "... -o DIR/<model>.onnx`, instead of pruning again (its options are used)")
    args = parser.parse_args(argv)
    results = json.loads(args.output.read_text()) if args.output.exists() else {}
    keys = []
    for name in args.models:
        options = PruneOptions(data="fashion-mnist", max_accuracy_drop=args.max_accuracy_drop,
                               target_flops=args.target_flops, criterion=args.criterion, ranking=args.ranking,
                               fraction=args.step, seed=args.seed, recovery=args.recovery,
                               finetune_epochs=args.finetune_epochs, final_epochs=args.final_epochs)
        ours = ours_to(name, options, args.reuse_reports)
        if args.reuse_reports is not None:
            ours["command"] = f"python cli.py prune {name} (options in {args.reuse_reports / (name + '_report.json')})"
        splits = split_train("fashion-mnist", options.validation, options.calibration, options.seed)
        budget = ours["finetune_epochs"]
        theirs = torch_pruning_to(name, ours["flops_ratio"], splits, budget, args.seed, ours["recovery"])
        theirs["test_before"] = evaluate_accuracy(models.load(name), "fashion-mnist", "test")
        keys.append(f"{name}/{ours['recovery']}")
        results[keys[-1]] = {"ours": ours, "torch_pruning": theirs,
                         "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    table = Table(title="structured pruning at the same FLOPs: top-1 on the Fashion-MNIST test split")
    for column in ("model", "method", "FLOPs", "params", "top-1 before", "top-1 after", "drop (points)"):
        table.add_column(column, justify="left" if column in ("model", "method") else "right")
    for key in keys:
        name = key.split("/")[0]
        ours, theirs = results[key]["ours"], results[key]["torch_pruning"]
        recipe = "distillation" if ours["recovery"] == "distill" else "fine-tune"
        label = ("ours (LS refit + BN correction)" if ours["recovery"] == "least-squares"
                 else f"ours (LS refit + {ours['finetune_epochs']:g} epochs {recipe})")
        rows = [(label, ours["flops_ratio"], ours["params_ratio"], ours["test_after"]),
                ("torch-pruning, no recovery", theirs["flops_ratio"], theirs["params_ratio"], theirs["test_no_recovery"]),
                ("torch-pruning + BN recalibration", theirs["flops_ratio"], theirs["params_ratio"],
                 theirs["test_bn_recalibrated"])]
        if "test_finetuned" in theirs:
            rows.append((f"torch-pruning + {ours['finetune_epochs']:g} epochs {recipe}", theirs["flops_ratio"],
                         theirs["params_ratio"], theirs["test_finetuned"]))
        for method, flops, params, after in rows:
            table.add_row(name, method, f"{flops:.3f}", f"{params:.3f}", f"{100 * ours['test_before']:.2f}%",
                          f"{100 * after:.2f}%", f"{100 * (ours['test_before'] - after):.2f}")
    Console(width=140).print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
