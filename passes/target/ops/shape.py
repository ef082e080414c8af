"""The shape-only ops: one COPY kernel (the bytes are unchanged; only the static shape differs)."""
from __future__ import annotations

from ...lower.format import OP_CODES
from ..op import UNARY, LoweredOp, OpContext, OpTarget, Unsupported
from ..signature import COPY


def copy(ctx: OpContext) -> LoweredOp:
    if ctx.node.op_type == "Dropout":
        training = ctx.const(2, "Dropout training_mode")
        if training is not None and bool(training.reshape(())):
            raise Unsupported("training_mode=True (inference only)")
    return LoweredOp(OP_CODES["COPY"], ctx.inputs, ctx.outputs, [], [])


ENTRIES = (
    OpTarget("Reshape", copy, alias=UNARY, parameter_inputs=frozenset({1}), types=COPY),
    OpTarget("Flatten", copy, alias=UNARY, types=COPY),
    OpTarget("Squeeze", copy, alias=UNARY, parameter_inputs=frozenset({1}), types=COPY),
    OpTarget("Unsqueeze", copy, alias=UNARY, parameter_inputs=frozenset({1}), types=COPY),
    OpTarget("Identity", copy, alias=UNARY, types=COPY),
    OpTarget("Dropout", copy, alias=UNARY, parameter_inputs=frozenset({1, 2}), first_output_only=True),
)
