"""Quantized models: the front end that expresses them in the integer ops the target runs.

    FuseQDQ          the QDQ format's DequantizeLinear -> Conv / MatMul / Gemm / MaxPool ... -> QuantizeLinear
                     groups -> QLinearConv / QLinearMatMul / QGemm / the op on the quantized tensor
    ExpressQGemm     onnxruntime's QGemm (com.microsoft, its QOperator format's Gemm) -> a 1x1 QLinearConv

`express_quantized(model)` runs the front end in place, in that order, and refuses onnxruntime's
com.microsoft quantized ops the target has no kernel for (QLinearAveragePool, QAttention, ...) by name,
pointing to the QDQ format, where the same layers run (a model without such ops is left alone).  The
standard ONNX quantized ops (QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, QLinearConv,
QLinearMatMul, ConvInteger, MatMulInteger), MaxPool over int8 / uint8 and onnxruntime's QLinearAdd,
QLinearMul, QLinearGlobalAveragePool, QLinearConcat, QLinearSigmoid, QLinearLeakyRelu run as they are
(`passes/target/ops/quant.py`), as does its DynamicQuantizeLSTM (`passes/target/ops/recurrent.py`).
"""
from __future__ import annotations

import onnx

from ..errors import UnsupportedModelError
from .qdq import FuseQDQ
from .qgemm import MS_DOMAIN, ExpressQGemm
from .zero_points import DropZeroZeroPoints


# onnxruntime's com.microsoft QOperator ops the target runs (passes/target/ops/quant.py).
MS_QLINEAR_OPS = frozenset({"QLinearAdd", "QLinearMul", "QLinearGlobalAveragePool", "QLinearConcat",
                            "QLinearSigmoid", "QLinearLeakyRelu"})


def express_quantized(model: onnx.ModelProto) -> onnx.ModelProto:
    """`model` with every front-end rewrite applied, in place; returns it.  Raises UnsupportedModelError
    naming the com.microsoft quantized ops left (the interpreter has no kernel for them)."""
    model = ExpressQGemm()(FuseQDQ()(model).model).model
    left = sorted({n.op_type for n in model.graph.node if n.domain == MS_DOMAIN and n.op_type not in MS_QLINEAR_OPS and
                   (n.op_type.startswith("QLinear") or n.op_type in ("QGemm", "QAttention"))})
    if left:
        raise UnsupportedModelError(
            f"onnxruntime's {', '.join(left)} ({MS_DOMAIN}, its QOperator format) cannot run in the TA yet: quantize "
            f"the model with quant_format=QuantFormat.QDQ instead (its pools, attention ... then run between "
            f"DequantizeLinear and QuantizeLinear)")
    return model


__all__ = ["MS_QLINEAR_OPS", "DropZeroZeroPoints", "ExpressQGemm", "FuseQDQ", "express_quantized"]
