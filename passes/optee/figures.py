"""The figures of a real-TEE measurement, from what the client prints.  Emulated (QEMU TCG), not hardware.

**Round trip** (`onnx_tee_client --ping N`): the client times each of N invocations of OT_CMD_PING (no
parameters, no work, no log) and N of OT_CMD_RUN without its parameters (refused at the parameter check,
the refusal logged on the secure console) and prints the median, min, mean and max per call.  The median
ping is the cost of one world switch: normal world -> OP-TEE driver -> secure monitor -> TA -> back.

**LOAD_CHUNK throughput.**  One inference loads blobs of B bytes in n chunks of at most C bytes, and
the client's --times give the wall-clock L spent loading (summed over partitions; every chunk one
OT_CMD_LOAD_CHUNK: copy into the secure staging buffer, SHA-256, AES-256-GCM decrypt, and on a blob's
last chunk tag, digest and body validation).  Per chunk size, with medians over the repeats:

    raw rate = B / L                    what loading costs a client, its n round trips included
    net rate = B / (L - n * t_ping)     copy + decrypt + validate alone (t_ping: the median ping)

(No line L = n * t_chunk + B / R is fitted across the chunk sizes: under TCG the cost per byte is not
constant but grows with the chunk, so such a fit gives a meaningless negative t_chunk.)

**Compute**: the client's run time per partition (one OT_CMD_RUN: the body validated again, then the
interpreter), medians over the repeats, beside the host simulator's compute for the same bundle (the
same C sources on this host): `tcg_over_host` = how much slower the emulated device runs them.
"""
from __future__ import annotations

import re
import statistics

from .guest import CaseResult

LABEL = "emulated (QEMU TCG full-system emulation of OP-TEE on this host), not hardware"
MB = 1e6
_ROUND_TRIP = re.compile(r"round trip (\w+): (\d+) calls, median ([\d.]+) us, min ([\d.]+) us, mean ([\d.]+) us, "
                         r"max ([\d.]+) us")


def round_trips(case: CaseResult) -> dict[str, dict]:
    """{"ping": {...}, "refused": {...}}: calls, and median/min/mean/max per call in milliseconds."""
    return {m[0]: {"calls": int(m[1]), **{k: float(v) / 1000 for k, v in zip(("median_ms", "min_ms", "mean_ms",
                                                                                "max_ms"), m[2:])}}
            for m in _ROUND_TRIP.findall(case.stdout)}


def load_run(case: CaseResult) -> dict:
    """One inference's loading: blob bytes B, chunks n, load seconds L (summed over partitions)."""
    times = case.partition_times()
    if not times:
        raise ValueError(f"no --times lines in case {case.name}:\n{case.describe()}")
    return {"bytes": sum(t["bytes"] for t in times), "chunks": sum(t["chunks"] for t in times),
            "load_s": sum(t["load"] for t in times)}


def throughput(runs_by_chunk: dict[int, list[dict]], ping_s: float) -> list[dict]:
    """Per chunk size: raw and net rates (module docstring) of the median load over its runs."""
    rows = []
    for chunk, runs in sorted(runs_by_chunk.items()):
        load = statistics.median(r["load_s"] for r in runs)
        nbytes, chunks = runs[0]["bytes"], runs[0]["chunks"]
        net = load - chunks * ping_s
        rows.append({"chunk_bytes": chunk, "bytes": nbytes, "chunks": chunks, "load_s": load, "runs": len(runs),
                     "raw_MBps": nbytes / load / MB, "net_MBps": nbytes / net / MB if net > 0 else None})
    return rows


def partition_compute(cases: list[CaseResult], simulated: list[list[float]]) -> list[dict]:
    """Per partition: blob bytes, median run seconds in the TEE over `cases`, median host-simulator compute
    over `simulated` (one list of per-partition seconds per simulator run), and their ratio."""
    runs = [c.partition_times() for c in cases]
    rows = []
    for k, first in enumerate(runs[0]):
        tee = statistics.median(r[k]["run"] for r in runs)
        host = statistics.median(s[k] for s in simulated)
        rows.append({"partition": k, "blob_bytes": first["bytes"], "tee_run_s": tee,
                     "tee_load_s": statistics.median(r[k]["load"] for r in runs), "host_compute_s": host,
                     "tcg_over_host": tee / host if host > 0 else None})
    return rows
