"""Lowering: ONNX partitions + the memory plan -> partition bodies the TA interpreter runs.

Two steps, in this order:

1. `check_supported(model, infos)` — every node is translated once, before anything is written;
   each op or attribute the interpreter cannot run is collected, and all of them are reported in
   one `UnsupportedModelError` naming the node (e.g. ``node 'conv3' (Conv): auto_pad=... ``).
2. `lower_partition(...)` — one body per partition: a tensor table (weights stored in the body,
   every other tensor at the absolute region offset the plan gave it), one op record per node in
   the planned order, ONNX attributes resolved into the fixed slots of FORMAT.md.

Before/after for one node::

    Conv(X, W, B) {auto_pad=SAME_UPPER, strides=[2,2]}      # X: [1,3,224,224], W: [64,3,7,7]
    ->  op CONV  inputs (t0 REGION @arena+0, t1 WEIGHT, t2 WEIGHT) -> t3 REGION @arena+602112
        i = [group 1, kernel 7 7, strides 2 2, pads 2 2 3 3, dilations 1 1]

Parameter inputs (Reshape's shape, Clip's min/max, Pad's pads, Slice's starts/ends/axes/steps,
Resize's roi/scales/sizes, Split's sizes, Squeeze/Unsqueeze axes) are folded into attributes or
follow from the static output shape; they never become tensors.  Because each record has a fixed
width, the body size of a partition depends only on which tensors its nodes read and write
(`body_bytes`), which the memory plan uses before any offset exists.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Mapping, Sequence

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..analysis.kernel_args import pad_args, resize_args, slice_args
from ..analysis.shapes import TensorInfo
from ..analysis.spatial import WindowGeometry, window_geometry
from ..errors import UnsupportedModelError
from . import format as fmt

FLOAT_MAX = float(np.finfo(np.float32).max)

# Inputs that are parameters (folded into attributes), by op type and input position.
PARAMETER_INPUTS = {
    "Reshape": {1}, "Clip": {1, 2}, "Pad": {1, 2, 3}, "Slice": {1, 2, 3, 4}, "Resize": {1, 2, 3},
    "Split": {1}, "Squeeze": {1}, "Unsqueeze": {1}, "Dropout": {1, 2},
}
# Ops of which only the first output is computed (the others must be unused).
FIRST_OUTPUT_ONLY = {"Dropout", "BatchNormalization", "MaxPool"}
COPY_OPS = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"}
UNARY = {"Relu": "RELU", "LeakyRelu": "LEAKY_RELU", "Sigmoid": "SIGMOID", "HardSigmoid": "HARD_SIGMOID",
         "HardSwish": "HARD_SWISH", "Tanh": "TANH", "Clip": "CLIP"}
BINARY = {"Add": "ADD", "Sub": "SUB", "Mul": "MUL", "Div": "DIV"}
SUPPORTED_OPS = sorted({"Conv", "ConvTranspose", "Gemm", "MatMul", "Softmax", "LRN", "BatchNormalization",
                        "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Sum", "Concat", "Split",
                        "Slice", "Transpose", "Pad", "Resize", "Constant"} | COPY_OPS | set(UNARY) | set(BINARY))


class Unsupported(Exception):
    """A node the interpreter cannot run; the message says which op or attribute and why."""


def node_label(node: onnx.NodeProto) -> str:
    return node.name or (node.output[0] if node.output else "?")


def data_inputs(node: onnx.NodeProto) -> list[str]:
    """The inputs that become tensors of the body (parameters and absent optionals removed)."""
    params = PARAMETER_INPUTS.get(node.op_type, set())
    names = [name for k, name in enumerate(node.input) if k not in params]
    while names and not names[-1]:
        names.pop()
    return names


def kept_outputs(node: onnx.NodeProto) -> list[str]:
    """The outputs the interpreter computes."""
    return list(node.output[:1]) if node.op_type in FIRST_OUTPUT_ONLY else list(node.output)


# ------------------------------------------------------------------------------------------- sizes


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
    return fmt.body_size(len(tensors), ops, pool, list(stored.values()))


# ------------------------------------------------------------------------------------- attributes


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _const(consts: Mapping[str, np.ndarray], node: onnx.NodeProto, k: int, what: str) -> np.ndarray | None:
    """The value of parameter input k (None when absent); it must be a constant."""
    if k >= len(node.input) or not node.input[k]:
        return None
    name = node.input[k]
    if name not in consts:
        raise Unsupported(f"{what} (input '{name}') must be a constant, it is computed at run time")
    return np.asarray(consts[name])


def _shape(infos: Mapping[str, TensorInfo], name: str) -> tuple[int, ...]:
    return tuple(infos[name].shape)


def _window_slots(node: onnx.NodeProto, infos: Mapping[str, TensorInfo]) -> tuple[WindowGeometry, list[int]]:
    """The geometry of a window op (auto_pad, ceil_mode, output_shape resolved by `window_geometry`)
    and its slots i[0..10]: group, kernel h,w, strides, pads top,left,bottom,right, dilations."""
    try:
        g = window_geometry(node, infos)
    except UnsupportedModelError as exc:
        raise Unsupported(str(exc).split(": ", 1)[-1]) from None
    y = infos[node.output[0]].shape
    inferred = (y[2], y[3]) if len(y) == 4 else (1, y[-1])
    if inferred != (g.h_out, g.w_out):
        # e.g. ceil_mode where the last window would start past the input: ONNX shape inference
        # keeps it, onnxruntime and the kernels drop it
        raise Unsupported(f"ONNX shape inference gives spatial output {inferred[4 - len(y):]} but the op's "
                          f"semantics give {(g.h_out, g.w_out)[4 - len(y):]}")
    return g, [g.group, g.kernel_h, g.kernel_w, g.stride_h, g.stride_w, g.pad_top, g.pad_left, g.pad_bottom,
               g.pad_right, g.dilation_h, g.dilation_w]


@dataclass
class LoweredOp:
    """A node translated to an op record (tensor names instead of indices)."""

    code: int
    inputs: list[str]
    outputs: list[str]
    ints: list[int]
    floats: list[float]


def translate(node: onnx.NodeProto, infos: Mapping[str, TensorInfo], consts: Mapping[str, np.ndarray],
              opset: int) -> LoweredOp:
    """One node -> one op record; raises Unsupported naming the op or attribute."""
    op, a = node.op_type, _attrs(node)
    inputs, outputs = data_inputs(node), kept_outputs(node)
    for name in inputs + outputs:
        if name and name not in infos:
            raise Unsupported(f"tensor '{name}' has no static shape")
        if name and infos[name].dtype != np.float32:
            raise Unsupported(f"tensor '{name}' is {infos[name].dtype}; the interpreter computes in float32")
        if name and not 0 < infos[name].nbytes:
            raise Unsupported(f"tensor '{name}' is empty")
        if name and len(infos[name].shape) > fmt.MAX_RANK:
            raise Unsupported(f"tensor '{name}' has rank {len(infos[name].shape)} > {fmt.MAX_RANK}")
    code = fmt.OP_CODES
    ints: list[int] = []
    floats: list[float] = []
    if op in ("Conv", "ConvTranspose"):
        g, ints = _window_slots(node, infos)
        if op == "ConvTranspose":
            # output_padding as the kernel counts it: rows past the last input's reach
            # (this also holds the extra rows of an output_shape larger than the full output)
            for size, out, k, s, d, pb, pe in ((g.h_in, g.h_out, g.kernel_h, g.stride_h, g.dilation_h, g.pad_top,
                                                g.pad_bottom), (g.w_in, g.w_out, g.kernel_w, g.stride_w,
                                                                g.dilation_w, g.pad_left, g.pad_right)):
                ints.append(out - (s * (size - 1) + d * (k - 1) + 1 - pb - pe))
            if min(ints[11:]) < 0:
                raise Unsupported("output_shape smaller than the padded output")
        return LoweredOp(code["CONV_TRANSPOSE" if op == "ConvTranspose" else "CONV"], inputs[:3], outputs, ints, [])
    if op == "Gemm":
        return LoweredOp(code["GEMM"], inputs[:3], outputs, [int(a.get("transA", 0)), int(a.get("transB", 0))],
                         [float(a.get("alpha", 1.0)), float(a.get("beta", 1.0))])
    if op == "MatMul":
        return LoweredOp(code["MATMUL"], inputs, outputs, [], [])
    if op in UNARY:
        if op == "LeakyRelu":
            floats = [float(a.get("alpha", 0.01))]
        elif op == "HardSigmoid":
            floats = [float(a.get("alpha", 0.2)), float(a.get("beta", 0.5))]
        elif op == "Clip":
            if opset < 11:
                lo, hi = float(a.get("min", -FLOAT_MAX)), float(a.get("max", FLOAT_MAX))
            else:
                lo_v, hi_v = _const(consts, node, 1, "Clip min"), _const(consts, node, 2, "Clip max")
                lo = -FLOAT_MAX if lo_v is None else float(lo_v.reshape(()))
                hi = FLOAT_MAX if hi_v is None else float(hi_v.reshape(()))
            floats = [lo, hi]
        return LoweredOp(code[UNARY[op]], inputs, outputs, [], floats)
    if op in COPY_OPS:
        training = _const(consts, node, 2, "Dropout training_mode") if op == "Dropout" else None
        if training is not None and bool(training.reshape(())):
            raise Unsupported("training_mode=True (inference only)")
        return LoweredOp(code["COPY"], inputs, outputs, [], [])
    if op == "Softmax":
        rank = len(_shape(infos, inputs[0]))
        axis = int(a.get("axis", -1 if opset >= 13 else 1)) % max(rank, 1)
        return LoweredOp(code["SOFTMAX"], inputs, outputs, [axis, int(opset < 13)], [])
    if op == "LRN":
        return LoweredOp(code["LRN"], inputs, outputs, [int(a["size"])],
                         [float(a.get("alpha", 1e-4)), float(a.get("beta", 0.75)), float(a.get("bias", 1.0))])
    if op == "BatchNormalization":
        if int(a.get("training_mode", 0)):
            raise Unsupported("training_mode=1")
        return LoweredOp(code["BATCH_NORM"], inputs, outputs, [], [float(a.get("epsilon", 1e-5))])
    if op in ("MaxPool", "AveragePool"):
        if int(a.get("storage_order", 0)):
            raise Unsupported("storage_order=1")
        _, ints = _window_slots(node, infos)
        ints = [1] + ints[1:] + [int(a.get("ceil_mode", 0))]
        if op == "AveragePool":
            ints.append(int(a.get("count_include_pad", 0)))
        return LoweredOp(code["MAX_POOL" if op == "MaxPool" else "AVERAGE_POOL"], inputs, outputs, ints, [])
    if op in ("GlobalAveragePool", "GlobalMaxPool"):
        return LoweredOp(code["GLOBAL_AVERAGE_POOL" if op == "GlobalAveragePool" else "GLOBAL_MAX_POOL"], inputs,
                         outputs, [], [])
    if op in BINARY:
        if "axis" in a or int(a.get("broadcast", 0)):
            raise Unsupported("legacy broadcast/axis attributes (opset < 7)")
        return LoweredOp(code[BINARY[op]], inputs, outputs, [], [])
    if op == "Sum":
        return LoweredOp(code["SUM"], _sum_order(inputs, outputs[0], infos), outputs, [], [])
    if op in ("Concat", "Split"):
        rank = len(_shape(infos, inputs[0]))
        axis = int(a.get("axis", 0)) % rank
        return LoweredOp(code["CONCAT" if op == "Concat" else "SPLIT"], inputs, outputs, [axis], [])
    if op == "Slice":
        return LoweredOp(code["SLICE"], inputs[:1], outputs, _slice(node, a, infos, consts, opset), [])
    if op == "Transpose":
        rank = len(_shape(infos, inputs[0]))
        return LoweredOp(code["TRANSPOSE"], inputs, outputs, list(a.get("perm", range(rank - 1, -1, -1))), [])
    if op == "Pad":
        return _pad(node, a, inputs, outputs, infos, consts, opset)
    if op == "Resize":
        return _resize(node, a, inputs, outputs, infos, consts)
    raise Unsupported(f"op {op} is not supported by the interpreter (supported: {', '.join(SUPPORTED_OPS)})")


def _sum_order(inputs: list[str], output: str, infos: Mapping[str, TensorInfo]) -> list[str]:
    """Sum's inputs reordered so the first two broadcast to the output's shape (the interpreter
    computes y = x0 + x1, then y += xk)."""
    out = _shape(infos, output)
    if len(inputs) == 1:
        return inputs
    for i in range(len(inputs)):
        for j in range(len(inputs)):
            if i != j and np.broadcast_shapes(_shape(infos, inputs[i]), _shape(infos, inputs[j])) == out:
                return [inputs[i], inputs[j]] + [x for k, x in enumerate(inputs) if k not in (i, j)]
    raise Unsupported("no two inputs of Sum broadcast to its output shape")


def _slice(node, a, infos, consts, opset) -> list[int]:
    x_shape = _shape(infos, node.input[0])
    if opset < 10:
        starts, ends, axes, steps = list(a["starts"]), list(a["ends"]), a.get("axes"), None
    else:
        starts = _const(consts, node, 1, "Slice starts").tolist()
        ends = _const(consts, node, 2, "Slice ends").tolist()
        axes_v, steps_v = _const(consts, node, 3, "Slice axes"), _const(consts, node, 4, "Slice steps")
        axes = None if axes_v is None else axes_v.tolist()
        steps = None if steps_v is None else steps_v.tolist()
    try:
        start, step, out = slice_args(x_shape, starts, ends, axes, steps)
    except ValueError as exc:
        raise Unsupported(str(exc)) from None
    if tuple(out) != _shape(infos, node.output[0]):
        raise Unsupported(f"output shape {tuple(out)} differs from the inferred {_shape(infos, node.output[0])}")
    pad = [0] * (fmt.MAX_RANK - len(x_shape))
    return [*start, *pad, *step, *pad]


def _pad(node, a, inputs, outputs, infos, consts, opset) -> LoweredOp:
    rank = len(_shape(infos, inputs[0]))
    mode = a.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if mode not in fmt.PAD_MODES:
        raise Unsupported(f"mode={mode}")
    axes = None
    if opset < 11:
        pads, value = list(a["pads"]), float(a.get("value", 0.0))
    else:
        pads = _const(consts, node, 1, "Pad pads").astype(np.int64).tolist()
        value_v = _const(consts, node, 2, "Pad constant_value")
        value = 0.0 if value_v is None else float(value_v.reshape(()))
        axes_v = _const(consts, node, 3, "Pad axes")
        axes = None if axes_v is None else axes_v.tolist()
    try:
        begin, end = pad_args(rank, pads, axes)
    except ValueError as exc:
        raise Unsupported(str(exc)) from None
    ints = [*begin, *[0] * (fmt.MAX_RANK - rank), *end, *[0] * (fmt.MAX_RANK - rank), fmt.PAD_MODES[mode]]
    return LoweredOp(fmt.OP_CODES["PAD"], inputs[:1], outputs, ints, [value])


def _resize(node, a, inputs, outputs, infos, consts) -> LoweredOp:
    def text(key, default):
        v = a.get(key, default)
        return v.decode() if isinstance(v, bytes) else v

    mode, coord, nearest = text("mode", "nearest"), text("coordinate_transformation_mode", "half_pixel"), \
        text("nearest_mode", "round_prefer_floor")
    if mode not in fmt.RESIZE_MODES:
        raise Unsupported(f"mode={mode}")
    if coord not in fmt.COORD_MODES:
        raise Unsupported(f"coordinate_transformation_mode={coord}")
    if nearest not in fmt.NEAREST_MODES:
        raise Unsupported(f"nearest_mode={nearest}")
    for key, ok in (("antialias", 0), ("exclude_outside", 0)):
        if int(a.get(key, ok)) != ok:
            raise Unsupported(f"{key}={a[key]}")
    if text("keep_aspect_ratio_policy", "stretch") != "stretch" or "axes" in a:
        raise Unsupported("keep_aspect_ratio_policy / axes")
    x_shape = _shape(infos, inputs[0])
    scales_v = _const(consts, node, 2 if len(node.input) > 2 else 1, "Resize scales")
    sizes_v = _const(consts, node, 3, "Resize sizes")
    try:
        scales, out = resize_args(x_shape, None if scales_v is None else scales_v.tolist(),
                                  None if sizes_v is None else sizes_v.tolist())
    except ValueError as exc:
        raise Unsupported(str(exc)) from None
    if tuple(out) != _shape(infos, outputs[0]):
        raise Unsupported(f"output shape {tuple(out)} differs from the inferred {_shape(infos, outputs[0])}")
    return LoweredOp(fmt.OP_CODES["RESIZE"], inputs[:1], outputs,
                     [fmt.RESIZE_MODES[mode], fmt.COORD_MODES[coord], fmt.NEAREST_MODES[nearest]], scales)


# ------------------------------------------------------------------------------------------ checks


def opset_of(model: onnx.ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)


class Constants(Mapping):
    """Initializers and Constant-node outputs by name, converted to numpy only when read (a
    model's weights are not duplicated in memory)."""

    def __init__(self, model: onnx.ModelProto):
        self._tensors: dict[str, onnx.TensorProto | np.ndarray] = {t.name: t for t in model.graph.initializer}
        for node in model.graph.node:
            if node.op_type == "Constant":
                for attr in node.attribute:
                    if attr.name == "value":
                        self._tensors[node.output[0]] = attr.t
                    elif attr.name in ("value_float", "value_floats", "value_int", "value_ints"):
                        self._tensors[node.output[0]] = np.asarray(helper.get_attribute_value(attr))

    def __getitem__(self, name: str) -> np.ndarray:
        value = self._tensors[name]
        return value if isinstance(value, np.ndarray) else numpy_helper.to_array(value)

    def __contains__(self, name: object) -> bool:
        return name in self._tensors

    def __iter__(self):
        return iter(self._tensors)

    def __len__(self) -> int:
        return len(self._tensors)


def constants_of(model: onnx.ModelProto) -> Constants:
    """Initializers and Constant-node outputs, by name (converted lazily)."""
    return Constants(model)


def problems(model: onnx.ModelProto, infos: Mapping[str, TensorInfo]) -> list[str]:
    """Every op or attribute of `model` the interpreter cannot run, one line per node."""
    consts, opset = constants_of(model), opset_of(model)
    used = {name for node in model.graph.node for name in node.input} | {o.name for o in model.graph.output}
    found = []
    for node in model.graph.node:
        if node.domain not in ("", "ai.onnx"):
            found.append(f"node '{node_label(node)}' ({node.domain}.{node.op_type}): custom-domain op")
            continue
        if node.op_type == "Constant":
            continue
        try:
            translate(node, infos, consts, opset)
            dropped = [o for o in node.output[len(kept_outputs(node)):] if o and o in used]
            if dropped:
                raise Unsupported(f"output(s) {', '.join(dropped)} are used but only the first output is computed")
        except Unsupported as exc:
            found.append(f"node '{node_label(node)}' ({node.op_type}): {exc}")
    return found


def check_supported(model: onnx.ModelProto, infos: Mapping[str, TensorInfo]) -> None:
    """Raise UnsupportedModelError listing every node the interpreter cannot run."""
    found = problems(model, infos)
    if found:
        raise UnsupportedModelError(f"{len(found)} node(s) cannot run in the TA interpreter: " + "; ".join(found))


# ----------------------------------------------------------------------------------------- bodies


def lower_partition(nodes: Sequence[onnx.NodeProto], *, index: int, count: int, infos: Mapping[str, TensorInfo],
                    consts: Mapping[str, np.ndarray], opset: int, tensor_offsets: Mapping[str, int],
                    region_size: int, scratch_offset: int, scratch_size: int, partition_inputs: Collection[str],
                    partition_outputs: Collection[str], model_inputs: Sequence[str],
                    model_outputs: Sequence[str]) -> fmt.Body:
    """The body of one partition running `nodes` in this order.

    `tensor_offsets` holds the absolute region offset of every non-constant tensor the nodes read
    or write (from the memory plan); constants (`consts`) read as data are stored in the body."""
    tensors: list[fmt.Tensor] = []
    weights: dict[int, np.ndarray] = {}
    index_of: dict[str, int] = {}

    def tensor(name: str) -> int:
        if not name:
            return fmt.NO_TENSOR
        if name in index_of:
            return index_of[name]
        shape = tuple(int(d) for d in infos[name].shape)
        if name in consts:
            t = fmt.Tensor(shape, fmt.LOC_WEIGHT)
            weights[len(tensors)] = np.asarray(consts[name], dtype=np.float32).reshape(shape)
        else:
            if name not in tensor_offsets:
                raise ValueError(f"partition {index}: the memory plan has no offset for tensor '{name}'")
            flags, io = 0, 0
            if name in partition_inputs:
                flags |= fmt.TFLAG_PARTITION_INPUT
            if name in partition_outputs:
                flags |= fmt.TFLAG_PARTITION_OUTPUT
            if name in model_inputs:
                flags, io = flags | fmt.TFLAG_MODEL_INPUT, list(model_inputs).index(name)
            if name in model_outputs:
                flags, io = flags | fmt.TFLAG_MODEL_OUTPUT, list(model_outputs).index(name)
            t = fmt.Tensor(shape, fmt.LOC_REGION, int(tensor_offsets[name]), flags, io)
        index_of[name] = len(tensors)
        tensors.append(t)
        return index_of[name]

    ops = []
    for node in nodes:
        if node.op_type == "Constant":
            continue
        lowered = translate(node, infos, consts, opset)
        ops.append(fmt.Op(lowered.code, [tensor(x) for x in lowered.inputs], [tensor(x) for x in lowered.outputs],
                          lowered.ints, lowered.floats))
    return fmt.Body(index, count, tensors, ops, weights, region_size=region_size, scratch_offset=scratch_offset,
                    scratch_size=scratch_size)


def lower_plan(model: onnx.ModelProto, infos: Mapping[str, TensorInfo], specs: Sequence, plan,
               model_inputs: Sequence[str], model_outputs: Sequence[str]) -> list[bytes]:
    """Every partition's serialised body, from the partitioner's specs and memory plan (the
    partition runs its nodes in `plan.partitions[k].node_order`).  Each body's size equals the
    plan's W_k, which `body_bytes` gave the planner."""
    from ..partition.memory import node_label as plan_label

    consts, opset = constants_of(model), opset_of(model)
    bodies = []
    for k, (spec, part) in enumerate(zip(specs, plan.partitions)):
        by_label = {plan_label(n): n for n in spec.nodes}
        nodes = [by_label[label] for label in part.node_order]
        body = lower_partition(nodes, index=k, count=len(specs), infos=infos, consts=consts, opset=opset,
                               tensor_offsets=part.tensor_offsets, region_size=plan.region_bytes,
                               scratch_offset=part.scratch_offset, scratch_size=part.scratch,
                               partition_inputs=spec.inputs, partition_outputs=spec.outputs,
                               model_inputs=model_inputs, model_outputs=model_outputs)
        data = fmt.serialize(body)
        if len(data) != part.weights:
            raise AssertionError(f"partition {k}: body is {len(data)} bytes, the plan reserved {part.weights}")
        bodies.append(data)
    return bodies
