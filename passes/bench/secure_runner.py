"""The secure configurations: partition + lower a model at a budget, then time them in the simulator.

    by_config = time_in_simulator("squeezenet", 8 << 20, [(BY_NAME["ours"], compacted, expected), ...],
                                  feeds, work_dir, repeats=5, warmup=1, switch_model=WorldSwitchModel())

Build (not timed), from each configuration's compacted model: partition with its strategy
(`partition_model`), lower every partition to its body and seal the bodies into a device bundle
(`passes.lower.pipeline`) under a fresh random key, in a temporary directory below `work_dir` that
is removed afterwards.  A budget the partitioner cannot meet becomes an
"infeasible" measurement carrying its message (which names the smallest budget that works); a
bundle the TA refuses or fails to run becomes a "failed" measurement with the TA's error, and the
others are still timed.

With `profile`, every inference also times each op (`passes/lower/profile.py`): the measurement
carries the medians by op type and kernel path, the ops described from the partition models.

Run (timed), the configurations interleaved round-robin (`timing.repeat_interleaved`), so that
load drifting on a shared machine hits them alike: each inference runs on a fresh simulated device
provisioned with the bundle's key, and is the protocol a
device runs — open model, write the input, load (copy + decrypt + validate) and run every
partition in order, read the output — and the simulator's counters give, per inference, the load
and compute seconds of every partition, the TA invocations (world switches) and the TEE_Malloc
high-water mark.  Right after each inference the machine's AES-256-GCM decrypts as many bytes as
the inference loaded, in pieces of the staging buffer as the TA does (`sim.gcm_decrypt_seconds`, the cipher alone):
the load path's yardstick, measured in the same run (`aes_gcm_s`, `aes_gcm_cpu_s`).  The first
inference's outputs are compared with `expected`, onnxruntime's on the
same model (`max_rel_error` in the measurement): a benchmark of wrong answers would be worthless.

Steady state, timed in the same round-robin: a stream session on a fresh device runs STREAM_STEPS
inferences of the same input (`Simulator.run_stream`: pinned bodies load once, a fully resident
model takes one OT_CMD_INFER per inference); the medians of the inferences after the first are the
configuration's steady_* figures, and each of them must give the single-shot outputs bit for bit.
"""
from __future__ import annotations

import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import onnx

from ..errors import UserError
from ..lower.envelope import MANIFEST_FILE, parse_manifest
from ..lower.keys import generate_key
from ..lower.pipeline import model_io, parity, partition_bodies, run_in_simulator, seal_bundle
from ..lower.sim import Simulator
from ..lower.profile import OpInfo, describe_ops, op_samples, run_phases, summarise
from ..lower.sim import gcm_decrypt_seconds
from ..partition.partitioner import partition_model
from ..partition.residency import REPARTITION_FRACTIONS, pin_for_stream
from .configs import Configuration
from .results import Measurement
from .switches import WorldSwitchModel
from .timing import repeat_interleaved

# A secure configuration to time: the configuration, the (compacted) model it deploys, the expected outputs.
Candidate = tuple[Configuration, onnx.ModelProto, Mapping[str, np.ndarray]]


def build_bundle(model: onnx.ModelProto, budget: int, strategy: str, key: bytes, device_dir: Path,
                 residency: bool = False):
    """Partition with `strategy` under `budget` (with `residency`: pin bodies by the residency plan),
    lower and seal into `device_dir`; returns the partition result (UserError when the budget is
    infeasible)."""
    result = partition_model(model, budget, strategy=strategy)
    if residency:
        result, _ = pin_for_stream(result, repartition=REPARTITION_FRACTIONS)
    seal_bundle(partition_bodies(result, model), result, model, key, device_dir)
    return result


