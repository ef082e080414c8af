"""Train the small CNN zoo on real data and export it to `models/trained/<name>.onnx`.

    pip install torch==2.13.0            # the optional `train` extra
    python models/train_fmnist.py --all  # every model; or name some: python models/train_fmnist.py vgg_fmnist

For each model: seed, train on the "train" split (`models.training.train`, recipe in
`models/training/loop.py`; the "validation" split stays held out), export to ONNX and check it
against PyTorch, then measure top-1 accuracy on the whole validation and test splits with
onnxruntime (`onnx_tee.passes.datasets.evaluate_accuracy`).  The figures go to `models/trained/metrics.json`
and to the table in `models/MODEL_CARD.md`, and are printed.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


try:
    import torch
except ModuleNotFoundError:
    sys.exit("training needs PyTorch, an optional extra: pip install torch==2.13.0  (or pip install -e '.[train]')")
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from onnx_tee.passes.datasets import dataset_info, evaluate_accuracy, load_dataset  # noqa: E402
from onnx_tee.models.training import ARCHITECTURES, TrainingRecipe, build_model, export_onnx, train  # noqa: E402
from onnx_tee.passes.analysis.macs import model_macs  # noqa: E402
from onnx_tee.passes.analysis.shapes import infer_static_shapes  # noqa: E402
from onnx_tee.passes.analysis.weights import weight_bytes  # noqa: E402

MODELS_DIR = Path(__file__).resolve().parent
TABLE_BEGIN, TABLE_END = "<!-- metrics:begin -->", "<!-- metrics:end -->"


def train_one(name: str, *, epochs: float | None, seed: int, threads: int, out_dir: Path) -> dict:
    arch = ARCHITECTURES[name]
    info = dataset_info(arch.dataset)
    recipe = TrainingRecipe(epochs=arch.epochs if epochs is None else epochs, lr=arch.lr, seed=seed,
                            threads=threads)
    net = build_model(name, seed=seed)
    started = time.perf_counter()
    train(net, arch.dataset, recipe)
    seconds = time.perf_counter() - started
    x_test, _ = load_dataset(arch.dataset, "test")
    path = out_dir / f"{name}.onnx"
    model = export_onnx(net, path, info.sample_shape, check_inputs=x_test[:32],
                        doc=f"{arch.summary}; trained on {arch.dataset} by models/train_fmnist.py")
    accuracy = evaluate_accuracy(model, arch.dataset, "test", threads=threads)
    return {
        "dataset": arch.dataset,
        "train_samples": len(load_dataset(arch.dataset, "train").y),
        "validation_accuracy": round(evaluate_accuracy(model, arch.dataset, "validation", threads=threads), 4),
        "test_accuracy": round(accuracy, 4),
        "test_samples": len(x_test),
        "params": sum(p.numel() for p in net.parameters()),
        "macs": sum(model_macs(model, infer_static_shapes(model)).values()),
        "weight_bytes": weight_bytes(model),
        "onnx_bytes": path.stat().st_size,
        "epochs": recipe.epochs, "lr": recipe.lr, "batch_size": recipe.batch_size, "seed": seed,
        "threads": threads, "train_seconds": round(seconds, 1), "torch": torch.__version__.split("+")[0],
        "summary": arch.summary,
    }


def card_table(metrics: dict) -> str:
    rows = ["| model | data set | trained on | validation top-1 | test top-1 | params | MACs | ONNX bytes | epochs "
            "| train time (1 thread) |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for name, m in metrics.items():
        rows.append(f"| `{name}` | {m['dataset']} | {m['train_samples']:,} | {100 * m['validation_accuracy']:.2f}% | "
                    f"{100 * m['test_accuracy']:.2f}% ({m['test_samples']}) | "
                    f"{m['params']:,} | {m['macs'] / 1e6:.2f} M | {m['onnx_bytes']:,} | {m['epochs']:g} | "
                    f"{m['train_seconds'] / 60:.1f} min |")
    return "\n".join(rows)


def update_card(card: Path, metrics: dict) -> None:
    """Replace the generated table between the markers of the model card."""
    text = card.read_text()
    head, rest = text.split(TABLE_BEGIN, 1)
    _, tail = rest.split(TABLE_END, 1)
    card.write_text(f"{head}{TABLE_BEGIN}\n{card_table(metrics)}\n{TABLE_END}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"models to train: {', '.join(ARCHITECTURES)}")
    parser.add_argument("--all", action="store_true", help="train every model")
    parser.add_argument("--epochs", type=float, help="override each model's epochs (quick runs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch and onnxruntime threads (default 1)")
    parser.add_argument("--out", type=Path, default=MODELS_DIR / "trained",
                        help="where the .onnx files and metrics.json go (default: models/trained)")
    args = parser.parse_args(argv)
    names = list(ARCHITECTURES) if args.all else args.names
    if not names:
        parser.error("name at least one model, or give --all")
    unknown = [n for n in names if n not in ARCHITECTURES]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}: choose from {', '.join(ARCHITECTURES)}")
    metrics_path = args.out / "metrics.json"
    console = Console()
    for name in names:
        console.print(f"[bold]{name}[/bold]: training on {ARCHITECTURES[name].dataset}")
        result = train_one(name, epochs=args.epochs, seed=args.seed, threads=args.threads, out_dir=args.out)
        metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}   # other runs may have
        metrics = dict(sorted({**metrics, name: result}.items()))                           # added models since
        metrics_path.write_text(json.dumps(metrics, indent=2) + "\n")
        console.print(f"  test accuracy {100 * metrics[name]['test_accuracy']:.2f}% "
                      f"in {metrics[name]['train_seconds']:.0f} s")
    if args.out.resolve() == (MODELS_DIR / "trained").resolve():
        update_card(MODELS_DIR / "MODEL_CARD.md", metrics)
    table = Table(title="trained zoo (test accuracy measured with onnxruntime on the exported ONNX)")
    for column in ("model", "data set", "test top-1", "params", "MACs", "train time"):
        table.add_column(column, justify="left" if column in ("model", "data set") else "right")
    for name in names:
        m = metrics[name]
        table.add_row(name, m["dataset"], f"{100 * m['test_accuracy']:.2f}%", f"{m['params']:,}",
                      f"{m['macs'] / 1e6:.2f} M", f"{m['train_seconds']:.0f} s")
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
