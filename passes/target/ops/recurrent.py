"""LSTM, GRU and RNN (runtime_ta/interp/kernels/recurrent.c: kern_rnn).

One op record per layer, the ONNX inputs in place (W, R, B, P stored as weights when constant) and
sequence_lens resolved here: absent, or a constant giving every batch row the full length.  The
outputs keep their ONNX positions; an absent one ("") is not computed.  Only the default activations
run (LSTM Sigmoid/Tanh/Tanh, GRU Sigmoid/Tanh, RNN Tanh, per direction); anything else is refused
naming the attribute.

onnxruntime's DynamicQuantizeLSTM (com.microsoft; kernels/qrecurrent.c: kern_dqlstm) lowers the same way:
an LSTM whose W [D, I, 4H] and R [D, H, 4H] are int8 / uint8 with W_scale, W_zero_point, R_scale,
R_zero_point (inputs 8-11) [D] or [D, 4H]; layout 0 (it has no such attribute), batch 1 (onnxruntime
quantizes a batch's hidden states together, in row blocks its thread count decides), and onnxruntime's
zero-point rules (int8 weights: 0; uint8: one value), checked here when the zero points are constants.

Slots: the direction (RNN_DIRECTIONS), layout, linear_before_reset (GRU), and clip (0 when absent).
"""
from __future__ import annotations

import numpy as np

from ...lower import format as fmt
from ...lower.format import OP_CODES, RNN_DIRECTIONS
from ..op import LoweredOp, OpContext, OpTarget, Unsupported, slots
from ...quant.qgemm import MS_DOMAIN
from ..scratch import RNN_GATES, rnn_node_scratch

DEFAULT_ACTIVATIONS = {"LSTM": ("Sigmoid", "Tanh", "Tanh"), "GRU": ("Sigmoid", "Tanh"), "RNN": ("Tanh",),
                       "DynamicQuantizeLSTM": ("Sigmoid", "Tanh", "Tanh")}
DQ_PARAMS = {8: "W_scale", 9: "W_zero_point", 10: "R_scale", 11: "R_zero_point"}  # DynamicQuantizeLSTM
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
    if op in ("LSTM", "DynamicQuantizeLSTM") and int(a.get("input_forget", 0)):
        raise Unsupported("input_forget=1 (coupled input and forget gates) is not supported")
    clip = a.get("clip")
    if clip is not None and not float(clip) > 0:
        raise Unsupported(f"clip={clip} (must be > 0)")

    x_shape, w_shape = ctx.shape(ctx.node.input[0]), ctx.shape(ctx.node.input[1])
    gates = RNN_GATES[op]
    if len(x_shape) != 3 or len(w_shape) != 3:
        raise Unsupported(f"X {x_shape} and W {w_shape} must have rank 3")
    hidden = w_shape[2 if op == "DynamicQuantizeLSTM" else 1] // gates
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
    if op == "DynamicQuantizeLSTM":
        _check_quantized(ctx, dirs, batch, gates * hidden)
    inputs = list(ctx.inputs)
    ints = slots(fmt.ATTR_RNN_COUNT, {fmt.ATTR_RNN_DIRECTION: RNN_DIRECTIONS[direction], fmt.ATTR_RNN_LAYOUT: layout,
                                      fmt.ATTR_RNN_LINEAR_BEFORE_RESET: lbr})
    floats = slots(fmt.FATTR_RNN_COUNT, {fmt.FATTR_RNN_CLIP: float(np.float32(clip)) if clip is not None else 0.0})
    code = "DYNAMIC_QUANTIZE_LSTM" if op == "DynamicQuantizeLSTM" else op
    return LoweredOp(OP_CODES[code], inputs, ctx.outputs, ints, floats)


def _check_quantized(ctx: OpContext, dirs: int, batch: int, columns: int) -> None:
    """DynamicQuantizeLSTM: batch 1; each scale and zero point [D] or [D, 4H], a zero point as its
    scale; onnxruntime's zero-point rules when the zero points are constants."""
    if batch != 1:
        raise Unsupported(f"batch {batch}: only batch 1 runs (onnxruntime quantizes a batch's hidden states "
                          f"together, in row blocks its thread count decides)")
    for k, what in DQ_PARAMS.items():
        if k >= len(ctx.node.input) or not ctx.node.input[k]:
            raise Unsupported(f"{what} (input {k}) is absent")
        shape = ctx.shape(ctx.node.input[k])
        if shape not in ((dirs,), (dirs, columns)):
            raise Unsupported(f"{what} {list(shape)} must be [{dirs}] or [{dirs}, {columns}]")
    for weight, scale, zero in ((1, 8, 9), (2, 10, 11)):
        if ctx.shape(ctx.node.input[zero]) != ctx.shape(ctx.node.input[scale]):
            raise Unsupported(f"{DQ_PARAMS[zero]} {list(ctx.shape(ctx.node.input[zero]))} differs from "
                              f"{DQ_PARAMS[scale]} {list(ctx.shape(ctx.node.input[scale]))}")
        if ctx.node.input[zero] not in ctx.consts:
            continue
        zp = np.asarray(ctx.consts[ctx.node.input[zero]]).reshape(-1)
        signed = ctx.infos[ctx.node.input[weight]].dtype == np.dtype(np.int8)
        if (signed and np.any(zp != 0)) or (not signed and np.any(zp != zp[0])):
            raise Unsupported(f"{DQ_PARAMS[zero]}={zp.tolist()}: onnxruntime takes " +
                              ("0 for int8 weights" if signed else "one value for uint8 weights"))


ENTRIES = tuple(OpTarget(op, rnn, scratch=rnn_node_scratch, parameter_inputs=frozenset({SEQUENCE_LENS}))
                for op in ("LSTM", "GRU", "RNN")) + (
    OpTarget("DynamicQuantizeLSTM", rnn, scratch=rnn_node_scratch, parameter_inputs=frozenset({SEQUENCE_LENS}),
             types=("fq1fffff1f1", "f"), domain=MS_DOMAIN),)
