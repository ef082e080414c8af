"""Channel groups on small graphs, one coupling rule at a time, each checked by exactness in onnxruntime.

Exactness: zero the weights that read some channels, prune exactly those channels -> the outputs
must not change (and the zeroing itself must change them, so the check can fail).
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from conftest import make_model
from onnx_tee.passes.errors import UserError
from onnx_tee.passes.prune.apply import prune_units
from onnx_tee.passes.prune.groups import analyze, require_prunable
from prune_helpers import exactness_error

RNG = np.random.default_rng(0)


def w(name: str, *shape: int, low: float | None = None) -> onnx.TensorProto:
    values = RNG.standard_normal(shape).astype(np.float32) * np.float32(1 / np.sqrt(max(1, np.prod(shape[1:]))))
    if low is not None:
        values = RNG.uniform(low, 1.0, shape).astype(np.float32)
    return numpy_helper.from_array(values, name)


def ints(name: str, values) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(values, dtype=np.int64), name)


def conv(x: str, out: str, weight: str, **attrs) -> onnx.NodeProto:
    pads = attrs.pop("pads", [1, 1, 1, 1])
    return helper.make_node("Conv", [x, weight], [out], name=out, pads=pads, **attrs)


def bn(x: str, out: str, c: int) -> tuple[onnx.NodeProto, list[onnx.TensorProto]]:
    names = [f"{out}_{k}" for k in ("s", "b", "m", "v")]
    params = [w(names[0], c, low=0.5), w(names[1], c), w(names[2], c), w(names[3], c, low=0.5)]
    return helper.make_node("BatchNormalization", [x] + names, [out], name=out), params


def group_sizes(model: onnx.ModelProto) -> list[tuple[int, bool]]:
    return sorted((g.channels, g.prunable) for g in analyze(model).groups)


def assert_exact(model: onnx.ModelProto, seed: int = 0) -> onnx.ModelProto:
    error, changed, pruned = exactness_error(model, seed)
    assert changed > 1e-3, "zeroing the channels' readers did not change the outputs: the check is vacuous"
    assert error <= 1e-5
    return pruned


def chain_model() -> onnx.ModelProto:
    """x -> Conv(8) -> BN -> Relu -> MaxPool -> Conv(6) -> y"""
    norm, params = bn("c1", "b1", 8)
    nodes = [conv("x", "c1", "w1"), norm, helper.make_node("Relu", ["b1"], ["r1"]),
             helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
             conv("p1", "y", "w2")]
    return make_model(nodes, [("x", [1, 3, 8, 8])], [("y", [1, 6, 4, 4])], [w("w1", 8, 3, 3, 3), w("w2", 6, 8, 3, 3)] + params)


def test_chain_groups_members_and_exactness():
    model = chain_model()
    graph = analyze(model)
    prunable = graph.prunable_groups()
    assert [g.channels for g in prunable] == [8]
    roles = {(node, role) for node, _, role in prunable[0].members}
    assert {("c1", "out"), ("b1", "bn_scale"), ("b1", "bn_var"), ("y", "in")} <= roles
    blocked = {g.channels: g.reasons[0] for g in graph.groups if not g.prunable}
    assert "graph input" in blocked[3] and "graph output" in blocked[6]
    pruned = assert_exact(model)
    weights = {t.name: t for t in pruned.graph.initializer}
    kept = weights["w1"].dims[0]
    assert list(weights["w2"].dims) == [6, kept, 3, 3] and list(weights["b1_s"].dims) == [kept]


def test_residual_add_couples_both_branches():
    """x -> Conv a(8) ; a -> Conv b(8) ; Add(a, b) -> Conv(4): a's and b's channels are one group."""
    nodes = [conv("x", "a", "wa"), helper.make_node("Relu", ["a"], ["ra"]), conv("ra", "b", "wb"),
             helper.make_node("Add", ["ra", "b"], ["s"]), conv("s", "y", "wy")]
    model = make_model(nodes, [("x", [1, 3, 6, 6])], [("y", [1, 4, 6, 6])],
                       [w("wa", 8, 3, 3, 3), w("wb", 8, 8, 3, 3), w("wy", 4, 8, 3, 3)])
    prunable = analyze(model).prunable_groups()
    assert [g.channels for g in prunable] == [8]
    assert {"a", "b", "y"} <= {node for node, _, _ in prunable[0].members}
    assert_exact(model)


def test_concat_offsets_and_split_sizes_are_rewritten():
    """Concat(Conv 4, Conv 6) -> Split [5, 5] -> two Convs: channel offsets follow the pruning."""
    nodes = [conv("x", "a", "wa"), conv("x", "b", "wb"), helper.make_node("Concat", ["a", "b"], ["c"], axis=1),
             helper.make_node("Split", ["c", "sizes"], ["s1", "s2"], axis=1),
             conv("s1", "y1", "w1"), conv("s2", "y2", "w2")]
    model = make_model(nodes, [("x", [1, 3, 5, 5])], [("y1", [1, 2, 5, 5]), ("y2", [1, 2, 5, 5])],
                       [w("wa", 4, 3, 3, 3), w("wb", 6, 3, 3, 3), ints("sizes", [5, 5]), w("w1", 2, 5, 3, 3),
                        w("w2", 2, 5, 3, 3)])
    sizes = sorted(g.channels for g in analyze(model).prunable_groups())
    assert sizes == [1, 4, 5]                     # a: 4; b's first channel (in s1); b's last 5 (in s2)
    for seed in range(4):
        assert_exact(model, seed)


def test_slice_on_channel_axis():
    nodes = [conv("x", "a", "wa"), helper.make_node("Slice", ["a", "st", "en", "ax"], ["s"]), conv("s", "y", "wy"),
             conv("a", "z", "wz")]
    model = make_model(nodes, [("x", [1, 3, 5, 5])], [("y", [1, 2, 5, 5]), ("z", [1, 2, 5, 5])],
                       [w("wa", 10, 3, 3, 3), ints("st", [2]), ints("en", [7]), ints("ax", [1]),
                        w("wy", 2, 5, 3, 3), w("wz", 2, 10, 3, 3)])
    assert sorted(g.channels for g in analyze(model).prunable_groups()) == [5, 5]
    for seed in range(3):
        assert_exact(model, seed)


def test_depthwise_and_grouped_conv():
    """Conv(8) -> depthwise (group 8) -> grouped Conv (group 2, 8 -> 4) -> y."""
    nodes = [conv("x", "a", "wa"), conv("a", "d", "wd", group=8), conv("d", "g", "wg", group=2),
             helper.make_node("Relu", ["g"], ["r"]), conv("r", "y", "wy")]
    model = make_model(nodes, [("x", [1, 3, 6, 6])], [("y", [1, 3, 6, 6])],
                       [w("wa", 8, 3, 3, 3), w("wd", 8, 1, 3, 3), w("wg", 4, 4, 3, 3), w("wy", 3, 4, 3, 3)])
    graph = analyze(model)
    # the depthwise couples a's and d's channels; the grouped conv couples channel k of both input
    # groups (4 units of 2 channels) and of both output groups (2 units of 2 channels)
    assert sorted(g.channels for g in graph.prunable_groups()) == [2, 4]
    pruned = assert_exact(model)
    group = {n.name: {a.name: a.i for a in n.attribute}["group"] for n in pruned.graph.node if n.op_type == "Conv"
             and any(a.name == "group" for a in n.attribute)}
    dims = {t.name: list(t.dims) for t in pruned.graph.initializer}
    assert group["d"] == dims["wd"][0] and group["g"] == 2
    assert dims["wg"][1] * 2 == dims["wd"][0] and dims["wy"][1] == dims["wg"][0]


def test_flatten_and_reshape_into_gemm_blocks():
    """Conv(4) on 3x3 -> Flatten -> Gemm(5) -> Relu -> Reshape -> MatMul: one channel = 9 features."""
    nodes = [conv("x", "a", "wa"), helper.make_node("Flatten", ["a"], ["f"], axis=1),
             helper.make_node("Gemm", ["f", "g", "gb"], ["h"], transB=1), helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Reshape", ["r", "shape"], ["rr"]), helper.make_node("MatMul", ["rr", "m"], ["y"])]
    model = make_model(nodes, [("x", [1, 3, 3, 3])], [("y", [1, 2])],
                       [w("wa", 4, 3, 3, 3), w("g", 5, 36), w("gb", 5), ints("shape", [1, 5]), w("m", 5, 2)])
    assert sorted(g.channels for g in analyze(model).prunable_groups()) == [4, 5]
    pruned = assert_exact(model)
    dims = {t.name: list(t.dims) for t in pruned.graph.initializer}
    assert dims["g"] == [dims["m"][0], dims["wa"][0] * 9]
    assert numpy_helper.to_array(next(t for t in pruned.graph.initializer if t.name.startswith("shape_"))
                                 ).tolist() == [1, dims["m"][0]]


def test_channel_shuffle_keeps_a_shuffle():
    """ShuffleNet: Conv(12) -> Reshape(1,3,4,H,W) -> Transpose(0,2,1,3,4) -> Reshape(1,12,H,W) -> depthwise -> Conv.

    Only removing channel k of every one of the 3 shuffle groups keeps the shuffle a shuffle.
    (A grouped Conv right after the shuffle would couple all 12 channels into one unit.)
    """
    nodes = [conv("x", "a", "wa"), helper.make_node("Reshape", ["a", "s1"], ["r1"]),
             helper.make_node("Transpose", ["r1"], ["t"], perm=[0, 2, 1, 3, 4]),
             helper.make_node("Reshape", ["t", "s2"], ["r2"]), conv("r2", "d", "wd", group=12), conv("d", "y", "wy")]
    model = make_model(nodes, [("x", [1, 3, 4, 4])], [("y", [1, 6, 4, 4])],
                       [w("wa", 12, 3, 3, 3), ints("s1", [1, 3, 4, 4, 4]), ints("s2", [1, 12, 4, 4]),
                        w("wd", 12, 1, 3, 3), w("wy", 6, 12, 3, 3)])
    graph = analyze(model)
    assert [g.channels for g in graph.prunable_groups()] == [4]
    for seed in range(3):
        pruned = assert_exact(model, seed)
        shapes = {t.name: numpy_helper.to_array(t).tolist() for t in pruned.graph.initializer if t.name.startswith("s")}
        kept = [t for t in pruned.graph.initializer if t.name == "wa"][0].dims[0]
        assert kept % 3 == 0 and [1, 3, kept // 3, 4, 4] in shapes.values() and [1, kept, 4, 4] in shapes.values()


def test_squeeze_excite_and_per_channel_constants():
    """SE: a * Sigmoid(Conv(Relu(Conv(GAP(a))))), then a per-channel Mul constant, Pad and Resize."""
    nodes = [conv("x", "a", "wa"), helper.make_node("GlobalAveragePool", ["a"], ["g"]),
             conv("g", "e1", "we1", pads=[0, 0, 0, 0]), helper.make_node("Relu", ["e1"], ["e2"]),
             conv("e2", "e3", "we2", pads=[0, 0, 0, 0]), helper.make_node("Sigmoid", ["e3"], ["e4"]),
             helper.make_node("Mul", ["a", "e4"], ["m"]), helper.make_node("Mul", ["m", "k"], ["mk"]),
             helper.make_node("Pad", ["mk", "pads"], ["p"]),
             helper.make_node("Resize", ["p", "", "scales"], ["rs"], mode="nearest"),
             conv("rs", "y", "wy")]
    model = make_model(nodes, [("x", [1, 3, 4, 4])], [("y", [1, 2, 12, 12])],
                       [w("wa", 6, 3, 3, 3), w("we1", 3, 6, 1, 1), w("we2", 6, 3, 1, 1), w("k", 6, 1, 1, low=0.5),
                        ints("pads", [0, 0, 1, 1, 0, 0, 1, 1]),
                        numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales"), w("wy", 2, 6, 3, 3)])
    assert sorted(g.channels for g in analyze(model).prunable_groups()) == [3, 6]
    for seed in range(3):
        assert_exact(model, seed)


def test_op_without_rule_blocks_with_reason():
    nodes = [conv("x", "a", "wa"), helper.make_node("LRN", ["a"], ["l"], size=3), conv("l", "b", "wb"),
             helper.make_node("Relu", ["b"], ["r"]), conv("r", "y", "wy")]
    model = make_model(nodes, [("x", [1, 3, 5, 5])], [("y", [1, 2, 5, 5])],
                       [w("wa", 4, 3, 3, 3), w("wb", 4, 4, 3, 3), w("wy", 2, 4, 3, 3)])
    graph = analyze(model)
    blocked = [g for g in graph.groups if not g.prunable and g.channels == 4]
    assert blocked and all("LRN" in g.reasons[0] for g in blocked)
    assert [g.channels for g in graph.prunable_groups()] == [4]       # b's channels are still free


def test_nothing_prunable_names_the_blocking_ops():
    nodes = [conv("x", "a", "wa"), helper.make_node("LRN", ["a"], ["l"], size=3), conv("l", "y", "wy")]
    model = make_model(nodes, [("x", [1, 3, 5, 5])], [("y", [1, 2, 5, 5])], [w("wa", 4, 3, 3, 3), w("wy", 2, 4, 3, 3)])
    with pytest.raises(UserError, match="LRN 'l'"):
        require_prunable(analyze(model))


def test_pruning_a_blocked_or_whole_group_is_refused():
    model = chain_model()
    graph = analyze(model)
    blocked = next(g for g in graph.groups if not g.prunable)
    with pytest.raises(ValueError, match="not prunable"):
        prune_units(model, graph, blocked.units[:1])
    with pytest.raises(ValueError, match="all of its"):
        prune_units(model, graph, graph.prunable_groups()[0].units)


def test_folded_batchnorm_graph_still_groups():
    """After FoldBatchNorm the BN members disappear but the conv-conv group stays and stays exact."""
    from onnx_tee.passes.compact import FoldBatchNorm

    folded = FoldBatchNorm()(chain_model()).model
    assert not any(n.op_type == "BatchNormalization" for n in folded.graph.node)
    assert [g.channels for g in analyze(folded).prunable_groups()] == [8]
    assert_exact(folded)


def test_prune_channels_pass_drops_into_a_pipeline():
    from onnx_tee.passes import Pipeline
    from onnx_tee.passes.prune import PruneChannels

    model = chain_model()
    group = analyze(model).prunable_groups()[0]
    result = Pipeline([PruneChannels({group.index: [0, 1, 2]})], validate=True)(model)
    assert result.modified
    weights = {t.name: list(t.dims) for t in result.model.graph.initializer}
    assert weights["w1"][0] == 5 and weights["w2"][1] == 5
