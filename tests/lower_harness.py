"""Lower a model and run its bodies in the host build of the interpreter (shared by the lowering tests)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from conftest import run_ort
from onnx_tee.passes.analysis.shapes import infer_static_shapes
from onnx_tee.passes.graph import graph_inputs
from onnx_tee.passes import target
from onnx_tee.passes.lower.bodies import lower_plan
from onnx_tee.passes.lower.hostlib import InterpLibrary, RunResult, run_partitions
from onnx_tee.passes.lower.pipeline import sample_feeds
from onnx_tee.passes.partition.partitioner import partition_model
from onnx_tee.passes.quant import express_quantized

_LIBRARY: InterpLibrary | None = None


def library() -> InterpLibrary:
    """The host interpreter library, built once per test process (with ASan + UBSan when
    ONNX_TEE_SANITIZE=1; the process must then preload the ASan runtime)."""
    global _LIBRARY
    if _LIBRARY is None:
        _LIBRARY = InterpLibrary.build(sanitize=os.environ.get("ONNX_TEE_SANITIZE") == "1")
    return _LIBRARY


@dataclass
class Lowered:
    model: onnx.ModelProto
    result: object          # passes.partition.partitioner.PartitionResult
    bodies: list[bytes]
    inputs: list[str]
    outputs: list[str]


def lower(model: onnx.ModelProto, budget: int = 64 << 20) -> Lowered:
    model, _ = target.narrow_indices(model)   # int64 indices -> int32 (a copy), as `lower` does
    express_quantized(model)                  # QGemm as standard ONNX, as `lower` does
    infos = infer_static_shapes(model)
    target.check_supported(model, infos)
    result = partition_model(model, budget, infos=infos)
    inputs = [i.name for i in graph_inputs(model)]
    outputs = [o.name for o in model.graph.output]
    bodies = lower_plan(result.model, result.infos, result.specs, result.plan, inputs, outputs)
    return Lowered(model, result, bodies, inputs, outputs)


def run(lowered: Lowered, feeds: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], list[RunResult]]:
    return run_partitions(library(), lowered.bodies, lowered.result.plan, lowered.result.infos, feeds,
                          lowered.outputs)


def feeds_for(lowered: Lowered, seed: int = 0) -> dict[str, np.ndarray]:
    """Standard-normal floats; integer inputs (indices) uniform over the smallest table they index;
    booleans uniform; quantized inputs over their type's range (what `lower` feeds the simulator:
    pipeline.sample_feeds)."""
    return sample_feeds(lowered.model, lowered.result.infos, seed)


def relative_errors(lowered: Lowered, feeds: dict[str, np.ndarray]) -> tuple[dict[str, float], list[RunResult]]:
    """max |interp - ort| / max |ort| per model output, and the per-partition run results."""
    got, results = run(lowered, feeds)
    assert all(r.status == "RT_OK" for r in results), [(k, r.status, r.failed_op) for k, r in enumerate(results)]
    expected = run_ort(lowered.model, feeds)
    errors = {}
    for name in lowered.outputs:
        assert got[name].dtype == expected[name].dtype, (name, got[name].dtype, expected[name].dtype)
        want = expected[name].astype(np.float64)
        errors[name] = float(np.abs(got[name] - want).max() / max(np.abs(want).max(), 1e-30))
    return errors, results


def lower_through_the_cli(model: onnx.ModelProto, budget: str, tmp_path) -> dict:
    """`cli.py lower` of `model` at `budget` (which must split it): asserts it lowered into several
    partitions, each with measured == planned memory, within 1e-5 of onnxruntime; returns the report's
    simulation section."""
    root = Path(__file__).resolve().parents[1]
    path, out = tmp_path / "model.onnx", tmp_path / "out"
    onnx.save(model, str(path))
    done = subprocess.run([sys.executable, str(root / "cli.py"), "lower", str(path), "--budget", budget,
                           "-o", str(out)], capture_output=True, text=True, cwd=root)
    assert done.returncode == 0, done.stderr
    sim = json.loads((out / "report.json").read_text())["simulation"]
    assert len(sim["partitions"]) >= 2
    assert all(p["measured"] == p["planned"] for p in sim["partitions"])
    assert max(sim["max_rel_error"].values()) <= 1e-5, sim["max_rel_error"]
    return sim
