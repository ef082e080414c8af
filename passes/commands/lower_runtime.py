"""The runtime half of `lower`: partition, lower to bodies, seal the device bundle, check it in the simulator.

Steps over a `LowerJob` (passes/commands/lower.py), after the model is compacted and its ops are
known to be supported::

    partition      partition_model(): partitions + the memory plan (exact body sizes)
    lower          one body per partition (passes/lower/lowering.py), kept in memory only
    write bundle   partition_NNN.onnx + manifest.json (the developer's build artifacts) and
                   device/ (encrypted blobs + device manifest: what goes to the phone); the key
                   is --key FILE, else model.key in the output directory: reused when it is a valid
                   key file, created (mode 0600, O_EXCL | O_NOFOLLOW) when absent, never replaced.
                   The model id and version (the device's rollback guard) are --model-id and
                   --model-version, else those of the build already in the directory (version + 1),
                   else a new random id and version 1; manifest.json records both.
    simulate       the bundle in the TA simulator on a sample input: parity with onnxruntime
                   (max abs / rel error per output) and measured vs planned memory per partition

Output directory layout: README.md, "What lower writes".
"""
from __future__ import annotations

import hashlib
import json
import os
import re

import numpy as np
import onnxruntime as ort

from ..errors import UserError
from ..lower.envelope import MODEL_ID_BYTES
from ..lower.keys import key_for_output_dir, load_key
from ..lower.pipeline import (model_io, parity, partition_bodies, run_in_simulator, sample_feeds,
                              seal_bundle)
from ..modelio import save_model
from ..partition.partitioner import partition_model

KEY_FILE = "model.key"
PARITY_RTOL = 1e-4


def partition(job) -> None:
    """Cut the compacted model into partitions that fit the budget, with the memory plan."""
    job.partition = partition_model(job.model, job.budget)
    plan = job.partition.plan
    job.report["partitions"] = {"count": len(plan.partitions), "region_bytes": plan.region_bytes,
                                "strategy": job.partition.strategy, "tiling": dict(job.partition.tiling)}


