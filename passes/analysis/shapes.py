"""Static shapes: fix dynamic input dims from user-given shapes, infer every tensor's shape.

Planning memory needs every tensor's size, so every dim must be a known integer.  Dynamic
input dims are fixed from `--input-shape NAME:1,3,224,224`; everything downstream comes from
ONNX shape inference (with data propagation, so Shape->Gather->Reshape chains resolve).

Only the graph inputs' shapes are taken from the model: every other stored shape (intermediate
`value_info`, the dims of graph outputs) is what an exporter or an earlier pass believed, and it
may be stale (recorded before a pass changed a shape or a dim was fixed), partial (Paddle's `-1`
dims) or wrong (a declared output rank that differs from what is computed; onnxruntime ignores
it).  Inference drops all of it and recomputes (`forget_inferable_shapes`), so it never fails on
what was stored.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper

from ..errors import UnsupportedModelError, UserError
from ..graph import attributes, graph_inputs, lists_initializers_as_inputs


_INT32_HELD = (np.dtype(np.int32), np.dtype(np.int64), np.dtype(np.bool_))
_AS_THEY_ARE = (np.dtype(np.float32), np.dtype(np.int8), np.dtype(np.uint8))


def held_type(dtype) -> np.dtype | None:
    """The type the TA holds a tensor of ONNX (numpy) type `dtype` in: float32, int8 and uint8 (the
    quantized ops') as they are; int32 for int32, int64 (token ids, ArgMax results; the host narrows
    and widens them) and bool (0/1); None for a type the TA holds no tensor of."""
    dtype = np.dtype(dtype)
    if dtype in _AS_THEY_ARE:
        return dtype
    return np.dtype(np.int32) if dtype in _INT32_HELD else None


def element_bytes(dtype) -> int:
    """Bytes one element of `dtype` takes in the TA's region: its held type's size (4 for int64 and
    bool), else its numpy itemsize.  Every size the memory plan, the bodies and the device manifest
    use comes from here (TensorInfo.nbytes, weights.tensor_nbytes), so they agree."""
    held = held_type(dtype)
    return (held or np.dtype(dtype)).itemsize


@dataclass(frozen=True)
class TensorInfo:
    """A tensor's static shape and numpy dtype (the ONNX model's own type)."""

    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def nbytes(self) -> int:
        """Bytes in the TA's region (`element_bytes`)."""
        return math.prod(self.shape) * element_bytes(self.dtype)


def parse_input_shapes(specs: list[str] | None) -> dict[str, tuple[int, ...]]:
    """Parse `["x:1,3,224,224", ...]` into `{"x": (1, 3, 224, 224)}`."""
    shapes: dict[str, tuple[int, ...]] = {}
    for spec in specs or []:
        name, sep, dims = spec.rpartition(":")
        try:
            shape = tuple(int(d) for d in dims.split(",")) if sep and name else None
        except ValueError:
            shape = None
        if not shape or any(d <= 0 for d in shape):
            raise UserError(f"--input-shape '{spec}': expected NAME:D1,D2,... with positive integers, "
                            f"e.g. data:1,3,224,224")
        shapes[name] = shape
    return shapes


def forget_inferable_shapes(model: onnx.ModelProto) -> onnx.ModelProto:
    """Drop every stored shape that inference recomputes, IN PLACE: the graph's intermediate
    `value_info` and the dims of its outputs (their element types stay).  Returns `model`."""
    graph = model.graph
    del graph.value_info[:]
    for output in graph.output:
        if output.type.HasField("tensor_type") and output.type.tensor_type.HasField("shape"):
            output.type.tensor_type.ClearField("shape")
    return model


def declare_listed_initializers(model: onnx.ModelProto) -> onnx.ModelProto:
    """IN PLACE: before IR 4 every initializer must also be a graph input; give those a hand-written or
    old converter's model left out an input entry of their type and shape (onnx's shape inference ignores an
    unlisted initializer of an IR < 4 model, so nothing it feeds would get a shape).  Returns `model`."""
    if not lists_initializers_as_inputs(model):
        return model
    listed = {i.name for i in model.graph.input}
    model.graph.input.extend(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims))
                             for t in model.graph.initializer if t.name not in listed)
    return model


