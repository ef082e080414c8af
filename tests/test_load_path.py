"""The load path's figures: the passes a load command makes over a blob (copy into staging,
decryption, validation: interp/profile.h RT_PROFILE_LOAD_*), the machine's
AES-256-GCM pace measured beside it (sim/gcm_pace.c), and the bench's table relating the two."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from onnx_tee import cli as onnx_tee_cli
from onnx_tee.passes.bench.machine import machine_info
from onnx_tee.passes.bench.report import load_path_rows, markdown_report
from onnx_tee.passes.bench.results import BenchRun, Measurement
from onnx_tee.passes.bench.switches import WorldSwitchModel
from onnx_tee.passes.lower.sim import LOAD_PASSES, gcm_decrypt_seconds
from test_sim_profile import mobile_block


def test_gcm_pace_grows_with_the_bytes_and_refuses_what_cannot_run():
    small = min(gcm_decrypt_seconds(1 << 20, 64 << 10)[1] for _ in range(3))
    large = min(gcm_decrypt_seconds(16 << 20, 64 << 10)[1] for _ in range(3))
    assert 0 < small < large                     # 16x the bytes cannot take less CPU time
    wall, cpu = gcm_decrypt_seconds(1 << 20, 1 << 20)
    assert wall > 0 and cpu > 0
    with pytest.raises(RuntimeError, match="AES-256-GCM timing"):
        gcm_decrypt_seconds(1 << 20, 0)


def test_profiled_run_times_every_pass_of_the_load(tmp_path):
    onnx.save(mobile_block(), tmp_path / "m.onnx")
    assert onnx_tee_cli.main(["lower", str(tmp_path / "m.onnx"), "--budget", "256KiB", "-o", str(tmp_path / "out")]) == 0
    np.save(tmp_path / "x.npy", np.random.default_rng(0).standard_normal((1, 3, 16, 16)).astype(np.float32))
    assert onnx_tee_cli.main(["run", str(tmp_path / "out"), "--input", str(tmp_path / "x.npy"),
                              "--stats", str(tmp_path / "stats.json")]) == 0
    for part in json.loads((tmp_path / "stats.json").read_text())["partitions"]:
        passes = part["load_passes"]
        assert set(passes) == set(LOAD_PASSES)
        assert all(passes[p] > 0 for p in LOAD_PASSES)          # every pass ran and was timed
        assert sum(passes.values()) <= part["load_seconds"]     # inside the load command's time
        assert 0 < part["load_cpu_seconds"]


def test_load_path_table_relates_load_to_the_cipher_in_both_clocks():
    mib = 2**20
    ms = [Measurement("a", 8 * mib, "ours", compute_s=0.01, load_s=0.010, load_cpu_s=0.008, aes_gcm_s=0.006,
                      aes_gcm_cpu_s=0.006, loaded_bytes=24_000_000),
          Measurement("b", 8 * mib, "ours", compute_s=0.01, load_s=0.004, load_cpu_s=0.004, aes_gcm_s=0.001,
                      aes_gcm_cpu_s=0.002, loaded_bytes=4_000_000),
          Measurement("c", 8 * mib, "ort", compute_s=0.01),                     # no load: no row
          Measurement("d", 8 * mib, "ours", status="infeasible: needs 9.00 MiB")]
    run = BenchRun("python cli.py bench", machine_info(), {"repeats": 3, "warmup": 1,
                   "switch_model": WorldSwitchModel().to_json()}, ms)
    header, rows = load_path_rows(run)
    assert [r[0] for r in rows] == ["a", "b", "median"]
    a = dict(zip(header, rows[0]))
    assert a["load GB/s (CPU)"] == "3.00" and a["AES-GCM GB/s (CPU)"] == "4.00"
    assert a["load / AES-GCM (CPU)"] == "75%" and a["load / AES-GCM (wall)"] == "60%"
    assert rows[2][header.index("load / AES-GCM (CPU)")] == "62%"          # median of 75% and 50%
    assert "Load path against the machine's AES-256-GCM" in markdown_report(run)
