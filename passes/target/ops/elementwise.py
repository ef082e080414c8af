"""Element-wise maps, Softmax, LRN, BatchNormalization (runtime_ta/interp/kernels/elementwise.c).

The elementwise math ops (Pow, Exp, Erf, Gelu, Max, ...) are in math.py.
"""
from __future__ import annotations

import numpy as np

from ...lower import format as fmt
from ...lower.format import OP_CODES
from ...quant.qgemm import MS_DOMAIN
from ..op import BINARY, UNARY, LoweredOp, OpContext, OpTarget, Unsupported, slots

FLOAT_MAX = float(np.finfo(np.float32).max)


def unary(code: str, ints=lambda ctx: [], floats=lambda ctx: []):
    """A map y[i] = f(x[i]); `ints`/`floats` give its attribute slots from the node."""
    def translate(ctx: OpContext) -> LoweredOp:
        return LoweredOp(OP_CODES[code], ctx.inputs, ctx.outputs, ints(ctx), floats(ctx))
    return translate


def _leaky_relu_slope(ctx: OpContext) -> list[float]:
    return slots(fmt.FATTR_LEAKY_RELU_COUNT, {fmt.FATTR_LEAKY_RELU_ALPHA: float(ctx.attrs.get("alpha", 0.01))})


def _hard_sigmoid_line(ctx: OpContext) -> list[float]:
    return slots(fmt.FATTR_HARD_SIGMOID_COUNT, {fmt.FATTR_HARD_SIGMOID_ALPHA: float(ctx.attrs.get("alpha", 0.2)),
                                                fmt.FATTR_HARD_SIGMOID_BETA: float(ctx.attrs.get("beta", 0.5))})


def _quick_gelu_alpha(ctx: OpContext) -> list[float]:
    return slots(fmt.FATTR_QUICK_GELU_COUNT, {fmt.FATTR_QUICK_GELU_ALPHA: float(ctx.attrs.get("alpha", 1.702))})


def _clip_bounds(ctx: OpContext) -> list[float]:
    """min and max: attributes before opset 11, constant inputs 1 and 2 after."""
    if ctx.opset < 11:
        lo, hi = float(ctx.attrs.get("min", -FLOAT_MAX)), float(ctx.attrs.get("max", FLOAT_MAX))
    else:
        lo_v, hi_v = ctx.const(1, "Clip min"), ctx.const(2, "Clip max")
        lo = -FLOAT_MAX if lo_v is None else float(lo_v.reshape(()))
        hi = FLOAT_MAX if hi_v is None else float(hi_v.reshape(()))
    return slots(fmt.FATTR_CLIP_COUNT, {fmt.FATTR_CLIP_MIN: lo, fmt.FATTR_CLIP_MAX: hi})


def binary(code: str, ints=lambda ctx: []):
    """An op whose inputs broadcast like numpy (opset >= 7; two inputs, Where's three); `ints` gives its
    attribute slots from the node."""
    def translate(ctx: OpContext) -> LoweredOp:
        if "axis" in ctx.attrs or int(ctx.attrs.get("broadcast", 0)):
            raise Unsupported("legacy broadcast/axis attributes (opset < 7)")
        return LoweredOp(OP_CODES[code], ctx.inputs, ctx.outputs, ints(ctx), [])
    return translate


# Add, Sub, Mul: float32, or int32 throughout (kern_binary_i32, modulo 2^32 as onnxruntime's int32).
INT32_ARITHMETIC = ("w0", "0")


def int32_binary(code: str):
    """`binary`, refusing int64 and bool operands: the TA holds them as int32, where int64 arithmetic
    would wrap at 2^32 instead of 2^64."""
    translate = binary(code)

    def checked(ctx: OpContext) -> LoweredOp:
        for name in ctx.inputs:
            dtype = np.dtype(ctx.infos[name].dtype)
            if dtype in (np.dtype(np.int64), np.dtype(np.bool_)):
                raise Unsupported(f"tensor '{name}' is {dtype}: {ctx.node.op_type} runs over float32 or int32 "
                                  f"(int64 held as int32 would wrap at 2^32)")
        return translate(ctx)
    return checked


