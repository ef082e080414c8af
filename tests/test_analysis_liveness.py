"""Liveness and peak live-activation bytes, checked against an independent simulation."""
from __future__ import annotations


import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from onnx import helper

from onnx_tee.passes.analysis.liveness import (GraphBoundary, live_bytes_per_step, model_peak_live_bytes,
                                      optimal_order_peak, peak_live_bytes, tensor_lifetimes)
from onnx_tee.passes.analysis.shapes import TensorInfo, infer_static_shapes
from conftest import make_model, simulated_peak_bytes

F32 = np.dtype(np.float32)


def info(elements: int) -> TensorInfo:
    return TensorInfo((elements,), F32)


@st.composite
def random_graphs(draw, max_nodes: int = 6):
    """A random DAG of abstract nodes: (nodes, infos, inputs, outputs, weights)."""
    n_inputs = draw(st.integers(1, 2))
    inputs = [f"in{i}" for i in range(n_inputs)]
    available = list(inputs)
    unread = set(inputs)
    nodes, weights = [], set()
    n_nodes = draw(st.integers(1, max_nodes))
    for k in range(n_nodes):
        reads = draw(st.lists(st.sampled_from(available), min_size=1, max_size=3))
        if k == n_nodes - 1:
            reads += sorted(unread & set(inputs))  # every graph input is read by someone
        if draw(st.booleans()):
            weights.add(f"w{k}")
            reads.append(f"w{k}")
        outs = [f"t{k}_{j}" for j in range(draw(st.integers(1, 2)))]
        nodes.append(helper.make_node("Op", reads, outs, name=f"n{k}"))
        unread -= set(reads)
        unread |= set(outs)
        available += outs
    produced = [t for t in available if t not in inputs]
    outputs = sorted(set(draw(st.lists(st.sampled_from(produced), max_size=2))) | {produced[-1]})
    sizes = {t: info(draw(st.integers(1, 64))) for t in available}
    sizes.update({w: info(1000) for w in weights})
    return nodes, sizes, inputs, outputs, weights


def dependency_graph(nodes) -> nx.DiGraph:
    producer = {o: n.name for n in nodes for o in n.output}
    graph = nx.DiGraph()
    graph.add_nodes_from(n.name for n in nodes)
    graph.add_edges_from((producer[i], n.name) for n in nodes for i in n.input if i in producer)
    return graph


@settings(max_examples=60, deadline=None)
@given(random_graphs())
def test_peak_of_every_topological_order_matches_simulation(graph):
    nodes, infos, inputs, outputs, weights = graph
    by_name = {n.name: n for n in nodes}
    boundary = dict(graph_inputs=inputs, graph_outputs=outputs, weights=weights)
    peaks = []
    for names in nx.all_topological_sorts(dependency_graph(nodes)):  # all of them (<= 6! = 720)
        order = [by_name[n] for n in names]
        peak = peak_live_bytes(order, infos, **boundary)
        assert peak == simulated_peak_bytes(order, infos, inputs, outputs, weights)
        peaks.append(peak)
    optimum, best_order = optimal_order_peak(nodes, infos, **boundary)
    assert optimum == min(peaks)
    assert peak_live_bytes(best_order, infos, **boundary) == optimum


def test_weights_excluded_and_outputs_live_to_the_end():
    # x -> a -> b -> c ; a is also an output; w is a weight of node 2
    nodes = [helper.make_node("Op", ["x"], ["a"], name="n0"), helper.make_node("Op", ["a"], ["b"], name="n1"),
             helper.make_node("Op", ["b", "w"], ["c"], name="n2")]
    infos = {"x": info(1), "a": info(10), "b": info(100), "c": info(1000), "w": info(10**6)}
    boundary = dict(graph_inputs=["x"], graph_outputs=["a", "c"], weights=["w"])
    lifetimes = tensor_lifetimes(nodes, infos, **boundary)
    assert {n: (l.start, l.end) for n, l in lifetimes.items()} == {"x": (0, 0), "a": (0, 2), "b": (1, 2),
                                                                   "c": (2, 2)}
    assert live_bytes_per_step(nodes, infos, **boundary) == [4 + 40, 40 + 400, 40 + 400 + 4000]
    assert peak_live_bytes(nodes, infos, **boundary) == 4440


def test_order_that_is_not_topological_is_rejected():
    nodes = [helper.make_node("Op", ["a"], ["b"], name="n1"), helper.make_node("Op", ["x"], ["a"], name="n0")]
    with pytest.raises(ValueError, match="not topological"):
        tensor_lifetimes(nodes, {"x": info(1), "a": info(1), "b": info(1)}, graph_inputs=["x"])


def test_model_peak_matches_hand_count_for_a_branching_model():
    # x[1,8] -> Relu -> r ; r -> Sigmoid -> s ; Add(r, s) -> y   (weights: none)
    model = make_model([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Sigmoid", ["r"], ["s"]),
                        helper.make_node("Add", ["r", "s"], ["y"])], [("x", [1, 8])], [("y", [1, 8])])
    infos = infer_static_shapes(model)
    # step 2 (Add): r, s, y live = 3 * 32 bytes; step 0: x, r = 64; step 1: r, s = 64
    assert model_peak_live_bytes(model, infos) == 96
    boundary = GraphBoundary.of_model(model)
    assert boundary.inputs == ("x",) and boundary.outputs == ("y",) and not boundary.weights
