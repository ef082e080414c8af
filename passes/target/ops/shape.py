"""The shape-only ops: one COPY kernel (the bytes are unchanged; only the static shape differs)."""
from __future__ import annotations

from ...lower.format import OP_CODES
from ..op import UNARY, LoweredOp, OpContext, OpTarget, Unsupported


def copy(ctx: OpContext) -> LoweredOp:
    if ctx.node.op_type == "Dropout":
        training = ctx.const(2, "Dropout training_mode")
        if training is not None and bool(training.reshape(())):
            raise Unsupported("training_mode=True (inference only)")
    return LoweredOp(OP_CODES["COPY"], ctx.inputs, ctx.outputs, [], [])


ENTRIES = (
    OpTarget("Reshape", copy, alias=UNARY, parameter_inputs=frozenset({1}), any_dtype=True),
    OpTarget("Flatten", copy, alias=UNARY, any_dtype=True),
    OpTarget("Squeeze", copy, alias=UNARY, parameter_inputs=frozenset({1}), any_dtype=True),
    OpTarget("Unsqueeze", copy, alias=UNARY, parameter_inputs=frozenset({1}), any_dtype=True),
    OpTarget("Identity", copy, alias=UNARY, any_dtype=True),
    OpTarget("Dropout", copy, alias=UNARY, parameter_inputs=frozenset({1, 2}), first_output_only=True),
)
