"""Express Einsum with the ops the interpreter runs: ReduceSum, Transpose, Reshape, MatMul."""
from __future__ import annotations

import string
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto

from ..analysis.shapes import partial_elem_types, partial_shapes
from ..core import Pass, PassResult
from ..graph import opset_of
from .graph_edit import NodeWriter, all_tensor_names, replace_nodes

ONNX_DOMAINS = ("", "ai.onnx")


@dataclass
class _Operand:
    """A tensor and the subscript letter of each of its axes, with the axes' sizes."""
    name: str
    letters: str
    dims: tuple[int, ...]

    def size(self, letter: str) -> int:
        return self.dims[self.letters.index(letter)]


def parse_equation(equation: str, ranks: list[int]) -> tuple[list[str], str] | None:
    """The subscripts of every operand and of the output, with '...' spelled out as capital letters
    (the same ones, right-aligned, in every term, as numpy broadcasts them) and an implicit output
    ('ij,jk') made explicit (letters used once, in alphabetical order, after the ellipsis).  None for
    what the rewrite leaves alone: a letter repeated within one term (a diagonal), a malformed equation."""
    equation = equation.replace(" ", "")
    lhs, arrow, rhs = equation.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ranks):
        return None
    ellipsis_rank = max((r - len(t.replace("...", "")) for t, r in zip(terms, ranks) if "..." in t), default=0)
    spare = [c for c in string.ascii_uppercase if c not in equation]
    if ellipsis_rank < 0 or ellipsis_rank > len(spare):
        return None
    broadcast = "".join(spare[:ellipsis_rank])
    spelled = []
    for term, rank in zip(terms, ranks):
        if "..." in term:
            own = rank - len(term.replace("...", ""))
            if own < 0:
                return None
            term = term.replace("...", broadcast[ellipsis_rank - own:])
        if len(term) != rank or len(set(term)) != len(term) or not all(c.isalpha() for c in term):
            return None
        spelled.append(term)
    if arrow:
        out = rhs.replace("...", broadcast)
    else:
        counts = {c: sum(t.count(c) for t in spelled) for c in set("".join(spelled))}
        out = broadcast + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in broadcast))
    if len(set(out)) != len(out) or not set(out) <= set("".join(spelled)):
        return None
    return spelled, out


def _sizes_agree(terms: list[str], dims: list[tuple[int, ...]], out: str) -> bool:
    """Every letter has one size in all operands, but for 1 against n on a letter the output keeps
    (a broadcast batch dim, which MatMul broadcasts too)."""
    sizes: dict[str, set[int]] = {}
    for term, shape in zip(terms, dims):
        for c, n in zip(term, shape):
            sizes.setdefault(c, set()).add(n)
    return all(len(v) == 1 or (c in out and len(v - {1}) == 1) for c, v in sizes.items())


class _Builder(NodeWriter):
    """One Einsum's expression: its nodes, named after it."""

    def __init__(self, model: onnx.ModelProto, node: onnx.NodeProto, taken: set[str]):
        super().__init__(model, taken)
        self.einsum = node
        self.prefix = node.name or node.output[0]

    def reduce_sum(self, x: _Operand, keep: str) -> _Operand:
        """x summed over its letters not in `keep`."""
        axes = [i for i, c in enumerate(x.letters) if c not in keep]
        if not axes:
            return x
        name = self.node("ReduceSum", [x.name, self.int64s(axes)], f"{self.prefix}/sum", keepdims=0)
        kept = [i for i in range(len(x.letters)) if i not in axes]
        return _Operand(name, "".join(x.letters[i] for i in kept), tuple(x.dims[i] for i in kept))

    def transpose(self, x: _Operand, order: str, output: str | None = None) -> _Operand:
        perm = [x.letters.index(c) for c in order]
        if perm == list(range(len(perm))):
            if output is None:
                return x
            name = self.node("Identity", [x.name], f"{self.prefix}/result", output)   # RemoveIdentityOps rewires it
        else:
            name = self.node("Transpose", [x.name], f"{self.prefix}/transpose", output, perm=perm)
        return _Operand(name, order, tuple(x.dims[p] for p in perm))


