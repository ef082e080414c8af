"""Tensor types on the target: the types the TA holds, the host's conversions, int64 indices narrowed.

Inside a body every tensor is float32, int32, int8 or uint8 (`analysis.shapes.held_type`), each op
taking the types its type signature allows (`OpTarget.types`, signature.py): int32 indices (Gather's),
the int64 results of ArgMax/ArgMin, the bool results of comparisons and logic ops (0/1) and Where's
condition are all int32 (4 bytes an element); the quantized ops' int8 / uint8 tensors take one byte
(`analysis.shapes.element_bytes`), so the memory plan, the bodies and the device manifest size them
alike.  The model keeps its own types; the host converts at the boundary:

    into the TA   `to_held`: an int64 or bool model input as int32 (`to_int32`: values outside
                  int32 are refused), an int8 / uint8 one range-checked into its type, a float32 one
                  unchanged
    out of it     `from_held`: an output's bytes in the model's type (int32 -> int64 widened,
                  -> bool as value != 0)

Exporters also write indices as int64 (token ids, a class-token pick); before lowering
`narrow_indices` rewrites the model to int32 where that is exact, so the partitions' ONNX types are
the TA's too:

    ids: int64 [1, 64] --Gather(E, ids)-->            ids: int32 [1, 64] --Gather(E, ids)-->
    Gather(x, idx = int64 scalar 0, axis=1)     ->    Gather(x, idx_int32 = int32 scalar 0, axis=1)

- a constant index tensor (initializer or Constant) read as indices gets an int32 copy (values outside
  int32 are refused), which the body stores as an int32 weight;
- an int64 model input is narrowed when every reader of it (through shape-only copies) reads it as
  indices; its model-level type stays int64 (the device manifest and manifest.json record it).
An int64 tensor that is not narrowed (an ArgMax result, ids that are also compared) is held as int32
all the same.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

from ..analysis.shapes import TensorInfo, held_type
from ..errors import UnsupportedModelError, UserError
from ..graph import graph_inputs
from ..lower.format import DTYPES
from .signature import COPY
from .table import OPS

INTEGER_TYPES = (TensorProto.INT64, TensorProto.INT32)


def body_dtype(dtype: np.dtype) -> int:
    """The body's dtype code for a tensor of numpy type `dtype` (int64 and bool are held as int32)."""
    held = held_type(dtype)
    if held is None:
        raise ValueError(f"the TA holds no {np.dtype(dtype)} tensors")
    return next(code for code, stored in DTYPES.items() if stored == held.newbyteorder("<"))


def to_integers(values, dtype: np.dtype, what: str) -> np.ndarray:
    """`values` (integers or booleans) as `dtype` (int32, int8, uint8), refusing any value outside it
    with a message naming `what`."""
    array, info = np.asarray(values), np.iinfo(dtype)
    if array.dtype.kind not in "iub":
        raise UserError(f"{what} is {array.dtype}: the model takes integers there")
    if array.size and array.dtype.kind != "b":
        low, high = int(array.min()), int(array.max())
        if low < info.min or high > info.max:
            bad = low if low < info.min else high
            raise UserError(f"{what} holds {bad}, outside {info.dtype} [{info.min}, {info.max}]: the TA stores it "
                            f"as {info.dtype}")
    return array.astype(dtype)


def to_int32(values, what: str) -> np.ndarray:
    """`values` (integers, e.g. int64 token ids) as int32, refusing any value outside int32."""
    return to_integers(values, np.dtype(np.int32), what)


def to_held(values, dtype: np.dtype, what: str) -> np.ndarray:
    """A tensor of type `dtype` (a model input, a constant) as the TA holds it: integers range-checked
    into int32, int8 or uint8; float32 as it is."""
    held = held_type(dtype)
    if held is None:
        raise UserError(f"{what} is {np.dtype(dtype)}: the TA holds no such tensors")
    if held == np.float32:
        return np.asarray(values).astype(np.float32)
    return to_integers(values, held, what)


def from_held(data: bytes, dtype: np.dtype, shape: Sequence[int]) -> np.ndarray:
    """A tensor's bytes as the TA holds them (little-endian float32, int32, int8 or uint8) in the model's
    own type `dtype`: int64 widened, bool as value != 0."""
    dtype = np.dtype(dtype)
    held = np.frombuffer(data, dtype=held_type(dtype).newbyteorder("<")).reshape(tuple(shape))
    return held != 0 if dtype == np.bool_ else held.astype(dtype)


