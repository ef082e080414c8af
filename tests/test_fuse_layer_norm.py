"""FuseLayerNorm: the written-out layer normalization becomes one LayerNormalization where the pattern
and the opset allow it, within 1e-5 relative of the original graph (onnxruntime on random inputs), and
the fused model lowers and runs in the interpreter."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from conftest import i64, make_model, run_ort
from onnx_tee.passes.compact import FuseLayerNorm, compaction_pipeline

RNG = np.random.default_rng(5)
C = 24


def f32(name, value):
    return numpy_helper.from_array(np.asarray(value, np.float32), name)


def written_out(opset=13, axes=(-1,), swap=False, exponent=2.0, affine=True, extra=(), shape=(2, 5, C),
                reader_of_d=False, outputs=("y",)):
    """x -> MatMul -> written-out LayerNorm -> Relu -> y (a torch < 17 export of nn.LayerNorm)."""
    def reduce(inp, out):
        if opset >= 18:
            return helper.make_node("ReduceMean", [inp, "ln_axes"], [out], keepdims=1)
        return helper.make_node("ReduceMean", [inp], [out], axes=list(axes), keepdims=1)

    def binary(op, a, b, out):
        return helper.make_node(op, [b, a] if swap else [a, b], [out])

    nodes = [helper.make_node("MatMul", ["x", "W"], ["h"]), reduce("h", "m"), helper.make_node("Sub", ["h", "m"], ["d"]),
             helper.make_node("Pow", ["d", "two"], ["p"]), reduce("p", "v"), binary("Add", "v", "eps", "e"),
             helper.make_node("Sqrt", ["e"], ["s"]), helper.make_node("Div", ["d", "s"], ["n"])]
    last = "n"
    if affine:
        nodes += [binary("Mul", "n", "gamma", "g"), binary("Add", "g", "beta", "b")]
        last = "b"
    nodes.append(helper.make_node("Relu", [last], ["y"]))
    if reader_of_d:
        nodes.append(helper.make_node("Relu", ["d"], ["dd"]))
    nodes += list(extra)
    inits = [f32("W", RNG.standard_normal((shape[-1], shape[-1])) / 4), f32("two", exponent), f32("eps", 1e-5),
             f32("gamma", 1 + 0.1 * RNG.standard_normal(shape[-1])), f32("beta", 0.1 * RNG.standard_normal(shape[-1]))]
    if opset >= 18:
        inits.append(i64("ln_axes", list(axes)))
    return make_model(nodes, [("x", list(shape))], [(o, None) for o in outputs], inits, opset=opset)


def rel_diff(a: onnx.ModelProto, b: onnx.ModelProto, seed=0) -> float:
    x = RNG.standard_normal(tuple(d.dim_value for d in a.graph.input[0].type.tensor_type.shape.dim))
    feeds = {"x": (3 * x + 2).astype(np.float32)}
    ya, yb = run_ort(a, feeds), run_ort(b, feeds)
    return max(float(np.abs(ya[k] - yb[k]).max() / np.abs(ya[k]).max()) for k in ya)


def fuse(model):
    fused = onnx.ModelProto()
    fused.CopyFrom(model)
    result = FuseLayerNorm()(fused)
    onnx.checker.check_model(result.model, full_check=True)
    return result


@pytest.mark.parametrize("opset,swap", [(13, False), (14, True), (17, False), (18, True)])
def test_written_out_layer_norm_is_fused_within_1e5(opset, swap):
    model = written_out(opset=opset, swap=swap)
    result = fuse(model)
    assert result.modified and result.stats["fused"] == 1
    ops = [n.op_type for n in result.model.graph.node]
    assert ops == ["MatMul", "LayerNormalization", "Relu"], ops
    assert {o.version for o in result.model.opset_import if o.domain in ("", "ai.onnx")} == {max(opset, 17)}
    assert rel_diff(model, result.model) <= 1e-5


def test_without_gamma_and_beta_the_scale_is_ones():
    model = written_out(affine=False)
    result = fuse(model)
    assert [n.op_type for n in result.model.graph.node] == ["MatMul", "LayerNormalization", "Relu"]
    assert rel_diff(model, result.model) <= 1e-5


@pytest.mark.parametrize("why,kwargs", [
    ("not the last axis", dict(axes=(1,), shape=(2, C, C))),
    ("exponent 3", dict(exponent=3.0)),
    ("d read elsewhere", dict(reader_of_d=True, outputs=("y", "dd"))),
    ("intermediate is a graph output", dict(outputs=("y", "s"))),
])
def test_patterns_that_differ_are_left_alone(why, kwargs):
    result = fuse(written_out(**kwargs))
    assert not result.modified, why
    assert "LayerNormalization" not in [n.op_type for n in result.model.graph.node]


def test_an_opset_whose_upgrade_changes_meaning_is_left_alone():
    """Softmax changed meaning at 13: a model at opset 11 is not raised to 17."""
    softmax = helper.make_node("Softmax", ["x"], ["sm"], axis=1)
    result = fuse(written_out(opset=11, extra=[softmax], outputs=("y", "sm")))
    assert not result.modified and result.stats["skipped_opset"] == 1


def test_fused_model_lowers_and_matches_the_original():
    from lower_harness import feeds_for, lower, run
    model = written_out(opset=14)
    compacted = compaction_pipeline()(model).model
    assert "LayerNormalization" in [n.op_type for n in compacted.graph.node]
    assert "gamma" not in {t.name for t in compacted.graph.initializer}, "the old weights go"
    lowered = lower(compacted)
    feeds = feeds_for(lowered)
    got, runs = run(lowered, feeds)
    want = run_ort(model, feeds)
    assert all(r.status == "RT_OK" for r in runs)
    assert np.abs(got["y"] - want["y"]).max() <= 1e-5 * np.abs(want["y"]).max()
    for r, planned in zip(runs, lowered.result.plan.partitions):
        assert r.max_region_end == planned.total
