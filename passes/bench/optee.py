"""Measure, in one boot of a real OP-TEE secure world, what the host simulator cannot: the world switch,
the LOAD_CHUNK path and per-partition compute.  Emulated (QEMU TCG), not hardware (`figures.LABEL`).

    figures = measure(Plan(), work_dir)     # builds the TAs and the client with the kit, lowers, boots once

One guest runs, in order: the key provisioned once (every TA build shares the UUID, so the secure storage);
`onnx_tee_client --ping N` (round trips, at the load model's TA); the load model with `--times
--max-chunk C` for every chunk size C, `repeats` times each; every compute model with `--times`,
`repeats` times.  Every model is compacted, partitioned ("optimal") and sealed as the benchmark's
`partitioned` configuration is (`secure_runner.build_bundle`), and also run `repeats` times in the
host simulator for the per-partition comparison.  `optee/figures.py` has the arithmetic, `optee_report.py`
the tables.

The TA heap is BUDGET + 384 KiB: on the optee-kit's QEMU v8 (15 MiB of secure DRAM for OP-TEE and its
TAs) budgets up to `QEMU_MAX_BUDGET` load, 13 MiB does not (TEE_ERROR_OUT_OF_MEMORY at open session).
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

from onnx_tee import models
from ..analysis.shapes import fix_input_shapes, infer_static_shapes
from ..compact import compaction_pipeline
from ..errors import UserError
from ..lower.envelope import MANIFEST_FILE, parse_manifest
from ..lower.keys import generate_key
from ..lower.pipeline import model_io, run_in_simulator, sample_feeds
from ..optee import figures
from ..optee.guest import Guest, write_inputs
from ..optee.kit import CLIENT, build_client, build_ta, find_kit
from ..sizes import format_size
from ..target import LOAD_CHUNK_BYTES
from .machine import machine_info
from .secure_runner import build_bundle

KiB, MiB = 1 << 10, 1 << 20
QEMU_MAX_BUDGET = 12 * MiB


@dataclass(frozen=True)
class Plan:
    """What one measurement runs (module docstring)."""

    ping_calls: int = 2000
    repeats: int = 3
    load_model: tuple[str, int] = ("squeezenet", 8 * MiB)
    chunk_sizes: tuple[int, ...] = (64 * KiB, 256 * KiB, LOAD_CHUNK_BYTES)
    compute_models: tuple[tuple[str, int], ...] = (("squeezenet", 4 * MiB), ("mobilenetv2_fmnist", 1 * MiB))

    def bundles(self) -> list[tuple[str, int]]:
        """Every (model, budget) lowered, in budget order (the guest swaps TAs as rarely as it can)."""
        return sorted(dict.fromkeys([self.load_model, *self.compute_models]), key=lambda mb: (mb[1], mb[0]))

    def check(self) -> None:
        for name, budget in self.bundles():
            if budget > QEMU_MAX_BUDGET:
                raise UserError(f"{name} at {format_size(budget)}: the QEMU secure world loads TAs for budgets up "
                                f"to {format_size(QEMU_MAX_BUDGET)} (TA heap = budget + 384 KiB in 15 MiB)")
        if self.repeats < 1 or self.ping_calls < 1 or not self.chunk_sizes:
            raise UserError("repeats, ping calls and chunk sizes must be positive")


@dataclass
class Bundle:
    name: str
    budget: int
    device: Path
    inputs: Path
    staging_bytes: int
    simulated: list[list[float]]      # per simulator run: compute seconds per partition

    @property
    def tag(self) -> str:
        return f"{self.name}-{self.budget // KiB}KiB"


def _lower(name: str, budget: int, key: bytes, work: Path, repeats: int) -> Bundle:
    """Compact, partition, seal; the input file; `repeats` runs in the host simulator."""
    _, model = models.resolve(name)
    model = compaction_pipeline()(fix_input_shapes(model, {})).model
    out = work / f"{name}-{budget}"
    result = build_bundle(model, budget, "optimal", key, out / "device")
    inputs, outputs = model_io(result.model)
    feeds = sample_feeds(model, infer_static_shapes(model))
    x = write_inputs(out / "x.bin", [feeds[n] for n in inputs])
    simulated = [[p.compute_seconds for p in run_in_simulator(out / "device", key, budget, feeds, inputs,
                                                               outputs)[1].partitions] for _ in range(repeats)]
    staging = parse_manifest((out / "device" / MANIFEST_FILE).read_bytes()).staging_bytes
    return Bundle(name, budget, out / "device", x, staging, simulated)


def _revision(stdout: str) -> str | None:
    match = re.search(r"optee: revision ([\w.]+)", stdout)
    return match.group(1) if match else None


def measure(plan: Plan, work: Path, *, progress=print) -> dict:
    """Build, lower, boot once, run every case; returns the figures (JSON-ready, every one labelled)."""
    plan.check()
    kit = find_kit()
    progress(f"building the TAs ({', '.join(format_size(b) for b in sorted({b for _, b in plan.bundles()}))}) "
             f"and the client with {kit}")
    tas = {budget: build_ta(budget, kit) for budget in sorted({b for _, b in plan.bundles()})}
    client = build_client(kit)
    key = generate_key()
    (work / "model.key").write_bytes(key)
    bundles = {}
    for name, budget in plan.bundles():
        progress(f"lowering {name} at {format_size(budget)} (and {plan.repeats} host-simulator runs)")
        bundles[(name, budget)] = _lower(name, budget, key, work, plan.repeats)
    load = bundles[plan.load_model]
    chunks = sorted(set(plan.chunk_sizes))

    guest = Guest(work / "guest", kit, mem_mb=1536)
    guest.case("optee-revision", "dmesg")
    first = True
    for budget in sorted(tas):
        guest.install_ta(tas[budget])
        if first:
            guest.case("provision", CLIENT, "--provision", guest.add(work / "model.key"))
            first = False
        here = [b for (_, bb), b in bundles.items() if bb == budget]
        if plan.load_model[1] == budget:
            guest.case("ping", CLIENT, "--ping", str(plan.ping_calls))
            for chunk in chunks:
                for r in range(plan.repeats):
                    guest.case(f"load-{chunk}-{r}", CLIENT, "--times", "--max-chunk", str(chunk),
                               guest.add(load.device, load.tag), guest.add(load.inputs, f"{load.tag}.bin"))
        for b in here:
            if (b.name, b.budget) in plan.compute_models:
                for r in range(plan.repeats):
                    guest.case(f"compute-{b.tag}-{r}", CLIENT, "--times", guest.add(b.device, b.tag),
                               guest.add(b.inputs, f"{b.tag}.bin"))
    progress(f"booting the secure world: {len(guest.names)} cases")
    boot = guest.boot(client=client, timeout=3000)
    failed = [name for name in guest.names if name not in boot.cases or boot.cases[name].rc != 0]
    if failed:
        raise RuntimeError(f"cases failed in the guest: {', '.join(failed)}\n"
                           + "\n".join(boot.cases[n].describe() for n in failed if n in boot.cases)
                           + f"\nrun.sh rc {boot.rc}: {boot.stderr[-3000:]}")
    trips = figures.round_trips(boot["ping"])
    loads = {c: [figures.load_run(boot[f"load-{c}-{r}"]) for r in range(plan.repeats)] for c in chunks}
    return {
        "label": figures.LABEL,
        "optee_revision": _revision(boot["optee-revision"].stdout),
        "kit": str(kit),
        "plan": {**asdict(plan), "ta_heap": "budget + 384 KiB", "qemu_max_budget": QEMU_MAX_BUDGET},
        "machine": machine_info(),
        "boot": {"ready_s": boot.ready_seconds, "wall_s": boot.wall_seconds},
        "round_trip": {"ta_budget": plan.load_model[1], "commands": trips},
        "load_chunk": {"model": load.name, "budget": load.budget, "staging_bytes": load.staging_bytes,
                       "per_chunk_size": figures.throughput(loads, trips["ping"]["median_ms"] / 1000)},
        "compute": [{"model": b.name, "budget": b.budget,
                     "partitions": figures.partition_compute([boot[f"compute-{b.tag}-{r}"] for r in range(plan.repeats)],
                                                             b.simulated)}
                    for b in (bundles[mb] for mb in plan.compute_models)],
        "cases_s": {name: round(case.seconds, 2) for name, case in boot.cases.items()},
    }
