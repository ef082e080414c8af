"""The quantized ops (runtime_ta/interp/ops/quant.c; kernels/quant.c, qconv.c, qmatmul.c): int8 / uint8
data, float32 scales, zero points of their tensor's type, int32 biases and accumulators.

    QuantizeLinear         y = saturate(round_half_even(x / scale) + zp)          scale per tensor or axis
    DequantizeLinear       y = (x - zp) * scale                                     (int8, uint8, int32 x)
    DynamicQuantizeLinear  uint8 y, scale = (max(0, x) - min(0, x)) / 255, zp = round(-min / scale)
    QLinearConv            y = saturate(round_half_even((sum (x - x_zp)(w - w_zp) + B) * M) + y_zp)
    QLinearMatMul          y = saturate(round_half_even(sum (a - a_zp)(b - b_zp) * M) + y_zp)
    ConvInteger, MatMulInteger   the exact int32 sums

onnxruntime's elementwise QOperator ops (com.microsoft; runtime_ta/interp/ops/qlinear.c, kernels/qlinear.c),
every scale and zero point one value, a, b, x, y of one type:

    QLinearAdd             y = saturate(round_half_even((a - a_zp) a_s/y_s + (b - b_zp) b_s/y_s) + y_zp)
    QLinearMul             y = saturate(round_half_even((a - a_zp)(b - b_zp) a_s b_s/y_s) + y_zp)
    QLinearGlobalAveragePool   y = saturate(round_half_even((sum x - n x_zp) x_s/(y_s n)) + y_zp)
    QLinearSigmoid, QLinearLeakyRelu, QLinearConcat (a part whose scale or zero point differs from y's)
                           y = table[x], the table built as onnxruntime builds it (dequantize the 256
                           values, map in float32, QuantizeLinear)

M = x_scale * w_scale / y_scale (float32, onnxruntime's expression) is applied in the TA as an exact
int32 multiplier and shift, rounding half to even (runtime_ta/interp/kernels/internal.h).  A weight's
scale and zero point hold one value or one per output channel (Conv) / column of B (MatMul); every
other scale and zero point one value.  Absent zero points are 0 (no tensor in the body).
"""
from __future__ import annotations

import math

from ...lower import format as fmt
from ...lower.format import OP_CODES
from ..op import LoweredOp, OpContext, OpTarget, Unsupported, slots
from ...quant.qgemm import MS_DOMAIN as MS
from ..scratch import QK_MAX, qbinary_node_scratch, qconv_node_scratch, qlut_node_scratch, qmatmul_node_scratch
from .window import window_slots


def _numel(ctx: OpContext, k: int) -> int | None:
    """Elements of data input k (None when absent); a parameter must be a scalar or 1-D."""
    name = ctx.inputs[k] if k < len(ctx.inputs) else ""
    if not name:
        return None
    shape = ctx.shape(name)
    if len(shape) > 1:
        raise Unsupported(f"'{name}' has shape {shape}; scales and zero points are scalars or 1-D")
    return math.prod(shape)


def _one_or(ctx: OpContext, positions: tuple[int, ...], n: int, what: str) -> None:
    """Each present input at `positions` holds one value, or n (one per `what`)."""
    for k in positions:
        count = _numel(ctx, k)
        if count is not None and count not in (1, n):
            raise Unsupported(f"'{ctx.inputs[k]}' holds {count} values; it takes 1 or one per {what} ({n})")


def linear(ctx: OpContext) -> LoweredOp:
    """QuantizeLinear, DequantizeLinear: ATTR_QUANT_AXIS, the normalised axis of a per-axis scale (1-D,
    one value per x.dims[axis]), 0 for a per-tensor scale."""
    if ctx.attrs.get("block_size", 0):
        raise Unsupported("block_size (blocked quantization)")
    x, scale = ctx.shape(ctx.inputs[0]), ctx.inputs[1]
    count = _numel(ctx, 1)
    axis = 0
    if count != 1:
        rank = len(x)
        axis = int(ctx.attrs.get("axis", 1))
        if not -rank <= axis < rank or count != x[axis % rank]:
            raise Unsupported(f"scale '{scale}' holds {count} values; axis {axis} of {x} has "
                              f"{x[axis % rank] if -rank <= axis < rank else 'no'} elements")
        axis %= rank
    zp_count = _numel(ctx, 2)
    if zp_count not in (None, count):
        raise Unsupported(f"zero point '{ctx.inputs[2]}' holds {zp_count} values, scale '{scale}' {count}")
    code = "QUANTIZE_LINEAR" if ctx.node.op_type == "QuantizeLinear" else "DEQUANTIZE_LINEAR"
    return LoweredOp(OP_CODES[code], ctx.inputs, ctx.outputs, slots(fmt.ATTR_QUANT_COUNT, {fmt.ATTR_QUANT_AXIS: axis}),
                     [])


