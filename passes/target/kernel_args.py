"""ONNX attribute/constant-input forms turned into the plain numbers the C kernels take.

Window ops (Conv, pools) are resolved by ``spatial.window_geometry``; this module resolves the rest,
as pure functions of shapes and constant values:

    softmax_view   Softmax-13: [outer, dims[axis], inner];  Softmax-1..12 (2-D coercion):
                   [prod(dims[:axis]), prod(dims[axis:]), 1]
    axis_view      Concat/Split/LRN/BatchNormalization: [prod(dims[:axis]), dims[axis], prod(dims[axis+1:])]
    slice_args     starts/ends/axes/steps -> one (start, step) per dim with ONNX's clamping (negative
                   values count from the end; step > 0: start, end in [0, dim]; step < 0: start in
                   [0, dim - 1], end in [-1, dim - 1]), so every index the kernel touches is in range
    pad_args       pads (+ axes, opset 18) -> begin/end per dim (negative = crop)
    resize_args    scales or sizes (+ axes) -> per-dim float32 scale and the output shape
                   (out = floor(in * scale); sizes give scale = out / in)
    gemm_c_strides C's unidirectional broadcast to [M, N] -> (stride_m, stride_n)
    grid_sample_args  GridSample's mode (opset 16 names bilinear / bicubic as linear / cubic) and its
                   output shape [N, C] + grid.dims[1:-1], with the ranks the kernel samples (4-D, 5-D)
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def _normalize_axis(axis: int, rank: int) -> int:
    if not -rank <= axis < max(rank, 1):
        raise ValueError(f"axis {axis} out of range for rank {rank}")
    return axis % rank if rank else 0


def softmax_view(shape: Sequence[int], axis: int, opset: int) -> tuple[int, int, int]:
    """(outer, n, inner) of kern_softmax for Softmax/LogSoftmax semantics of `opset`."""
    axis = _normalize_axis(axis, len(shape))
    outer = math.prod(shape[:axis])
    if opset < 13:
        return outer, math.prod(shape[axis:]), 1
    return outer, shape[axis], math.prod(shape[axis + 1:])


def axis_view(shape: Sequence[int], axis: int) -> tuple[int, int, int]:
    """(outer, dims[axis], inner)."""
    axis = _normalize_axis(axis, len(shape))
    return math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1:])


def slice_args(shape: Sequence[int], starts: Sequence[int], ends: Sequence[int], axes: Sequence[int] | None = None,
               steps: Sequence[int] | None = None) -> tuple[list[int], list[int], list[int]]:
    """(start per dim, step per dim, output shape) of kern_slice."""
    rank = len(shape)
    axes = list(range(len(starts))) if axes is None else [_normalize_axis(int(a), rank) for a in axes]
    steps = [1] * len(starts) if steps is None else list(steps)
    if len(set(axes)) != len(axes) or not len(starts) == len(ends) == len(axes) == len(steps):
        raise ValueError("Slice: starts/ends/axes/steps must have equal lengths and distinct axes")
    start, step, out = [0] * rank, [1] * rank, list(shape)
    for s, e, ax, st in zip(starts, ends, axes, steps):
        if st == 0:
            raise ValueError("Slice: step 0")
        dim, s, e, st = shape[ax], int(s), int(e), int(st)
        s, e = s + dim if s < 0 else s, e + dim if e < 0 else e
        if st > 0:
            first, stop = min(max(s, 0), dim), min(max(e, 0), dim)
        else:
            first, stop = min(max(s, 0), dim - 1), min(max(e, -1), dim - 1)
        out[ax] = len(range(first, stop, st))
        start[ax], step[ax] = (first, st) if out[ax] else (0, 1)
    return start, step, out


def pad_args(rank: int, pads: Sequence[int], axes: Sequence[int] | None = None) -> tuple[list[int], list[int]]:
    """(begin per dim, end per dim) of kern_pad from ONNX pads [b_0.., e_0..] over `axes` (default all)."""
    axes = list(range(rank)) if axes is None else [_normalize_axis(int(a), rank) for a in axes]
    if len(pads) != 2 * len(axes):
        raise ValueError(f"Pad: {len(pads)} pads for {len(axes)} axes")
    begin, end = [0] * rank, [0] * rank
    for i, ax in enumerate(axes):
        begin[ax], end[ax] = int(pads[i]), int(pads[len(axes) + i])
    return begin, end


def resize_args(shape: Sequence[int], scales: Sequence[float] | None = None, sizes: Sequence[int] | None = None,
                axes: Sequence[int] | None = None) -> tuple[list[float], list[int]]:
    """(float32 scale per dim, output shape) of kern_resize."""
    rank = len(shape)
    axes = list(range(rank)) if axes is None else [_normalize_axis(int(a), rank) for a in axes]
    scale, out = [1.0] * rank, list(shape)
    if sizes is not None and len(sizes):
        for ax, size in zip(axes, sizes):
            out[ax] = int(size)
            scale[ax] = float(np.float32(size) / np.float32(shape[ax]))
    elif scales is not None and len(scales):
        for ax, s in zip(axes, scales):
            scale[ax] = float(np.float32(s))
            out[ax] = int(math.floor(shape[ax] * float(np.float32(s))))
    else:
        raise ValueError("Resize: neither scales nor sizes given")
    return scale, out


GRID_SAMPLE_MODES = {"bilinear": "linear", "linear": "linear", "nearest": "nearest", "bicubic": "cubic",
                     "cubic": "cubic"}
GRID_SAMPLE_PADDINGS = ("zeros", "border", "reflection")


def grid_sample_args(x_shape: Sequence[int], grid_shape: Sequence[int], mode: str,
                     padding: str) -> tuple[str, list[int]]:
    """(mode as kern_grid_sample names it: nearest, linear or cubic; output shape) of GridSample."""
    if mode not in GRID_SAMPLE_MODES:
        raise ValueError(f"GridSample mode={mode}")
    if padding not in GRID_SAMPLE_PADDINGS:
        raise ValueError(f"GridSample padding_mode={padding}")
    rank, kind = len(x_shape), GRID_SAMPLE_MODES[mode]
    if rank not in (4, 5):
        raise ValueError(f"GridSample of a rank-{rank} input (4-D and 5-D inputs are sampled)")
    if kind == "cubic" and rank != 4:
        raise ValueError("GridSample cubic of a 5-D input (cubic samples 4-D inputs only, as onnxruntime)")
    if len(grid_shape) != rank or grid_shape[0] != x_shape[0] or grid_shape[-1] != rank - 2:
        raise ValueError(f"GridSample grid of shape {tuple(grid_shape)} for an input of shape {tuple(x_shape)}")
    return kind, [int(x_shape[0]), int(x_shape[1]), *(int(d) for d in grid_shape[1:-1])]


def gemm_c_strides(c_shape: Sequence[int], m: int, n: int) -> tuple[int, int]:
    """(c_stride_m, c_stride_n) reading C broadcast to [M, N]."""
    dims = [1] * (2 - len(c_shape)) + list(c_shape)
    if len(dims) != 2 or dims[0] not in (1, m) or dims[1] not in (1, n):
        raise ValueError(f"Gemm: C of shape {tuple(c_shape)} does not broadcast to {(m, n)}")
    return (dims[1] if dims[0] != 1 else 0), (1 if dims[1] != 1 else 0)