def nary(code: str):
    """An n-input op (Sum, Max, Min): inputs reordered so the first two broadcast to the output's
    shape (the kernel computes y = op(x0, x1), then y = op(y, xk))."""
    def translate(ctx: OpContext) -> LoweredOp:
        inputs, out = ctx.inputs, ctx.shape(ctx.outputs[0])
        if len(inputs) > 1:
            pair = next(((i, j) for i in range(len(inputs)) for j in range(len(inputs))
                         if i != j and np.broadcast_shapes(ctx.shape(inputs[i]), ctx.shape(inputs[j])) == out), None)
            if pair is None:
                raise Unsupported(f"no two inputs of {ctx.node.op_type} broadcast to its output shape")
            inputs = [inputs[pair[0]], inputs[pair[1]]] + [x for k, x in enumerate(inputs) if k not in pair]
        return LoweredOp(OP_CODES[code], inputs, ctx.outputs, [], [])
    return translate


def softmax(ctx: OpContext) -> LoweredOp:
    """The axis, and whether it coerces to 2-D (opset < 13)."""
    rank = len(ctx.shape(ctx.inputs[0]))
    axis = int(ctx.attrs.get("axis", -1 if ctx.opset >= 13 else 1)) % max(rank, 1)
    ints = slots(fmt.ATTR_SOFTMAX_COUNT, {fmt.ATTR_SOFTMAX_AXIS: axis, fmt.ATTR_SOFTMAX_COERCE_2D: int(ctx.opset < 13)})
    return LoweredOp(OP_CODES["SOFTMAX"], ctx.inputs, ctx.outputs, ints, [])


def lrn(ctx: OpContext) -> LoweredOp:
    a = ctx.attrs
    floats = slots(fmt.FATTR_LRN_COUNT, {fmt.FATTR_LRN_ALPHA: float(a.get("alpha", 1e-4)),
                                         fmt.FATTR_LRN_BETA: float(a.get("beta", 0.75)),
                                         fmt.FATTR_LRN_BIAS: float(a.get("bias", 1.0))})
    ints = slots(fmt.ATTR_LRN_COUNT, {fmt.ATTR_LRN_SIZE: int(a["size"])})
    return LoweredOp(OP_CODES["LRN"], ctx.inputs, ctx.outputs, ints, floats)


def batch_norm(ctx: OpContext) -> LoweredOp:
    """Inference only."""
    if int(ctx.attrs.get("training_mode", 0)):
        raise Unsupported("training_mode=1")
    floats = slots(fmt.FATTR_BATCH_NORM_COUNT, {fmt.FATTR_BATCH_NORM_EPSILON: float(ctx.attrs.get("epsilon", 1e-5))})
    return LoweredOp(OP_CODES["BATCH_NORM"], ctx.inputs, ctx.outputs, [], floats)


ENTRIES = (
    OpTarget("Relu", unary("RELU"), alias=UNARY),
    OpTarget("LeakyRelu", unary("LEAKY_RELU", floats=_leaky_relu_slope), alias=UNARY),
    OpTarget("Sigmoid", unary("SIGMOID"), alias=UNARY),
    OpTarget("HardSigmoid", unary("HARD_SIGMOID", floats=_hard_sigmoid_line), alias=UNARY),
    OpTarget("HardSwish", unary("HARD_SWISH"), alias=UNARY),
    OpTarget("Tanh", unary("TANH"), alias=UNARY),
    OpTarget("QuickGelu", unary("QUICK_GELU", floats=_quick_gelu_alpha), alias=UNARY, domain=MS_DOMAIN),
    OpTarget("Clip", unary("CLIP", floats=_clip_bounds), alias=UNARY, parameter_inputs=frozenset({1, 2})),
    OpTarget("Add", int32_binary("ADD"), alias=BINARY, types=INT32_ARITHMETIC),
    OpTarget("Sub", int32_binary("SUB"), alias=BINARY, types=INT32_ARITHMETIC),
    OpTarget("Mul", int32_binary("MUL"), alias=BINARY, types=INT32_ARITHMETIC),
    OpTarget("Div", binary("DIV"), alias=BINARY),
    OpTarget("Sum", nary("SUM"), alias=BINARY),
    OpTarget("Softmax", softmax),
    OpTarget("LRN", lrn),
    OpTarget("BatchNormalization", batch_norm, alias=UNARY, first_output_only=True),
)
