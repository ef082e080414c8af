"""Analyses over ONNX models: sizes, static shapes, MACs, liveness."""
from .weights import tensor_nbytes, weight_bytes

__all__ = ["tensor_nbytes", "weight_bytes"]
