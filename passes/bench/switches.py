"""World-switch cost model.

The host simulator runs the TA's code in the normal world, so it cannot measure what entering the
secure world costs.  It counts instead: every TA invocation (one `TEEC_InvokeCommand`: open
model, each chunk of each partition load, run, read output) is one round trip
normal world -> secure monitor -> TA -> back.  We call that round trip one *world switch* and
charge it a fixed cost:

    switch_time = invocations x cost_per_switch

Default cost: 0.3 ms.  A null round trip into the TA (OT_CMD_PING, which does nothing, 2,000 in a
row through libteec and the Linux OP-TEE driver) took a median 0.43 ms (min 0.30 ms) on OP-TEE 4.10.0
in the optee-kit's QEMU v8 secure world, TCG full-system emulation on a loaded 2-core host
(`scripts/bench_optee.py`, benchmarks/results/optee/); a command refused at its parameter check,
which the TA logs on the secure console, took 0.63 ms.  Emulation inflates it and hardware is faster,
so the default sits below that median, at its minimum.  Real boards differ, so the cost is a
parameter (`bench --switch-cost-ms`), every report states the value it used and prices the same
counts at `REPORTED_SWITCH_COSTS_MS` side by side (0.05 ms: a fast board), and the switch count is
reported beside the modelled time, so any other cost can be applied by hand.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import UserError

DEFAULT_SWITCH_COST_MS = 0.3
# Every report prices the measured counts at these costs too, side by side (`results.at_switch_cost`):
# a fast board's round trip and the default.
REPORTED_SWITCH_COSTS_MS = (0.05, DEFAULT_SWITCH_COST_MS)
SWITCH_COST_SOURCE = ("a null normal->secure->normal round trip into the TA (OT_CMD_PING, 2,000 in a row) took a "
                      "median 0.43 ms (min 0.30 ms) on OP-TEE 4.10.0 in QEMU v8, TCG emulation, not hardware "
                      "(scripts/bench_optee.py, benchmarks/results/optee); hardware is faster, so the default sits "
                      "below that median")


@dataclass(frozen=True)
class WorldSwitchModel:
    """Charges `cost_ms` milliseconds per TA invocation (one world-switch round trip)."""

    cost_ms: float = DEFAULT_SWITCH_COST_MS

    def __post_init__(self) -> None:
        if not self.cost_ms >= 0:
            raise UserError(f"--switch-cost-ms must be a non-negative number of milliseconds, got {self.cost_ms}")

    def seconds(self, switches: int) -> float:
        """Modelled time of `switches` round trips, in seconds."""
        return switches * self.cost_ms / 1000.0

    def to_json(self) -> dict:
        return {"cost_ms_per_switch": self.cost_ms, "unit": "one TA invocation = one round trip",
                "source": SWITCH_COST_SOURCE}


def reported_costs(cost_ms: float | None) -> tuple[float, ...]:
    """The costs per switch a report shows side by side: `REPORTED_SWITCH_COSTS_MS` and the run's own."""
    return tuple(sorted({*REPORTED_SWITCH_COSTS_MS, *(() if cost_ms is None else (cost_ms,))}))
