#!/usr/bin/env python3
"""Export the real-model coverage corpus to ONNX (needs the `corpus` extra: torch + torchvision).

    python models/realworld/export.py [--out DIR] [--models NAME ...] [--opsets 13 17] [--quick] [--force] [--list]

Every architecture is built with seeded random weights (torchvision `weights=None`: nothing is downloaded),
its BatchNorm statistics calibrated on seeded random inputs (so activations keep a realistic scale through
deep stacks), then exported in eval mode at batch 1 with fixed shapes by the TorchScript exporter
(`torch.onnx.export(..., dynamo=False)`), once per opset, to `<DIR>/<name>-op<opset>.onnx`.  DIR defaults to
$ONNX_TEE_CORPUS_DIR or ~/.cache/onnx-tee/realworld/.  Files already there are skipped unless --force.
Each export is checked against torch in onnxruntime; times and that check go to `<DIR>/export_log.json`.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
import zlib
from pathlib import Path

from onnx_tee.models import realworld as corpus


def seed_of(name: str) -> int:
    return zlib.crc32(name.encode())


def _random_inputs(entry, batch: int, generator):
    import torch

    tensors = []
    for spec in entry.inputs:
        shape = (batch, *spec.shape[1:])
        if spec.dtype.startswith("int"):
            tensors.append(torch.randint(0, spec.high or 4, shape, generator=generator, dtype=getattr(torch, spec.dtype)))
        else:
            tensors.append(torch.randn(shape, generator=generator, dtype=getattr(torch, spec.dtype)))
    return tuple(tensors)


def build(entry):
    """The entry's torch module in eval mode, with seeded random weights and calibrated BatchNorm stats."""
    import torch
    from torch import nn

    from onnx_tee.models.realworld import builders  # needs torch: imported only to export
    torch.manual_seed(seed_of(entry.name))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module, output_names = getattr(builders, entry.builder)(**entry.kwargs)
    with torch.no_grad():
        for sub in module.modules():  # zero-initialised layers (e.g. ViT's head) would make every output 0
            weight = getattr(sub, "weight", None)
            if isinstance(weight, nn.Parameter) and weight.dim() >= 2 and not weight.any():
                nn.init.normal_(weight, std=0.02)
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if norms:
        generator = torch.Generator().manual_seed(seed_of(entry.name) + 1)
        for bn in norms:
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average over the calibration batches
        module.train()
        with torch.no_grad():
            for _ in range(2):
                module(*_random_inputs(entry, 2, generator))
    module.eval()
    return module, output_names


def export_entry(entry, opsets, out_dir: Path, force: bool = False) -> list[dict]:
    import numpy as np
    import onnx
    import onnxruntime as ort
    import torch

    todo = [op for op in opsets if force or not corpus.model_path(entry.name, op, out_dir).exists()]
    if not todo:
        return [{"name": entry.name, "opset": op, "status": "cached"} for op in opsets]
    start = time.perf_counter()
    try:
        module, output_names = build(entry)
        generator = torch.Generator().manual_seed(seed_of(entry.name) + 2)
        args = _random_inputs(entry, 1, generator)
        with torch.no_grad():
            expected = module(*args)
        expected = [expected] if isinstance(expected, torch.Tensor) else list(expected)
    except Exception as exc:  # a builder that fails must not stop the rest
        error = f"building the torch model: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        return [{"name": entry.name, "opset": op, "status": "failed", "seconds": 0.0, "error": error} for op in todo]
    build_seconds = time.perf_counter() - start
    rows = []
    for opset in todo:
        path = corpus.model_path(entry.name, opset, out_dir)
        tmp = path.with_suffix(".onnx.tmp")
        row = {"name": entry.name, "opset": opset}
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(module, args, str(tmp), dynamo=False, opset_version=opset,
                                  input_names=[i.name for i in entry.inputs], output_names=output_names,
                                  do_constant_folding=True)
            onnx.checker.check_model(str(tmp))
            session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
            got = session.run(None, {i.name: a.numpy() for i, a in zip(entry.inputs, args)})
            worst = 0.0
            for g, e in zip(got, expected):
                e = e.numpy()
                worst = max(worst, float(np.max(np.abs(g - e)) / max(float(np.max(np.abs(e))), 1e-30)))
            tmp.replace(path)
            row.update(status="exported", seconds=round(time.perf_counter() - t0 + build_seconds / len(todo), 2),
                       bytes=path.stat().st_size, ort_vs_torch=worst)
        except Exception as exc:  # keep going: one architecture the exporter rejects must not stop the rest
            tmp.unlink(missing_ok=True)
            row.update(status="failed", seconds=round(time.perf_counter() - t0, 2),
                       error=f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help=f"cache directory (default ${corpus.ENV_VAR} or ~/.cache/onnx-tee/realworld)")
    parser.add_argument("--models", nargs="+", help="corpus names (default: all)")
    parser.add_argument("--opsets", nargs="+", type=int,
                        help=f"opsets (default: each entry's own, {' and '.join(map(str, corpus.OPSETS))} for most)")
    parser.add_argument("--quick", action="store_true", help="only the quick subset")
    parser.add_argument("--force", action="store_true", help="re-export files that exist")
    parser.add_argument("--list", action="store_true", help="print the corpus and exit")
    args = parser.parse_args(argv)

    names = args.models or (corpus.quick_names() if args.quick else corpus.names())
    try:
        entries = [corpus.get(n) for n in names]
    except KeyError as exc:
        print(f"export: error: {exc.args[0]}", file=sys.stderr)
        return 2
    if args.list:
        for e in entries:
            shapes = " ".join(f"{i.name}:{'x'.join(map(str, i.shape))}:{i.dtype}" for i in e.inputs)
            print(f"{e.name:26s} {e.family:15s} {shapes:40s} {e.note}")
        return 0
    try:
        import torch  # noqa: F401
        import torchvision  # noqa: F401
    except ImportError:
        print("export: error: torch and torchvision are needed: pip install -e '.[corpus]'", file=sys.stderr)
        return 2

    torch.set_num_threads(max(1, torch.get_num_threads()))
    torch.backends.mha.set_fastpath_enabled(False)  # the fused fast path does not export
    out_dir = corpus.cache_dir(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    log_path = out_dir / "export_log.json"
    log = json.loads(log_path.read_text()) if log_path.exists() else {}
    start = time.perf_counter()
    failed = 0
    from tqdm import tqdm

    bar = tqdm(entries, unit="model", desc="export")
    for entry in bar:
        bar.set_postfix_str(entry.name)
        opsets = entry.select_opsets(args.opsets)
        for row in export_entry(entry, opsets, out_dir, args.force):
            if row["status"] != "cached":
                log[f"{row['name']}-op{row['opset']}"] = row
                tqdm.write(f"{row['name']:26s} op{row['opset']}  {row['status']:8s} {row.get('seconds', '')}s "
                           f"{row.get('bytes', 0) / 2**20:7.1f} MiB  {row.get('error', '')}")
            failed += row["status"] == "failed"
        log_path.write_text(json.dumps(log, indent=1, sort_keys=True))
    total = time.perf_counter() - start
    print(f"exported into {out_dir} in {total:.0f} s; {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
