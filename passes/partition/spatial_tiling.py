"""Spatial tiling: compute a region of spatially local ops in H tiles, recomputing the halo.

Before (a region of local ops ending in Y[N, C, H, W], e.g. VGG's conv1_1 .. pool2)::

    X ──Conv──Relu──Conv──Relu──MaxPool──> Y

After (T tiles; tile t owns output rows [a_t, b_t), a_0 = 0, b_(T-1) = H)::

    X ──Slice(rows I_t)──Conv(pads_t)──Relu──Slice──Conv(pads_t)──Relu──MaxPool──> Y_t ─┐
    ...                                                                                  ├─Concat(axis=2)──> Y
    X ──Slice(rows I_T-1)── ...                                                        ──┘

Halo arithmetic (per tile, backwards from Y's rows, half-open row intervals in each tensor's own
coordinates).  A window op (Conv of any group, MaxPool, AveragePool) with stride s, dilation d,
kernel k, top pad p (`analysis.spatial.window_geometry`), span = d * (k - 1) + 1, reads for its
output rows [a, b) the input rows

    [a * s - p,  (b - 1) * s - p + span)

The part outside [0, H_in) is padding: the tile's node keeps the op's own pads attribute with
top = max(0, -lo) and bottom = min(max(0, hi - H_in), p_bottom) (zero for interior tiles; with
ceil_mode the last window may pass the bottom pad: the tile keeps ceil_mode, which adds that row
as the original does; pad semantics --
zeros for Conv, ignored for MaxPool, counted or not for AveragePool -- are exactly the
original's), and the input is sliced to the clipped rows.  Then the tile computes

    floor(((b - 1) * s + span - span) / s) + 1 = b - a   rows: exactly the ones asked for.

ConvTranspose (`_transpose_rule`) takes the input rows that add to the output rows asked for and
the consumer slices its rows.  Element-wise ops, activations, BatchNormalization and Concat on
channels need the same rows of every spatial input (constants broadcast unchanged).  Resize with
an integer H factor f (nearest with a floor-equivalent rounding, or linear with half_pixel /
asymmetric coordinates) reads, for output rows [a, b), input rows [floor(x(a)), floor(x(b - 1)) + 2)
clipped, x(o) its source coordinate; the tile resizes those rows (output size f * rows) and the
consumer slices.  A
tensor read by several region nodes is computed once per tile over the hull of their needs;
each consumer slices what it needs when that is less.  The rows of consecutive tiles overlap by
the halo: that overlap is recomputed (`TilingStats.recomputed_macs`; negative when a strided
window skips rows that no tile then computes).

Preconditions: static shapes; every region node is local (`row_rule`), the region's internal
tensors are read only inside the region and are no graph outputs; the rewrite is exact (the
same sums in the same order for Conv; tests compare with onnxruntime at float tolerance).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..analysis.macs import node_macs
from ..analysis.shapes import TensorInfo
from ..analysis.spatial import window_geometry
from ..compact.graph_edit import all_tensor_names, unique_name
from ..errors import UserError
from ..graph import attributes

H = 2  # the tiled axis of NCHW tensors

ELEMENTWISE = frozenset({"Relu", "LeakyRelu", "PRelu", "Sigmoid", "Tanh", "Clip", "HardSigmoid", "HardSwish",
                         "Elu", "Selu", "Softplus", "Mish", "Gelu", "Erf", "Neg", "Abs", "Sqrt", "Exp", "Identity",
                         "BatchNormalization", "Add", "Sub", "Mul", "Div", "Max", "Min", "Sum", "Pow",
                         "QuickGelu",   # onnxruntime's x * sigmoid(alpha * x) (com.microsoft), `FuseSwish`'s SiLU
                         "LRN"})        # mixes channels at one pixel only: row-local like the others
WINDOW = frozenset({"Conv", "MaxPool", "AveragePool"})

Interval = tuple[int, int]


@dataclass(frozen=True)
class RowRule:
    """How a local node maps output rows to input rows.

    `needs(a, b)` -> (lo, hi): the input rows the output rows [a, b) read, unclipped (rows outside
    [0, H_in) are padding); `produces(lo, hi)` -> the output rows the tile node computes from
    the clipped input rows [lo, hi) (None for window ops: with the tile's pads they compute
    exactly the rows asked for); `spatial`: the input positions that carry rows."""

    needs: Callable[[int, int], Interval]
    produces: Callable[[int, int], Interval] | None
    spatial: tuple[int, ...]
    window: bool = False       # the tile's pads are its border rows' (window ops)
    transpose: bool = False    # the tile has no H pads (ConvTranspose: the consumer slices)


def _shape(infos: Mapping[str, TensorInfo], name: str) -> tuple[int, ...] | None:
    info = infos.get(name)
    return None if info is None else tuple(info.shape)


def _spatial_inputs(node: onnx.NodeProto, infos: Mapping[str, TensorInfo], rows: int) -> tuple[int, ...] | None:
    """The inputs of an element-wise node that carry `rows` rows; None if an input has rows but
    is not an NCHW tensor of the output's height (it would need its own slicing)."""
    spatial = []
    for i, name in enumerate(node.input):
        shape = _shape(infos, name) if name else ()
        if shape is None:
            return None
        if len(shape) < 2 or shape[-2] == 1:
            continue  # broadcast along H
        if len(shape) != 4 or shape[H] != rows:
            return None
        spatial.append(i)
    return tuple(spatial)


