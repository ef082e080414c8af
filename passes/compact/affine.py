"""Per-channel affine maps y = a * x + c (channel axis 1), as BatchNormalization / Mul / Add / Sub
by constants express them, and the chains they form.

BatchNormalization (inference):  a = scale / sqrt(var + eps),  c = B - mean * a
Mul(x, v) / Mul(v, x):           a = v,  c = 0
Add(x, v) / Add(v, x):           a = 1,  c = v
Sub(x, v):                       a = 1,  c = -v
where v must broadcast against x as a per-channel vector: right-aligned to x's rank, every
dim but axis 1 is 1, axis 1 is 1 or C, and v's rank does not exceed x's.

Composition (apply (a1, c1), then (a2, c2)):  a = a2 * a1,  c = a2 * c1 + c2.
All factors are computed in float64.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import numpy_helper

from ..graph import attribute, constant_initializers
from .graph_edit import all_tensor_names, consumers, graph_output_names, replace_nodes


def channel_vector(value: np.ndarray, rank: int, channels: int) -> np.ndarray | None:
    """`value` as a float64 vector of length `channels` if it is a per-channel constant for a
    rank-`rank` tensor with `channels` channels on axis 1, else None."""
    if rank < 2 or value.ndim > rank or not np.issubdtype(value.dtype, np.floating):
        return None
    shape = (1,) * (rank - value.ndim) + value.shape
    if any(d != 1 for axis, d in enumerate(shape) if axis != 1) or shape[1] not in (1, channels):
        return None
    return np.broadcast_to(value.astype(np.float64).reshape(-1), (channels,)).copy()


@dataclass
class AffineStep:
    """One node of a chain, as the per-channel map it applies."""

    node: onnx.NodeProto
    scale: np.ndarray
    shift: np.ndarray


def batchnorm_params(node: onnx.NodeProto, inits: dict[str, onnx.TensorProto]) -> list[np.ndarray] | None:
    """[scale, B, mean, var] of an inference-mode BatchNormalization with constant params."""
    if (len(node.input) < 5 or any(name not in inits for name in node.input[1:5])
            or attribute(node, "training_mode", 0) or not attribute(node, "spatial", 1)):
        return None
    return [numpy_helper.to_array(inits[name]).astype(np.float64) for name in node.input[1:5]]


def affine_step(node: onnx.NodeProto, x: str, inits: dict[str, onnx.TensorProto], rank: int,
                channels: int, used_outputs: set[str]) -> AffineStep | None:
    """`node` as a per-channel affine map of its input `x`, or None if it is not one."""
    if node.domain not in ("", "ai.onnx") or any(name in used_outputs for name in node.output[1:] if name):
        return None
    ones, zeros = np.ones(channels), np.zeros(channels)
    if node.op_type == "BatchNormalization" and node.input[0] == x:
        params = batchnorm_params(node, inits)
        if params is None or any(p.shape != (channels,) for p in params):
            return None
        scale, bias, mean, var = params
        a = scale / np.sqrt(var + attribute(node, "epsilon", 1e-5))
        return AffineStep(node, a, bias - mean * a)
    if node.op_type not in ("Mul", "Add", "Sub") or len(node.input) != 2 or x not in node.input:
        return None
    other = node.input[1] if node.input[0] == x else node.input[0]
    if other == x or other not in inits or (node.op_type == "Sub" and node.input[0] != x):
        return None
    value = channel_vector(numpy_helper.to_array(inits[other]), rank, channels)
    if value is None:
        return None
    if node.op_type == "Mul":
        return AffineStep(node, value, zeros)
    return AffineStep(node, ones, value if node.op_type == "Add" else -value)


def follow_chain(start: str, inits: dict[str, onnx.TensorProto], uses: dict[str, list[onnx.NodeProto]],
                 graph_outputs: set[str], rank: int, channels: int) -> list[AffineStep]:
    """The longest chain of per-channel affine nodes starting at tensor `start`, where each
    link's input has that node as its only reader and is not a graph output."""
    used_outputs = set(uses) | graph_outputs
    chain: list[AffineStep] = []
    tensor = start
    while tensor not in graph_outputs and len(uses.get(tensor, [])) == 1:
        step = affine_step(uses[tensor][0], tensor, inits, rank, channels, used_outputs)
        if step is None:
            break
        chain.append(step)
        tensor = step.node.output[0]
    return chain


def compose(steps: list[AffineStep], channels: int) -> tuple[np.ndarray, np.ndarray]:
    """The single (a, c) equal to applying `steps` in order."""
    a, c = np.ones(channels), np.zeros(channels)
    for step in steps:
        a, c = step.scale * a, step.scale * c + step.shift
    return a, c


class ChainAbsorber:
    """Absorb per-channel affine chains into the node that precedes them, in one sweep of a graph.

    Holds the graph indexes a sweep needs (constant initializers, readers, graph outputs, taken
    names, node positions); `chain(tensor, rank, channels)` finds the chain after a tensor,
    `absorb(node, chain)` makes `node` produce the chain's last output and marks the chain's
    nodes for removal, `finish()` drops them.
    """

    def __init__(self, model: onnx.ModelProto) -> None:
        self.graph = model.graph
        self.inits = constant_initializers(model)
        self.uses = consumers(self.graph)
        self.outputs = graph_output_names(self.graph)
        self.taken = all_tensor_names(self.graph)
        self._position = {node.output[0]: index for index, node in enumerate(self.graph.node) if node.output}
        self.removed: set[int] = set()

    def chain(self, tensor: str, rank: int, channels: int) -> list[AffineStep]:
        return follow_chain(tensor, self.inits, self.uses, self.outputs, rank, channels)

    def absorb(self, node: onnx.NodeProto, chain: list[AffineStep]) -> None:
        self.removed.update(self._position[step.node.output[0]] for step in chain)
        node.output[0] = chain[-1].node.output[0]

    def finish(self) -> None:
        if self.removed:
            replace_nodes(self.graph, [n for i, n in enumerate(self.graph.node) if i not in self.removed])
