"""World-switch cost model.

The host simulator runs the TA's code in the normal world, so it cannot measure what entering the
secure world costs.  It counts instead: every TA invocation (one `TEEC_InvokeCommand`: open
model, each chunk of each partition load, run, read output) is one round trip
normal world -> secure monitor -> TA -> back.  We call that round trip one *world switch* and
charge it a fixed cost:

    switch_time = invocations x cost_per_switch

Default cost: 0.3 ms, the middle of the 0.2-0.4 ms measured per round trip on an emulated OP-TEE
(OP-TEE 4.x under QEMU v8; emulated, so not a hardware timing).  Real boards differ, so the cost
is a parameter (`bench --switch-cost-ms`) and every report states the value it used; the switch
count is reported beside the modelled time, so any other cost can be applied by hand.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import UserError

DEFAULT_SWITCH_COST_MS = 0.3
SWITCH_COST_SOURCE = ("0.2-0.4 ms per normal->secure->normal round trip measured on OP-TEE 4.x under "
                      "QEMU v8 (emulated); the default is the midpoint")


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