def row_rule(node: onnx.NodeProto, infos: Mapping[str, TensorInfo]) -> RowRule | None:
    """The node's RowRule, or None if the node is not spatially local along H."""
    out = _shape(infos, node.output[0]) if node.output else None
    if out is None or len(out) != 4 or len(node.output) != 1:
        return None
    if node.op_type in WINDOW:
        shape = _shape(infos, node.input[0])
        if shape is None or len(shape) != 4:
            return None
        at = attributes(node)
        if node.op_type == "AveragePool" and at.get("ceil_mode", 0) and at.get("count_include_pad", 0):
            return None  # the divisor of a window past the pads is not a local property
        if node.op_type == "MaxPool" and len(node.output) > 1:
            return None
        g = window_geometry(node, infos)
        span = g.dilation_h * (g.kernel_h - 1) + 1
        s, p = g.stride_h, g.pad_top
        if span - p <= 0 or (out[H] - 1) * s - p >= g.h_in:
            return None  # a window entirely in the padding reads no row: a tile would be empty
        return RowRule(lambda a, b: (a * s - p, (b - 1) * s - p + span), None, (0,), window=True)
    if node.op_type == "ConvTranspose":
        return _transpose_rule(node, infos, out)
    if node.op_type in ELEMENTWISE:
        spatial = _spatial_inputs(node, infos, out[H])
        if spatial is None or not spatial:
            return None
        return RowRule(lambda a, b: (a, b), lambda lo, hi: (lo, hi), spatial)
    if node.op_type == "Concat":
        axis = attributes(node).get("axis")
        if axis not in (1, -3) or any(len(_shape(infos, x) or ()) != 4 for x in node.input):
            return None
        return RowRule(lambda a, b: (a, b), lambda lo, hi: (lo, hi), tuple(range(len(node.input))))
    if node.op_type == "Resize":
        return _resize_rule(node, infos, out)
    return None


