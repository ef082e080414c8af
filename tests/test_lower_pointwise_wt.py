"""Conv's transposed 1x1 weights (ATTR_CONV_W_LAYOUT 1) from lowering to the interpreter.

Lowering stores a 1x1 convolution's weights transposed where the geometry allows it (`conv_wt_ok`: few
pixels) and no other op of the body reads them; the interpreter then runs the transposed product
(kernels/pointwise_wt.c).  Checked: which records get the layout, the stored bytes, the model's outputs
against onnxruntime with the planned memory equal to the measured high-water mark, and the
validator's answer to layouts a body must not carry."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import helper, numpy_helper

from conftest import make_model, run_ort
from lower_harness import lower, run
from onnx_tee.passes.lower import bodies
from onnx_tee.passes.lower import format as fmt

RNG = np.random.default_rng(7)


def f32(name, shape, scale=0.3):
    return numpy_helper.from_array((scale * RNG.standard_normal(shape)).astype(np.float32), name)


def small_map_net():
    """x [1, 16, 14, 14] -> 3x3/2 conv -> [1, 24, 7, 7] -> 1x1 (wa) + Relu -> 1x1 (ws) -> 1x1 (ws again:
    a shared weight) -> 1x1 to 40 channels (wb) = y; and a 1x1 on the 14x14 input itself (wc) = z."""
    n = helper.make_node
    nodes = [n("Conv", ["x", "w0", "b0"], ["c0"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]),
             n("Conv", ["c0", "wa", "ba"], ["ca"], kernel_shape=[1, 1]), n("Relu", ["ca"], ["ra"]),
             n("Conv", ["ra", "ws"], ["s1"], kernel_shape=[1, 1]),
             n("Conv", ["s1", "ws"], ["s2"], kernel_shape=[1, 1]),
             n("Conv", ["s2", "wb", "bb"], ["y"], kernel_shape=[1, 1]),
             n("Conv", ["x", "wc"], ["z"], kernel_shape=[1, 1])]
    inits = [f32("w0", [24, 16, 3, 3]), f32("b0", [24]), f32("wa", [24, 24, 1, 1]), f32("ba", [24]),
             f32("ws", [24, 24, 1, 1]), f32("wb", [40, 24, 1, 1]), f32("bb", [40]), f32("wc", [8, 16, 1, 1])]
    return make_model(nodes, [("x", [1, 16, 14, 14])], [("y", None), ("z", None)], inits, opset=13)


def test_small_map_weights_stored_transposed_and_outputs_match_onnxruntime(monkeypatch):
    written: list[fmt.Body] = []
    serialize = fmt.serialize
    monkeypatch.setattr(bodies.fmt, "serialize", lambda body: written.append(body) or serialize(body))
    model = small_map_net()
    lowered = lower(model)
    assert len(written) == 1
    body = written[0]
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    layouts = {}
    for op in body.ops:
        if op.code == fmt.OP_CODES["CONV"]:
            w_index = op.inputs[1]
            stored = body.weights[w_index]
            name = next(k for k, v in inits.items() if v.shape == stored.shape and
                        (np.array_equal(v, stored) or np.array_equal(v.reshape(v.shape[0], -1).T.reshape(v.shape),
                                                                     stored)))
            layouts[name] = op.ints[fmt.ATTR_CONV_W_LAYOUT]
            transposed = inits[name].reshape(inits[name].shape[0], -1).T.reshape(inits[name].shape)
            assert np.array_equal(stored, transposed if layouts[name] else inits[name])
    # the 3x3 conv, the shared weight and the 14x14 map keep ONNX order
    assert layouts == {"w0": 0, "wa": 1, "ws": 0, "wb": 1, "wc": 0}
    x = {"x": np.random.default_rng(1).standard_normal((1, 16, 14, 14)).astype(np.float32)}
    got, runs = run(lowered, x)
    assert all(r.status == "RT_OK" for r in runs)
    for r, planned in zip(runs, lowered.result.plan.partitions):
        assert r.max_region_end == planned.total
    want = run_ort(model, x)
    for name in ("y", "z"):
        assert np.abs(got[name] - want[name]).max() <= 1e-5 * np.abs(want[name]).max()


def _conv_body(h, w, layout, cin=6, cout=40, extra_slot=0):
    """One Conv over x [1, cin, h, w] (region offset 0) with W [cout, cin, 1, 1] stored transposed."""
    wt = RNG.standard_normal((cout, cin, 1, 1)).astype(np.float32)
    stored = wt.reshape(cout, cin).T.reshape(wt.shape).copy()
    tensors = [fmt.Tensor((1, cin, h, w), fmt.LOC_REGION, 0), fmt.Tensor(wt.shape, fmt.LOC_WEIGHT),
               fmt.Tensor((1, cout, h, w), fmt.LOC_REGION, 4096)]
    ints = [1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, layout] + ([extra_slot] if extra_slot else [])
    op = fmt.Op(fmt.OP_CODES["CONV"], [0, 1], [2], ints, [])
    data = fmt.serialize(fmt.Body(0, 1, tensors, [op], {1: stored}, region_size=1 << 16, scratch_offset=32768,
                                  scratch_size=16384))
    return data, wt


def _run(data, x):
    from lower_harness import library
    from onnx_tee.passes.lower.hostlib import Region
    region = Region(library(), 1 << 16)
    region.write(0, x)
    return region.run_body(data, 49152, 0, 1), region


def test_interpreter_runs_the_transposed_layout():
    data, wt = _conv_body(7, 7, 1)
    x = np.random.default_rng(2).standard_normal((1, 6, 7, 7)).astype(np.float32)
    result, region = _run(data, x)
    assert result.status == "RT_OK"
    want = np.einsum("oi,ip->op", wt.reshape(40, 6).astype(np.float64), x.reshape(6, 49).astype(np.float64))
    np.testing.assert_allclose(region.read(4096, (1, 40, 7, 7)).reshape(40, 49), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("h,w,layout,extra,status", [
    (9, 9, 1, 0, "RT_ERR_OP_ATTRIBUTE"),    # 81 pixels: not a small map
    (4, 8, 1, 0, "RT_ERR_OP_ATTRIBUTE"),    # 32 pixels fill their tiles: no transposed path
    (7, 7, 2, 0, "RT_ERR_OP_ATTRIBUTE"),    # no such layout
    (7, 7, -1, 0, "RT_ERR_OP_ATTRIBUTE"),
    (7, 7, 1, 5, "RT_ERR_OP_RESERVED"),     # a slot past Conv's
])
def test_validator_refuses_bad_layouts(h, w, layout, extra, status):
    data, _ = _conv_body(h, w, layout, extra_slot=extra)
    result, _ = _run(data, np.ones((1, 6, h, w), np.float32))
    assert result.status == status
