"""The configuration matrix every benchmark shows (benchmarks/README.md).

All six run the same model at the same TEE budget; five of them inside the simulated TEE:

=================  ========  ==========================  ==========================================
name               pruned    partitions                  what it stands for
=================  ========  ==========================  ==========================================
ort                no        none (normal world)         insecure reference and speed anchor
layerwise          no        one per layer               earlier work (DarkneTZ-style): each layer
                                                         its own partition, loaded separately
partitioned        no        adaptive (fewest that fit)  ablation: partitioning alone
pruned-layerwise   yes       one per layer               ablation: pruning alone
ours               yes       adaptive (fewest that fit)  pruned + compacted + adaptive partitions,
                                                         residency plan for streams (pinned bodies)
ours-int8          yes       adaptive (fewest that fit)  ours + static int8 quantization (uint8
                                                         activations, int8 per-channel weights)
=================  ========  ==========================  ==========================================

Every secure configuration is timed single-shot (a fresh session per inference) and in steady state
(one stream session: an inference after the first); `ours` and `ours-int8` pin bodies by the residency plan
(`partition/residency.py`, as `lower --stream`: a packed partitioning may be cut smaller so that some
bodies stay, so its single shot is that of the stream layout), the others stream every body (a model in
one partition keeps it loaded).

`layerwise` is the baseline of the method's comparison (2-30x); `ort` anchors the absolute speed.
`ours-int8` quantizes `ours`' pruned model (`passes.quant.static`: calibrated and accuracy-guarded on
the data set of a trained model, on random inputs for the reference architectures).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import UserError


@dataclass(frozen=True)
class Configuration:
    """One way of running a model: pruned or not, quantized or not, and how it is partitioned (None =
    onnxruntime)."""

    name: str
    pruned: bool
    strategy: str | None
    description: str
    quantized: bool = False
    residency: bool = False   # pin bodies for stream sessions (partition/residency.py)

    @property
    def secure(self) -> bool:
        """True when the whole model runs inside the (simulated) TEE."""
        return self.strategy is not None


CONFIGURATIONS: tuple[Configuration, ...] = (
    Configuration("ort", False, None, "onnxruntime, one thread, normal world (insecure anchor)"),
    Configuration("layerwise", False, "layerwise", "unpruned, one layer per partition (earlier work)"),
    Configuration("partitioned", False, "optimal", "unpruned, adaptive partitions"),
    Configuration("pruned-layerwise", True, "layerwise", "pruned, one layer per partition"),
    Configuration("ours", True, "optimal", "pruned + compacted + adaptive partitions", residency=True),
    Configuration("ours-int8", True, "optimal", "pruned + int8 quantized + compacted + adaptive partitions",
                  quantized=True, residency=True),
)
BY_NAME = {c.name: c for c in CONFIGURATIONS}
BASELINE = "layerwise"   # the paper's comparison
ANCHOR = "ort"           # absolute speed reference
OURS = "ours"


def select_configurations(names: list[str] | None) -> list[Configuration]:
    """The named configurations in the canonical order (all of them when `names` is empty)."""
    if not names:
        return list(CONFIGURATIONS)
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise UserError(f"unknown configuration(s) {', '.join(unknown)}: choose from {', '.join(BY_NAME)}")
    return [c for c in CONFIGURATIONS if c.name in names]
