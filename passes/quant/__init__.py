"""Quantized models: the front end that expresses them in the integer ops the target runs.

    FuseQDQ          the QDQ format's DequantizeLinear -> Conv / MatMul / Gemm / MaxPool ... -> QuantizeLinear
                     groups -> QLinearConv / QLinearMatMul / QGemm / the op on the quantized tensor
    ExpressQGemm     onnxruntime's QGemm (com.microsoft, its QOperator format's Gemm) -> a 1x1 QLinearConv

`express_quantized(model)` runs the front end in place, in that order (a model without such ops is left alone).  The
standard ONNX quantized ops (QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, QLinearConv,
QLinearMatMul, ConvInteger, MatMulInteger) and MaxPool over int8 / uint8 run as they are
(`passes/target/ops/quant.py`).
"""
from __future__ import annotations

import onnx

from .qdq import FuseQDQ
from .qgemm import ExpressQGemm


def express_quantized(model: onnx.ModelProto) -> onnx.ModelProto:
    """`model` with every front-end rewrite applied, in place; returns it."""
    return ExpressQGemm()(FuseQDQ()(model).model).model


__all__ = ["ExpressQGemm", "FuseQDQ", "express_quantized"]