def lower_bodies(job) -> None:
    """Translate every partition into the body the TA interpreter runs."""
    job.bodies = partition_bodies(job.partition, job.model)


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_bundle(job) -> None:
    """partition_NNN.onnx + manifest.json, and the encrypted device bundle in device/."""
    out, result = job.out_dir, job.partition
    out.mkdir(parents=True, exist_ok=True)
    # files of an earlier run into the same directory (it may have had more partitions)
    for stale in [*out.glob("partition_*.onnx"), *(out / "device").glob("partition_*.blob")]:
        stale.unlink()
    if job.key_path:
        job.key = load_key(job.key_path)
    else:
        job.key, _ = key_for_output_dir(out / KEY_FILE)
    model_id, model_version = release_of(job, out)
    _, blobs = seal_bundle(job.bodies, result, job.model, job.key, out / "device", model_id=model_id,
                           model_version=model_version)
    inputs, outputs = model_io(job.model)
    entries = []
    for k, (part_model, spec, memory, body, blob) in enumerate(zip(result.models, result.specs, result.plan.partitions,
                                                                    job.bodies, blobs)):
        path = out / f"partition_{k:03d}.onnx"
        save_model(part_model, path)
        entries.append({"onnx": path.name, "inputs": list(spec.inputs), "outputs": list(spec.outputs),
                        "nodes": len(memory.node_order), "memory": memory.breakdown(), "sha256": _sha256(path),
                        "blob": f"device/{blob.name}", "blob_sha256": _sha256(blob), "body_bytes": len(body),
                        "body_offset": memory.body_offset})
    manifest = {"model": job.label, "budget": job.budget, "region_bytes": result.plan.region_bytes,
                "staging_bytes": result.plan.staging_bytes, "reserve_bytes": result.plan.reserve_bytes,
                "inputs": inputs, "outputs": outputs, "key": str(job.key_path or out / KEY_FILE),
                "model_id": model_id.hex(), "model_version": model_version, "partitions": entries}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def simulate(job) -> None:
    """Run the device bundle in the simulator on a sample input; compare with onnxruntime."""
    inputs, outputs = model_io(job.model)
    feeds = sample_feeds(job.model, job.partition.infos)
    got, stats = run_in_simulator(job.out_dir / "device", job.key, job.budget, feeds, inputs, outputs)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(job.model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    expected = dict(zip(outputs, session.run(outputs, feeds)))
    report = parity(got, expected)
    job.report["simulation"] = {
        "max_abs_error": report.max_abs, "max_rel_error": report.max_rel,
        "heap_high_water": stats.heap_high_water, "invocations": stats.invocations,
        "bytes_in": stats.bytes_in, "bytes_out": stats.bytes_out,
        "partitions": [{"planned": p.planned_bytes, "measured": p.touched_bytes, "load_seconds": p.load_seconds,
                        "compute_seconds": p.compute_seconds} for p in stats.partitions]}
    if not np.isfinite(report.worst_rel) or report.worst_rel > PARITY_RTOL:
        raise RuntimeError(f"the simulator's outputs differ from onnxruntime's: max relative error "
                           f"{report.worst_rel:.3g} > {PARITY_RTOL:g} ({report.max_rel})")
    mismatched = [p.index for p in stats.partitions if p.touched_bytes != p.planned_bytes]
    if mismatched:
        raise RuntimeError(f"partitions {mismatched}: measured memory differs from the plan")


def summary_rows(job) -> list[list[str]]:
    """Rows for lower's summary table (partitions, region, parity)."""
    from ..sizes import format_size

    rows = []
    if "partitions" in job.report:
        rows.append(["partitions", job.report["partitions"]["count"]])
        rows.append(["region (planned peak)", format_size(job.report["partitions"]["region_bytes"])])
    sim = job.report.get("simulation")
    if sim:
        rows.append(["simulator heap high-water", format_size(sim["heap_high_water"])])
        rows.append(["max abs / rel error vs onnxruntime",
                     f"{max(sim['max_abs_error'].values()):.3g} / {max(sim['max_rel_error'].values()):.3g}"])
        worst = max(abs(p["measured"] - p["planned"]) / p["planned"] for p in sim["partitions"])
        rows.append(["measured vs planned memory", f"max deviation {worst:.2%}"])
    return rows


def check_key_option(path, out_dir=None) -> None:
    """--key must name an existing key file; without it, DIR/model.key must be absent or a valid key
    file (not a link): both checked before any work."""
    if path is not None:
        load_key(path)
    elif out_dir is not None:
        default = out_dir / KEY_FILE
        if default.is_symlink():
            raise UserError(f"{default} is a symbolic link: refusing to read or write a key through it "
                            f"(remove it, or give --key FILE)")
        if default.exists():
            try:
                load_key(default)
            except UserError as err:
                raise UserError(f"{err}; refusing to replace it (remove it, or give --key FILE)") from None


def parse_model_id(text: str) -> bytes:
    """--model-id: 32 hex digits, or a name of at most 16 bytes (UTF-8, zero-padded)."""
    if re.fullmatch(r"[0-9a-fA-F]{32}", text):
        return bytes.fromhex(text)
    raw = text.encode()
    if not raw or len(raw) > MODEL_ID_BYTES:
        raise UserError(f"--model-id {text!r}: give 32 hex digits or a name of 1..{MODEL_ID_BYTES} bytes")
    return raw.ljust(MODEL_ID_BYTES, b"\0")


def release_of(job, out) -> tuple[bytes, int]:
    """(model id, model version) of this build: the options, else the earlier build in `out` (same id,
    version + 1: a device that opened it then refuses nothing older), else a new id and version 1."""
    previous_id, previous_version = None, 0
    try:
        earlier = json.loads((out / "manifest.json").read_text())
        previous_id = bytes.fromhex(earlier["model_id"])
        previous_version = int(earlier["model_version"])
        if len(previous_id) != MODEL_ID_BYTES:
            previous_id = None
    except (OSError, ValueError, KeyError, TypeError):
        pass
    model_id = job.model_id or previous_id or os.urandom(MODEL_ID_BYTES)
    if job.model_version is not None:
        version = job.model_version
    else:
        version = previous_version + 1 if previous_id == model_id else 1
    return model_id, version

