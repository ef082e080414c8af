"""The secure configurations: partition + lower a model at a budget, then time it in the simulator.

    measurement = time_in_simulator("squeezenet", compacted, feeds, expected, 8 << 20, BY_NAME["ours"],
                                    work_dir, repeats=5, warmup=1, switch_model=WorldSwitchModel())

Build (not timed), from the compacted model: partition with the configuration's strategy
(`partition_model`), lower every partition to its body and seal the bodies into a device bundle
(`passes.lower.pipeline`) under a fresh random key, in a temporary directory below `work_dir` that
is removed afterwards.  A budget the partitioner cannot meet becomes an
"infeasible" measurement carrying its message (which names the smallest budget that works).

Run (timed): one simulated device provisioned with the key; each inference is the protocol a
device runs — open model, write the input, load (copy + decrypt + validate) and run every
partition in order, read the output — and the simulator's counters give, per inference, the load
and compute seconds of every partition, the TA invocations (world switches) and the TEE_Malloc
high-water mark.  The first inference's outputs are compared with `expected`, onnxruntime's on the
same model (`max_rel_error` in the measurement): a benchmark of wrong answers would be worthless.
"""
from __future__ import annotations

import statistics
import tempfile
from pathlib import Path
from typing import Mapping

import numpy as np
import onnx

from ..errors import UserError
from ..lower.keys import generate_key
from ..lower.pipeline import model_io, parity, partition_bodies, run_in_simulator, seal_bundle
from ..partition.partitioner import partition_model
from .configs import Configuration
from .results import Measurement
from .switches import WorldSwitchModel
from .timing import repeat_components


def build_bundle(model: onnx.ModelProto, budget: int, strategy: str, key: bytes, device_dir: Path):
    """Partition with `strategy` under `budget`, lower and seal into `device_dir`; returns the
    partition result (UserError when the budget is infeasible)."""
    result = partition_model(model, budget, strategy=strategy)
    seal_bundle(partition_bodies(result, model), result, model, key, device_dir)
    return result


def time_in_simulator(label: str, model: onnx.ModelProto, feeds: Mapping[str, np.ndarray],
                      expected: Mapping[str, np.ndarray], budget: int, config: Configuration, work_dir: Path, *,
                      repeats: int, warmup: int, switch_model: WorldSwitchModel) -> Measurement:
    """One secure configuration of one model at one budget: medians over `repeats` inferences."""
    work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"{label}-{config.name}-", dir=work_dir) as tmp:
        key, device_dir = generate_key(), Path(tmp) / "device"
        try:
            result = build_bundle(model, budget, config.strategy, key, device_dir)
        except UserError as exc:
            return Measurement(label, budget, config.name, status=f"infeasible: {exc}")
        inputs, outputs = model_io(result.model)
        runs = []

        def one_inference() -> dict[str, float]:
            arrays, stats = run_in_simulator(device_dir, key, budget, feeds, inputs, outputs)
            runs.append((arrays, stats))
            return {"compute": sum(p.compute_seconds for p in stats.partitions),
                    "load": sum(p.load_seconds for p in stats.partitions),
                    "switches": stats.invocations, "heap_high_water": stats.heap_high_water}

        samples = repeat_components(one_inference, repeats=repeats, warmup=warmup)
    timed = [stats for _, stats in runs[warmup:]]
    per_partition = [{"planned_bytes": p.planned_bytes, "touched_bytes": p.touched_bytes, "blob_bytes": p.blob_bytes,
                      "load_s": statistics.median(s.partitions[k].load_seconds for s in timed),
                      "compute_s": statistics.median(s.partitions[k].compute_seconds for s in timed)}
                     for k, p in enumerate(timed[0].partitions)]
    switches = int(samples["switches"].median)
    return Measurement(label, budget, config.name, compute_s=samples["compute"].median,
                       load_s=samples["load"].median, switches=switches, switch_s=switch_model.seconds(switches),
                       peak_secure_bytes=int(samples["heap_high_water"].max), partitions=len(result.parts),
                       spread={k: samples[k].to_json() for k in ("compute", "load")}, per_partition=per_partition,
                       max_rel_error=parity(runs[0][0], expected).worst_rel,
                       region_bytes=timed[0].region_bytes, bytes_into_ta=timed[0].bytes_in)
