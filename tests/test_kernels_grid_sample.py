"""GridSample's kernel on the coordinates random grids rarely draw: every exact half-pixel position
(nearest rounds half to even, as onnxruntime) and coordinates far outside, equal to onnxruntime
exactly; infinities and NaN read inside x; and the kernel's own argument checks."""
from __future__ import annotations

import ctypes

import numpy as np
import pytest
from onnx import helper

from kernel_harness import GridSampleAttr, kernels, run_node, shape_struct
from test_kernels_differential import check

EINVAL = 1
PADDINGS = ("zeros", "border", "reflection")


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("align_corners", [0, 1])
def test_nearest_ties_and_far_coordinates_equal_onnxruntime(padding, align_corners):
    """Every half-pixel tie from 3 pixels before the first to 3 past the last (W = 8, 7) and coordinates
    up to 200 widths out (reflection mirrors them many times), bit for bit."""
    h, w = 7, 8
    ties = np.arange(-3, w + 3) + 0.5
    gx = ties / (w - 1) * 2 - 1 if align_corners else (2 * ties + 1) / w - 1
    far = np.array([-200.3, -37.0, -9.75, 9.75, 37.0, 200.3])
    xs = np.concatenate([gx, far])
    ys = np.linspace(-5.0, 5.0, len(xs))
    grid = np.stack(np.meshgrid(xs, ys), axis=-1)[None].astype(np.float32)
    x = np.random.default_rng(1).standard_normal((1, 2, h, w)).astype(np.float32)
    for mode in ("nearest", "bilinear", "bicubic"):
        node = helper.make_node("GridSample", ["x", "grid"], ["y"], mode=mode, padding_mode=padding,
                                align_corners=align_corners)
        tol = 0 if mode == "nearest" else 1e-5
        check(node, {"x": x, "grid": grid}, opset=16, rtol=tol, atol=tol)


@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("mode", ["nearest", "bilinear", "bicubic"])
def test_non_finite_coordinates_read_inside_x(mode, padding):
    """inf, -inf, NaN and 1e30 grid values: no read outside x (the sanitized build checks the reads, the
    guard zones the writes); nearest reads an element of x (or 0 for zeros padding) at every finite
    position, NaN included (its index is read as far outside)."""
    x = np.arange(1, 13, dtype=np.float32).reshape(1, 1, 3, 4)
    special = np.array([np.inf, -np.inf, np.nan, 1e30, -1e30, 0.25], np.float32)
    grid = np.stack(np.meshgrid(special, special), axis=-1)[None].astype(np.float32)
    node = helper.make_node("GridSample", ["x", "grid"], ["y"], mode=mode, padding_mode=padding)
    (y,) = run_node(node, [x, grid], 16)
    assert y.shape == (1, 1, 6, 6)
    if mode == "nearest":
        allowed = set(x.ravel().tolist()) | ({0.0} if padding == "zeros" else set())
        assert set(y.ravel().tolist()) <= allowed


def _call(mode=1, padding=0, align=0, x_shape=(1, 1, 2, 2), y_shape=(1, 1, 2, 2)):
    return kernels().kern_grid_sample(ctypes.byref(GridSampleAttr(mode, padding, align)),
                                      ctypes.byref(shape_struct(x_shape)), None, None,
                                      ctypes.byref(shape_struct(y_shape)), None)


@pytest.mark.parametrize("args", [
    dict(mode=3), dict(mode=-1), dict(padding=3), dict(align=2),
    dict(mode=2, x_shape=(1, 1, 2, 2, 2), y_shape=(1, 1, 2, 2, 2)),      # cubic of a 5-D input
    dict(x_shape=(1, 1, 4), y_shape=(1, 1, 4)),                          # 1 spatial dim
    dict(x_shape=(1, 1, 2, 2, 2, 2), y_shape=(1, 1, 2, 2, 2, 2)),        # 4 spatial dims
    dict(y_shape=(1, 1, 2, 2, 2)),                                       # ranks differ
    dict(y_shape=(2, 1, 2, 2)), dict(y_shape=(1, 3, 2, 2)),              # N, C differ
    dict(x_shape=(1, 1, 0, 2)),                                          # nothing to sample from
])
def test_kernel_rejects_bad_arguments(args):
    assert _call(**args) == EINVAL


def test_empty_output_touches_nothing():
    assert _call(x_shape=(1, 1, 0, 2), y_shape=(1, 1, 0, 3)) == 0
