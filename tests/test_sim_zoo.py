"""Zoo models in the simulated TA: onnxruntime parity and measured memory against the plan.

For every partition the simulator's measured figures must equal the memory plan's: the highest region
byte the TA reports it touched while loading and running the partition, and, independently, the end
of the highest page the MMU saw touched (page-fault tracking; the plan's figure rounded up to a page).
The TEE_Malloc high-water mark of the whole run must stay within the budget.  Default: two reference models at 8 MiB and two trained
models at budgets small enough to split them; `-m slow`: every reference model at 4, 8, 16 and
32 MiB where the partitioner finds the budget feasible, every trained model at 128 KiB to 1 MiB.
"""
from __future__ import annotations

import mmap

import numpy as np
import pytest

from onnx_tee import models
from onnx_tee.passes.errors import UserError
from onnx_tee.passes.lower.pipeline import model_io, sample_feeds
from onnx_tee.passes.lower.sim import Simulator, sanitizing
from conftest import run_ort
from ta_bundles import lower_zoo

MiB = 1 << 20
KiB = 1 << 10
DEFAULT = [("squeezenet", 8 * MiB), ("inception_v1", 8 * MiB), ("lenet5_fmnist", 128 * KiB),
           ("resnet_fmnist", 256 * KiB)]
SLOW = [(name, budget * MiB) for name in models.reference_names() for budget in (4, 8, 16, 32)] + [
    (name, budget * KiB) for name in models.trained_names() for budget in (128, 192, 256, 512, 1024)]
SLOW = [case for case in SLOW if case not in DEFAULT]


def check(name: str, budget: int, tmp_path) -> None:
    try:
        lowered = lower_zoo(name, budget, tmp_path)
    except UserError as exc:
        pytest.skip(f"{name} at {budget // KiB} KiB: {exc}")
    feeds = sample_feeds(lowered.model, lowered.result.infos)
    inputs, outputs = model_io(lowered.model)
    pages = not sanitizing()
    with Simulator(tmp_path / "storage", budget=budget, track_pages=pages) as sim:
        sim.provision_key(lowered.key)
        arrays, stats = sim.run_bundle(lowered.device, [feeds[name] for name in inputs])
    got = dict(zip(outputs, arrays))
    expected = run_ort(lowered.model, feeds)
    for out in outputs:
        scale = float(np.abs(expected[out]).max())
        assert float(np.abs(got[out] - expected[out]).max()) <= 1e-4 * scale, out
    plan = lowered.result.plan
    assert [p.touched_bytes for p in stats.partitions] == [p.total for p in plan.partitions]
    if pages:
        page = mmap.PAGESIZE
        assert [p.pages_touched_bytes for p in stats.partitions] == [
            min(-(-p.total // page) * page, plan.region_bytes) for p in plan.partitions]
    assert plan.region_bytes <= stats.heap_high_water <= budget
    assert stats.invocations >= 2 * len(plan.partitions) + 1


@pytest.mark.parametrize("name,budget", DEFAULT, ids=[f"{n}-{b // KiB}KiB" for n, b in DEFAULT])
def test_zoo_in_simulator(name, budget, tmp_path):
    check(name, budget, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name,budget", SLOW, ids=[f"{n}-{b // KiB}KiB" for n, b in SLOW])
def test_every_zoo_model_in_simulator(name, budget, tmp_path):
    check(name, budget, tmp_path)
