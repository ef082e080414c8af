"""Spatial tiling (passes/partition/spatial_tiling.py) against the untiled model in onnxruntime.

Random chains of Conv (strided, dilated, padded, depthwise, asymmetric kernels), pools, BN,
activations, residual Adds, channel Concats and Resize, cut at every tile count and at random
tile boundaries: the tiled model must be valid and give the untiled model's outputs."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st
from onnx import TensorProto, helper, numpy_helper

from conftest import run_ort
from onnx_tee.passes.analysis.macs import model_macs
from onnx_tee.passes.analysis.shapes import infer_static_shapes
from onnx_tee.passes.errors import UserError
from onnx_tee.passes.partition.spatial_tiling import is_local, region_nodes, tile_bounds, tile_region


class _Chain:
    """A small NCHW model built layer by layer with seeded random weights."""

    def __init__(self, rng: np.random.Generator, channels: int, rows: int, cols: int):
        self.rng, self.nodes, self.inits = rng, [], []
        self.x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, rows, cols])
        self.last, self.channels, self.count = "x", channels, 0

    def name(self, base: str) -> str:
        self.count += 1
        return f"{base}{self.count}"

    def weight(self, shape, scale=0.5) -> str:
        name = self.name("w")
        self.inits.append(numpy_helper.from_array((self.rng.standard_normal(shape) * scale).astype(np.float32), name))
        return name

    def add(self, op: str, inputs: list[str], **attrs) -> str:
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        self.last = out
        return out

    def conv(self, c_out, k, s, d, pads, group=1, source=None):
        source = source or self.last
        w = self.weight([c_out, self.channels // group, k[0], k[1]])
        b = self.weight([c_out])
        self.channels = c_out
        return self.add("Conv", [source, w, b], kernel_shape=list(k), strides=list(s), dilations=list(d),
                        pads=list(pads), group=group)

    def model(self, outputs=None) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, "chain", [self.x], [], self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
        shapes = {v.name: v for v in [*inferred.graph.value_info, *inferred.graph.input]}
        model.graph.output.extend(shapes[o] for o in (outputs or [self.last]))
        return model

    def shape(self) -> tuple[int, ...]:
        if self.last == "x":
            return tuple(d.dim_value for d in self.x.type.tensor_type.shape.dim)
        return infer_static_shapes(self.model())[self.last].shape


def _feeds(model: onnx.ModelProto, seed: int = 0) -> dict[str, np.ndarray]:
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    return {"x": np.random.default_rng(seed).standard_normal(shape).astype(np.float32)}


def _check(model: onnx.ModelProto, output: str, bounds: list[int]) -> onnx.ModelProto:
    infos = infer_static_shapes(model)
    want = run_ort(model, _feeds(model))
    tiled = onnx.ModelProto()
    tiled.CopyFrom(model)
    stats = tile_region(tiled, infos, output, bounds)
    onnx.checker.check_model(tiled, full_check=True)
    inferred = infer_static_shapes(tiled)
    assert stats.made == {name: inferred[name] for name in stats.made}   # the shapes the stage says it made
    names = {x for n in tiled.graph.node for x in [*n.input, *n.output] if x} | {t.name for t in tiled.graph.initializer}
    assert names - set(infos) == set(stats.made) and not set(stats.removed) & names
    got = run_ort(tiled, _feeds(model))
    for name, value in want.items():
        np.testing.assert_allclose(got[name], value, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(value).max())))
    assert stats.tiles == len(bounds) - 1 and sum(stats.tile_rows) == infos[output].shape[2]
    assert stats.tiled_macs == sum(model_macs(tiled, infer_static_shapes(tiled)).values()) - \
        sum(model_macs(model, infos).values()) + stats.region_macs
    return tiled


@st.composite
def conv_chains(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    rows, cols = draw(st.integers(6, 28)), draw(st.integers(3, 9))
    chain = _Chain(rng, draw(st.integers(1, 3)), rows, cols)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["conv", "conv", "depthwise", "maxpool", "avgpool", "bn_relu", "residual"]))
        h, w = chain.shape()[2:]
        k = (draw(st.integers(1, 4)), draw(st.integers(1, 3)))
        s = (draw(st.integers(1, 3)), draw(st.integers(1, 2)))
        d = (draw(st.integers(1, 2)), 1)
        span = d[0] * (k[0] - 1) + 1
        pads = [draw(st.integers(0, k[0] - 1)), draw(st.integers(0, k[1] - 1)),
                draw(st.integers(0, k[0] - 1)), draw(st.integers(0, k[1] - 1))]
        if h + pads[0] + pads[2] < span + s[0] or w + pads[1] + pads[3] < k[1]:
            continue  # keep at least two output rows and one column
        if kind == "conv":
            chain.conv(draw(st.integers(1, 4)), k, s, d, pads)
        elif kind == "depthwise":
            chain.conv(chain.channels, k, s, d, pads, group=chain.channels)
        elif kind == "maxpool":
            before = chain.last
            chain.add("MaxPool", [chain.last], kernel_shape=list(k), strides=list(s), dilations=list(d), pads=pads,
                      ceil_mode=draw(st.integers(0, 1)))
            if not is_local(chain.nodes[-1], infer_static_shapes(chain.model())):
                # a last window starting past the input: onnx's shape inference and onnxruntime disagree
                chain.nodes.pop()
                chain.last = before
        elif kind == "avgpool":
            chain.add("AveragePool", [chain.last], kernel_shape=list(k), strides=list(s), pads=pads,
                      count_include_pad=draw(st.integers(0, 1)))
        elif kind == "bn_relu":
            c = chain.channels
            scale, bias, mean = chain.weight([c]), chain.weight([c]), chain.weight([c])
            var = chain.name("var")
            chain.inits.append(numpy_helper.from_array(rng.uniform(0.5, 2, c).astype(np.float32), var))
            chain.add("BatchNormalization", [chain.last, scale, bias, mean, var])
            chain.add("Relu", [chain.last])
        else:  # a 3x3 residual block
            source = chain.last
            chain.conv(chain.channels, (3, 3), (1, 1), (1, 1), [1, 1, 1, 1])
            chain.add("Add", [chain.last, source])
    return chain


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chain=conv_chains(), data=st.data())
def test_random_conv_chains_match_untiled(chain, data):
    assume(chain.last != "x")
    model = chain.model()
    infos = infer_static_shapes(model)
    rows = infos[chain.last].shape[2]
    assume(rows >= 2 and is_local(model.graph.node[-1], infos))
    cuts = data.draw(st.sets(st.integers(1, rows - 1), min_size=1, max_size=rows - 1))
    _check(model, chain.last, [0, *sorted(cuts), rows])


def test_every_tile_count_of_a_strided_dilated_chain():
    chain = _Chain(np.random.default_rng(1), 2, 23, 7)
    chain.conv(3, (3, 3), (1, 1), (2, 1), [2, 1, 2, 1])
    chain.add("Relu", [chain.last])
    chain.conv(4, (5, 3), (2, 1), (1, 1), [2, 1, 1, 1])
    chain.add("MaxPool", [chain.last], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    model = chain.model()
    rows = infer_static_shapes(model)[chain.last].shape[2]
    for tiles in range(1, rows + 1):
        _check(model, chain.last, tile_bounds(rows, tiles))


def _fpn(mode: str, coord: str, nearest: str = "round_prefer_floor") -> tuple[onnx.ModelProto, str]:
    """Two scales: a strided branch upsampled by Resize and concatenated with the fine one."""
    chain = _Chain(np.random.default_rng(2), 2, 20, 6)
    fine = chain.conv(3, (3, 3), (1, 1), (1, 1), [1, 1, 1, 1])
    chain.conv(3, (3, 3), (2, 2), (1, 1), [1, 1, 1, 1])
    coarse = chain.add("Relu", [chain.last])
    sizes = chain.name("sizes")
    chain.inits.append(numpy_helper.from_array(np.array([1, 3, 20, 6], np.int64), sizes))
    up = chain.add("Resize", [coarse, "", "", sizes], mode=mode, coordinate_transformation_mode=coord,
                   nearest_mode=nearest)
    chain.add("Concat", [fine, up], axis=1)
    chain.channels = 6
    chain.conv(2, (3, 1), (1, 1), (1, 1), [1, 0, 1, 0])
    return chain.model(), chain.last


@pytest.mark.parametrize("mode, coord, nearest", [("nearest", "asymmetric", "floor"),
                                                  ("nearest", "half_pixel", "round_prefer_floor"),
                                                  ("linear", "half_pixel", "round_prefer_floor"),
                                                  ("linear", "pytorch_half_pixel", "round_prefer_floor"),
                                                  ("linear", "asymmetric", "round_prefer_floor")])
def test_resize_and_concat_of_two_scales(mode, coord, nearest):
    model, output = _fpn(mode, coord, nearest)
    for tiles in (2, 3, 5, 7, 20):
        _check(model, output, tile_bounds(20, tiles))


@pytest.mark.parametrize("k, s, d, pads, group", [((2, 2), (2, 2), (1, 1), [0, 0, 0, 0], 1),
                                                  ((3, 3), (2, 2), (1, 1), [1, 1, 1, 1], 1),
                                                  ((4, 3), (2, 1), (1, 1), [1, 0, 2, 1], 1),
                                                  ((3, 2), (3, 1), (2, 1), [2, 0, 0, 1], 2),
                                                  ((3, 3), (1, 1), (1, 1), [0, 0, 1, 1], 2)])
def test_conv_transpose_head(k, s, d, pads, group):
    """A DB-style head: conv, ConvTranspose (strided, padded, dilated, grouped), Sigmoid."""
    chain = _Chain(np.random.default_rng(6), 2, 9, 5)
    chain.conv(4, (3, 3), (1, 1), (1, 1), [1, 1, 1, 1])
    w = chain.weight([4, 4 // group, *k])
    chain.add("ConvTranspose", [chain.last, w], kernel_shape=list(k), strides=list(s), dilations=list(d), pads=pads,
              group=group)
    chain.add("Sigmoid", [chain.last])
    model = chain.model()
    rows = infer_static_shapes(model)[chain.last].shape[2]
    for tiles in range(1, rows + 1):
        _check(model, chain.last, tile_bounds(rows, tiles))


def test_region_stops_at_a_non_local_op_and_counts_recomputation():
    chain = _Chain(np.random.default_rng(3), 2, 16, 5)
    chain.add("Softmax", [chain.last], axis=2)   # mixes rows: not local
    chain.conv(4, (3, 3), (1, 1), (1, 1), [1, 1, 1, 1])
    chain.conv(4, (3, 3), (1, 1), (1, 1), [1, 1, 1, 1])
    model = chain.model()
    infos = infer_static_shapes(model)
    assert [model.graph.node[i].op_type for i in region_nodes(model, infos, chain.last)] == ["Conv", "Conv"]
    tiled = _check(model, chain.last, tile_bounds(16, 4))
    before = sum(model_macs(model, infos).values())
    after = sum(model_macs(tiled, infer_static_shapes(tiled)).values())
    # 4 tiles of 4 rows: the first conv computes 1 extra row per interior tile side (6 halo rows of 16)
    first = model_macs(model, infos)[model.graph.node[1].output[0]]
    assert after - before == first * 6 // 16


def test_a_window_reading_only_padding_is_not_local():
    chain = _Chain(np.random.default_rng(5), 1, 9, 3)
    chain.add("MaxPool", [chain.last], kernel_shape=[1, 1], strides=[3, 1], ceil_mode=1)  # row 3 reads row 9 of 9
    model = chain.model()
    infos = infer_static_shapes(model)
    assert infos[chain.last].shape[2] == 4 and not is_local(model.graph.node[0], infos)
    with pytest.raises(UserError, match="not spatially local"):
        tile_region(model, infos, chain.last, [0, 2, 4])


def test_region_read_from_outside_is_refused():
    chain = _Chain(np.random.default_rng(4), 2, 10, 4)
    inner = chain.conv(2, (3, 3), (1, 1), (1, 1), [1, 1, 1, 1])
    chain.conv(2, (3, 3), (1, 1), (1, 1), [1, 1, 1, 1])
    model = chain.model([chain.last, inner])
    with pytest.raises(UserError, match="graph output"):
        tile_region(model, infer_static_shapes(model), chain.last, [0, 5, 10])


def test_fused_silu_is_tiled():
    """SiLU fused by `FuseSwish` into onnxruntime's QuickGelu (com.microsoft) is element-wise: a
    region runs through it, every tile count gives the untiled outputs."""
    from onnx_tee.passes.compact.fuse_swish import FuseSwish

    chain = _Chain(np.random.default_rng(3), 3, 17, 6)
    x = chain.conv(4, (3, 3), (1, 1), (1, 1), [1, 1, 1, 1])
    s = chain.add("Sigmoid", [x])
    chain.add("Mul", [x, s])
    chain.conv(2, (3, 3), (2, 1), (1, 1), [1, 1, 1, 1])
    fused = FuseSwish()(chain.model()).model
    assert [n.op_type for n in fused.graph.node] == ["Conv", "QuickGelu", "Conv"]
    infos = infer_static_shapes(fused)
    assert len(region_nodes(fused, infos, chain.last)) == 3
    rows = infos[chain.last].shape[2]
    for tiles in range(2, rows + 1):
        tiled = _check(fused, chain.last, tile_bounds(rows, tiles))
        assert all(n.domain == "com.microsoft" for n in tiled.graph.node if n.op_type == "QuickGelu")
