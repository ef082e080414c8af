"""LSTM, GRU and RNN (runtime_ta/interp/kernels/recurrent.c: kern_rnn).

One op record per layer, the ONNX inputs in place (W, R, B, P stored as weights when constant) and
sequence_lens resolved here: absent, or a constant giving every batch row the full length.  The
outputs keep their ONNX positions; an absent one ("") is not computed.  Only the default activations
run (LSTM Sigmoid/Tanh/Tanh, GRU Sigmoid/Tanh, RNN Tanh, per direction); anything else is refused
naming the attribute.

Slots: the direction (RNN_DIRECTIONS), layout, linear_before_reset (GRU), and clip (0 when absent).
"""
from __future__ import annotations

import numpy as np

from ...lower import format as fmt
from ...lower.format import OP_CODES, RNN_DIRECTIONS
from ..op import LoweredOp, OpContext, OpTarget, Unsupported, slots
from ..scratch import RNN_GATES, rnn_node_scratch

DEFAULT_ACTIVATIONS = {"LSTM": ("Sigmoid", "Tanh", "Tanh"), "GRU": ("Sigmoid", "Tanh"), "RNN": ("Tanh",)}
SEQUENCE_LENS = 4  # input position, folded into the op (never a tensor of the body)


def _texts(values) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def rnn(ctx: OpContext) -> LoweredOp:
    op, a = ctx.node.op_type, ctx.attrs
    direction = ctx.text("direction", "forward")
    if direction not in RNN_DIRECTIONS:
        raise Unsupported(f"direction={direction!r} (forward, reverse or bidirectional)")
    dirs = 2 if direction == "bidirectional" else 1
    layout = int(a.get("layout", 0))
    if layout not in (0, 1):
        raise Unsupported(f"layout={layout}")
    defaults = list(DEFAULT_ACTIVATIONS[op]) * dirs
    if "activations" in a:
        given = _texts(a["activations"])
        if [g.lower() for g in given] != [d.lower() for d in defaults]:
            raise Unsupported(f"activations={given}: only the defaults {defaults} are supported")
    lbr = int(a.get("linear_before_reset", 0)) if op == "GRU" else 0
    if lbr not in (0, 1):
        raise Unsupported(f"linear_before_reset={lbr}")
    if op == "LSTM" and int(a.get("input_forget", 0)):
        raise Unsupported("input_forget=1 (coupled input and forget gates) is not supported")
    clip = a.get("clip")
    if clip is not None and not float(clip) > 0:
        raise Unsupported(f"clip={clip} (must be > 0)")

    x_shape, w_shape = ctx.shape(ctx.node.input[0]), ctx.shape(ctx.node.input[1])
    gates = RNN_GATES[op]
    if len(x_shape) != 3 or len(w_shape) != 3:
        raise Unsupported(f"X {x_shape} and W {w_shape} must have rank 3")
    hidden = w_shape[1] // gates
    if "hidden_size" in a and int(a["hidden_size"]) != hidden:
        raise Unsupported(f"hidden_size={a['hidden_size']} does not match W {w_shape}")
    if w_shape[0] != dirs:
        raise Unsupported(f"W {w_shape} has {w_shape[0]} directions, direction={direction!r} needs {dirs}")
    seq_len, batch = (x_shape[1], x_shape[0]) if layout else (x_shape[0], x_shape[1])
    lens = ctx.const(SEQUENCE_LENS, "sequence_lens")
    if lens is not None and not np.all(np.asarray(lens).reshape(-1) == seq_len):
        raise Unsupported(f"sequence_lens={np.asarray(lens).reshape(-1).tolist()}: only full-length sequences "
                          f"({seq_len} steps) are supported")
    if not any(ctx.outputs):
        raise Unsupported("none of its outputs is used")
    inputs = list(ctx.inputs)
    ints = slots(fmt.ATTR_RNN_COUNT, {fmt.ATTR_RNN_DIRECTION: RNN_DIRECTIONS[direction], fmt.ATTR_RNN_LAYOUT: layout,
                                      fmt.ATTR_RNN_LINEAR_BEFORE_RESET: lbr})
    floats = slots(fmt.FATTR_RNN_COUNT, {fmt.FATTR_RNN_CLIP: float(np.float32(clip)) if clip is not None else 0.0})
    return LoweredOp(OP_CODES[op], inputs, ctx.outputs, ints, floats)


ENTRIES = tuple(OpTarget(op, rnn, scratch=rnn_node_scratch, parameter_inputs=frozenset({SEQUENCE_LENS}))
                for op in ("LSTM", "GRU", "RNN"))
