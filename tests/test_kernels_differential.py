"""Differential tests: every kernel against onnxruntime (one thread) over random shapes and attributes.

Each check draws a single-node ONNX model and its inputs with hypothesis, runs it in onnxruntime and
through the C kernels (kernel_harness.run_node: exact scratch, guard zones), and compares.  The
default run draws a few examples per op, the same ones every run; `pytest -m slow` draws many more,
fresh each run.  Deterministic cases
cover the GEMM/im2col tiling edges (K > KC, P > NC, M not a multiple of the register block).
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from hypothesis import assume, strategies as st
from onnx import TensorProto, helper, numpy_helper

from conftest import ort_session
from differential import checks_by_name, differential_tests
from kernel_harness import run_conv_activation, run_node

OPSET = 19
RTOL, ATOL = 1e-4, 1e-4


def _model(node: onnx.NodeProto, inputs: dict[str, np.ndarray], constants: dict[str, np.ndarray], opset: int):
    """A one-node model; inputs typed as their arrays, outputs as onnxruntime infers them."""
    graph_inputs = [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
                    for k, v in inputs.items()]
    inits = [numpy_helper.from_array(v, k) for k, v in constants.items()]
    outputs = [helper.make_empty_tensor_value_info(o) for o in node.output]
    graph = helper.make_graph([node], "g", graph_inputs, outputs, initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def check(node: onnx.NodeProto, inputs: dict[str, np.ndarray], constants: dict[str, np.ndarray] | None = None,
          opset: int = OPSET, rtol: float = RTOL, atol: float = ATOL) -> None:
    """Run `node` in onnxruntime and through the kernels; outputs must agree."""
    constants = constants or {}
    model = _model(node, inputs, constants, opset)
    want = ort_session(model).run(None, inputs)
    values = {**inputs, **constants}
    got = run_node(node, [values[i] if i else None for i in node.input], opset)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, g.dtype, w.shape, w.dtype)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


def _array(data, shape, lo=-2.0, hi=2.0) -> np.ndarray:
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    return np.asarray(np.random.default_rng(seed).uniform(lo, hi, size=shape), dtype=np.float32)


def _node(op, inputs, outputs=("y",), **attrs):
    return helper.make_node(op, list(inputs), list(outputs), **attrs)


# ------------------------------------------------------------------------------------------ checks

def check_conv(data):
    depthwise = data.draw(st.booleans())
    group = data.draw(st.integers(1, 3))
    cin_g = 1 if depthwise else data.draw(st.integers(1, 6))
    cout_g = data.draw(st.integers(1, 6))
    rank = data.draw(st.sampled_from([1, 2, 2]))
    k = [data.draw(st.integers(1, 5)) for _ in range(rank)]
    strides = [data.draw(st.integers(1, 3)) for _ in range(rank)]
    dil = [data.draw(st.integers(1, 2)) for _ in range(rank)]
    size = [data.draw(st.integers(1, 14)) for _ in range(rank)]
    auto_pad = data.draw(st.sampled_from(["NOTSET", "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"]))
    attrs = dict(kernel_shape=k, strides=strides, dilations=dil, group=group)
    if auto_pad == "NOTSET":
        attrs["pads"] = [data.draw(st.integers(0, 2)) for _ in range(2 * rank)]
        pads = attrs["pads"]
    else:
        attrs["auto_pad"] = auto_pad
        if auto_pad != "VALID":  # onnxruntime rejects dilations with SAME_*
            attrs["dilations"] = dil = [1] * rank
        pads = [k[i] * dil[i] for i in range(rank)] * 2 if auto_pad != "VALID" else [0] * 2 * rank
    for i in range(rank):
        assume(size[i] + pads[i] + pads[rank + i] >= dil[i] * (k[i] - 1) + 1)
    batch = data.draw(st.integers(1, 2))
    x = _array(data, (batch, cin_g * group, *size))
    w = _array(data, (cout_g * group, cin_g, *k))
    inputs = {"x": x, "w": w}
    if data.draw(st.booleans()):
        inputs["b"] = _array(data, (cout_g * group,))
    check(_node("Conv", inputs, **attrs), inputs)


def check_conv_transpose(data):
    group = data.draw(st.integers(1, 2))
    cin_g, cout_g = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    k = [data.draw(st.integers(1, 4)) for _ in range(2)]
    strides = [data.draw(st.integers(1, 3)) for _ in range(2)]
    dil = [data.draw(st.integers(1, 2)) for _ in range(2)]
    pads = [data.draw(st.integers(0, 1)) for _ in range(4)]
    out_pad = [data.draw(st.integers(0, strides[i] - 1)) for i in range(2)]
    size = [data.draw(st.integers(1, 8)) for _ in range(2)]
    for i in range(2):
        assume(strides[i] * (size[i] - 1) + out_pad[i] + dil[i] * (k[i] - 1) + 1 - pads[i] - pads[i + 2] >= 1)
    x = _array(data, (1, cin_g * group, *size))
    w = _array(data, (cin_g * group, cout_g, *k))
    inputs = {"x": x, "w": w, "b": _array(data, (cout_g * group,))}
    check(_node("ConvTranspose", inputs, kernel_shape=k, strides=strides, dilations=dil, pads=pads,
                output_padding=out_pad, group=group), inputs)


def check_gemm(data):
    m, n, k = (data.draw(st.integers(1, 40)) for _ in range(3))
    ta, tb = data.draw(st.integers(0, 1)), data.draw(st.integers(0, 1))
    a = _array(data, (k, m) if ta else (m, k))
    b = _array(data, (n, k) if tb else (k, n))
    inputs = {"a": a, "b": b}
    c_shape = data.draw(st.sampled_from([None, (), (n,), (1, n), (m, 1), (m, n)]))
    if c_shape is not None:
        inputs["c"] = _array(data, c_shape)
    alpha = data.draw(st.sampled_from([1.0, 0.5, -2.0]))
    beta = data.draw(st.sampled_from([1.0, 0.0, 3.0]))
    check(_node("Gemm", inputs, transA=ta, transB=tb, alpha=alpha, beta=beta), inputs)


def _broadcast_operands(data, count, max_rank=6):
    """`count` shapes that broadcast together (numpy): suffixes of one shape, some dims set to 1."""
    rank = data.draw(st.integers(0, max_rank))
    full = [data.draw(st.integers(1, 4)) for _ in range(rank)]

    def operand():
        drop = data.draw(st.integers(0, rank))
        return tuple(1 if data.draw(st.booleans()) else d for d in full[drop:])
    return tuple(operand() for _ in range(count))


def _broadcast_pair(data, max_rank=6):
    return _broadcast_operands(data, 2, max_rank)


def check_matmul(data):
    m, k, n = (data.draw(st.integers(1, 20)) for _ in range(3))
    ba, bb = _broadcast_pair(data, 3)
    a_shape = (k,) if data.draw(st.integers(0, 5)) == 0 else (*ba, m, k)
    b_shape = (k,) if data.draw(st.integers(0, 5)) == 0 else (*bb, k, n)
    inputs = {"a": _array(data, a_shape), "b": _array(data, b_shape)}
    check(_node("MatMul", inputs), inputs)


def check_unary(data):
    op = data.draw(st.sampled_from(["Relu", "LeakyRelu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh"]))
    shape = tuple(data.draw(st.lists(st.integers(1, 5), max_size=4)))
    x = _array(data, shape, -12, 12)
    attrs, constants, names = {}, {}, ["x"]
    if op == "LeakyRelu":
        attrs["alpha"] = data.draw(st.sampled_from([0.0, 0.01, 0.2, 1.0]))
    if op == "HardSigmoid":
        attrs["alpha"] = data.draw(st.sampled_from([0.05, 0.2, 1.0 / 6]))
        attrs["beta"] = data.draw(st.sampled_from([0.0, 0.5, 0.7]))
    if op == "Clip":
        lo = data.draw(st.sampled_from([None, -1.0, 0.0]))
        hi = data.draw(st.sampled_from([None, 1.0, 6.0]))
        names += ["lo" if lo is not None else "", "hi" if hi is not None else ""]
        constants = {k: np.array(v, np.float32) for k, v in (("lo", lo), ("hi", hi)) if v is not None}
    check(_node(op, names, **attrs), {"x": x}, constants, rtol=1e-5, atol=1e-6)


def check_binary(data):
    op = data.draw(st.sampled_from(["Add", "Sub", "Mul", "Div", "Sum"]))
    a_shape, b_shape = _broadcast_pair(data)
    a = _array(data, a_shape)
    b = np.asarray(_array(data, b_shape, 0.5, 3.0) * np.where(_array(data, b_shape) > 0, 1, -1), np.float32)
    inputs = {"a": a, "b": b}
    if op == "Sum" and data.draw(st.booleans()):
        inputs["c"] = _array(data, data.draw(st.sampled_from([a_shape, b_shape, ()])))
    check(_node(op, inputs), inputs, rtol=1e-6, atol=1e-6)


def check_softmax(data):
    shape = tuple(data.draw(st.lists(st.integers(1, 6), min_size=1, max_size=4)))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    opset = data.draw(st.sampled_from([11, 13]))
    inputs = {"x": _array(data, shape, -30, 30)}
    check(_node("Softmax", ["x"], axis=axis), inputs, opset=opset, rtol=1e-5, atol=1e-6)


def check_lrn(data):
    shape = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 12)), data.draw(st.integers(1, 5)),
             data.draw(st.integers(1, 5)))
    attrs = dict(size=data.draw(st.sampled_from([1, 3, 5, 7])),  # onnxruntime takes odd sizes only alpha=data.draw(st.sampled_from([1e-4, 5e-4, 1e-2, 0.5])),
                 beta=data.draw(st.sampled_from([0.5, 0.75, 1.0])), bias=data.draw(st.sampled_from([0.5, 1.0, 2.0])))
    check(_node("LRN", ["x"], **attrs), {"x": _array(data, shape, -10, 10)}, rtol=1e-5, atol=1e-6)


def check_batchnorm(data):
    c = data.draw(st.integers(1, 8))
    shape = (data.draw(st.integers(1, 2)), c, *data.draw(st.lists(st.integers(1, 5), max_size=2)))
    inputs = {"x": _array(data, shape), "s": _array(data, (c,)), "b": _array(data, (c,)), "m": _array(data, (c,)),
              "v": _array(data, (c,), 0.1, 2.0)}
    check(_node("BatchNormalization", inputs, epsilon=data.draw(st.sampled_from([1e-5, 1e-3]))), inputs)


def check_pool(data):
    op = data.draw(st.sampled_from(["MaxPool", "AveragePool"]))
    rank = data.draw(st.sampled_from([1, 2, 2]))
    k = [data.draw(st.integers(1, 4)) for _ in range(rank)]
    strides = [data.draw(st.integers(1, 3)) for _ in range(rank)]
    dil = [data.draw(st.integers(1, 2)) for _ in range(rank)]
    pads = [data.draw(st.integers(0, k[i % rank] - 1)) for i in range(2 * rank)]
    size = [data.draw(st.integers(1, 12)) for _ in range(rank)]
    for i in range(rank):
        assume(size[i] + pads[i] + pads[rank + i] >= dil[i] * (k[i] - 1) + 1)
    attrs = dict(kernel_shape=k, strides=strides, pads=pads, dilations=dil, ceil_mode=data.draw(st.integers(0, 1)))
    if op == "AveragePool":
        attrs["count_include_pad"] = data.draw(st.integers(0, 1))
    x = _array(data, (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 3)), *size))
    check(_node(op, ["x"], **attrs), {"x": x})


def check_global_pool(data):
    op = data.draw(st.sampled_from(["GlobalAveragePool", "GlobalMaxPool"]))
    shape = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 5)),
             *data.draw(st.lists(st.integers(1, 9), min_size=1, max_size=3)))
    check(_node(op, ["x"]), {"x": _array(data, shape)})


def check_concat_split(data):
    rank = data.draw(st.integers(1, 5))
    shape = [data.draw(st.integers(1, 5)) for _ in range(rank)]
    axis = data.draw(st.integers(-rank, rank - 1))
    parts = data.draw(st.integers(1, 4))
    inputs = {}
    for i in range(parts):
        s = list(shape)
        s[axis] = data.draw(st.integers(1, 4))
        inputs[f"x{i}"] = _array(data, tuple(s))
    check(_node("Concat", inputs, axis=axis), inputs)
    whole = _array(data, tuple(shape))
    n = shape[axis]
    cuts = sorted(data.draw(st.lists(st.integers(1, max(n - 1, 1)), max_size=3, unique=True))) if n > 1 else []
    split = np.diff([0, *cuts, n]).astype(np.int64)
    outs = [f"y{i}" for i in range(len(split))]
    check(_node("Split", ["x", "split"], outs, axis=axis), {"x": whole}, {"split": split})


def check_slice(data):
    rank = data.draw(st.integers(1, 5))
    shape = tuple(data.draw(st.integers(1, 7)) for _ in range(rank))
    axes = data.draw(st.lists(st.integers(-rank, rank - 1), min_size=1, max_size=rank,
                              unique_by=lambda a: a % rank))
    starts = [data.draw(st.integers(-9, 9)) for _ in axes]
    ends = [data.draw(st.sampled_from([-9, -1, 0, 2, 5, 9, 2**62, -2**62])) for _ in axes]
    steps = [data.draw(st.sampled_from([1, 1, 2, 3, -1, -2])) for _ in axes]
    constants = {n: np.array(v, np.int64) for n, v in (("s", starts), ("e", ends), ("a", axes), ("t", steps))}
    check(_node("Slice", ["x", "s", "e", "a", "t"]), {"x": _array(data, shape)}, constants, rtol=0, atol=0)


def check_transpose(data):
    rank = data.draw(st.integers(1, 6))
    shape = tuple(data.draw(st.integers(1, 4)) for _ in range(rank))
    perm = data.draw(st.permutations(range(rank)))
    check(_node("Transpose", ["x"], perm=list(perm)), {"x": _array(data, shape)}, rtol=0, atol=0)


def check_pad(data):
    rank = data.draw(st.integers(1, 4))
    shape = tuple(data.draw(st.integers(1, 5)) for _ in range(rank))
    mode = data.draw(st.sampled_from(["constant", "reflect", "edge"]))
    if mode == "reflect":
        pads = [data.draw(st.integers(0, shape[i % rank] - 1)) for i in range(2 * rank)]
    elif mode == "edge":
        pads = [data.draw(st.integers(0, 3)) for _ in range(2 * rank)]
    else:
        pads = [data.draw(st.integers(-((shape[i % rank] - 1) // 2), 3)) for i in range(2 * rank)]
    constants = {"p": np.array(pads, np.int64), "v": np.array(data.draw(st.sampled_from([0.0, 1.5])), np.float32)}
    check(_node("Pad", ["x", "p", "v"], mode=mode), {"x": _array(data, shape)}, constants, rtol=0, atol=0)


def check_resize(data):
    mode = data.draw(st.sampled_from(["nearest", "linear"]))
    coord = data.draw(st.sampled_from(["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
                                       "half_pixel_symmetric"]))
    attrs = dict(mode=mode, coordinate_transformation_mode=coord)
    if mode == "nearest":
        attrs["nearest_mode"] = data.draw(st.sampled_from(["round_prefer_floor", "round_prefer_ceil", "floor",
                                                          "ceil"]))
    shape = (1, data.draw(st.integers(1, 3)), data.draw(st.integers(1, 7)), data.draw(st.integers(1, 7)))
    x = _array(data, shape)
    if data.draw(st.booleans()):
        sizes = np.array([1, shape[1], data.draw(st.integers(1, 15)), data.draw(st.integers(1, 15))], np.int64)
        constants, names = {"sizes": sizes}, ["x", "", "", "sizes"]
    else:
        scales = np.array([1, 1, data.draw(st.sampled_from([0.5, 0.75, 1.0, 1.5, 2.0, 3.0])),
                           data.draw(st.sampled_from([0.5, 1.0, 2.0, 2.5]))], np.float32)
        assume(all(int(d * s) >= 1 for d, s in zip(shape, scales)))
        constants, names = {"scales": scales}, ["x", "", "scales"]
    check(_node("Resize", names, **attrs), {"x": x}, constants, rtol=1e-5, atol=1e-5)


# ---- indexing and data layout

def _shape(data, rank_lo=1, rank_hi=4, dim_hi=5) -> tuple[int, ...]:
    return tuple(data.draw(st.integers(1, dim_hi)) for _ in range(data.draw(st.integers(rank_lo, rank_hi))))


def _gather_data(data, shape) -> np.ndarray:
    """float32 values, or int64 / int32 ones (token ids, held as int32 and copied bit for bit)."""
    dtype = data.draw(st.sampled_from([np.float32, np.int64, np.int32]), label="data dtype")
    if dtype == np.float32:
        return _array(data, shape)
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    return np.random.default_rng(seed).integers(-2**31, 2**31, size=shape).astype(dtype)


def check_gather(data):
    shape = _shape(data)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[axis]
    idx_shape = _shape(data, 0, max(0, min(3, 7 - len(shape))), 4)
    seed = data.draw(st.integers(0, 2**32 - 1), label="indices")
    idx = np.random.default_rng(seed).integers(-n, n, size=idx_shape).astype(np.int64)
    check(_node("Gather", ["x", "i"], axis=axis), {"x": _gather_data(data, shape)}, {"i": idx}, rtol=0, atol=0)


def check_gather_elements(data):
    shape = _shape(data)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    idx_shape = tuple(data.draw(st.integers(1, 5)) if d == axis % len(shape) else data.draw(st.integers(1, s))
                      for d, s in enumerate(shape))
    seed = data.draw(st.integers(0, 2**32 - 1), label="indices")
    n = shape[axis]
    idx = np.random.default_rng(seed).integers(-n, n, size=idx_shape).astype(np.int64)
    check(_node("GatherElements", ["x", "i"], axis=axis), {"x": _gather_data(data, shape)}, {"i": idx}, rtol=0,
          atol=0)


def check_depth_space(data):
    b = data.draw(st.integers(1, 3))
    n, h, w = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    if data.draw(st.booleans()):
        mode = data.draw(st.sampled_from(["DCR", "CRD"]))
        x = _array(data, (n, b * b * data.draw(st.integers(1, 3)), h, w))
        check(_node("DepthToSpace", ["x"], blocksize=b, mode=mode), {"x": x}, rtol=0, atol=0)
    else:
        x = _array(data, (n, data.draw(st.integers(1, 3)), h * b, w * b))
        check(_node("SpaceToDepth", ["x"], blocksize=b), {"x": x}, rtol=0, atol=0)


def check_expand(data):
    out = _shape(data, 1, 5, 4)
    rank = data.draw(st.integers(1, len(out)))
    shape = tuple(data.draw(st.sampled_from([1, d])) for d in out[len(out) - rank:])
    target = [data.draw(st.sampled_from([1, d])) if s != 1 else d for s, d in zip((1,) * (len(out) - rank) + shape, out)]
    check(_node("Expand", ["x", "s"]), {"x": _array(data, shape)}, {"s": np.array(target, np.int64)}, rtol=0, atol=0)


def check_tile(data):
    shape = _shape(data, 1, 4, 4)
    reps = np.array([data.draw(st.integers(1, 3)) for _ in shape], np.int64)
    check(_node("Tile", ["x", "r"]), {"x": _array(data, shape)}, {"r": reps}, rtol=0, atol=0)


def check_resize_cubic(data):
    coord = data.draw(st.sampled_from(["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
                                       "half_pixel_symmetric"]))
    attrs = dict(mode="cubic", coordinate_transformation_mode=coord,
                 cubic_coeff_a=data.draw(st.sampled_from([-0.75, -0.5])),
                 exclude_outside=data.draw(st.integers(0, 1)))
    shape = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 3)), data.draw(st.integers(1, 7)),
             data.draw(st.integers(1, 7)))
    x = _array(data, shape)
    if data.draw(st.booleans()):
        sizes = np.array([shape[0], shape[1], data.draw(st.integers(1, 15)), data.draw(st.integers(1, 15))], np.int64)
        constants, names = {"sizes": sizes}, ["x", "", "", "sizes"]
    else:
        scales = np.array([1, 1, data.draw(st.sampled_from([0.5, 0.75, 1.0, 1.5, 2.0, 3.0])),
                           data.draw(st.sampled_from([0.5, 1.0, 2.0, 2.5]))], np.float32)
        assume(all(int(d * s) >= 1 for d, s in zip(shape, scales)))
        constants, names = {"scales": scales}, ["x", "", "scales"]
    check(_node("Resize", names, **attrs), {"x": x}, constants, rtol=1e-4, atol=1e-4)


def _grid(data, shape, align_corners: int, in_dims) -> np.ndarray:
    """Grid values in [-1.6, 1.6] (partly outside [-1, 1]: padding), some at exact half-pixel positions
    (nearest's ties) and some far outside (reflection's repeated mirroring)."""
    grid = _array(data, shape, -1.6, 1.6)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="grid seed"))
    for k, length in enumerate(reversed(in_dims)):        # grid[..., 0] indexes the last dim
        ties = rng.integers(-2, length + 1, size=shape[:-1]) + 0.5
        tie_grid = (ties / max(length - 1, 1) * 2 - 1) if align_corners else ((2 * ties + 1) / length - 1)
        far = rng.uniform(-9.0, 9.0, size=shape[:-1])
        pick = rng.integers(0, 4, size=shape[:-1])
        grid[..., k] = np.where(pick == 1, tie_grid, np.where(pick == 2, far, grid[..., k]))
    return grid.astype(np.float32)


def check_grid_sample(data):
    opset = data.draw(st.sampled_from([16, 20]))
    spatial = data.draw(st.sampled_from([2, 2, 3]))
    kinds = ["nearest", "linear"] + (["cubic"] if spatial == 2 else [])
    kind = data.draw(st.sampled_from(kinds))
    mode = {"linear": "bilinear", "cubic": "bicubic"}.get(kind, kind) if opset == 16 else kind
    assume(opset >= 20 or spatial == 2)                     # opset 16 defines 4-D inputs only
    align = data.draw(st.integers(0, 1))
    attrs = dict(mode=mode, padding_mode=data.draw(st.sampled_from(["zeros", "border", "reflection"])),
                 align_corners=align)
    n, c = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 3))
    in_dims = [data.draw(st.integers(1, 4 if spatial == 3 else 7)) for _ in range(spatial)]
    out_dims = [data.draw(st.integers(1, 5)) for _ in range(spatial)]
    x = _array(data, (n, c, *in_dims))
    grid = _grid(data, (n, *out_dims, spatial), align, in_dims)
    check(_node("GridSample", ["x", "grid"], **attrs), {"x": x, "grid": grid}, opset=opset, rtol=1e-5, atol=1e-5)


CHECKS = checks_by_name(
    check_conv, check_conv_transpose, check_gemm, check_matmul, check_unary, check_binary, check_softmax,
    check_lrn, check_batchnorm, check_pool, check_global_pool, check_concat_split, check_slice, check_transpose,
    check_pad, check_resize, check_gather, check_gather_elements, check_depth_space, check_expand, check_tile,
    check_resize_cubic, check_grid_sample)
test_kernel_matches_onnxruntime, test_kernel_matches_onnxruntime_many = differential_tests(CHECKS, 15, 300)


# ------------------------------------------------------------------ tiling edges, deterministic

@pytest.mark.parametrize("cin,cout,hw,k,stride,group", [
    (64, 13, 17, 3, 1, 1),    # K = 576 > KC, P = 289 > NC, M not a multiple of 4
    (300, 8, 12, 1, 1, 1),    # 1x1 GEMM path, K > KC
    (32, 24, 23, 3, 2, 1),    # strided im2col
    (24, 48, 9, 3, 1, 24),    # depthwise with channel multiplier 2
    (16, 32, 15, 3, 1, 4),    # grouped im2col
    (40, 17, 35, 1, 2, 1),    # strided 1x1 through im2col
])
def test_conv_tiling_edges(cin, cout, hw, k, stride, group):
    rng = np.random.default_rng(cin * cout)
    inputs = {"x": rng.standard_normal((1, cin, hw, hw), np.float32),
              "w": rng.standard_normal((cout, cin // group, k, k), np.float32),
              "b": rng.standard_normal(cout, np.float32)}
    check(_node("Conv", inputs, kernel_shape=[k, k], strides=[stride] * 2, pads=[k // 2] * 4, group=group), inputs,
          rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("channels,mult,h,w,k,stride,pads,dil", [
    (5, 1, 40, 40, 3, 1, [1, 1, 1, 1], 1),     # 3x3 strips: several strips per channel
    (3, 2, 7, 9, 3, 1, [0, 2, 2, 0], 1),       # strips, asymmetric pads, channel multiplier 2
    (2, 1, 6, 5, 3, 1, [2, 2, 2, 2], 1),       # strips, output wider than the input
    (2, 1, 5, 120, 3, 1, [1, 1, 1, 1], 1),     # rows too long for a strip: the row ring
    (4, 1, 14, 14, 3, 2, [1, 1, 1, 1], 1),     # stride 2: strips of row and column phases
    (2, 1, 9, 11, 3, 2, [0, 1, 2, 0], 1),      # stride 2, asymmetric pads
    (2, 1, 6, 150, 3, 2, [1, 1, 1, 1], 1),     # stride 2, the ring over two column chunks
    (2, 1, 8, 30, 3, 1, [9, 9, 9, 9], 2),      # dilated, more edge outputs than are cached
    (3, 1, 12, 13, 5, 1, [2, 3, 1, 0], 1),     # 5x5 strips
    (4, 1, 7, 7, 5, 1, [2, 2, 2, 2], 1),       # 5x5 on a 7x7 map: the whole channel in one strip
    (3, 1, 14, 14, 5, 2, [2, 2, 2, 2], 1),     # 5x5 stride 2 strips
    (2, 1, 29, 57, 5, 2, [1, 2, 2, 1], 1),     # 5x5 stride 2 on the ring
    (2, 1, 10, 70, 5, 1, [2, 2, 2, 2], 1),     # 5x5 ring, two column chunks
    (2, 2, 9, 9, 7, 1, [3, 3, 3, 3], 1),       # 7x7 strips, channel multiplier 2
    (2, 1, 13, 140, 7, 2, [3, 3, 3, 3], 1),    # 7x7 stride 2: the ring over several chunks
    (2, 1, 11, 9, 4, 1, [1, 2, 2, 1], 1),      # 4x4: the general path
    (1, 16, 20, 10, 5, 2, [2, 1, 2, 1], 1),    # one input channel, 16 outputs: the GEMM path
    (2, 8, 9, 9, 3, 1, [1, 1, 1, 1], 2),       # 8 outputs per input channel, dilated: the GEMM path
])
def test_depthwise_paths(channels, mult, h, w, k, stride, pads, dil):
    """Each depthwise path (strips, the row ring and its column chunks, the general one with cached or
    computed edge taps)."""
    rng = np.random.default_rng(h * w + k)
    inputs = {"x": rng.standard_normal((1, channels, h, w), np.float32),
              "w": rng.standard_normal((channels * mult, 1, k, k), np.float32),
              "b": rng.standard_normal(channels * mult, np.float32)}
    check(_node("Conv", inputs, kernel_shape=[k, k], strides=[stride] * 2, pads=pads, dilations=[dil] * 2,
                group=channels), inputs)


@pytest.mark.parametrize("channels,group,cout_g,h,w,k,stride,pads", [
    (16, 2, 8, 14, 14, 3, 1, [1, 1, 1, 1]),    # the window path: the whole map in one strip
    (24, 3, 8, 30, 41, 3, 2, [1, 0, 0, 1]),    # stride 2, strips of a few rows, asymmetric pads
    (12, 4, 5, 9, 9, 5, 1, [2, 2, 2, 2]),      # 5x5, an output-channel count off the register tile
    (8, 2, 3, 15, 15, 7, 2, [3, 3, 3, 3]),     # 7x7 stride 2
    (64, 2, 40, 12, 12, 3, 1, [1, 1, 1, 1]),   # K = 288 past one KC block
    (6, 2, 4, 8, 8, 3, 3, [1, 1, 1, 1]),       # stride 3: the im2col path
])
def test_grouped_paths(channels, group, cout_g, h, w, k, stride, pads):
    """Grouped convolutions on the window path (the GEMM fed from padded rows) and off it."""
    rng = np.random.default_rng(channels * h + k)
    inputs = {"x": rng.standard_normal((1, channels, h, w), np.float32),
              "w": rng.standard_normal((group * cout_g, channels // group, k, k), np.float32),
              "b": rng.standard_normal(group * cout_g, np.float32)}
    check(_node("Conv", inputs, kernel_shape=[k, k], strides=[stride] * 2, pads=pads, group=group), inputs,
          rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("cin,cout,hw", [(96, 32, 4), (32, 13, 4), (24, 17, 2), (7, 30, 7), (40, 9, 5), (5, 3, 1)])
def test_pointwise_narrow_columns(cin, cout, hw):
    """1x1 convolutions over few pixels: the narrow and exact-width GEMM column edges."""
    rng = np.random.default_rng(cin * cout * hw)
    inputs = {"x": rng.standard_normal((1, cin, hw, hw), np.float32),
              "w": rng.standard_normal((cout, cin, 1, 1), np.float32),
              "b": rng.standard_normal(cout, np.float32)}
    check(_node("Conv", inputs, kernel_shape=[1, 1]), inputs, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("h,w,k,stride,pads,dil,ceil", [
    (111, 111, 3, 2, [0, 0, 0, 0], 1, 1),     # SqueezeNet's pools: separable path, ceil_mode
    (9, 30, 3, 1, [1, 1, 1, 1], 2, 0),        # separable, dilated, padded
    (5, 300, 3, 2, [1, 1, 1, 1], 1, 0),       # rows past the separable limit: tap by tap
    (20, 40, 18, 1, [0, 0, 0, 0], 1, 0),      # more window columns than are cached: tap by tap
])
def test_maxpool_paths(h, w, k, stride, pads, dil, ceil):
    """MaxPool's separable path (column maximum, then along the row) and the tap-by-tap one."""
    x = np.random.default_rng(h * w).standard_normal((1, 3, h, w), np.float32)
    check(_node("MaxPool", ["x"], kernel_shape=[k, k], strides=[stride] * 2, pads=pads, dilations=[dil] * 2,
                ceil_mode=ceil), {"x": x})


