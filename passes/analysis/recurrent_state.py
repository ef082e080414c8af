"""Recurrent state pairs: the model input a state enters by and the model output it leaves by.

A streaming model (a GRU keyword spotter, an LSTM voice-activity detector) takes its state from the
last chunk as an input and hands the next state out as an output.  `lower --state IN=OUT` keeps such
a pair inside the TA (zero at session start, carried from OUT onto IN between inferences, never read
or written by the normal world).

`detect_state_pairs` finds the unambiguous pairs of a model: a graph input that is the initial_h
(input 5) or LSTM initial_c (input 6) of exactly one LSTM/GRU/RNN node, and nothing else, whose
matching output (Y_h = output 1, Y_c = output 2) is a graph output of the same shape and type.
Anything else (a state sliced per layer, reshaped on the way, read twice) is left to `--state`.
`check_state_pairs` validates pairs given by name.
"""
from __future__ import annotations

from typing import Sequence

import onnx

from ..errors import UserError
from ..graph import graph_inputs
from .shapes import infer_static_shapes

RECURRENT_OPS = {"LSTM", "GRU", "RNN"}
STATE_SLOTS = ((5, 1), (6, 2))   # (initial_h, Y_h), (initial_c, Y_c): input index, output index


def _value_types(model: onnx.ModelProto) -> dict[str, tuple[str, tuple[int, ...]]]:
    """(dtype, shape) of every graph input and output, as shape inference computes them (what an
    exporter declared for an output may be symbolic or missing)."""
    infos = infer_static_shapes(model)
    return {v.name: (str(infos[v.name].dtype), tuple(infos[v.name].shape))
            for v in [*graph_inputs(model), *model.graph.output] if v.name in infos}


def detect_state_pairs(model: onnx.ModelProto) -> list[tuple[str, str]]:
    """The unambiguous (state input, state output) pairs of `model` (module docstring)."""
    inputs = {v.name for v in graph_inputs(model)}
    outputs = {v.name for v in model.graph.output}
    readers: dict[str, int] = {}
    for node in model.graph.node:
        for name in node.input:
            readers[name] = readers.get(name, 0) + 1
    candidates = []
    for node in model.graph.node:
        if node.op_type not in RECURRENT_OPS or node.domain not in ("", "ai.onnx"):
            continue
        for i, o in STATE_SLOTS:
            if len(node.input) <= i or len(node.output) <= o:
                continue
            state_in, state_out = node.input[i], node.output[o]
            if state_in in inputs and state_out in outputs and readers.get(state_in) == 1:
                candidates.append((state_in, state_out))
    types = _value_types(model) if candidates else {}
    return [(i, o) for i, o in candidates if i in types and types.get(i) == types.get(o)]


def check_state_pairs(model: onnx.ModelProto, pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """`pairs` checked against the model: each input a graph input and each output a graph output,
    of the same type and shape, none used twice.  Raises UserError (one line) otherwise."""
    if not pairs:
        return []
    types = _value_types(model)
    inputs = {v.name for v in graph_inputs(model)}
    outputs = {v.name for v in model.graph.output}
    seen_in, seen_out = set(), set()
    for state_in, state_out in pairs:
        if state_in not in inputs:
            raise UserError(f"--state {state_in}={state_out}: '{state_in}' is not a model input "
                            f"(inputs: {', '.join(sorted(inputs))})")
        if state_out not in outputs:
            raise UserError(f"--state {state_in}={state_out}: '{state_out}' is not a model output "
                            f"(outputs: {', '.join(sorted(outputs))})")
        if types.get(state_in) != types.get(state_out):
            raise UserError(f"--state {state_in}={state_out}: the input is {types.get(state_in)} (type, shape), the "
                            f"output {types.get(state_out)}: a state keeps its type and shape")
        if state_in in seen_in or state_out in seen_out:
            raise UserError(f"--state {state_in}={state_out}: each state input and output pairs once")
        seen_in.add(state_in)
        seen_out.add(state_out)
    if len(pairs) == len(inputs):
        raise UserError("every model input is a --state: the model would take no input from the normal world")
    return list(pairs)
