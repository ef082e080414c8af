"""FuseSwish: Mul(x, Sigmoid(x)) -> QuickGelu(x, alpha=1) (com.microsoft).

The rewrite is checked against onnxruntime running the original model; through the interpreter the
fused model is checked bit for bit against the unfused one (the Conv applies SiLU to its output tiles),
with the planned memory equal to the measured high-water mark and below the unfused plan (the
Sigmoid's output no longer takes room)."""
from __future__ import annotations

import numpy as np
import onnx
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import helper, numpy_helper

from conftest import make_model, run_ort
from onnx_tee.passes.compact import FuseSwish, compaction_pipeline

RNG = np.random.default_rng(0)


def f32(name, shape, scale=0.3):
    return numpy_helper.from_array((scale * RNG.standard_normal(shape)).astype(np.float32), name)


def silu_net(swaps=(False, False, False), shared=False, sigmoid_output=False, c=8, size=12) -> onnx.ModelProto:
    """An EfficientNet-style block: Conv -> SiLU -> depthwise Conv -> SiLU -> squeeze-excite (global
    pool, 1x1 Conv, SiLU, 1x1 Conv, Sigmoid, Mul into the features) -> 1x1 Conv -> SiLU.
    `swaps[k]`: SiLU k's Mul takes (Sigmoid(x), x) instead of (x, Sigmoid(x)); `shared`: SiLU 0's Sigmoid
    also feeds a ReduceMean; `sigmoid_output`: SiLU 2's Sigmoid is also a graph output."""
    n = helper.make_node

    def silu(k, x):
        s, y = f"s{k}", f"silu{k}"
        return [n("Sigmoid", [x], [s]), n("Mul", [s, x] if swaps[k] else [x, s], [y])]

    nodes = [n("Conv", ["x", "w0", "b0"], ["c0"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]),
             *silu(0, "c0"),
             n("Conv", ["silu0", "w1", "b1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=c),
             *silu(1, "c1"),
             n("GlobalAveragePool", ["silu1"], ["g"]), n("Conv", ["g", "wr", "br"], ["r"], kernel_shape=[1, 1]),
             n("Sigmoid", ["r"], ["rs"]), n("Mul", ["r", "rs"], ["rsilu"]),
             n("Conv", ["rsilu", "we", "be"], ["e"], kernel_shape=[1, 1]), n("Sigmoid", ["e"], ["es"]),
             n("Mul", ["silu1", "es"], ["scaled"]),
             n("Conv", ["scaled", "w2", "b2"], ["c2"], kernel_shape=[1, 1]), *silu(2, "c2")]
    outputs = [("silu2", None)]
    if shared:
        nodes.append(n("ReduceMean", ["s0"], ["extra"], keepdims=1))
        outputs.append(("extra", None))
    if sigmoid_output:
        outputs.append(("s2", None))
    inits = [f32("w0", [c, 3, 3, 3]), f32("b0", [c]), f32("w1", [c, 1, 3, 3]), f32("b1", [c]),
             f32("wr", [2, c, 1, 1]), f32("br", [2]), f32("we", [c, 2, 1, 1]), f32("be", [c]),
             f32("w2", [2 * c, c, 1, 1]), f32("b2", [2 * c])]
    return make_model(nodes, [("x", [1, 3, size, size])], outputs, inits, opset=13)


def op_types(model: onnx.ModelProto) -> list[str]:
    return [node.op_type for node in model.graph.node]


def feeds(seed=0, size=12):
    return {"x": np.random.default_rng(seed).standard_normal((1, 3, size, size)).astype(np.float32) * 2}


@settings(max_examples=12, deadline=None)
@given(swaps=st.tuples(st.booleans(), st.booleans(), st.booleans()), shared=st.booleans(),
       sigmoid_output=st.booleans(), seed=st.integers(0, 1000))
def test_every_silu_whose_sigmoid_has_no_other_reader_is_fused_and_equals_onnxruntime(swaps, shared, sigmoid_output,
                                                                                       seed):
    model = silu_net(swaps, shared, sigmoid_output)
    result = FuseSwish()(onnx.ModelProto.FromString(model.SerializeToString()))
    expected = 4 - shared - sigmoid_output       # SiLU 0..2 and the squeeze-excite's inner one
    assert result.stats["fused"] == expected
    assert op_types(result.model).count("QuickGelu") == expected
    assert op_types(result.model).count("Sigmoid") == 5 - expected   # the SE gate's Sigmoid always stays
    onnx.checker.check_model(result.model)
    got, want = run_ort(result.model, feeds(seed)), run_ort(model, feeds(seed))
    assert got.keys() == want.keys()
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-5)


def test_a_model_without_silu_is_left_alone():
    n = helper.make_node
    model = make_model([n("Sigmoid", ["x"], ["s"]), n("Mul", ["s", "y"], ["z"])], [("x", [4]), ("y", [4])],
                       [("z", [4])])
    result = FuseSwish()(model)
    assert not result.modified and result.stats["fused"] == 0 and op_types(result.model) == ["Sigmoid", "Mul"]


def test_the_pipeline_fuses_and_imports_the_contrib_domain_once():
    compacted = compaction_pipeline()(silu_net()).model
    assert op_types(compacted).count("QuickGelu") == 4
    assert [o.domain for o in compacted.opset_import].count("com.microsoft") == 1


def test_fused_model_runs_bit_equal_to_the_unfused_one_with_planned_equal_to_measured():
    """Through the interpreter: the Conv + QuickGelu fusion gives the very values of Conv, Sigmoid, Mul."""
    from lower_harness import lower, run
    model = silu_net(size=20)
    fused = FuseSwish()(onnx.ModelProto.FromString(model.SerializeToString())).model
    lowered = {name: lower(m) for name, m in (("plain", model), ("fused", fused))}
    x = feeds(3, 20)
    outs = {}
    for name, low in lowered.items():
        outs[name], runs = run(low, x)
        assert all(r.status == "RT_OK" for r in runs)
        for r, planned in zip(runs, low.result.plan.partitions):
            assert r.max_region_end == planned.total
    np.testing.assert_array_equal(outs["fused"]["silu2"], outs["plain"]["silu2"])
    want = run_ort(model, x)["silu2"]
    assert np.abs(outs["fused"]["silu2"] - want).max() <= 1e-5 * np.abs(want).max()
    assert lowered["fused"].result.plan.partitions[0].total < lowered["plain"].result.plan.partitions[0].total