def fix_input_shapes(model: onnx.ModelProto, shapes: dict[str, tuple[int, ...]] | None = None) -> onnx.ModelProto:
    """Return a copy of `model` whose graph inputs all have static dims and which stores no other
    shape (`forget_inferable_shapes`: inference recomputes them from the fixed inputs).

    Dims given in `shapes` override the model's; a dynamic dim with no given shape is an error
    that names the input and the flag to use.
    """
    shapes = dict(shapes or {})
    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    inputs = {i.name: i for i in graph_inputs(fixed)}
    unknown = sorted(set(shapes) - set(inputs))
    if unknown:
        raise UserError(f"--input-shape names no graph input: {', '.join(unknown)} "
                        f"(inputs are: {', '.join(inputs) or 'none'})")
    for name, value_info in inputs.items():
        tensor_type = value_info.type.tensor_type
        if name in shapes:
            if tensor_type.HasField("shape") and len(tensor_type.shape.dim) not in (0, len(shapes[name])):
                raise UserError(f"--input-shape {name}: model says rank {len(tensor_type.shape.dim)}, "
                                f"got {len(shapes[name])} dims")
            tensor_type.ClearField("shape")
            for d in shapes[name]:
                tensor_type.shape.dim.add().dim_value = d
            continue
        dims = list(tensor_type.shape.dim) if tensor_type.HasField("shape") else None
        if dims is None or any(not d.HasField("dim_value") or d.dim_value <= 0 for d in dims):
            shown = "?" if dims is None else ",".join(str(d.dim_value) if d.HasField("dim_value") and d.dim_value > 0
                                                      else (d.dim_param or "?") for d in dims)
            raise UserError(f"input '{name}' has a dynamic shape [{shown}]: fix it with "
                            f"--input-shape {name}:1,3,224,224 (your dims)")
    return forget_inferable_shapes(declare_listed_initializers(fixed))


_BULK_ELEMENTS = 4096


