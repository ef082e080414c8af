"""The size of a partition body, before any offset exists.

Each op record and tensor entry has a fixed width (lower/format.py), so a body's size depends only
on which tensors its nodes read and write: `body_bytes` is exact, by the format's own rules.
The partitioner's search, which must cost thousands of segments, uses a cheaper allowance that is
usually at least that: a fixed header, one record per node and per tensor (BODY_*).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import onnx

from ..lower.format import body_size
from .table import data_inputs, kept_outputs

BODY_HEADER_BYTES = 256
BODY_NODE_BYTES = 128
BODY_TENSOR_BYTES = 64


def body_bytes(nodes: Sequence[onnx.NodeProto], weights: Mapping[str, int]) -> int:
    """Exact body size of a partition running `nodes` (Constant nodes skipped); `weights` maps the
    names of constant tensors (initializers, Constant outputs) to their bytes."""
    tensors: dict[str, None] = {}
    stored: dict[str, int] = {}
    ops = pool = 0
    for node in nodes:
        if node.op_type == "Constant":
            continue
        inputs, outputs = data_inputs(node), kept_outputs(node)
        ops += 1
        pool += len(inputs) + len(outputs)
        for name in inputs + outputs:
            if name:
                tensors[name] = None
                if name in weights:
                    stored[name] = weights[name]
    return body_size(len(tensors), ops, pool, list(stored.values()))
