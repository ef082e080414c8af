"""ONNX backend node tests (regenerated from the installed onnx package) through the C kernels.

Every case whose graph uses only ops that have kernels runs; unsupported attributes/dtypes skip with
the reason (`python tests/kernel_conformance.py` prints the per-op table and every skip reason).
"""
import pytest

from kernel_conformance import node_cases, run_case, Unsupported

CASES = node_cases()


def test_every_op_with_a_kernel_has_node_tests():
    ops = {c.model.graph.node[-1].op_type for c in CASES}
    for op in ("Conv", "ConvTranspose", "Gemm", "MatMul", "MaxPool", "AveragePool", "Resize", "Pad", "Slice",
               "Softmax", "LRN", "BatchNormalization", "Transpose", "Concat", "Split",
               "Gather", "GatherElements", "DepthToSpace", "SpaceToDepth", "Expand", "Tile",
               "ArgMax", "ArgMin", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh",
               "Atanh", "Equal", "Greater", "GreaterOrEqual", "Less", "LessOrEqual", "Not", "And", "Or", "Xor",
               "Where",
               "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "QLinearConv", "QLinearMatMul",
               "ConvInteger", "MatMulInteger", "Cast", "GridSample"):
        assert op in ops


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_node_case(case):
    try:
        run_case(case)
    except Unsupported as e:
        pytest.skip(str(e))
