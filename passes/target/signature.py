"""Type signatures: which element type each input and output of an op takes.

The same codes as the C registrations (`runtime_ta/interp/ops/ops.h`, checked by `prepare.c` on every
op record), one character per data input (`table.data_inputs`, the body's pool order) and one per
computed output, the last character standing for every later entry (variadic ops)::

    f float32   i int32   b int8   u uint8   q int8 or uint8   n int8, uint8 or int32
    a float32, int8 or uint8   w float32 or int32   x any type   0-9 the type of input k

A tensor is checked by the type the TA holds it in (`analysis.shapes.held_type`: int64 and bool as int32).

    Gather           ("fi", "f")     float32 data, int32 indices
    Where            ("iw1", "1")    a boolean condition, branches and output of one type
    Reshape          ("x", "0")      any type, passed through (COPY)
    QuantizeLinear   ("ffq", "2")    the output has the zero point's type

`problem` names the first tensor whose type the op does not take.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ..analysis.shapes import TensorInfo, held_type

FLOAT = ("f", "f")   # the signature of every float32-only op
COPY = ("x", "0")    # a shape-only copy: any type, the output the input's

_F32, _I32, _I8, _U8 = (np.dtype(t) for t in (np.float32, np.int32, np.int8, np.uint8))
ALLOWED = {"f": {_F32}, "i": {_I32}, "b": {_I8}, "u": {_U8}, "q": {_I8, _U8}, "n": {_I8, _U8, _I32},
           "a": {_F32, _I8, _U8}, "w": {_F32, _I32}, "x": {_F32, _I32, _I8, _U8}}
NAMES = {"f": "float32", "i": "int32 (int64, bool)", "b": "int8", "u": "uint8", "q": "int8 or uint8",
         "n": "int8, uint8 or int32", "a": "float32, int8 or uint8", "w": "float32 or int32 (int64, bool)",
         "x": "float32, int32, int8 or uint8"}


def code(codes: str, k: int) -> str:
    """The code of entry k (the last code stands for every later entry)."""
    return codes[min(k, len(codes) - 1)]


def problem(types: tuple[str, str], inputs: Sequence[str], outputs: Sequence[str],
            infos: Mapping[str, TensorInfo]) -> str | None:
    """None when every present tensor of a node (data inputs, '' for an absent one; computed outputs)
    has a type its signature allows, else what is wrong with the first that has not."""
    entries = [(name, code(types[0], k)) for k, name in enumerate(inputs)]
    entries += [(name, code(types[1], k)) for k, name in enumerate(outputs)]
    for name, c in entries:
        if not name:
            continue
        dtype = np.dtype(infos[name].dtype)
        held = held_type(dtype)
        if held is None:
            return f"tensor '{name}' is {dtype}; the TA holds no such tensors"
        if c.isdigit():
            ref = inputs[int(c)] if int(c) < len(inputs) else ""
            if not ref or held_type(infos[ref].dtype) != held:
                return f"tensor '{name}' is {dtype}, unlike input '{ref or int(c)}'"
        elif held not in ALLOWED[c]:
            return f"tensor '{name}' is {dtype}; the interpreter takes {NAMES[c]} there"
    return None
