"""One op of the target: how an ONNX node becomes an op record, and what it costs in the region.

An `OpTarget` is the Python half of a kernel registration (the C half is the interpreter's kernel
table): the ONNX op type, the function that translates a node into an op record (`LoweredOp`), the
aliasing rule the memory plan may apply to it, its scratch rule, and which of its inputs are
parameters folded into attributes.  `table.OPS` collects them; adding an op means one entry in the
`ops/` module of its kernel family (and the kernel in C).

A translate function takes an `OpContext` (the node, its attributes, the tensors it reads and
writes, static shapes, constant values, the opset) and returns a `LoweredOp`, or raises
`Unsupported` naming the attribute or value the interpreter cannot run.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import onnx

from ..analysis.shapes import TensorInfo
from .signature import FLOAT

# Aliasing rules: the node's first output may take the bytes of an input that dies at the node.
# UNARY: over the first input when both have the same (aligned) byte size -- element-wise maps
# y[i] = f(x[i]), per-channel affine maps, shape-only copies.  BINARY: over an input of exactly the
# output's shape and dtype, for at most two inputs (each y[i] is written after a[i] and
# b[broadcast(i)] are read; an n-ary Sum accumulates y += x_k and never aliases).
UNARY = "unary"
BINARY = "binary"


class Unsupported(Exception):
    """A node the interpreter cannot run; the message says which op or attribute and why."""


@dataclass
class LoweredOp:
    """A node translated to an op record (tensor names instead of indices).  `stored`: positions in
    `inputs` of constants the body stores in another order than ONNX's (the op's slots say so), each
    mapped to the function giving the stored values (same shape and dtype), e.g. Conv's transposed
    1x1 weights."""

    code: int
    inputs: list[str]
    outputs: list[str]
    ints: list[int]
    floats: list[float]
    stored: dict[int, Callable[[np.ndarray], np.ndarray]] = field(default_factory=dict)


@dataclass(frozen=True)
class OpContext:
    """What a translate function reads: the node, its attributes, its data inputs and computed
    outputs (`table.data_inputs`, `table.kept_outputs`), static shapes, constants, the opset, and
    which constants the body's other ops read too (an op may store only the others in its own order)."""

    node: onnx.NodeProto
    attrs: dict
    inputs: list[str]
    outputs: list[str]
    infos: Mapping[str, TensorInfo]
    consts: Mapping[str, np.ndarray]
    opset: int
    shared: frozenset[str] = frozenset()   # constants other ops of the body read too: kept in ONNX order

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.infos[name].shape)

    def const(self, k: int, what: str) -> np.ndarray | None:
        """The value of input k (None when absent), which must be a constant."""
        node = self.node
        if k >= len(node.input) or not node.input[k]:
            return None
        name = node.input[k]
        if name not in self.consts:
            raise Unsupported(f"{what} (input '{name}') must be a constant, it is computed at run time")
        return np.asarray(self.consts[name])

    def text(self, key: str, default: str) -> str:
        """A string attribute as str."""
        value = self.attrs.get(key, default)
        return value.decode() if isinstance(value, bytes) else value


def slots(count: int, values: Mapping[int, float | Sequence[float]]) -> list:
    """An op record's attribute array i[] or f[] of `count` slots (its ATTR_*_COUNT / FATTR_*_COUNT in
    lower/format.py): each key is a slot (ATTR_* / FATTR_*) and its value a number, or an array written
    from that slot on; slots no key names stay 0.

        slots(ATTR_GEMM_COUNT, {ATTR_GEMM_TRANS_A: 0, ATTR_GEMM_TRANS_B: 1}) == [0, 1]
    """
    out: list = [0] * count
    for slot, value in values.items():
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        if not 0 <= slot <= slot + len(items) <= count:
            raise ValueError(f"slot {slot} (+{len(items)}) outside an attribute array of {count} slots")
        out[slot:slot + len(items)] = items
    return out


Translate = Callable[[OpContext], LoweredOp]
ScratchRule = Callable[[onnx.NodeProto, Mapping[str, TensorInfo]], int]


@dataclass(frozen=True)
class OpTarget:
    """The registration of one ONNX op type with the target.

    `translate` None: the memory plan knows the op (its aliasing) but the interpreter has no kernel
    for it yet, so lowering refuses it.  `scratch` gives unaligned scratch bytes (None: 0).
    `parameter_inputs`: input positions folded into attributes (they never become tensors).
    `first_output_only`: only output 0 is computed (the others must be unused).
    `types`: the type signature of its data inputs and outputs (signature.py, the C registration's;
    int64 and bool tensors are held as int32: `analysis.shapes.held_type`);
    `index_inputs`: node input positions that hold indices (int32 in the body: an int64 model input
    or constant is narrowed to it by `dtypes.narrow_indices`); `domain`: the op's domain ("" for
    ONNX's own, "com.microsoft" for onnxruntime's QOperator ops)."""

    op_type: str
    translate: Translate | None
    alias: str | None = None
    scratch: ScratchRule | None = None
    parameter_inputs: frozenset[int] = frozenset()
    first_output_only: bool = False
    index_inputs: frozenset[int] = frozenset()
    types: tuple[str, str] = FLOAT
    domain: str = ""