def _transpose_rule(node: onnx.NodeProto, infos: Mapping[str, TensorInfo], out: tuple[int, ...]) -> RowRule | None:
    """ConvTranspose: input row i adds to output rows i * s - p + j * d (j < k).  Output rows
    [a, b) take every input row in [ceil((a + p - span + 1) / s), floor((b - 1 + p) / s) + 1); the
    tile, given input rows [lo, hi) and no H pads, computes the rows from lo * s - p on, of which
    the ones asked for are complete.  Only when every output row has an input row (span >= s) and
    no rows come from output_padding / output_shape alone."""
    shape = _shape(infos, node.input[0])
    at = attributes(node)
    if shape is None or len(shape) != 4 or "output_shape" in at or at.get("auto_pad", b"NOTSET") not in (b"NOTSET",
                                                                                                        "NOTSET"):
        return None
    g = window_geometry(node, infos)
    span = g.dilation_h * (g.kernel_h - 1) + 1
    s, p = g.stride_h, g.pad_top
    if span < s or list(at.get("output_padding", [0, 0]))[0] or out[H] != s * (shape[H] - 1) + span - p - g.pad_bottom:
        return None
    return RowRule(lambda a, b: (-(-(a + p - span + 1) // s), (b - 1 + p) // s + 1),
                   lambda lo, hi: (lo * s - p, (hi - 1) * s - p + span), (0,), transpose=True)


def _resize_rule(node: onnx.NodeProto, infos: Mapping[str, TensorInfo], out: tuple[int, ...]) -> RowRule | None:
    """Resize with an integer H factor, nearest (floor-equivalent) or linear; N and C unscaled."""
    shape = _shape(infos, node.input[0])
    if shape is None or len(shape) != 4 or len(node.input) < 3 or shape[0] != out[0] or shape[1] != out[1]:
        return None
    at = attributes(node)
    text = lambda k, d: (at.get(k, d).decode() if isinstance(at.get(k, d), bytes) else at.get(k, d))  # noqa: E731
    mode, coord = text("mode", "nearest"), text("coordinate_transformation_mode", "half_pixel")
    nearest = text("nearest_mode", "round_prefer_floor")
    if at.get("antialias", 0) or "axes" in at or out[H] % shape[H]:
        return None
    f = out[H] // shape[H]
    if mode == "nearest":
        if not (coord in ("half_pixel", "pytorch_half_pixel") or (coord == "asymmetric" and nearest == "floor")):
            return None
        needs = lambda a, b: (a // f, (b - 1) // f + 1)  # noqa: E731
    elif mode == "linear":
        if coord not in ("half_pixel", "pytorch_half_pixel", "asymmetric") or (coord == "pytorch_half_pixel"
                                                                               and out[H] == 1):
            return None
        shift = 0.0 if coord == "asymmetric" else 0.5
        source = lambda o: (o + shift) / f - shift  # noqa: E731
        needs = lambda a, b: (int(np.floor(source(a))), int(np.floor(source(b - 1))) + 2)  # noqa: E731
    else:
        return None
    return RowRule(needs, lambda lo, hi: (lo * f, hi * f), (0,))


def is_local(node: onnx.NodeProto, infos: Mapping[str, TensorInfo]) -> bool:
    return row_rule(node, infos) is not None


# ------------------------------------------------------------------------------------------- regions

def region_nodes(model: onnx.ModelProto, infos: Mapping[str, TensorInfo], output: str,
                 stops: Sequence[str] = ()) -> list[int]:
    """Indices (model order) of the region ending in `output`: its producer and, backwards, the
    producers of every tensor read, through local nodes, stopping at graph inputs, initializers,
    tensors made by non-local nodes and the tensors in `stops`."""
    producer = {o: i for i, n in enumerate(model.graph.node) for o in n.output}
    inits = {t.name for t in model.graph.initializer}
    nodes, todo = set(), [output]
    while todo:
        name = todo.pop()
        i = producer.get(name)
        if i is None or i in nodes or name in inits or (name in stops and name != output):
            continue
        node = model.graph.node[i]
        if not is_local(node, infos):
            if name == output:
                raise UserError(f"spatial tiling: '{output}' is made by {node.op_type}, which is not spatially local")
            continue
        nodes.add(i)
        todo.extend(x for x in node.input if x)
    return sorted(nodes)


def escaping(model: onnx.ModelProto, nodes: Sequence[int], output: str) -> dict[str, str]:
    """The region's tensors other than `output` that are needed outside it (read by another
    node, or graph outputs), each with the reason."""
    inside = set(nodes)
    made = {o for i in nodes for o in model.graph.node[i].output} - {output}
    found = {x: "a graph output" for x in sorted(made & {o.name for o in model.graph.output})}
    for j, node in enumerate(model.graph.node):
        if j not in inside:
            for x in node.input:
                if x in made and x not in found:
                    found[x] = f"also read by {node.op_type} node '{node.name}' outside the region"
    return found


def region_problem(model: onnx.ModelProto, nodes: Sequence[int], output: str) -> str | None:
    """Why the region cannot be tiled (an internal tensor read outside it or a graph output), or None."""
    found = escaping(model, nodes, output)
    return next((f"'{x}' is {why}" for x, why in found.items()), None)


def closed_region(model: onnx.ModelProto, infos: Mapping[str, TensorInfo], output: str,
                  stops: Sequence[str] = ()) -> tuple[list[int], tuple[str, ...]]:
    """The region ending in `output` (`region_nodes`), shrunk until none of its other tensors is
    needed outside: each such tensor becomes a stop (it is then computed whole, before the
    stage).  Returns the nodes and the stops used."""
    stops = tuple(stops)
    while True:
        nodes = region_nodes(model, infos, output, stops)
        extra = [x for x in escaping(model, nodes, output) if x not in stops]
        if not extra:
            return nodes, stops
        stops += tuple(extra)


def tile_bounds(rows: int, tiles: int) -> list[int]:
    """Row boundaries 0 = r_0 < r_1 < ... < r_T = rows of T nearly equal tiles."""
    if not 1 <= tiles <= rows:
        raise UserError(f"spatial tiling: {tiles} tiles for {rows} rows (use 1..{rows})")
    return [int(c[0]) for c in np.array_split(np.arange(rows), tiles)] + [rows]


# ------------------------------------------------------------------------------------------- rewrite

@dataclass
class TilingStats:
    """Per tiled stage: its output, tile count, MACs of the region untiled and as tiled."""

    output: str
    tiles: int
    region_macs: int = 0
    tiled_macs: int = 0
    tile_rows: list[int] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)   # names of the nodes the stage became
    made: dict[str, TensorInfo] = field(default_factory=dict)   # shapes of the tensors the stage added
    removed: list[str] = field(default_factory=list)              # the region's internal tensors, gone

    @property
    def recomputed_macs(self) -> int:
        return self.tiled_macs - self.region_macs


def _with_rows(info: TensorInfo, rows: int) -> TensorInfo:
    """`info` with `rows` rows (a tile of that tensor)."""
    return TensorInfo(info.shape[:H] + (rows,) + info.shape[H + 1:], info.dtype)


class _Emitter:
    """Builds the tile nodes with unique names and records the shape of every tensor it adds
    (`made`); Slice bounds are shared int64 initializers."""

    def __init__(self, model: onnx.ModelProto):
        self.taken = all_tensor_names(model.graph)
        self.node_names = {n.name for n in model.graph.node}
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.constants: dict[tuple, str] = {}
        self.made: dict[str, TensorInfo] = {}
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)

    def const(self, values: Sequence[int]) -> str:
        key = tuple(int(v) for v in values)
        if key not in self.constants:
            name = unique_name(None, "tile_rows_" + "_".join(map(str, key)).replace("-", "m"), self.taken)
            self.inits.append(numpy_helper.from_array(np.array(key, np.int64), name))
            self.made[name] = TensorInfo((len(key),), np.dtype(np.int64))
            self.constants[key] = name
        return self.constants[key]

    def empty_scales(self) -> str:
        """An empty float scales input (a Resize given sizes, valid from opset 11 on)."""
        if () not in self.constants:
            name = unique_name(None, "tile_no_scales", self.taken)
            self.inits.append(numpy_helper.from_array(np.zeros(0, np.float32), name))
            self.made[name] = TensorInfo((0,), np.dtype(np.float32))
            self.constants[()] = name
        return self.constants[()]

    def tensor(self, base: str) -> str:
        return unique_name(None, base, self.taken)

    def node(self, op: str, inputs: list[str], output: str, base: str, attrs=(), domain: str = "") -> None:
        node = helper.make_node(op, inputs, [output], name=unique_name(None, base, self.node_names), domain=domain)
        node.attribute.extend(attrs)
        self.nodes.append(node)

    def slice_rows(self, source: str, like: TensorInfo, have: Interval, want: Interval, base: str) -> str:
        """`source` holds rows `have` of a tensor shaped `like`; the tensor holding rows `want` (a sub-interval)."""
        if have == want:
            return source
        out = self.tensor(base)
        self.made[out] = _with_rows(like, want[1] - want[0])
        starts, ends = [want[0] - have[0]], [want[1] - have[0]]
        if self.opset < 10:  # Slice-1: bounds as attributes
            self.node("Slice", [source], out, base, [helper.make_attribute("starts", starts),
                                                     helper.make_attribute("ends", ends),
                                                     helper.make_attribute("axes", [H])])
        else:
            self.node("Slice", [source, self.const(starts), self.const(ends), self.const([H])], out, base)
        return out


def _hull(a: Interval | None, b: Interval) -> Interval:
    return b if a is None else (min(a[0], b[0]), max(a[1], b[1]))


def _tile_node(node: onnx.NodeProto, rule: RowRule, inputs: list[str], output: str, need: Interval, rows_in: int,
               infos: Mapping[str, TensorInfo], emit: _Emitter, base: str) -> None:
    """Emit `node` computing one tile: window ops get explicit pads (border rows only)."""
    attrs = [a for a in node.attribute if not ((rule.window or rule.transpose) and a.name in ("pads", "auto_pad"))]
    if rule.transpose:
        g = window_geometry(node, infos)
        attrs.append(helper.make_attribute("pads", [0, g.pad_left, 0, g.pad_right]))
    if rule.window:
        g = window_geometry(node, infos)
        # past the bottom pad only with ceil_mode: the tile's ceil_mode then adds that last row too
        top, bottom = max(0, -need[0]), min(max(0, need[1] - rows_in), g.pad_bottom)
        attrs.append(helper.make_attribute("pads", [top, g.pad_left, bottom, g.pad_right]))
    if node.op_type == "Resize":
        x = infos[node.output[0]].shape
        rows = (min(need[1], rows_in) - max(need[0], 0)) * (x[H] // infos[node.input[0]].shape[H])
        inputs = [inputs[0], node.input[1], emit.empty_scales(), emit.const([x[0], x[1], rows, x[3]])]
    emit.node(node.op_type, inputs, output, base, attrs, node.domain)


def tile_region(model: onnx.ModelProto, infos: Mapping[str, TensorInfo], output: str,
                bounds: Sequence[int], stops: Sequence[str] = ()) -> TilingStats:
    """Rewrite, IN PLACE, the region ending in `output` (`region_nodes`) as len(bounds) - 1 tiles
    with output rows [bounds[t], bounds[t + 1]), reassembled by Concat into `output`."""
    graph = model.graph
    nodes = region_nodes(model, infos, output, stops)
    problem = region_problem(model, nodes, output)
    if problem:
        raise UserError(f"spatial tiling of '{output}': {problem}")
    rows = infos[output].shape[H]
    if list(bounds) != sorted(set(bounds)) or bounds[0] != 0 or bounds[-1] != rows:
        raise UserError(f"spatial tiling of '{output}': bounds {list(bounds)} must rise from 0 to {rows}")
    region = [graph.node[i] for i in nodes]
    rules = [row_rule(n, infos) for n in region]
    macs = sum(node_macs(n, infos) for n in region)
    stats = TilingStats(output, len(bounds) - 1, region_macs=macs, tile_rows=[int(r) for r in np.diff(bounds)])
    emit = _Emitter(model)
    pieces = []
    computed = {n.output[0]: 0 for n in region}  # rows of each region tensor computed over all tiles
    for t in range(len(bounds) - 1):
        needed = _needed_rows(region, rules, infos, output, (bounds[t], bounds[t + 1]))
        have: dict[str, Interval] = {}
        names: dict[str, str] = {}
        for node, rule in zip(region, rules):
            inputs = list(node.input)
            need = rule.needs(*needed[node.output[0]])
            for i in rule.spatial:
                x = node.input[i]
                rows_in = infos[x].shape[H]
                want = (max(need[0], 0), min(need[1], rows_in))
                if x not in have:  # a region input: slice it from the whole tensor
                    have[x], names[x] = (0, rows_in), x
                inputs[i] = emit.slice_rows(names[x], infos[x], have[x], want, f"{x}__tile{t}_rows")
            rows_in = infos[node.input[rule.spatial[0]]].shape[H]
            made = emit.tensor(f"{node.output[0]}__tile{t}")
            _tile_node(node, rule, inputs, made, need, rows_in, infos, emit, f"{node.name or node.output[0]}__tile{t}")
            lo, hi = max(need[0], 0), min(need[1], rows_in)
            have[node.output[0]] = needed[node.output[0]] if rule.produces is None else rule.produces(lo, hi)
            names[node.output[0]] = made
            rows_made = have[node.output[0]][1] - have[node.output[0]][0]
            emit.made[made] = _with_rows(infos[node.output[0]], rows_made)
            # MACs follow the output rows, for ConvTranspose the input rows (`analysis.macs`)
            computed[node.output[0]] += hi - lo if rule.transpose else rows_made
        pieces.append(emit.slice_rows(names[output], infos[output], have[output], (bounds[t], bounds[t + 1]),
                                      f"{output}__tile{t}"))
    emit.node("Concat", pieces, output, f"{output}__tiles", [helper.make_attribute("axis", H)])
    stats.nodes, stats.made = [n.name for n in emit.nodes], emit.made
    stats.tiled_macs = sum(node_macs(n, infos) * computed[n.output[0]] //
                           infos[n.input[0] if r.transpose else n.output[0]].shape[H] for n, r in zip(region, rules))
    inside = set(nodes)
    kept = [n for i, n in enumerate(graph.node) if i not in inside]
    position = sum(1 for i in range(nodes[-1]) if i not in inside)  # where the producer of `output` was
    del graph.node[:]
    graph.node.extend(kept[:position] + emit.nodes + kept[position:])
    graph.initializer.extend(emit.inits)
    internal = {o for n in region for o in n.output} - {output}
    stats.removed = sorted(internal)
    stale = [v for v in graph.value_info if v.name in internal]
    for v in stale:
        graph.value_info.remove(v)
    return stats


def _needed_rows(region: list[onnx.NodeProto], rules: list[RowRule], infos: Mapping[str, TensorInfo],
                 output: str, rows: Interval) -> dict[str, Interval]:
    """Rows of every region tensor the tile needs: the hull, over its region readers, of the
    clipped input rows each needs for its own output rows."""
    needed: dict[str, Interval] = {output: rows}
    for node, rule in zip(reversed(region), reversed(rules)):
        lo, hi = rule.needs(*needed[node.output[0]])
        for i in rule.spatial:
            x = node.input[i]
            rows_in = infos[x].shape[H]
            needed[x] = _hull(needed.get(x), (max(lo, 0), min(hi, rows_in)))
    return needed
