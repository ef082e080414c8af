"""Window geometry of Conv, ConvTranspose, MaxPool and AveragePool, resolved to explicit numbers.

ONNX lets pads be implied (``auto_pad``), output sizes be rounded up (``ceil_mode``) and a
ConvTranspose output be given as ``output_shape``.  The interpreter's kernels take none of that:
they take explicit pads and output sizes (``kern_conv_geom`` in runtime_ta/interp/kernels.h).
This module resolves them once, per spatial dim, with ``span = dilation * (kernel - 1) + 1``:

    Conv / pools, explicit pads:  out = floor((in + begin + end - span) / stride) + 1
        ceil_mode:   ceil instead of floor, then minus one if the last window would start at or
                     past in + begin (it must start inside the input or its leading pad)
    SAME_UPPER / SAME_LOWER:      out = ceil(in / stride),
                                  total = max(0, (out - 1) * stride + span - in),
                                  UPPER: begin = total // 2 (the odd cell goes at the end),
                                  LOWER: begin = total - total // 2
    VALID:                        pads 0, then the floor formula
    ConvTranspose:  out = stride * (in - 1) + output_padding + span - begin - end;
        output_shape given (or SAME_*, meaning output_shape = in * stride):
                    total = stride * (in - 1) + output_padding + span - output_shape,
                    SAME_UPPER: begin = total // 2, else begin = total - total // 2;
                    a negative total becomes zero pads and extra output rows (they hold the bias).

`window_extents` resolves any spatial rank; `window_geometry` (the kernels' struct) takes spatial rank 1,
expressed as 2-D with H = 1, and 2; other ranks raise UnsupportedModelError (3-D windows are
rewritten into 2-D ones before lowering: passes/compact/unroll_depth.py).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Mapping

import onnx

from ..errors import UnsupportedModelError
from ..graph import attributes, node_label
from .shapes import TensorInfo

WINDOW_OPS = ("Conv", "ConvTranspose", "MaxPool", "AveragePool", "QLinearConv", "ConvInteger")
CONV_WEIGHTS = {"Conv": 1, "ConvTranspose": 1, "ConvInteger": 1, "QLinearConv": 3}  # the weight input of each conv


@dataclass(frozen=True)
class WindowGeometry:
    """Field for field the C struct kern_conv_geom (same names, same order)."""

    batch: int
    c_in: int
    h_in: int
    w_in: int
    c_out: int
    h_out: int
    w_out: int
    kernel_h: int
    kernel_w: int
    stride_h: int
    stride_w: int
    dilation_h: int
    dilation_w: int
    pad_top: int
    pad_left: int
    pad_bottom: int
    pad_right: int
    group: int

    def as_tuple(self) -> tuple[int, ...]:
        return tuple(getattr(self, f.name) for f in fields(self))


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _window_out(size: int, begin: int, end: int, span: int, stride: int, ceil_mode: bool) -> int:
    padded = size + begin + end
    if padded < span:
        return 0
    if not ceil_mode:
        return (padded - span) // stride + 1
    out = _ceil_div(padded - span, stride) + 1
    if (out - 1) * stride >= size + begin:
        out -= 1
    return out


def _fail(node: onnx.NodeProto, why: str) -> UnsupportedModelError:
    return UnsupportedModelError(f"{node.op_type} node '{node_label(node)}': {why}")


@dataclass(frozen=True)
class WindowExtents:
    """The resolved window of a Conv / ConvTranspose / pool node, one entry per spatial dim (any rank)."""

    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    dilations: tuple[int, ...]
    begin: tuple[int, ...]        # leading pad
    end: tuple[int, ...]          # trailing pad
    out: tuple[int, ...]          # output size
    group: int
    c_out: int


def window_extents(node: onnx.NodeProto, infos: Mapping[str, TensorInfo]) -> WindowExtents:
    """Explicit pads and output sizes of a window node, for every spatial dim (the module's formulas)."""
    if node.op_type not in WINDOW_OPS:
        raise ValueError(f"window_extents: {node.op_type} is not one of {WINDOW_OPS}")
    x = infos[node.input[0]].shape
    nsp = len(x) - 2
    if nsp < 1:
        raise _fail(node, f"the input has rank {len(x)}: a window needs at least one spatial dim")
    at = attributes(node)
    conv = node.op_type in CONV_WEIGHTS
    transpose = node.op_type == "ConvTranspose"
    if conv:
        w = infos[node.input[CONV_WEIGHTS[node.op_type]]].shape
        kernel = list(at.get("kernel_shape", w[2:]))
    else:
        kernel = list(at["kernel_shape"])
    strides = list(at.get("strides", [1] * nsp))
    dilations = list(at.get("dilations", [1] * nsp))
    pads = list(at.get("pads", [0] * (2 * nsp)))
    auto_pad = at.get("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    ceil_mode = bool(at.get("ceil_mode", 0))
    group = int(at.get("group", 1))
    if len(kernel) != nsp or len(strides) != nsp or len(dilations) != nsp or len(pads) != 2 * nsp:
        raise _fail(node, "kernel_shape/strides/dilations/pads do not match the input's spatial rank")
    if min(kernel + strides + dilations) < 1 or min(pads) < 0:
        raise _fail(node, "kernel, strides and dilations must be >= 1 and pads >= 0")
    begin, end, out = pads[:nsp], pads[nsp:], []
    output_padding = list(at.get("output_padding", [0] * nsp))
    output_shape = list(at.get("output_shape", []))
    for i in range(nsp):
        span = dilations[i] * (kernel[i] - 1) + 1
        size = x[2 + i]
        if transpose:
            full = strides[i] * (size - 1) + output_padding[i] + span
            target = output_shape[i] if output_shape else (size * strides[i] if auto_pad in ("SAME_UPPER", "SAME_LOWER")
                                                             else None)
            if target is not None:
                total = full - target
                if total < 0:
                    begin[i], end[i] = 0, 0
                    out.append(target)
                    continue
                first = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
                begin[i], end[i] = first, total - first
            out.append(full - begin[i] - end[i])
            continue
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            o = _ceil_div(size, strides[i])
            total = max(0, (o - 1) * strides[i] + span - size)
            begin[i] = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
            end[i] = total - begin[i]
        elif auto_pad == "VALID":
            begin[i], end[i] = 0, 0
        elif auto_pad != "NOTSET":
            raise _fail(node, f"auto_pad={auto_pad} is not an ONNX value")
        out.append(_window_out(size, begin[i], end[i], span, strides[i], ceil_mode and not conv))
    if min(out) < 1:
        raise _fail(node, f"window does not fit the input {tuple(x)} (output size {out})")
    if conv:
        c_out = w[1] * group if transpose else w[0]
    else:
        c_out = x[1]
    return WindowExtents(tuple(kernel), tuple(strides), tuple(dilations), tuple(begin), tuple(end), tuple(out),
                         group, c_out)


def window_geometry(node: onnx.NodeProto, infos: Mapping[str, TensorInfo]) -> WindowGeometry:
    """Explicit pads and output sizes of a Conv / ConvTranspose / MaxPool / AveragePool node (and of the
    quantized convolutions QLinearConv, ConvInteger)."""
    if node.op_type not in WINDOW_OPS:
        raise ValueError(f"window_geometry: {node.op_type} is not one of {WINDOW_OPS}")
    x = infos[node.input[0]].shape
    nsp = len(x) - 2
    if nsp == 3 and node.op_type in ("Conv", "MaxPool", "AveragePool"):
        raise _fail(node, "a 3-D window runs as 2-D ones on depth slices only with constant weights and bias (Conv) "
                          "and without the Indices output or storage_order (MaxPool)")
    if nsp not in (1, 2):
        raise _fail(node, f"{nsp}-D windows are not supported (1-D and 2-D are)")
    e = window_extents(node, infos)
    kernel, strides, dilations, begin, end, out = (list(v) for v in (e.kernel, e.strides, e.dilations, e.begin,
                                                                      e.end, e.out))
    if nsp == 1:
        kernel, strides, dilations, out = ([1] + v for v in (kernel, strides, dilations, out))
        begin, end = [0] + begin, [0] + end
        h_in, w_in = 1, x[2]
    else:
        h_in, w_in = x[2], x[3]
    return WindowGeometry(batch=x[0], c_in=x[1], h_in=h_in, w_in=w_in, c_out=e.c_out, h_out=out[0], w_out=out[1],
                          kernel_h=kernel[0], kernel_w=kernel[1], stride_h=strides[0], stride_w=strides[1],
                          dilation_h=dilations[0], dilation_w=dilations[1], pad_top=begin[0], pad_left=begin[1],
                          pad_bottom=end[0], pad_right=end[1], group=e.group)
