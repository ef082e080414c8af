"""GridSample lowered to bodies and run in the C interpreter, against onnxruntime: every mode, padding
mode and align_corners on 4-D inputs (opset 16 names, and opset 20's), nearest and linear on 5-D inputs,
a constant grid (a weight), a spatial transformer (a localisation network predicts the affine map whose grid samples the input)
lowered by the CLI over several partitions; and malformed op records refused by prepare."""
from __future__ import annotations

import functools
import os

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from conftest import i64, make_model, node, weight
from lower_harness import feeds_for, library, lower, lower_through_the_cli, relative_errors
from onnx_tee.passes.lower import format as fmt
from onnx_tee.passes.lower.hostlib import Region

RNG = np.random.default_rng(23)
w = functools.partial(weight, RNG)


def _check(model: onnx.ModelProto, rtol: float = 1e-5) -> None:
    lowered = lower(model)
    feeds = feeds_for(lowered)
    feeds = {k: (v * 1.4).astype(np.float32) if k == "g" else v for k, v in feeds.items()}  # ~30% outside [-1, 1]
    errors, results = relative_errors(lowered, feeds)
    assert max(errors.values()) < rtol, errors
    assert all(r.max_region_end == p.total for r, p in zip(results, lowered.result.plan.partitions))


@pytest.mark.parametrize("align_corners", [0, 1])
@pytest.mark.parametrize("padding", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
def test_4d_matches_onnxruntime(mode, padding, align_corners):
    """x computed by a Relu (an activation, not a model input), grid a model input."""
    nodes = [node("Relu", ["x"], ["r"]),
             node("GridSample", ["r", "g"], mode=mode, padding_mode=padding, align_corners=align_corners)]
    _check(make_model(nodes, [("x", [2, 3, 9, 7]), ("g", [2, 5, 6, 2])], [("y", None)], opset=16))


@pytest.mark.parametrize("mode,padding,align_corners", [("linear", "zeros", 0), ("nearest", "reflection", 1),
                                                         ("cubic", "border", 0), ("linear", "reflection", 0)])
def test_4d_opset_20_names(mode, padding, align_corners):
    nodes = [node("GridSample", ["x", "g"], mode=mode, padding_mode=padding, align_corners=align_corners)]
    _check(make_model(nodes, [("x", [1, 4, 6, 8]), ("g", [1, 7, 3, 2])], [("y", None)], opset=20))


@pytest.mark.parametrize("mode,padding,align_corners", [("linear", "zeros", 0), ("linear", "reflection", 1),
                                                         ("nearest", "border", 0), ("nearest", "reflection", 0)])
def test_5d_matches_onnxruntime(mode, padding, align_corners):
    nodes = [node("GridSample", ["x", "g"], mode=mode, padding_mode=padding, align_corners=align_corners)]
    _check(make_model(nodes, [("x", [1, 2, 4, 5, 6]), ("g", [1, 3, 2, 4, 3])], [("y", None)], opset=20))


def test_constant_grid_is_a_weight():
    """A fixed warp (the grid an initializer, stored as a weight of the body)."""
    grid = numpy_helper.from_array(RNG.uniform(-1.3, 1.3, (1, 5, 4, 2)).astype(np.float32), "g")
    nodes = [node("Relu", ["x"], ["r"]), node("GridSample", ["r", "g"], mode="bicubic", padding_mode="reflection")]
    _check(make_model(nodes, [("x", [1, 3, 6, 7])], [("y", None)], [grid], opset=16))


def test_cubic_of_a_5d_input_is_refused_with_its_reason():
    from onnx_tee.passes.errors import UnsupportedModelError
    nodes = [node("GridSample", ["x", "g"], mode="cubic")]
    model = make_model(nodes, [("x", [1, 2, 4, 5, 6]), ("g", [1, 3, 2, 4, 3])], [("y", [1, 2, 3, 2, 4])], opset=20)
    with pytest.raises(UnsupportedModelError, match="cubic of a 5-D input"):
        lower(model)


def spatial_transformer() -> onnx.ModelProto:
    """x -> Conv -> Relu -> GlobalAveragePool -> Gemm: theta [1, 6] (near identity) -> Reshape [1, 2, 3]
    -> Transpose; grid = base [1, 48, 3] @ theta^T -> Reshape [1, 6, 8, 2]; y = Conv(GridSample(x, grid))."""
    ys, xs = np.meshgrid(np.linspace(-1, 1, 6), np.linspace(-1, 1, 8), indexing="ij")
    base = np.stack([xs.ravel(), ys.ravel(), np.ones(48)], axis=-1)[None].astype(np.float32)
    fc = (RNG.standard_normal((6, 8)) * 0.3).astype(np.float32)
    nodes = [node("Conv", ["x", "W1", "B1"], ["c1"], pads=[1, 1, 1, 1]), node("Relu", ["c1"], ["r1"]),
             node("GlobalAveragePool", ["r1"], ["p"]), node("Flatten", ["p"], ["f"]),
             node("Gemm", ["f", "FC", "FB"], ["theta"], transB=1), node("Reshape", ["theta", "s23"], ["t23"]),
             node("Transpose", ["t23"], ["t32"], perm=[0, 2, 1]), node("MatMul", ["base", "t32"], ["pts"]),
             node("Reshape", ["pts", "s_grid"], ["grid"]),
             node("GridSample", ["x", "grid"], ["warped"], align_corners=0, padding_mode="border"),
             node("Conv", ["warped", "W2"], ["y"], pads=[1, 1, 1, 1])]
    inits = [w("W1", [8, 3, 3, 3]), w("B1", [8]), numpy_helper.from_array(fc, "FC"),
             numpy_helper.from_array(np.array([1.1, 0.1, 0.0, -0.1, 0.9, 0.1], np.float32), "FB"),
             i64("s23", [1, 2, 3]), numpy_helper.from_array(base, "base"), i64("s_grid", [1, 6, 8, 2]),
             w("W2", [4, 3, 3, 3])]
    return make_model(nodes, [("x", [1, 3, 24, 20])], [("y", None)], inits, opset=16)


@pytest.mark.skipif(os.environ.get("ONNX_TEE_SANITIZE") == "1",
                    reason="the CLI's report charts load matplotlib, whose C++ exceptions the preloaded ASan "
                           "runtime cannot intercept (the ops above run sanitized)")
def test_spatial_transformer_through_the_cli(tmp_path):
    """Lowered at a budget that splits it, run by the simulator: outputs within 1e-5 of onnxruntime,
    measured memory == planned in every partition."""
    lower_through_the_cli(spatial_transformer(), "88KiB", tmp_path)


def _body(ints, x_shape=(1, 2, 4, 4), grid_shape=(1, 3, 3, 2), y_shape=(1, 2, 3, 3)) -> bytes:
    """One GRID_SAMPLE op over region tensors x (offset 0), grid (1024), y (2048)."""
    tensors = [fmt.Tensor(tuple(x_shape), fmt.LOC_REGION, 0), fmt.Tensor(tuple(grid_shape), fmt.LOC_REGION, 1024),
               fmt.Tensor(tuple(y_shape), fmt.LOC_REGION, 2048)]
    op = fmt.Op(fmt.OP_CODES["GRID_SAMPLE"], [0, 1], [2], list(ints), [])
    return fmt.serialize(fmt.Body(0, 1, tensors, [op], {}, region_size=8192, scratch_offset=4096, scratch_size=64))


@pytest.mark.parametrize("ints,kw,status", [
    ([1, 0, 0], {}, "RT_OK"),
    ([3, 0, 0], {}, "RT_ERR_OP_ATTRIBUTE"),               # mode
    ([1, 3, 0], {}, "RT_ERR_OP_ATTRIBUTE"),               # padding
    ([1, 0, 2], {}, "RT_ERR_OP_ATTRIBUTE"),               # align_corners
    ([1, 0, 0, 1], {}, "RT_ERR_OP_RESERVED"),             # a slot past the three
    ([1, 0, 0], {"grid_shape": (1, 3, 3, 3)}, "RT_ERR_OP_SHAPE"),                            # grid's last dim
    ([1, 0, 0], {"grid_shape": (1, 3, 4, 2)}, "RT_ERR_OP_SHAPE"),                            # grid vs y
    ([1, 0, 0], {"y_shape": (1, 1, 3, 3)}, "RT_ERR_OP_SHAPE"),                               # channels
    ([1, 0, 0], {"x_shape": (2, 1, 4, 4)}, "RT_ERR_OP_SHAPE"),                               # batch
    ([2, 0, 0], {"x_shape": (1, 2, 2, 2, 2), "grid_shape": (1, 3, 3, 1, 3),
                 "y_shape": (1, 2, 3, 3, 1)}, "RT_ERR_OP_SHAPE"),                            # cubic 5-D
    ([1, 0, 0], {"x_shape": (2, 16), "grid_shape": (2, 4), "y_shape": (2, 4)}, "RT_ERR_OP_SHAPE"),
])
def test_malformed_records_are_refused(ints, kw, status):
    region = Region(library(), 8192)
    region.write(0, np.ones(32, np.float32))
    region.write(1024, np.zeros(18, np.float32))
    result = region.run_body(_body(ints, **kw), 4096 + 64, 0, 1)
    assert result.status == status