def _without_bulk_data(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy whose large initializers are graph inputs of the same type and shape, and which
    stores no shape inference recomputes (`forget_inferable_shapes`).

    Shape inference only needs the values of small (shape-like) tensors; serialising hundreds
    of MiB of weights for it would dominate the run time.
    """
    light = onnx.ModelProto()
    light.CopyFrom(model)
    forget_inferable_shapes(declare_listed_initializers(light))
    graph = light.graph
    listed = {i.name for i in graph.input}
    small = []
    for tensor in graph.initializer:
        if int(np.prod(tensor.dims, dtype=np.int64)) <= _BULK_ELEMENTS:
            small.append(tensor)
        elif tensor.name not in listed:
            graph.input.append(helper.make_tensor_value_info(tensor.name, tensor.data_type, list(tensor.dims)))
    del graph.initializer[:]
    graph.initializer.extend(small)
    return light


# Ops onnx's shape inference has no rule for: GroupNormalization (a function op: onnx infers nothing
# past it), onnxruntime's com.microsoft QOperator ops and QuickGelu.  Each rule gives output 0's (elem_type, dims)
# from the known (elem_type, dims) of the node's inputs, or None while one it needs is unknown; a rule of
# _MULTI_OUTPUT_RULES gives a list, one entry per output.
Known = dict[str, tuple[int, tuple[int, ...]]]


def _first_input(node: onnx.NodeProto, known: Known):
    return known.get(node.input[0])


def _broadcast_inputs_0_3(node: onnx.NodeProto, known: Known):
    if node.input[0] not in known or node.input[3] not in known:
        return None
    (elem, a), (_, b) = known[node.input[0]], known[node.input[3]]
    return elem, tuple(np.broadcast_shapes(a, b))


def _global_pool(node: onnx.NodeProto, known: Known):
    if node.input[0] not in known or attributes(node).get("channels_last", 0):
        return None
    elem, x = known[node.input[0]]
    return elem, x[:2] + (1,) * (len(x) - 2)


def _concat_parts(node: onnx.NodeProto, known: Known):
    parts = [known.get(x) for x in node.input[2::3]]
    if not parts or any(p is None for p in parts):
        return None
    rank = len(parts[0][1])
    axis = int(attributes(node).get("axis", 0)) % max(rank, 1)
    dims = list(parts[0][1])
    dims[axis] = sum(p[1][axis] for p in parts)
    return parts[0][0], tuple(dims)


def _dynamic_quantize_lstm(node: onnx.NodeProto, known: Known):
    """onnxruntime's DynamicQuantizeLSTM: LSTM's outputs (layout 0), W [D, I, 4H]:
    Y [T, D, B, H], Y_h and Y_c [D, B, H]."""
    if node.input[0] not in known or node.input[1] not in known:
        return None
    (elem, x), (_, w) = known[node.input[0]], known[node.input[1]]
    if len(x) != 3 or len(w) != 3:
        return None
    hidden = int(attributes(node).get("hidden_size", w[2] // 4))
    state = (elem, (w[0], x[1], hidden))
    return [(elem, (x[0], w[0], x[1], hidden)), state, state]


_MULTI_OUTPUT_RULES = {"DynamicQuantizeLSTM": _dynamic_quantize_lstm}


_OUTPUT_RULES = {"GroupNormalization": _first_input, "QuickGelu": _first_input, "QLinearSigmoid": _first_input,
                 "QLinearLeakyRelu": _first_input, "QLinearAdd": _broadcast_inputs_0_3,
                 "QLinearMul": _broadcast_inputs_0_3, "QLinearGlobalAveragePool": _global_pool,
                 "QLinearConcat": _concat_parts}


def _declare(graph: onnx.GraphProto, value_info: onnx.ValueInfoProto) -> None:
    """Record `value_info` in `graph`: on its graph-output entry when it is one (inference reads an
    output's type from that entry, not from value_info), else as value_info."""
    for output in graph.output:
        if output.name == value_info.name:
            output.CopyFrom(value_info)
            return
    graph.value_info.append(value_info)


def _with_rule_outputs(model: onnx.ModelProto) -> onnx.ModelProto:
    """`model` with value_info for the outputs of _OUTPUT_RULES ops, filled in as far as (non-strict)
    inference reaches them; `model` itself when it has no such op."""
    if not any(n.op_type in _OUTPUT_RULES or n.op_type in _MULTI_OUTPUT_RULES for n in model.graph.node):
        return model
    out = onnx.ModelProto()
    out.CopyFrom(model)
    for _ in range(len(model.graph.node)):
        graph = onnx.shape_inference.infer_shapes(out, data_prop=True).graph
        known: Known = {}
        for v in list(graph.input) + list(graph.value_info) + list(graph.output):
            t = v.type.tensor_type
            if t.HasField("shape") and t.elem_type and all(d.HasField("dim_value") for d in t.shape.dim):
                known[v.name] = (t.elem_type, tuple(int(d.dim_value) for d in t.shape.dim))
        for tensor in graph.initializer:
            known[tensor.name] = (tensor.data_type, tuple(int(d) for d in tensor.dims))
        added = False
        for node in graph.node:
            if node.op_type in _MULTI_OUTPUT_RULES:
                found_all = _MULTI_OUTPUT_RULES[node.op_type](node, known)
            elif node.op_type in _OUTPUT_RULES:
                found_all = [_OUTPUT_RULES[node.op_type](node, known)]
            else:
                continue
            for name, found in zip(node.output, found_all or []):
                if name and name not in known and found is not None:
                    _declare(out.graph, helper.make_tensor_value_info(name, found[0], list(found[1])))
                    known[name] = found
                    added = True
        if not added:
            break
    return out


def infer_static_shapes(model: onnx.ModelProto) -> dict[str, TensorInfo]:
    """Every tensor's static shape and dtype: graph inputs, initializers, node outputs.

    Outputs nothing reads (e.g. a Dropout mask) may be missing from the result.

    Raises UnsupportedModelError naming the first node whose output shape cannot be inferred.
    """
    try:
        inferred = onnx.shape_inference.infer_shapes(_with_rule_outputs(_without_bulk_data(model)),
                                                     check_type=True, strict_mode=True, data_prop=True)
    except onnx.shape_inference.InferenceError as exc:
        raise UnsupportedModelError(f"shape inference failed: {str(exc).splitlines()[0]}") from exc
    graph = inferred.graph
    infos: dict[str, TensorInfo] = {}

    def add(value_info: onnx.ValueInfoProto) -> None:
        tensor_type = value_info.type.tensor_type
        if not tensor_type.HasField("shape") or not tensor_type.elem_type:
            return
        dims = tensor_type.shape.dim
        if all(d.HasField("dim_value") and d.dim_value >= 0 for d in dims):
            dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tensor_type.elem_type))
            infos[value_info.name] = TensorInfo(tuple(int(d.dim_value) for d in dims), dtype)

    for value_info in list(graph.input) + list(graph.value_info) + list(graph.output):
        add(value_info)
    for tensor in model.graph.initializer:
        infos[tensor.name] = TensorInfo(tuple(int(d) for d in tensor.dims),
                                        np.dtype(helper.tensor_dtype_to_np_dtype(tensor.data_type)))
    used = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.TENSOR:
                    infos[node.output[0]] = TensorInfo(tuple(int(d) for d in attr.t.dims), np.dtype(
                        helper.tensor_dtype_to_np_dtype(attr.t.data_type)))
        for out in node.output:
            if out and out in used and out not in infos:
                label = node.name or out
                raise UnsupportedModelError(
                    f"node '{label}' ({node.op_type}): the shape of output '{out}' cannot be inferred statically "
                    f"(fix the graph's input shapes with --input-shape, or the op has no shape rule)")
    return infos


