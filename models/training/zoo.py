"""The committed trained models as PyTorch modules (for fine-tuning and for comparisons in PyTorch).

The exporter names each initializer after its PyTorch parameter or buffer (``blocks.1.body.0.weight``,
``stem.1.running_var``), so the weights of `models/trained/<name>.onnx` load straight back into
`build_model(name)`; only BatchNorm's ``num_batches_tracked`` counters are not in the graph.
"""
from __future__ import annotations

import onnx
import torch
from onnx import numpy_helper
from torch import nn

from onnx_tee import models
from onnx_tee.passes.errors import UserError

from .architectures import build_model


def load_trained(name: str, model: onnx.ModelProto | None = None) -> nn.Module:
    """`build_model(name)` in eval mode with the weights of the trained zoo model `name` (or of `model`)."""
    model = models.load(name) if model is None else model
    net = build_model(name)
    weights = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in model.graph.initializer}
    state = net.state_dict()
    missing = [k for k in state if k not in weights and not k.endswith("num_batches_tracked")]
    mismatched = [k for k in state if k in weights and weights[k].shape != state[k].shape]
    if missing or mismatched:
        raise UserError(f"the ONNX weights do not fit architecture '{name}': missing {missing[:5]}, "
                        f"shape mismatch {mismatched[:5]} (was the model pruned? rebuild it at the pruned widths)")
    net.load_state_dict({k: weights.get(k, v) for k, v in state.items()})
    return net.eval()