@dataclass
class Deployment:
    """One configuration ready to run: its sealed bundle, the key of the simulated device, the
    model's input and output names, the partition count, and what its outputs must be.  (Not the
    partition result itself: for the largest models it holds gigabytes of tiled weights.)"""

    config: Configuration
    budget: int
    io_names: tuple[list[str], list[str]]
    partitions: int
    key: bytes
    device_dir: Path
    staging_bytes: int                           # the TA decrypts blobs in tiles of it (the AES-GCM yardstick's pieces)
    feeds: Mapping[str, np.ndarray]
    expected: Mapping[str, np.ndarray]
    ops: list[list[OpInfo]] | None = None        # profiled: every partition's ops as their ONNX nodes
    runs: list = field(default_factory=list)     # (outputs, RunStats) of every inference, in order
    streams: list = field(default_factory=list)  # StepStats of the steady inferences of every stream

    def infer(self) -> dict[str, float]:
        """One inference on a fresh simulated device; returns its timed components."""
        inputs, outputs = self.io_names
        arrays, stats = run_in_simulator(self.device_dir, self.key, self.budget, self.feeds,
                                         inputs, outputs, profile=self.ops is not None)
        self.runs.append((arrays, stats))
        aes_gcm, aes_gcm_cpu = gcm_decrypt_seconds(sum(p.blob_bytes for p in stats.partitions), self.staging_bytes)
        return {"compute": sum(p.compute_seconds for p in stats.partitions),
                "compute_cpu": sum(p.compute_cpu_seconds for p in stats.partitions),
                "load": sum(p.load_seconds for p in stats.partitions),
                "load_cpu": sum(p.load_cpu_seconds for p in stats.partitions),
                "aes_gcm": aes_gcm, "aes_gcm_cpu": aes_gcm_cpu,
                "switches": stats.invocations, "heap_high_water": stats.heap_high_water}


    def stream(self) -> dict[str, float]:
        """One stream session of STREAM_STEPS inferences on a fresh simulated device; returns the
        median timed components of its inferences after the first (the steady state)."""
        inputs, outputs = self.io_names
        with tempfile.TemporaryDirectory(prefix="onnx-tee-device-") as storage:
            with Simulator(storage, budget=self.budget) as sim:
                sim.provision_key(self.key)
                results, steps = sim.run_stream(self.device_dir, [[self.feeds[n] for n in inputs]] * STREAM_STEPS)
        for t in range(1, STREAM_STEPS):   # every steady inference gives the single-shot outputs
            if any(a.tobytes() != b.tobytes() for a, b in zip(results[t], [self.runs[0][0][n] for n in outputs])):
                raise UserError(f"{self.config.name}: inference {t} of a stream differs from the single-shot one")
        steady = steps[1:]
        self.streams.append(steady)
        return {"compute": statistics.median(s.compute_seconds for s in steady),
                "load": statistics.median(s.load_seconds for s in steady),
                "switches": statistics.median(s.invocations for s in steady),
                "bytes_loaded": statistics.median(s.bytes_loaded for s in steady)}


STREAM_STEPS = 4   # one first inference, three steady ones


