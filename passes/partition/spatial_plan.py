"""Choose the spatially tiled stages of a model whose activations do not fit the budget.

A node is *hot* when its own activations -- the inputs it reads, the outputs it writes, its
scratch and the staging buffer, with no weight -- do not fit the budget (channel tiling,
`tiling.py`, takes care of weights).  A node is *crowded* when it does not fit as a partition of
its own, weights aside, with the tensors carried past it (the C_k term of the memory model:
tensors made before it and read after it; `_fitting_in_context`), e.g. a 2.93 MiB expansion conv
next to a 2.34 MiB FPN lateral input and a 0.98 MiB residual.  Hot nodes are covered first, in
model order; then, on the model as tiled so far, every crowded node not yet covered (a stage
over it keeps one tile of its maps live, so its own term shrinks to a tile's while the carried
tensors stay).

For a node to cover, every candidate stage end Y is tried: the output of a spatially local node
at or after it whose bytes are at most a third of the budget (Y is reassembled whole, next to
its tiles).  The stage (`spatial_tiling.closed_region`) runs backwards from Y through local
nodes and stops at tensors of at most that size made by non-hot nodes (holding those whole is
cheaper than recomputing their producers' halos), except the outputs of upsampling Resize nodes
(a tile recomputes its rows of such a map from its f^2 times smaller input at no MACs: an FPN's
upsampled maps then live one tile at a time up to their Concat), and at tensors also needed
outside the stage.  For each candidate, the tile count T is the smallest (a power of two, at
most MAX_TILES) for which every node of the tiled stage fits as a partition of its own, weights
aside, with the tensors carried past it (the input the later tiles still slice, the rows the
earlier tiles made); the candidate with the least

    recomputed MACs + SWITCH_MACS * T        (a tile costs at least one more partition to load)

wins.  Then the whole model is checked by the caller's feasibility test (the partitioner's own
search under the memory model) and, while it fails, T doubles for every stage (up to the rows,
MAX_TILES, GROWTH_ROUNDS times).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

import onnx

from ..analysis.shapes import TensorInfo
from .cost import Limits, ScanTables, SegmentCost, SegmentScanner
from .graph import PartitionGraph
from .spatial_tiling import H, TilingStats, closed_region, escaping, is_local, region_nodes, tile_bounds, tile_region

SWITCH_MACS = 2_000_000  # a tile's extra partition load, in MACs: ~1 ms of compute on the target
MAX_CANDIDATES = 6       # stage ends tried per hot node
GROWTH_ROUNDS = 3        # doublings of every stage's tiles tried when the whole model does not fit
MAX_TILES = 64


@dataclass(frozen=True)
class SpatialStage:
    """A region ending in `output`, stopping at `stops`, computed in `tiles` row tiles."""

    output: str
    tiles: int
    stops: tuple[str, ...]


def _too_big(graph: PartitionGraph, v: int, limits: Limits) -> bool:
    """Node v's own activations -- the tensors it reads and writes, with its scratch and the
    staging buffer, no weight -- do not fit the budget."""
    own = sum(graph.size[x] for x in set(graph.node_inputs[v]) | set(graph.node_outputs[v]) if x in graph.size)
    return own + graph.node_scratch[v] + limits.staging + limits.reserve > limits.budget


def _fitting_in_context(graph: PartitionGraph, nodes: Iterable[int], limits: Limits) -> dict[int, bool]:
    """For each of `nodes`: it fits as a partition of its own, weights left out, with its
    activations and the tensors carried past it (the model input the later tiles still slice, the
    earlier tiles' rows) -- `cost.segment_cost` of [v], by the incremental scanner."""
    tables = ScanTables.build(graph)
    fits = {}
    for v in nodes:
        c = SegmentScanner(graph, v, tables, limits).extend()
        fits[v] = SegmentCost(0, c.peak, c.scratch, c.loading, c.staging).fits(limits)
    return fits


def hot_outputs(model: onnx.ModelProto, infos: Mapping[str, TensorInfo], limits: Limits) -> list[str]:
    """First outputs, in model order, of the nodes whose own activations exceed the budget."""
    graph = PartitionGraph.build(model, infos)
    return [graph.nodes[v].output[0] for v in range(graph.n) if _too_big(graph, v, limits)]


def crowded_outputs(model: onnx.ModelProto, infos: Mapping[str, TensorInfo], limits: Limits) -> list[str]:
    """First outputs, in model order, of the nodes that do not fit as a partition of their own,
    weights aside, with the tensors carried past them (`_fitting_in_context`)."""
    graph = PartitionGraph.build(model, infos)
    return [graph.nodes[v].output[0] for v, fits in _fitting_in_context(graph, range(graph.n), limits).items()
            if not fits]


def _upsampled(model: onnx.ModelProto, infos: Mapping[str, TensorInfo]) -> set[str]:
    """Outputs of Resize nodes larger than their input: a tile recomputes such a map from the
    rows of its smaller input at no MACs, so holding it whole (a stop) only costs memory."""
    return {n.output[0] for n in model.graph.node if n.op_type == "Resize" and n.output[0] in infos
            and n.input[0] in infos and infos[n.output[0]].nbytes > infos[n.input[0]].nbytes}


def apply_stages(model: onnx.ModelProto, infos: Mapping[str, TensorInfo],
                 stages: list[SpatialStage]) -> tuple[onnx.ModelProto, dict[str, TensorInfo], list[TilingStats]]:
    """A tiled copy of `model` (every stage applied in order), its shapes (`infos` without the
    tensors each stage removed, with the ones it made: `TilingStats.made`), and each stage's stats."""
    tiled = onnx.ModelProto()
    tiled.CopyFrom(model)
    infos = dict(infos)
    stats = []
    for stage in stages:
        rows = infos[stage.output].shape[H]
        stats.append(tile_region(tiled, infos, stage.output, tile_bounds(rows, stage.tiles), stage.stops))
        for name in stats[-1].removed:
            del infos[name]
        infos.update(stats[-1].made)
    return tiled, infos, stats


def _stage_fits(model, infos, stage: SpatialStage, limits: Limits) -> TilingStats | None:
    """The stats of `stage` if every node it adds fits with the tensors carried past it, else None."""
    tiled, tiled_infos, (stats,) = apply_stages(model, infos, [stage])
    new = {n.output[0] for n in tiled.graph.node} - {n.output[0] for n in model.graph.node}
    graph = PartitionGraph.build(tiled, tiled_infos)
    ok = all(_fitting_in_context(graph, [v for v in range(graph.n) if graph.nodes[v].output[0] in new],
                                 limits).values())
    return stats if ok else None


def _candidates(model: onnx.ModelProto, infos: Mapping[str, TensorInfo], target: str, cap: int,
                stops: tuple[str, ...]) -> list[tuple[str, tuple[str, ...]]]:
    """Stage ends for the (hot or crowded) node making `target`, with the stops of their regions:
    small enough outputs of local nodes from it on whose (closed) region contains it; none when
    that node is not spatially local itself (no region holds it)."""
    start = next(i for i, n in enumerate(model.graph.node) if n.output and n.output[0] == target)
    if not is_local(model.graph.node[start], infos):
        return []
    found = []
    for node in model.graph.node[start:]:
        if len(found) >= MAX_CANDIDATES:
            break
        y = node.output[0] if node.output else None
        if y is None or y not in infos or len(infos[y].shape) != 4 or infos[y].nbytes > cap or infos[y].shape[H] < 2:
            continue
        if not is_local(node, infos):
            continue
        nodes, region_stops = closed_region(model, infos, y, stops)
        if any(model.graph.node[i].output[0] == target for i in nodes) and not escaping(model, nodes, y):
            found.append((y, region_stops))
    return found


def _out_of_time(deadline: float | None) -> bool:
    """`deadline` is a time.process_time() value (None: no limit)."""
    return deadline is not None and time.process_time() > deadline


def _best_stage(model: onnx.ModelProto, infos: Mapping[str, TensorInfo], node: str, cap: int,
                stops: tuple[str, ...], limits: Limits, deadline: float | None = None) -> SpatialStage | None:
    """The cheapest stage covering the node making `node` (least recomputed MACs + SWITCH_MACS * T,
    each candidate end at its smallest fitting T), or None if no candidate fits (or time ran out)."""
    best = None
    for y, region_stops in _candidates(model, infos, node, cap, stops):
        if _out_of_time(deadline):
            return None
        tiles = 2
        while tiles <= min(infos[y].shape[H], MAX_TILES):
            stats = _stage_fits(model, infos, SpatialStage(y, tiles, region_stops), limits)
            if stats is not None:
                score = (stats.recomputed_macs + SWITCH_MACS * tiles, tiles)
                if best is None or score < best[0]:
                    best = (score, SpatialStage(y, tiles, region_stops))
                break
            tiles *= 2
    return None if best is None else best[1]


def plan_spatial(model: onnx.ModelProto, infos: Mapping[str, TensorInfo], limits: Limits,
                 feasible: Callable[[onnx.ModelProto, dict[str, TensorInfo]], bool],
                 deadline: float | None = None) -> list[SpatialStage] | None:
    """The stages that make the model feasible (`feasible(tiled, infos)`), [] if it has no hot
    or crowded node, None if tiling cannot make it feasible or the search passes `deadline` (a
    time.process_time() value) first."""
    hot = hot_outputs(model, infos, limits)
    if not hot and not crowded_outputs(model, infos, limits):
        return []
    cap = limits.budget // 3
    made = {o: n for n in model.graph.node for o in n.output}
    upsampled = _upsampled(model, infos)
    stops = tuple(name for name, info in infos.items()
                  if info.nbytes <= cap and name not in hot and name in made and name not in upsampled)
    stages: list[SpatialStage] = []
    covered: set[str] = set()
    tried: set[str] = set()
    current, current_infos = model, dict(infos)
    todo = list(hot)
    while True:
        if not todo:  # then the nodes that fail with the tensors carried past them
            todo = [o for o in crowded_outputs(current, current_infos, limits)
                    if o in made and o not in covered and o not in tried]
            if not todo:
                break
        node = todo.pop(0)
        if node in covered or node in tried:
            continue
        tried.add(node)
        if _out_of_time(deadline):
            return None
        stage = _best_stage(current, current_infos, node, cap, stops, limits, deadline)
        if stage is not None:
            region = region_nodes(current, current_infos, stage.output, stage.stops)
            covered.update(current.graph.node[i].output[0] for i in region)
            stages.append(stage)
            current, current_infos, _ = apply_stages(current, current_infos, [stage])
    if not stages:
        return None
    for _ in range(GROWTH_ROUNDS + 1):
        if _out_of_time(deadline):
            return None
        tiled, tiled_infos, _ = apply_stages(model, infos, stages)
        if feasible(tiled, tiled_infos):
            return stages
        grown = [SpatialStage(s.output, min(2 * s.tiles, infos[s.output].shape[H], MAX_TILES), s.stops)
                 for s in stages]
        if grown == stages:
            return None
        stages = grown
    return None


def stage_partitions(stats: list[TilingStats], specs) -> list[list[int]]:
    """Per tiled stage, the indices of the partitions that run any of its nodes."""
    names = [set(s.nodes) for s in stats]
    return [[i for i, spec in enumerate(specs) if any(n.name in stage for n in spec.nodes)] for stage in names]


def stage_report(stats: list[TilingStats], specs, plan, model_macs: int) -> list[dict]:
    """Per tiled stage, for `lower`'s and `partition`'s reports: tiles, rows per tile, the MACs
    recomputed on the halos (and their share of the untiled model's `model_macs`), and the memory
    per tile: the largest planned total of the partitions that run the stage's nodes."""
    rows = []
    for s, indices in zip(stats, stage_partitions(stats, specs)):
        memory = [plan.partitions[i].total for i in indices]
        rows.append({"output": s.output, "tiles": s.tiles, "rows_per_tile": [min(s.tile_rows), max(s.tile_rows)],
                     "region_macs": s.region_macs, "recomputed_macs": s.recomputed_macs,
                     "recomputed_share": s.recomputed_macs / max(model_macs, 1),
                     "partitions": len(memory), "partition_indices": indices,
                     "memory_per_tile": max(memory, default=0)})
    return rows


def describe(report: list[dict]) -> str:
    """One line for a stage report (`stage_report`)."""
    if not report:
        return "none"
    return "; ".join(f"{r['output']}: {r['tiles']} tiles of {r['rows_per_tile'][0]}-{r['rows_per_tile'][1]} rows, "
                     f"{r['partitions']} partitions of <= {r['memory_per_tile'] / 2**20:.2f} MiB, recomputed "
                     f"{r['recomputed_macs'] / 1e6:.1f} MMACs ({100 * r['recomputed_share']:.1f} % of the model)"
                     for r in report)

