"""Structured channel pruning of ONNX graphs.

    from onnx_tee.passes.prune import analyze, prune_progressively, ScheduleConfig, LeastSquaresRecovery
    graph = analyze(model)                       # channel groups (DepGraph-style), prunable or why not
    outcome = prune_progressively(model, ScheduleConfig(target_flops=0.5), evaluate=..., fine_tune=...)

Modules: `groups` (channel dependency analysis), `apply` (physical pruning), `criteria`
(importance), `schedule` (progressive steps with hooks), `recovery` (least-squares refit + BN
statistics correction), `distill` (built-in distillation from the unpruned model with labels,
no training framework) on `backprop` (numpy forward and gradients of the zoo's op subset),
`report` (JSON + PNG), `job` (the CLI's data-driven run), `calibration` (activations through
onnxruntime), `tensors` (constants wherever they live), `torch_hook` (optional PyTorch
fine-tuning example; imports torch, so it is not imported here).
"""
from .apply import PruneChannels, prune_units
from .criteria import CRITERIA, make_criterion
from .groups import ChannelGraph, ChannelGroup, analyze, require_prunable
from .recovery import LeastSquaresRecovery
from .schedule import PruneOutcome, PruneStep, ScheduleConfig, prune_progressively

__all__ = ["CRITERIA", "ChannelGraph", "ChannelGroup", "LeastSquaresRecovery", "PruneChannels", "PruneOutcome",
           "PruneStep", "ScheduleConfig", "analyze", "make_criterion", "prune_progressively", "prune_units",
           "require_prunable"]