def dynamic_quantize(ctx: OpContext) -> LoweredOp:
    return LoweredOp(OP_CODES["DYNAMIC_QUANTIZE_LINEAR"], ctx.inputs, ctx.outputs, [], [])


def qconv(ctx: OpContext) -> LoweredOp:
    """QLinearConv (x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, [B]), ConvInteger (x, w, [x_zp],
    [w_zp]): Conv's window slots (ATTR_CONV_*)."""
    g, window = window_slots(ctx)
    ints = slots(fmt.ATTR_CONV_COUNT, window)
    if g.c_in // g.group * g.kernel_h * g.kernel_w > QK_MAX:
        raise Unsupported(f"reduction of {g.c_in // g.group * g.kernel_h * g.kernel_w} products per output "
                          f"> {QK_MAX} (int32 sums could overflow)")
    if ctx.node.op_type == "QLinearConv":
        _one_or(ctx, (1, 2, 6, 7), 1, "tensor")
        _one_or(ctx, (4, 5), g.c_out, "output channel")
        return LoweredOp(OP_CODES["QLINEAR_CONV"], ctx.inputs, ctx.outputs, ints, [])
    _one_or(ctx, (2,), 1, "tensor")
    _one_or(ctx, (3,), g.c_out, "output channel")
    return LoweredOp(OP_CODES["CONV_INTEGER"], ctx.inputs, ctx.outputs, ints, [])


def qmatmul(ctx: OpContext) -> LoweredOp:
    """QLinearMatMul (a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp), MatMulInteger (a, b, [a_zp],
    [b_zp]): numpy matmul; b's scale and zero point one value or one per column."""
    linear_op = ctx.node.op_type == "QLinearMatMul"
    a, b = ctx.shape(ctx.inputs[0]), ctx.shape(ctx.inputs[3 if linear_op else 1])
    if not a or not b:
        raise Unsupported("a scalar operand")
    if a[-1] > QK_MAX:
        raise Unsupported(f"K = {a[-1]} > {QK_MAX} (int32 sums could overflow)")
    columns = b[-1] if len(b) >= 2 else 1
    if linear_op:
        _one_or(ctx, (1, 2, 6, 7), 1, "tensor")
        _one_or(ctx, (4, 5), columns, "column of B")
        return LoweredOp(OP_CODES["QLINEAR_MATMUL"], ctx.inputs, ctx.outputs, [], [])
    _one_or(ctx, (2,), 1, "tensor (per-row zero points are not supported)")
    _one_or(ctx, (3,), columns, "column of B")
    return LoweredOp(OP_CODES["MATMUL_INTEGER"], ctx.inputs, ctx.outputs, [], [])


def _scalars(ctx: OpContext, positions) -> None:
    """Every present input at `positions` holds one value."""
    _one_or(ctx, tuple(positions), 1, "tensor (onnxruntime takes one value)")


def qlinear_binary(ctx: OpContext) -> LoweredOp:
    """QLinearAdd, QLinearMul (a, a_scale, a_zp, b, b_scale, b_zp, c_scale, c_zp): numpy broadcasting."""
    _scalars(ctx, (1, 2, 4, 5, 6, 7))
    code = "QLINEAR_ADD" if ctx.node.op_type == "QLinearAdd" else "QLINEAR_MUL"
    return LoweredOp(OP_CODES[code], ctx.inputs, ctx.outputs, [], [])