def _index_uses(graph: onnx.GraphProto) -> list[tuple[onnx.NodeProto, int]]:
    uses = []
    for node in graph.node:
        entry = OPS.get(node.op_type)
        for k in sorted(entry.index_inputs) if entry else ():
            if k < len(node.input) and node.input[k]:
                uses.append((node, k))
    return uses


def _copy_closure(graph: onnx.GraphProto, name: str) -> tuple[set[str], bool]:
    """`name` and every tensor that is a shape-only copy of it; and whether each of their readers reads
    them as indices or copies them (so that they can all become int32)."""
    readers: dict[str, list[tuple[onnx.NodeProto, int]]] = {}
    for node in graph.node:
        for k, x in enumerate(node.input):
            if x:
                readers.setdefault(x, []).append((node, k))
    outputs = {o.name for o in graph.output}
    members, todo, ok = {name}, [name], True
    while todo:
        current = todo.pop()
        ok &= current not in outputs
        for node, k in readers.get(current, []):
            entry = OPS.get(node.op_type)
            if entry is not None and k in entry.index_inputs:
                continue
            if entry is not None and entry.types == COPY and k == 0 and node.output and node.output[0]:
                if node.output[0] not in members:
                    members.add(node.output[0])
                    todo.append(node.output[0])
                continue
            ok = False
    return members, ok


def narrow_indices(model: onnx.ModelProto) -> tuple[onnx.ModelProto, dict[str, int]]:
    """A copy of `model` whose int64 indices are int32 where that is exact (module docstring), and the
    model-level ONNX type of every graph input it narrowed ({name: TensorProto.INT64})."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    inits = {t.name: t for t in graph.initializer}
    constants = {n.output[0]: n for n in graph.node if n.op_type == "Constant" and n.output}
    clones: dict[str, str] = {}
    taken = {x for n in graph.node for x in list(n.input) + list(n.output)} | set(inits) | \
        {i.name for i in graph.input}
    for node, k in _index_uses(graph):
        name = node.input[k]
        tensor = inits.get(name)
        if tensor is None and name in constants:
            tensor = next((a.t for a in constants[name].attribute if a.name == "value"), None)
        if tensor is None or tensor.data_type != TensorProto.INT64:
            continue
        if name not in clones:
            try:
                values = to_int32(numpy_helper.to_array(tensor), f"constant indices '{name}'")
            except UserError as exc:
                raise UnsupportedModelError(str(exc)) from None
            clone = f"{name}_int32"
            while clone in taken:
                clone += "_"
            taken.add(clone)
            graph.initializer.append(numpy_helper.from_array(values, clone))
            clones[name] = clone
        node.input[k] = clones[name]
    still_read = {x for n in graph.node for x in n.input} | {o.name for o in graph.output}
    unused = [t for t in graph.initializer if t.name in clones and t.name not in still_read]
    for tensor in unused:
        graph.initializer.remove(tensor)
    for node in [constants[x] for x in clones if x in constants and x not in still_read]:
        graph.node.remove(node)

    narrowed: dict[str, int] = {}
    index_reads = {node.input[k] for node, k in _index_uses(graph)}
    for value in graph_inputs(out):
        tensor_type = value.type.tensor_type
        if tensor_type.elem_type != TensorProto.INT64:
            continue
        members, ok = _copy_closure(graph, value.name)
        if not ok or not members & index_reads:
            continue
        tensor_type.elem_type = TensorProto.INT32
        for info in graph.value_info:
            if info.name in members and info.type.tensor_type.elem_type == TensorProto.INT64:
                info.type.tensor_type.elem_type = TensorProto.INT32
        narrowed[value.name] = TensorProto.INT64
    return out, narrowed


def index_bounds(model: onnx.ModelProto, infos: Mapping[str, TensorInfo]) -> dict[str, int]:
    """For every integer graph input read as indices: the smallest table it indexes (so that sample
    values in [0, bound) are valid indices everywhere)."""
    graph = model.graph
    bounds = {}
    for value in graph_inputs(model):
        if value.type.tensor_type.elem_type not in INTEGER_TYPES:
            continue
        members, _ = _copy_closure(graph, value.name)
        sizes = []
        for node, k in _index_uses(graph):
            if node.input[k] in members and node.input[0] in infos:
                shape = infos[node.input[0]].shape
                axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
                if shape and -len(shape) <= axis < len(shape):
                    sizes.append(int(shape[axis]))
        bounds[value.name] = max(min(sizes, default=1), 1)
    return bounds
