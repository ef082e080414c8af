"""The op table: every op the target knows, and the per-node questions answered from it.

    OPS[op_type]          the OpTarget registered by the op's kernel family (ops/*.py)
    SUPPORTED_OPS         op types the interpreter runs (Constant: its value is stored as a weight)
    data_inputs(node)     the inputs that become tensors of the body
    kept_outputs(node)    the outputs the interpreter computes
    translate(...)        node -> LoweredOp, or Unsupported (op, attribute, or a tensor's type: signature.py)
    scratch_bytes(...)    the kernel's scratch (unaligned); node_scratch: aligned to the region
    alias_source(...)     the input whose bytes the node's output may reuse in place
"""
from __future__ import annotations

from typing import Callable, Mapping

import numpy as np
import onnx

from ..analysis.shapes import TensorInfo
from ..graph import attributes
from ..lower.format import MAX_RANK
from .op import BINARY, UNARY, LoweredOp, OpContext, OpTarget, Unsupported
from .ops import (arg_reduce, cast, conv, elementwise, gather, gemm, grid_sample, logical, math, movement,
                  normalization, pool, quant, recurrent, reduce, resize, shape)
from . import signature
from .region import align

FAMILIES = (conv, gemm, elementwise, math, normalization, reduce, pool, movement, resize, shape, gather, recurrent,
            arg_reduce, logical, quant, cast, grid_sample)
OPS: dict[str, OpTarget] = {entry.op_type: entry for module in FAMILIES for entry in module.ENTRIES}
SUPPORTED_OPS = sorted({op for op, entry in OPS.items() if entry.translate} | {"Constant"})


def registered(node: onnx.NodeProto) -> bool:
    """The node's op type is registered in the node's domain ("" and "ai.onnx" are ONNX's own)."""
    entry = OPS.get(node.op_type)
    return entry is not None and entry.domain == ("" if node.domain == "ai.onnx" else node.domain)


def data_inputs(node: onnx.NodeProto) -> list[str]:
    """The inputs that become tensors of the body (parameters and absent optionals removed)."""
    entry = OPS.get(node.op_type)
    params = entry.parameter_inputs if entry else frozenset()
    names = [name for k, name in enumerate(node.input) if k not in params]
    while names and not names[-1]:
        names.pop()
    return names


def kept_outputs(node: onnx.NodeProto) -> list[str]:
    """The outputs the interpreter computes."""
    entry = OPS.get(node.op_type)
    return list(node.output[:1]) if entry and entry.first_output_only else list(node.output)


def translate(node: onnx.NodeProto, infos: Mapping[str, TensorInfo], consts: Mapping[str, np.ndarray],
              opset: int, shared: frozenset[str] = frozenset()) -> LoweredOp:
    """One node -> one op record; raises Unsupported naming the op or attribute.  `shared`: the
    constants other ops of the same body read too (stored in ONNX order whatever this op prefers)."""
    inputs, outputs = data_inputs(node), kept_outputs(node)
    entry = OPS.get(node.op_type)
    if entry is None or entry.translate is None or not registered(node):
        raise Unsupported(f"op {node.op_type} is not supported by the interpreter "
                          f"(supported: {', '.join(SUPPORTED_OPS)})")
    for name in inputs + outputs:
        if name and name not in infos:
            raise Unsupported(f"tensor '{name}' has no static shape")
    _check_dtypes(node, entry, inputs, outputs, infos)
    for name in inputs + outputs:
        if name and not 0 < infos[name].nbytes:
            raise Unsupported(f"tensor '{name}' is empty")
        if name and len(infos[name].shape) > MAX_RANK:
            raise Unsupported(f"tensor '{name}' has rank {len(infos[name].shape)} > {MAX_RANK}")
    return entry.translate(OpContext(node, attributes(node), inputs, outputs, infos, consts, opset, shared))


def _check_dtypes(node: onnx.NodeProto, entry: OpTarget, inputs: list[str], outputs: list[str],
                  infos: Mapping[str, TensorInfo]) -> None:
    """Every data input and computed output has a type the entry's signature allows (signature.py), as
    the TA holds it (int64 and bool as int32)."""
    wrong = signature.problem(entry.types, inputs, outputs, infos)
    if wrong:
        raise Unsupported(f"{node.op_type}: {wrong}")


def scratch_bytes(node: onnx.NodeProto, infos: Mapping[str, TensorInfo]) -> int:
    """Bytes of scratch the interpreter's kernel for `node` uses (unaligned)."""
    entry = OPS.get(node.op_type)
    return entry.scratch(node, infos) if entry and entry.scratch else 0


def node_scratch(node: onnx.NodeProto, infos: Mapping[str, TensorInfo]) -> int:
    """The scratch the memory plan reserves for `node` (aligned)."""
    return align(scratch_bytes(node, infos))


def alias_source(node: onnx.NodeProto, dies_here: Callable[[str], bool],
                 infos: Mapping[str, TensorInfo]) -> str | None:
    """The input whose bytes `node`'s first output may reuse (its entry's alias rule, op.py), or None."""
    if not node.output or not node.output[0] or node.output[0] not in infos:
        return None
    entry = OPS.get(node.op_type)
    rule = entry.alias if entry else None
    if rule == UNARY:
        candidates = list(node.input[:1])
    elif rule == BINARY and len(node.input) <= 2:
        candidates = list(node.input)
    else:
        return None
    out = infos[node.output[0]]
    for name in candidates:
        if not name or name not in infos or list(node.input).count(name) != 1 or not dies_here(name):
            continue
        info = infos[name]
        if rule == BINARY and (info.shape != out.shape or info.dtype != out.dtype):
            continue
        if align(info.nbytes) == align(out.nbytes):
            return name
    return None