def qlinear_global_average_pool(ctx: OpContext) -> LoweredOp:
    """QLinearGlobalAveragePool (x, x_scale, x_zp, y_scale, y_zp), channels first."""
    if ctx.attrs.get("channels_last", 0):
        raise Unsupported("channels_last=1 (NHWC)")
    _scalars(ctx, range(1, 5))
    return LoweredOp(OP_CODES["QLINEAR_GLOBAL_AVERAGE_POOL"], ctx.inputs, ctx.outputs, [], [])


def qlinear_table(ctx: OpContext) -> LoweredOp:
    """QLinearSigmoid, QLinearLeakyRelu (x, x_scale, x_zp, y_scale, y_zp): FATTR_LEAKY_RELU_ALPHA."""
    _scalars(ctx, range(1, 5))
    if ctx.node.op_type == "QLinearSigmoid":
        return LoweredOp(OP_CODES["QLINEAR_SIGMOID"], ctx.inputs, ctx.outputs, [], [])
    alpha = float(ctx.attrs.get("alpha", 0.01))
    return LoweredOp(OP_CODES["QLINEAR_LEAKY_RELU"], ctx.inputs, ctx.outputs, [],
                     slots(fmt.FATTR_LEAKY_RELU_COUNT, {fmt.FATTR_LEAKY_RELU_ALPHA: alpha}))


def qlinear_concat(ctx: OpContext) -> LoweredOp:
    """QLinearConcat (y_scale, y_zp, then x, x_scale, x_zp per part): ATTR_CONCAT_AXIS, normalised."""
    if len(ctx.inputs) < 5 or (len(ctx.inputs) - 2) % 3 or not all(ctx.inputs):
        raise Unsupported(f"{len(ctx.inputs)} inputs; it takes y_scale, y_zp and (x, x_scale, x_zp) per part, all "
                          f"present")
    _scalars(ctx, [k for k in range(len(ctx.inputs)) if k < 2 or (k - 2) % 3])
    y_type = ctx.infos[ctx.inputs[1]].dtype
    wrong = [x for x in ctx.inputs[2::3] + ctx.inputs[4::3] if ctx.infos[x].dtype != y_type]
    if wrong:
        raise Unsupported(f"part '{wrong[0]}' is {ctx.infos[wrong[0]].dtype}, y is {y_type}")
    rank = len(ctx.shape(ctx.outputs[0]))
    axis = int(ctx.attrs["axis"])
    if not -rank <= axis < rank:
        raise Unsupported(f"axis {axis} of a rank-{rank} output")
    return LoweredOp(OP_CODES["QLINEAR_CONCAT"], ctx.inputs, ctx.outputs,
                     slots(fmt.ATTR_CONCAT_COUNT, {fmt.ATTR_CONCAT_AXIS: axis % rank}), [])


ENTRIES = (
    OpTarget("QuantizeLinear", linear, types=("ffq", "q")),
    OpTarget("DequantizeLinear", linear, types=("nf0", "f")),
    OpTarget("DynamicQuantizeLinear", dynamic_quantize, types=("f", "ufu")),
    OpTarget("QLinearConv", qconv, scratch=qconv_node_scratch, types=("qf0qf3fqi", "7")),
    OpTarget("ConvInteger", qconv, scratch=qconv_node_scratch, types=("qq01", "i")),
    OpTarget("QLinearMatMul", qmatmul, scratch=qmatmul_node_scratch, types=("qf0qf3fq", "7")),
    OpTarget("MatMulInteger", qmatmul, scratch=qmatmul_node_scratch, types=("qq01", "i")),
    OpTarget("QLinearAdd", qlinear_binary, scratch=qbinary_node_scratch, types=("qf00f0f0", "0"), domain=MS),
    OpTarget("QLinearMul", qlinear_binary, scratch=qbinary_node_scratch, types=("qf00f0f0", "0"), domain=MS),
    OpTarget("QLinearGlobalAveragePool", qlinear_global_average_pool, types=("qf0f0", "0"), domain=MS),
    OpTarget("QLinearSigmoid", qlinear_table, scratch=qlut_node_scratch, types=("qf0f0", "0"), domain=MS),
    OpTarget("QLinearLeakyRelu", qlinear_table, scratch=qlut_node_scratch, types=("qf0f0", "0"), domain=MS),
    OpTarget("QLinearConcat", qlinear_concat, scratch=qlut_node_scratch, types=("fqa", "1"), domain=MS),
)