def _measurement(label: str, budget: int, deployment: Deployment, samples: dict, repeats: int,
                 switch_model: WorldSwitchModel, stream: dict | None = None) -> Measurement:
    timed = [stats for _, stats in deployment.runs[-repeats:]]
    per_partition = [{"planned_bytes": p.planned_bytes, "touched_bytes": p.touched_bytes, "blob_bytes": p.blob_bytes,
                      "load_s": statistics.median(s.partitions[k].load_seconds for s in timed),
                      "load_cpu_s": statistics.median(s.partitions[k].load_cpu_seconds for s in timed),
                      "compute_s": statistics.median(s.partitions[k].compute_seconds for s in timed)}
                     for k, p in enumerate(timed[0].partitions)]
    switches = int(samples["switches"].median)
    phases = [run_phases(s) for s in timed]
    profile = None if deployment.ops is None else summarise(
        [op_samples(deployment.ops, s) for s in timed],
        [sum(p.compute_cpu_seconds for p in s.partitions) for s in timed],
        [r for r, _ in phases], [w for _, w in phases]).to_json()
    return Measurement(label, budget, deployment.config.name, compute_s=samples["compute"].median,
                       compute_cpu_s=samples["compute_cpu"].median,
                       load_s=samples["load"].median, aes_gcm_s=samples["aes_gcm"].median,
                       load_cpu_s=samples["load_cpu"].median, aes_gcm_cpu_s=samples["aes_gcm_cpu"].median,
                       loaded_bytes=sum(p.blob_bytes for p in timed[0].partitions), switches=switches, switch_s=switch_model.seconds(switches),
                       peak_secure_bytes=int(samples["heap_high_water"].max), partitions=deployment.partitions,
                       spread={k: samples[k].to_json() for k in ("compute", "compute_cpu", "load", "load_cpu", "aes_gcm",
                                                                     "aes_gcm_cpu")},
                       per_partition=per_partition,
                       max_rel_error=parity(deployment.runs[0][0], deployment.expected).worst_rel,
                       region_bytes=timed[0].region_bytes, bytes_into_ta=timed[0].bytes_in, profile=profile,
                       **({} if stream is None else {
                           "steady_compute_s": stream["compute"].median, "steady_load_s": stream["load"].median,
                           "steady_switches": int(stream["switches"].median),
                           "steady_switch_s": switch_model.seconds(int(stream["switches"].median)),
                           "steady_bytes_loaded": int(stream["bytes_loaded"].median)}))


def time_in_simulator(label: str, budget: int, candidates: Sequence[Candidate], feeds: Mapping[str, np.ndarray],
                      work_dir: Path, *, repeats: int, warmup: int,
                      switch_model: WorldSwitchModel, profile: bool = False,
                      anchors: Mapping[str, Callable[[], Mapping[str, float]]] | None = None,
                      anchor_samples: dict | None = None) -> dict[str, Measurement]:
    """Every secure configuration of one model at one budget, timed against each other: build every
    bundle, then run the inferences round-robin (`repeat_interleaved`); medians over `repeats`
    (`profile`: and every op's time).  Returns {configuration name: Measurement}.

    `anchors` (name -> one timed call, e.g. `ort_runner.onnxruntime_inference`) join the same
    round-robin when any configuration runs; their samples go into `anchor_samples` by name."""
    work_dir.mkdir(parents=True, exist_ok=True)
    measurements: dict[str, Measurement] = {}
    with tempfile.TemporaryDirectory(prefix=f"{label}-", dir=work_dir) as tmp:
        deployments = []
        for config, model, expected in candidates:
            key, device_dir = generate_key(), Path(tmp) / config.name
            try:
                result = build_bundle(model, budget, config.strategy, key, device_dir, config.residency)
            except UserError as exc:
                measurements[config.name] = Measurement(label, budget, config.name, status=f"infeasible: {exc}")
                continue
            ops = [describe_ops(list(m.graph.node), result.infos) for m in result.models] if profile else None
            deployment = Deployment(config, budget, model_io(result.model), len(result.parts), key, device_dir,
                                    parse_manifest((device_dir / MANIFEST_FILE).read_bytes()).staging_bytes, feeds,
                                    expected, ops)
            del result
            try:
                deployment.infer()          # the first inference: outputs checked, counts as a warm-up
            except UserError as exc:
                measurements[config.name] = Measurement(label, budget, config.name, status=f"failed: {exc}")
                continue
            deployments.append(deployment)
        if deployments:
            samples = repeat_interleaved({**{d.config.name: d.infer for d in deployments},
                                          **{f"{d.config.name} stream": d.stream for d in deployments},
                                          **(anchors or {})},
                                         repeats=repeats, warmup=max(warmup - 1, 0))
            if anchor_samples is not None:
                anchor_samples.update({name: samples[name] for name in anchors or {}})
            for d in deployments:
                measurements[d.config.name] = _measurement(label, budget, d, samples[d.config.name], repeats,
                                                           switch_model, samples[f"{d.config.name} stream"])
    return {c.name: measurements[c.name] for c, _, _ in candidates}
