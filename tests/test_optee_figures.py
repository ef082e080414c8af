"""The arithmetic of the real-TEE measurement (`passes.optee.figures`), on client output written by hand:
round trips parsed, LOAD_CHUNK raw and net rates, per-partition compute against the host."""
from __future__ import annotations

import pytest

from onnx_tee.passes.optee import figures
from onnx_tee.passes.optee.guest import CaseResult, parse_cases


def case(name: str, stdout: str) -> CaseResult:
    return CaseResult(name, 0, stdout, "", 1.0)


def times(parts: list[tuple[float, int, int, float]]) -> str:
    """--times lines: (load s, bytes, chunks, run s) per partition."""
    return "".join(f"partition {k}: 10 region bytes touched\ntime partition {k}: load {load:.6f} s ({nbytes} bytes, "
                   f"{chunks} chunks), run {run:.6f} s\n" for k, (load, nbytes, chunks, run) in enumerate(parts))


def test_round_trips_are_parsed_in_milliseconds():
    out = ("round trip ping: 2000 calls, median 312.5 us, min 290.1 us, mean 330.0 us, max 1204.0 us\n"
           "round trip refused: 2000 calls, median 455.0 us, min 401.2 us, mean 470.3 us, max 2210.9 us\n")
    trips = figures.round_trips(case("ping", out))
    assert trips["ping"] == {"calls": 2000, "median_ms": pytest.approx(0.3125), "min_ms": pytest.approx(0.2901),
                             "mean_ms": pytest.approx(0.330), "max_ms": pytest.approx(1.204)}
    assert trips["refused"]["median_ms"] == pytest.approx(0.455)


def test_load_rates_raw_and_net_of_round_trips():
    """Per chunk size the median load over its runs; the net rate takes n median pings out of the raw one."""
    nbytes = 4_000_000
    runs = {}
    for chunk, n, loads in ((65536, 62, (3.0, 2.0, 9.0)), (1048576, 4, (4.0, 4.5, 5.0))):
        runs[chunk] = [figures.load_run(case("load", times([(load * 0.25, nbytes // 4, n // 2, 0.1),
                                                            (load * 0.75, nbytes - nbytes // 4, n - n // 2, 0.2)])))
                       for load in loads]
    rows = {r["chunk_bytes"]: r for r in figures.throughput(runs, ping_s=0.0004)}
    assert rows[65536]["chunks"] == 62 and rows[65536]["bytes"] == nbytes and rows[65536]["runs"] == 3
    assert rows[65536]["load_s"] == pytest.approx(3.0)
    assert rows[65536]["raw_MBps"] == pytest.approx(nbytes / 3.0 / 1e6)
    assert rows[65536]["net_MBps"] == pytest.approx(nbytes / (3.0 - 62 * 0.0004) / 1e6)
    assert rows[1048576]["raw_MBps"] == pytest.approx(nbytes / 4.5 / 1e6)


def test_partition_compute_takes_medians_and_the_ratio_to_the_host():
    cases = [case("c", times([(0.1, 100, 1, run0), (0.2, 200, 1, run1)]))
             for run0, run1 in ((1.0, 4.0), (3.0, 2.0), (2.0, 3.0))]
    rows = figures.partition_compute(cases, [[0.01, 0.03], [0.02, 0.03], [0.04, 0.03]])
    assert [r["tee_run_s"] for r in rows] == [2.0, 3.0]
    assert [r["host_compute_s"] for r in rows] == [0.02, 0.03]
    assert rows[0]["tcg_over_host"] == pytest.approx(100.0) and rows[1]["blob_bytes"] == 200


def test_guest_blocks_parse_into_cases():
    stdout = ("boot noise\n@@CASE-BEGIN ping\nround trip ping: 2 calls, median 1.0 us, min 1.0 us, mean 1.0 us, "
              "max 1.0 us\n@@CASE-STDERR ping\n@@CASE-END ping rc=0 t0=10.00 t1=10.50\n")
    cases = parse_cases(stdout)
    assert list(cases) == ["ping"] and cases["ping"].rc == 0 and cases["ping"].seconds == pytest.approx(0.5)
    assert figures.round_trips(cases["ping"])["ping"]["calls"] == 2
    assert "not hardware" in figures.LABEL
