"""Analyses over ONNX models: sizes, static shapes, MACs, liveness, summaries."""
from .liveness import (GraphBoundary, Lifetime, live_bytes_per_step, model_peak_live_bytes, optimal_order_peak,
                       peak_live_bytes, tensor_lifetimes)
from .macs import model_macs, node_macs
from .shapes import TensorInfo, fix_input_shapes, infer_static_shapes, parse_input_shapes, partial_shapes
from .weights import tensor_nbytes, weight_bytes

__all__ = ["GraphBoundary", "Lifetime", "live_bytes_per_step", "model_peak_live_bytes", "optimal_order_peak",
           "peak_live_bytes", "tensor_lifetimes", "model_macs", "node_macs", "TensorInfo", "fix_input_shapes",
           "infer_static_shapes", "parse_input_shapes", "partial_shapes", "tensor_nbytes", "weight_bytes"]
