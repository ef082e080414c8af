"""Lowering: ONNX partitions + the memory plan -> the partition bodies the TA interpreter runs.

`lower_plan` writes one body per partition: a tensor table (weights stored in the body, every
other tensor at the absolute region offset the plan gave it), one op record per node in the
planned order, each node translated by the target's op table (`passes.target.translate`:
ONNX attributes resolved into the fixed slots of FORMAT.md).  Check support first
(`passes.target.check_supported`), so that every refusal is reported before anything is written.

Before/after for one node::

    Conv(X, W, B) {auto_pad=SAME_UPPER, strides=[2,2]}      # X: [1,3,224,224], W: [64,3,7,7]
    ->  op CONV  inputs (t0 REGION @arena+0, t1 WEIGHT, t2 WEIGHT) -> t3 REGION @arena+602112
        i = [group 1, kernel 7 7, strides 2 2, pads 2 2 3 3, dilations 1 1]

Because each record has a fixed width, a body's size depends only on which tensors its nodes read
and write (`passes.target.body_bytes`), which the memory plan uses before any offset exists; every
body written here has exactly the size the plan reserved.
"""
from __future__ import annotations

from collections import Counter
from typing import Collection, Mapping, Sequence

import numpy as np
import onnx

from ..analysis.shapes import TensorInfo
from ..graph import Constants, node_label, opset_of
from ..target import body_dtype, translate
from ..target.dtypes import to_held
from . import format as fmt


def lower_partition(nodes: Sequence[onnx.NodeProto], *, index: int, count: int, infos: Mapping[str, TensorInfo],
                    consts: Mapping[str, np.ndarray], opset: int, tensor_offsets: Mapping[str, int],
                    region_size: int, scratch_offset: int, scratch_size: int, partition_inputs: Collection[str],
                    partition_outputs: Collection[str], model_inputs: Sequence[str],
                    model_outputs: Sequence[str]) -> fmt.Body:
    """The body of one partition running `nodes` in this order.

    `tensor_offsets` holds the absolute region offset of every non-constant tensor the nodes read
    or write (from the memory plan); constants (`consts`) read as data are stored in the body, in the
    order their op asks for (`LoweredOp.stored`, e.g. Conv's transposed 1x1 weights) when no other op
    of the body reads them."""
    tensors: list[fmt.Tensor] = []
    weights: dict[int, np.ndarray] = {}
    index_of: dict[str, int] = {}

    def tensor(name: str, stored=None) -> int:
        if not name:
            return fmt.NO_TENSOR
        if name in index_of:
            return index_of[name]
        shape = tuple(int(d) for d in infos[name].shape)
        dtype = body_dtype(infos[name].dtype)
        if name in consts:
            t = fmt.Tensor(shape, fmt.LOC_WEIGHT, dtype=dtype)
            values = to_held(consts[name], infos[name].dtype, f"constant '{name}'").reshape(shape)
            weights[len(tensors)] = stored(values) if stored else values
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
            t = fmt.Tensor(shape, fmt.LOC_REGION, int(tensor_offsets[name]), flags, io, dtype)
        index_of[name] = len(tensors)
        tensors.append(t)
        return index_of[name]

    reads = Counter(name for node in nodes if node.op_type != "Constant" for name in node.input if name in consts)
    shared = frozenset(name for name, count in reads.items() if count > 1)
    ops = []
    for node in nodes:
        if node.op_type == "Constant":
            continue
        lowered = translate(node, infos, consts, opset, shared)
        ops.append(fmt.Op(lowered.code, [tensor(x, lowered.stored.get(k)) for k, x in enumerate(lowered.inputs)],
                          [tensor(x) for x in lowered.outputs], lowered.ints, lowered.floats))
    return fmt.Body(index, count, tensors, ops, weights, region_size=region_size, scratch_offset=scratch_offset,
                    scratch_size=scratch_size)


def lower_plan(model: onnx.ModelProto, infos: Mapping[str, TensorInfo], specs: Sequence, plan,
               model_inputs: Sequence[str], model_outputs: Sequence[str]) -> list[bytes]:
    """Every partition's serialised body, from the partitioner's specs and memory plan (the
    partition runs its nodes in `plan.partitions[k].node_order`).  Each body's size equals the
    plan's W_k, which `target.body_bytes` gave the planner."""
    consts, opset = Constants(model, overridable=True), opset_of(model)
    bodies = []
    for k, (spec, part) in enumerate(zip(specs, plan.partitions)):
        by_label = {node_label(n): n for n in spec.nodes}
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
