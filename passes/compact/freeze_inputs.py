"""Freeze graph inputs to constants (`lower --input-value NAME=VALUE`, like onnxsim's input overrides).

    values = parse_input_values(["sample_rate=16000", "mode=1,0"])   # {"sample_rate": ["16000"], ...}
    model = freeze_inputs(model, values)                              # a copy: those inputs are initializers

A model that switches on a mode input (`If(Equal(sample_rate, 16000))`) runs straight-line once the
input is a constant: FoldConstants folds the condition and InlineConstantIf keeps the taken branch.
"""
from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..errors import UserError
from ..graph import graph_inputs, lists_initializers_as_inputs
from .graph_edit import add_initializer


def parse_input_values(specs: list[str] | None) -> dict[str, list[str]]:
    """`["rate=16000", "w=0.5,1"]` -> `{"rate": ["16000"], "w": ["0.5", "1"]}` (typed by `freeze_inputs`)."""
    values: dict[str, list[str]] = {}
    for spec in specs or []:
        name, sep, text = spec.partition("=")
        items = [item.strip() for item in text.split(",")] if sep else []
        if not name or not items or any(not item for item in items):
            raise UserError(f"--input-value '{spec}': expected NAME=VALUE or NAME=V1,V2,... "
                            f"e.g. sample_rate=16000")
        values[name] = items
    return values


def _typed(name: str, items: list[str], dtype: np.dtype) -> np.ndarray:
    try:
        if dtype == np.bool_:
            lookup = {"1": True, "true": True, "0": False, "false": False}
            return np.array([lookup[item.lower()] for item in items], dtype)
        if np.issubdtype(dtype, np.integer):
            return np.array([int(item, 0) for item in items], dtype)
        return np.array([float(item) for item in items], dtype)
    except (KeyError, ValueError, OverflowError):
        raise UserError(f"--input-value {name}={','.join(items)}: not a valid {dtype.name} value") from None


def _shaped(name: str, array: np.ndarray, value_info: onnx.ValueInfoProto) -> np.ndarray:
    """`array` in the input's declared shape: a static shape of the same size, or the one dynamic
    dim filled in; a single value for an input with no shape or rank 0 is a scalar."""
    tensor_type = value_info.type.tensor_type
    if not tensor_type.HasField("shape"):
        return array.reshape(()) if array.size == 1 else array
    dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in tensor_type.shape.dim]
    known = math.prod(d for d in dims if d is not None)
    unknown = dims.count(None)
    if unknown == 0 and known == array.size:
        return array.reshape(dims)
    if unknown == 1 and known and array.size % known == 0:
        return array.reshape([d if d is not None else array.size // known for d in dims])
    shown = ",".join("?" if d is None else str(d) for d in dims)
    raise UserError(f"--input-value {name}: {array.size} value(s) do not fill the input's shape [{shown}]")


def freeze_inputs(model: onnx.ModelProto, values: dict[str, list[str]]) -> onnx.ModelProto:
    """A copy of `model` whose inputs named in `values` are initializers holding those values, in
    the input's dtype and shape (no longer inputs, so passes treat them as constants)."""
    if not values:
        return model
    inputs = {i.name: i for i in graph_inputs(model)}
    unknown = sorted(set(values) - set(inputs))
    if unknown:
        raise UserError(f"--input-value names no graph input: {', '.join(unknown)} "
                        f"(inputs are: {', '.join(inputs) or 'none'})")
    frozen = onnx.ModelProto()
    frozen.CopyFrom(model)
    listed = lists_initializers_as_inputs(frozen)
    for name, items in values.items():
        value_info = inputs[name]
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(value_info.type.tensor_type.elem_type))
        array = _shaped(name, _typed(name, items, dtype), value_info)
        entry = next(i for i in frozen.graph.input if i.name == name)
        if listed:  # IR < 4: an initializer stays listed as an input, now with the value's shape
            frozen.graph.initializer.append(numpy_helper.from_array(array, name))
            entry.CopyFrom(helper.make_tensor_value_info(name, entry.type.tensor_type.elem_type, list(array.shape)))
        else:
            frozen.graph.input.remove(entry)
            add_initializer(frozen, array, name)
    return frozen