def _contract(b: _Builder, x: _Operand, y: _Operand, keep: str) -> _Operand:
    """x and y multiplied, and summed over their shared letters not in `keep`:

        batch      letters of both kept    -> leading MatMul (broadcast) dims
        rows       letters of x only kept  -> the M of the product
        columns    letters of y only kept  -> its N
        contracted letters of both summed  -> its K

    x -> Transpose [batch, rows, contracted] -> Reshape [batch, M, K]; y likewise as [batch, K, N];
    MatMul -> [batch, M, N] -> Reshape [batch, rows, columns]."""
    x = b.reduce_sum(x, keep + y.letters)
    y = b.reduce_sum(y, keep + x.letters)
    batch = "".join(c for c in x.letters if c in y.letters and c in keep)
    contracted = "".join(c for c in x.letters if c in y.letters and c not in keep)
    rows = "".join(c for c in x.letters if c not in y.letters)
    columns = "".join(c for c in y.letters if c not in x.letters)
    x = b.transpose(x, batch + rows + contracted)
    y = b.transpose(y, batch + contracted + columns)
    m = int(np.prod([x.size(c) for c in rows], dtype=np.int64))
    n = int(np.prod([y.size(c) for c in columns], dtype=np.int64))
    k = int(np.prod([x.size(c) for c in contracted], dtype=np.int64))
    xb, yb = list(x.dims[:len(batch)]), list(y.dims[:len(batch)])
    product = b.node("MatMul", [b.reshape(x.name, xb + [m, k], f"{b.prefix}/reshape"),
                                b.reshape(y.name, yb + [k, n], f"{b.prefix}/reshape")], f"{b.prefix}/matmul")
    dims = [max(p, q) for p, q in zip(xb, yb)] + [x.size(c) for c in rows] + [y.size(c) for c in columns]
    return _Operand(b.reshape(product, dims, f"{b.prefix}/reshape"), batch + rows + columns, tuple(dims))


def express(b: _Builder, operands: list[_Operand], out: str) -> None:
    """The nodes computing Einsum(operands) -> out into the node's output: pairs contracted left to
    right, each keeping the letters the output or a later operand needs."""
    result = operands[0]
    for k, other in enumerate(operands[1:], start=1):
        needed = out + "".join(o.letters for o in operands[k + 1:])
        result = _contract(b, result, other, needed)
    result = b.reduce_sum(result, out)
    b.transpose(result, out, b.einsum.output[0])


class ExpressEinsum(Pass):
    """Rewrite every float Einsum whose operand shapes are static as ReduceSum / Transpose / Reshape /
    MatMul, which the interpreter runs (MaxViT's and other attention blocks write their products as
    Einsum).

    Before:  y = Einsum(q, k, equation="bhid,bhjd->bhij")         q, k: [B, H, S, D]
    After:   t = Transpose(k, perm=[0, 1, 3, 2])                  [B, H, D, S]
             y = Reshape(MatMul(Reshape(q, [B, H, S, D]), Reshape(t, [B, H, D, S])), [B, H, S, S])
             (Reshapes and Transposes that change nothing are not written)

    Letters only one operand has and the output lacks are summed first (ReduceSum); shared letters
    the output keeps are MatMul's broadcast batch dims, the others its K; three or more operands are
    contracted pairwise, left to right; '...' broadcasts as numpy does.  Exact in real arithmetic;
    in float32 the sums run in MatMul's and ReduceSum's order (onnxruntime's own Einsum also goes
    through transposes and a GEMM).  Left alone (and refused later by name): a letter repeated within
    one operand (a diagonal), an integer Einsum, operands whose shapes are not static.
    """

    def call(self, model: onnx.ModelProto) -> PassResult:
        graph = model.graph
        einsums = [n for n in graph.node if n.op_type == "Einsum" and n.domain in ONNX_DOMAINS]
        if not einsums or opset_of(model) < 13:   # ReduceSum's axes input: opset 13
            return PassResult(model, False, {"expressed": 0})
        shapes, types = partial_shapes(model), partial_elem_types(model)
        taken = all_tensor_names(graph)
        replaced: dict[int, list[onnx.NodeProto]] = {}
        for node in einsums:
            dims = [shapes.get(x) for x in node.input]
            if any(d is None or None in d for d in dims) or any(types.get(x) != TensorProto.FLOAT for x in node.input):
                continue
            equation = next((a.s.decode() for a in node.attribute if a.name == "equation"), "")
            parsed = parse_equation(equation, [len(d) for d in dims])
            if parsed is None:
                continue
            terms, out = parsed
            if not _sizes_agree(terms, dims, out):
                continue
            builder = _Builder(model, node, taken)
            express(builder, [_Operand(x, t, tuple(d)) for x, t, d in zip(node.input, terms, dims)], out)
            replaced[id(node)] = builder.nodes
        if not replaced:
            return PassResult(model, False, {"expressed": 0})
        replace_nodes(graph, [m for n in graph.node for m in replaced.get(id(n), [n])])
        return PassResult(model, True, {"expressed": len(replaced)})
