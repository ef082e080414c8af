"""Gemm and MatMul (runtime_ta/interp/kernels/gemm.c)."""
from __future__ import annotations

from ...lower import format as fmt
from ...lower.format import OP_CODES
from ..op import LoweredOp, OpContext, OpTarget, slots
from ..scratch import gemm_node_scratch


def gemm(ctx: OpContext) -> LoweredOp:
    a = ctx.attrs
    ints = slots(fmt.ATTR_GEMM_COUNT, {fmt.ATTR_GEMM_TRANS_A: int(a.get("transA", 0)),
                                       fmt.ATTR_GEMM_TRANS_B: int(a.get("transB", 0))})
    floats = slots(fmt.FATTR_GEMM_COUNT, {fmt.FATTR_GEMM_ALPHA: float(a.get("alpha", 1.0)),
                                          fmt.FATTR_GEMM_BETA: float(a.get("beta", 1.0))})
    return LoweredOp(OP_CODES["GEMM"], ctx.inputs[:3], ctx.outputs, ints, floats)


def matmul(ctx: OpContext) -> LoweredOp:
    return LoweredOp(OP_CODES["MATMUL"], ctx.inputs, ctx.outputs, [], [])


ENTRIES = (
    OpTarget("Gemm", gemm, scratch=gemm_node_scratch),
    OpTarget("MatMul", matmul),
)
