"""Tables of a real-TEE measurement (`optee.measure`'s figures), every one titled as emulated, not hardware."""
from __future__ import annotations

from .report import markdown_table
from ..sizes import format_size


def _f(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}g}"


def round_trip_rows(figures: dict) -> tuple[list[str], list[list[str]]]:
    header = ["command", "calls", "median ms", "min ms", "mean ms", "max ms"]
    rows = [[f"{name} ({'OT_CMD_PING' if name == 'ping' else 'refused at the parameter check, logged'})",
             str(t["calls"]), _f(t["median_ms"]), _f(t["min_ms"]), _f(t["mean_ms"]), _f(t["max_ms"])]
            for name, t in figures["round_trip"]["commands"].items()]
    return header, rows


def load_rows(figures: dict) -> tuple[list[str], list[list[str]]]:
    header = ["chunk", "blob bytes", "chunks", "load s (median)", "raw MB/s", "net of round trips MB/s"]
    rows = [[format_size(r["chunk_bytes"]), f"{r['bytes']:,}", str(r["chunks"]), _f(r["load_s"]), _f(r["raw_MBps"]),
             _f(r["net_MBps"])] for r in figures["load_chunk"]["per_chunk_size"]]
    return header, rows


def compute_rows(figures: dict) -> tuple[list[str], list[list[str]]]:
    header = ["model", "budget", "partition", "blob bytes", "TEE run s", "TEE load s", "host simulator s",
              "TCG / host"]
    rows = [[entry["model"], format_size(entry["budget"]), str(p["partition"]), f"{p['blob_bytes']:,}",
             _f(p["tee_run_s"]), _f(p["tee_load_s"]), _f(p["host_compute_s"]), _f(p["tcg_over_host"])]
            for entry in figures["compute"] for p in entry["partitions"]]
    return header, rows


def markdown(figures: dict, command: str) -> str:
    """The whole measurement as Markdown."""
    load = figures["load_chunk"]
    machine = figures["machine"]
    return "\n".join([
        "# onnx-tee in a real OP-TEE secure world",
        "",
        f"**All figures: {figures['label']}.**",
        "",
        f"Command: `{command}`",
        "",
        f"OP-TEE {figures['optee_revision']} (optee-kit {figures['kit']}); host {machine.get('cpu')} "
        f"({machine.get('logical_cpus')} logical CPUs), load average {machine.get('load_average')}; source "
        f"{str(machine.get('git_commit'))[:12]}; {machine.get('time_utc')}.  Boot to a ready TEE "
        f"{_f(figures['boot']['ready_s'])} s.  TA heap = budget + 384 KiB; budgets up to "
        f"{format_size(figures['plan']['qemu_max_budget'])} load in QEMU v8's secure memory.",
        "",
        f"## World switch: null command round trip (TA built for {format_size(figures['round_trip']['ta_budget'])})",
        "",
        markdown_table(*round_trip_rows(figures)),
        "",
        f"## LOAD_CHUNK: {load['model']} at {format_size(load['budget'])} (staging {format_size(load['staging_bytes'])})",
        "",
        "copy into the secure staging buffer + SHA-256 + AES-256-GCM decrypt + validation, client wall clock; "
        "net = with n x the median ping taken out.",
        "",
        markdown_table(*load_rows(figures)),
        "",
        "## Compute per partition (medians)",
        "",
        markdown_table(*compute_rows(figures)),
        "",
    ])
