"""Gemm and MatMul (runtime_ta/interp/kernels/gemm.c)."""
from __future__ import annotations

from ...lower.format import OP_CODES
from ..op import LoweredOp, OpContext, OpTarget
from ..scratch import gemm_node_scratch


def gemm(ctx: OpContext) -> LoweredOp:
    """i = [transA, transB], f = [alpha, beta]."""
    a = ctx.attrs
    return LoweredOp(OP_CODES["GEMM"], ctx.inputs[:3], ctx.outputs, [int(a.get("transA", 0)), int(a.get("transB", 0))],
                     [float(a.get("alpha", 1.0)), float(a.get("beta", 1.0))])


def matmul(ctx: OpContext) -> LoweredOp:
    return LoweredOp(OP_CODES["MATMUL"], ctx.inputs, ctx.outputs, [], [])


ENTRIES = (
    OpTarget("Gemm", gemm, scratch=gemm_node_scratch),
    OpTarget("MatMul", matmul),
)
