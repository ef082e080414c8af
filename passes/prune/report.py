"""The pruning report: per-layer channels before/after, params, FLOPs, bytes, accuracy per step.

`build_report(original, outcome, extra)` returns a JSON-ready dict; `write_report(report, dir)`
writes `prune_report.json` and `prune_accuracy_flops.png` (accuracy against FLOPs, one point per
step, rolled-back steps hollow).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx

from ..graph import node_label
from .tensors import ConstantStore

LAYER_OPS = {"Conv": 0, "ConvTranspose": 1, "Gemm": None, "MatMul": 1}


def layer_channels(model: onnx.ModelProto) -> dict[str, dict]:
    """{layer: {op, out_channels, params}} for every Conv / ConvTranspose / Gemm / MatMul with constant weights."""
    store = ConstantStore(model)
    layers = {}
    for node in model.graph.node:
        if node.op_type not in LAYER_OPS or len(node.input) < 2 or not store.is_constant(node.input[1]):
            continue
        shape = store.value(node.input[1]).shape
        axis = LAYER_OPS[node.op_type]
        if node.op_type == "Gemm":
            trans_b = any(a.name == "transB" and a.i for a in node.attribute)
            axis = 0 if trans_b else 1
        params = sum(int(np.prod(store.value(n).shape)) for n in node.input[1:] if n and store.is_constant(n))
        layers[node_label(node)] = {"op": node.op_type, "out_channels": int(shape[axis]),
                                               "params": params}
    return layers


def build_report(original: onnx.ModelProto, outcome, extra: dict | None = None) -> dict:
    before, after = layer_channels(original), layer_channels(outcome.model)
    layers = [{"layer": name, "op": info["op"], "channels_before": info["out_channels"],
               "channels_after": after.get(name, {}).get("out_channels"),
               "params_before": info["params"], "params_after": after.get(name, {}).get("params")}
              for name, info in before.items()]
    base, final = outcome.baseline, outcome.final
    return {
        **(extra or {}),
        "stop_reason": outcome.stop_reason,
        "baseline": base.as_dict(),
        "final": final.as_dict(),
        "ratios": {"flops": final.flops / base.flops if base.flops else None,
                   "params": final.params / base.params if base.params else None,
                   "bytes": final.bytes / base.bytes if base.bytes else None,
                   "flops_reduction": base.flops / final.flops if final.flops else None},
        "steps": outcome.history,
        "layers": layers,
    }


def write_report(report: dict, directory: str | Path, stem: str = "prune") -> tuple[Path, Path]:
    """Write `<stem>_report.json` and `<stem>_accuracy_flops.png` into `directory`."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / f"{stem}_report.json"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    png_path = directory / f"{stem}_accuracy_flops.png"
    steps = report["steps"]
    base_flops = report["baseline"]["flops"]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    accepted = [s for s in steps if s["accepted"]]
    rejected = [s for s in steps if not s["accepted"]]
    if all(s["accuracy"] is not None for s in steps):
        ax.plot([s["flops"] / base_flops for s in accepted], [s["accuracy"] for s in accepted], "o-",
                label="accepted step")
        if rejected:
            ax.plot([s["flops"] / base_flops for s in rejected], [s["accuracy"] for s in rejected], "o",
                    mfc="none", label="rolled back")
        ax.set_ylabel("validation accuracy")
    else:
        ax.plot([s["flops"] / base_flops for s in accepted], [s["params"] / steps[0]["params"] for s in accepted],
                "o-", label="params (relative)")
        ax.set_ylabel("params relative to the original")
    ax.set_xlabel("FLOPs relative to the original")
    ax.invert_xaxis()
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(f"{report.get('model', 'model')}: progressive pruning")
    fig.tight_layout()
    fig.savefig(png_path)
    plt.close(fig)
    return json_path, png_path
