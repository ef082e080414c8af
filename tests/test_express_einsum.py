"""ExpressEinsum: Einsum -> ReduceSum / Transpose / Reshape / MatMul.

Every rewrite is checked against onnxruntime running the Einsum itself: named equations (attention,
implicit outputs, '...', three operands, sums of letters only one operand has), hypothesis-drawn
two-operand equations over random letter roles and sizes, and an attention block through the
interpreter with the planned memory equal to the measured one."""
from __future__ import annotations

import string

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import helper

from conftest import make_model, run_ort
from onnx_tee.passes.compact import ExpressEinsum, compaction_pipeline
from onnx_tee.passes.compact.express_einsum import parse_equation


def einsum_model(equation: str, shapes: list[tuple[int, ...]], opset: int = 13) -> onnx.ModelProto:
    names = [f"x{k}" for k in range(len(shapes))]
    node = helper.make_node("Einsum", names, ["y"], name="einsum", equation=equation)
    return make_model([node], list(zip(names, shapes)), [("y", None)], opset=opset)


def feeds(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return {f"x{k}": rng.standard_normal(s).astype(np.float32) for k, s in enumerate(shapes)}


def check(equation: str, shapes: list[tuple[int, ...]], seed: int = 0) -> onnx.ModelProto:
    model = einsum_model(equation, shapes)
    result = ExpressEinsum()(onnx.ModelProto.FromString(model.SerializeToString()))
    assert result.stats["expressed"] == 1, equation
    assert "Einsum" not in [n.op_type for n in result.model.graph.node]
    onnx.checker.check_model(result.model, full_check=True)
    x = feeds(shapes, seed)
    want, got = run_ort(model, x)["y"], run_ort(result.model, x)["y"]
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(want).max())))
    return result.model


@pytest.mark.parametrize("equation,shapes", [
    ("bhid,bhjd->bhij", [(2, 3, 5, 4), (2, 3, 6, 4)]),          # attention scores (MaxViT)
    ("bhij,bhjd->bhid", [(2, 3, 5, 6), (2, 3, 6, 4)]),          # attention-weighted values
    ("ij,jk", [(3, 4), (4, 5)]),                                # implicit output: ik
    ("ij->ji", [(3, 4)]),                                       # a transpose
    ("ij->", [(3, 4)]),                                         # a full sum
    ("i,i->", [(7,), (7,)]),                                    # a dot product
    ("i,j->ij", [(3,), (4,)]),                                  # an outer product
    ("...ij,...jk->...ik", [(2, 3, 4, 5), (2, 3, 5, 6)]),      # ellipsis batch
    ("bij,jk->bik", [(2, 3, 4), (4, 5)]),                       # a Linear layer
    ("...ij,...jk->...ik", [(2, 1, 4, 5), (1, 3, 5, 6)]),      # ellipsis dims broadcast
    ("...d,d->...", [(2, 3, 4), (4,)]),                         # ellipsis against a vector
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),                 # three operands
    ("abc,cd->bd", [(2, 3, 4), (4, 5)]),                        # 'a' summed before the product
    ("n c h w, c -> n h w", [(1, 3, 4, 5), (3,)]),              # spaces in the equation
])
def test_named_equations_equal_onnxruntimes_einsum(equation, shapes):
    check(equation, shapes)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_random_two_operand_equations_equal_onnxruntimes_einsum(data):
    """Each letter draws a role (batch, contracted, kept by one operand, summed by one operand) and a
    size; each operand's letters and the output's come in a random order."""
    roles = data.draw(st.lists(st.sampled_from(["batch", "contract", "x_kept", "y_kept", "x_sum", "y_sum"]),
                               min_size=1, max_size=6))
    letters = string.ascii_lowercase[:len(roles)]
    sizes = {c: data.draw(st.integers(1, 4)) for c in letters}
    x_letters = [c for c, r in zip(letters, roles) if r in ("batch", "contract", "x_kept", "x_sum")]
    y_letters = [c for c, r in zip(letters, roles) if r in ("batch", "contract", "y_kept", "y_sum")]
    out_letters = [c for c, r in zip(letters, roles) if r in ("batch", "x_kept", "y_kept")]
    x_letters, y_letters, out_letters = (data.draw(st.permutations(v)) for v in (x_letters, y_letters, out_letters))
    equation = f"{''.join(x_letters)},{''.join(y_letters)}->{''.join(out_letters)}"
    shapes = [tuple(sizes[c] for c in x_letters), tuple(sizes[c] for c in y_letters)]
    check(equation, shapes, seed=data.draw(st.integers(0, 1000)))


def test_a_diagonal_an_integer_einsum_and_a_dynamic_shape_are_left_alone():
    diagonal = einsum_model("ii->i", [(3, 3)])
    assert not ExpressEinsum()(diagonal).modified
    node = helper.make_node("Einsum", ["a", "b"], ["y"], equation="ij,jk->ik")
    graph = helper.make_graph([node], "ints", [helper.make_tensor_value_info("a", onnx.TensorProto.INT32, [2, 3]),
                                               helper.make_tensor_value_info("b", onnx.TensorProto.INT32, [3, 4])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.INT32, [2, 4])])
    assert not ExpressEinsum()(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])).modified
    dynamic = einsum_model("ij,jk->ik", [("n", 3), (3, 4)])
    assert not ExpressEinsum()(dynamic).modified
    summed_broadcast = einsum_model("...i,...i->i", [(2, 3), (1, 3)])   # a broadcast dim summed: left as is
    assert not ExpressEinsum()(summed_broadcast).modified


def test_parse_spells_out_the_ellipsis_and_the_implicit_output():
    assert parse_equation("...ij,...jk->...ik", [4, 3]) == (["ABij", "Bjk"], "ABik")
    assert parse_equation("ij,jk", [2, 2]) == (["ij", "jk"], "ik")
    assert parse_equation("ii->i", [2]) is None
    assert parse_equation("ij,jk->ik", [2]) is None


def test_an_attention_block_runs_in_the_interpreter_with_the_planned_memory():
    """q k^T -> Softmax -> (.) v, written with two Einsums, lowered after compaction (which rewrites
    them) and run in the interpreter: onnxruntime's outputs within 1e-5, planned == measured."""
    from lower_harness import lower, run
    n = helper.make_node
    nodes = [n("Einsum", ["q", "k"], ["s"], equation="bhid,bhjd->bhij"), n("Softmax", ["s"], ["p"], axis=-1),
             n("Einsum", ["p", "v"], ["y"], equation="bhij,bhjd->bhid")]
    shape = (1, 2, 16, 8)
    model = make_model(nodes, [("q", shape), ("k", shape), ("v", shape)], [("y", None)], opset=13)
    compacted = compaction_pipeline()(onnx.ModelProto.FromString(model.SerializeToString())).model
    assert "Einsum" not in [node.op_type for node in compacted.graph.node]
    low = lower(compacted)
    rng = np.random.default_rng(1)
    x = {name: rng.standard_normal(shape).astype(np.float32) for name in ("q", "k", "v")}
    got, runs = run(low, x)
    for r, planned in zip(runs, low.result.plan.partitions):
        assert r.status == "RT_OK" and r.max_region_end == planned.total
    want = run_ort(model, x)["y"]
    assert np.abs(got["y"] - want).max() <= 1e-5 * np.abs(want).max()
