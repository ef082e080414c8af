"""World-switch cost model.

The host simulator runs the TA's code in the normal world, so it cannot measure what entering the
secure world costs.  It counts instead: every TA invocation (one `TEEC_InvokeCommand`: open
model, each chunk of each partition load, run, read output) is one round trip
normal world -> secure monitor -> TA -> back.  We call that round trip one *world switch* and
charge it a fixed cost:

    switch_time = invocations x cost_per_switch

Default cost: 0.3 ms.  A bare round trip into the TA (a command refused at its parameter check,
through libteec and the Linux OP-TEE driver) measured 0.6-0.8 ms on OP-TEE 4.9.0 under QEMU v8
full-system emulation; emulation inflates it and hardware is faster, so the default sits below
that measurement.  Real boards differ, so the cost
is a parameter (`bench --switch-cost-ms`) and every report states the value it used; the switch
count is reported beside the modelled time, so any other cost can be applied by hand.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import UserError

DEFAULT_SWITCH_COST_MS = 0.3
# Every report prices the measured counts at these costs too, side by side (`results.at_switch_cost`):
# a fast board's round trip and the default.
REPORTED_SWITCH_COSTS_MS = (0.05, DEFAULT_SWITCH_COST_MS)
SWITCH_COST_SOURCE = ("a bare normal->secure->normal round trip into the TA measured 0.6-0.8 ms on OP-TEE 4.9.0 "
                      "under QEMU v8 full-system emulation; hardware is faster, so the default sits below it")


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