def partial_shapes(model: onnx.ModelProto) -> dict[str, tuple[int | None, ...]]:
    """Best-effort shapes of the tensors that shape inference can rank (None = unknown dim).

    Unlike `infer_static_shapes` this never fails: passes use it to learn ranks and the
    static shapes that exist, and leave the rest of the graph alone.
    """
    try:
        inferred = onnx.shape_inference.infer_shapes(_with_rule_outputs(_without_bulk_data(model)), data_prop=True)
    except onnx.shape_inference.InferenceError:
        inferred = model
    shapes: dict[str, tuple[int | None, ...]] = {}
    graph = inferred.graph
    for value_info in list(graph.input) + list(graph.value_info) + list(graph.output):
        tensor_type = value_info.type.tensor_type
        if tensor_type.HasField("shape"):
            shapes[value_info.name] = tuple(int(d.dim_value) if d.HasField("dim_value") else None
                                            for d in tensor_type.shape.dim)
    for tensor in model.graph.initializer:
        shapes[tensor.name] = tuple(int(d) for d in tensor.dims)
    return shapes


def partial_elem_types(model: onnx.ModelProto) -> dict[str, int]:
    """Best-effort element type (onnx.TensorProto enum) of every tensor inference can type: graph inputs,
    initializers, Constant outputs and node outputs.  Never fails (like `partial_shapes`)."""
    try:
        inferred = onnx.shape_inference.infer_shapes(_without_bulk_data(model))
    except onnx.shape_inference.InferenceError:
        inferred = model
    graph = inferred.graph
    types = {v.name: v.type.tensor_type.elem_type for v in list(graph.input) + list(graph.value_info)
             + list(graph.output) if v.type.HasField("tensor_type") and v.type.tensor_type.elem_type}
    types.update({t.name: t.data_type for t in model.graph.initializer})
    return types