ACTIVATIONS = [("Relu", {}, None), ("Clip", {}, (-0.3, 0.8)), ("LeakyRelu", {"alpha": 0.2}, None),
               ("HardSigmoid", {}, None), ("HardSwish", {}, None), ("Sigmoid", {}, None), ("Tanh", {}, None)]
CONV_SHAPES = [  # (channels in, out, group, size, kernel, stride, pads): each kern_conv path
    (20, 13, 1, 9, 1, 1, [0, 0, 0, 0]),        # 1x1 GEMM on the input in place
    (3, 140, 1, 13, 1, 1, [0, 0, 0, 0]),       # 1x1 over more than one column block (KERN_NC)
    (6, 10, 1, 17, 3, 1, [1, 1, 1, 1]),        # im2col, two pixel tiles
    (8, 8, 8, 10, 3, 1, [1, 1, 1, 1]),         # depthwise strips
    (6, 6, 6, 40, 3, 1, [1, 1, 1, 1]),         # depthwise, the activation over runs of channels
    (8, 8, 8, 10, 3, 2, [1, 1, 1, 1]),         # depthwise padded rows
    (4, 4, 4, 9, 5, 1, [2, 2, 2, 2]),          # depthwise general
]


@pytest.mark.parametrize("act,attrs,bounds", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
@pytest.mark.parametrize("cin,cout,group,size,k,stride,pads", CONV_SHAPES)
def test_conv_with_fused_activation(act, attrs, bounds, cin, cout, group, size, k, stride, pads):
    """kern_conv_act (what the interpreter runs for a Conv followed by an in-place activation) against
    onnxruntime running the two nodes."""
    rng = np.random.default_rng(cin * cout + size)
    inputs = {"x": rng.standard_normal((1, cin, size, size), np.float32),
              "w": rng.standard_normal((cout, cin // group, k, k), np.float32),
              "b": rng.standard_normal(cout, np.float32)}
    constants = {} if bounds is None else {"lo": np.float32(bounds[0]), "hi": np.float32(bounds[1])}
    conv = _node("Conv", inputs, outputs=("c",), kernel_shape=[k, k], strides=[stride] * 2, pads=pads, group=group)
    activation = _node(act, ["c", *constants], **attrs)
    graph = helper.make_graph(
        [conv, activation], "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, v.shape) for n, v in inputs.items()],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=[numpy_helper.from_array(v, n) for n, v in constants.items()])
    want = ort_session(helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])).run(None, inputs)[0]
    got = run_conv_activation(conv, activation, list(inputs.values()), list(constants.values()), OPSET)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-3)


@pytest.mark.parametrize("m,n,k,tb", [(1, 300, 700, 1), (9, 257, 300, 1), (33, 129, 513, 0), (5, 17, 3, 1)])
def test_gemm_tiling_edges(m, n, k, tb):
    rng = np.random.default_rng(m * n + k)
    inputs = {"a": rng.standard_normal((m, k), np.float32),
              "b": rng.standard_normal((n, k) if tb else (k, n), np.float32),
              "c": rng.standard_normal((n,), np.float32)}
    check(_node("Gemm", inputs, transB=tb), inputs, rtol=1e-4, atol=1e-3)
