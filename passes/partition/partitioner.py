"""Partition a model under a memory budget: tile, choose partitions, plan memory, extract.

    result = partition_model(model, budget=8 * 2**20, strategy="optimal")
    result.models          # standalone partition models, in run order
    result.plan            # memory.MemoryPlan: breakdown and offsets of every partition

Strategies: "optimal" (DP over a topological order, then min-cut refinement of each boundary;
the baselines are candidates too; then, when the graph has at most `ideals.EXACT_IDEALS`
down-closed node sets, the exact search over them looks for a strictly better partitioning,
bounded by that one, within `ideals.EXACT_WORK`.  All of it runs on the model's order and, up
to SECOND_ORDER_MAX_NODES nodes, on `PartitionGraph.latest_first` (segment costs follow the
order of the graph they are computed on); the better result wins),
"greedy" (first fit), "layerwise" (one compute node per partition).

The strategies decide with the segment estimate of `cost.py`; the final word is the memory
plan (`memory.plan_memory`: arena offsets, carried-zone offsets).  If the plan puts a partition
over the budget, "optimal"'s DP forbids that segment (after EXACT_RETRIES rounds: every segment
containing it) and solves again; the other strategies retry with a budget lowered step by step (4 x BUDGET_STEP).

When a node's activations alone exceed the budget, `spatial_plan` chooses stages to compute in
row tiles (`spatial_tiling`); the tiled model is then partitioned like any other (its tiles are
ordinary nodes, planned and measured like all others).

An infeasible budget raises UserError with the smallest budget that works, found by
bisection (to `BUDGET_STEP`) over the same end-to-end feasibility check.  A check that needs
spatial tiling can take minutes on a large detector, so the stage search at the requested budget
and the error's search each stop after `ERROR_SEARCH_SECONDS` of CPU time; the error then names
the smallest budget it saw work and the largest it proved to fail.

Every strategy plans with the same staging buffer (`STAGING_BYTES` unless the caller fixes it): the
TA copies a blob through it a tile at a time, so its size does not bound the chunk one load command
carries and a wider one would only take bytes from the partitions.  "optimal" minimises partitions,
then crossing bytes.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable

import onnx
from rich.console import Console
from rich.progress import Progress, TextColumn, TimeElapsedColumn

from ..analysis.shapes import TensorInfo, infer_static_shapes
from ..errors import UserError
from ..sizes import format_size
from .baselines import greedy, layerwise
from .cost import Limits
from .dp import SegmentTable, segments_of
from .extract import extract_partitions, partition_specs
from .graph import PartitionGraph
from .ideals import exact_partition
from ..target import RESERVE_BYTES, STAGING_BYTES, align
from .memory import MemoryPlan, PartitionSpec, plan_memory
from .mincut import refine
from .tiling import apply_tiling, plan_tiling, without_bulk_data
from .spatial_plan import SpatialStage, apply_stages, plan_spatial, stage_report
from .spatial_tiling import TilingStats

STRATEGIES = ("optimal", "greedy", "layerwise")
BUDGET_STEP = 4096
MAX_RETRIES = 64
SECOND_ORDER_MAX_NODES = 600  # the second DP order doubles the search time; large graphs use one
EXACT_RETRIES = 4  # then forbid every segment containing a rejected one, to converge fast
ERROR_SEARCH_SECONDS = 90.0  # CPU seconds after which the infeasible-budget error's bisection stops


@dataclass
class PartitionResult:
    model: onnx.ModelProto            # the model actually partitioned (tiled where needed)
    infos: dict[str, TensorInfo]
    graph: PartitionGraph
    parts: list[list[int]]            # node indices (into graph.nodes) of each partition
    specs: list[PartitionSpec]
    plan: MemoryPlan
    strategy: str
    tiling: dict[str, int] = field(default_factory=dict)
    spatial: list[TilingStats] = field(default_factory=list)   # the spatially tiled stages
    seconds: float = 0.0
    models: list[onnx.ModelProto] = field(default_factory=list)

    def spatial_report(self, model_macs: int) -> list[dict]:
        """Per spatially tiled stage: tiles, rows, recomputed MACs, memory per tile (`spatial_plan`)."""
        return stage_report(self.spatial, self.specs, self.plan, model_macs)

    @property
    def crossing_bytes(self) -> int:
        """Sum over the boundaries between partitions of the bytes crossing them."""
        return _score(self.graph, self.parts)[1]


def _optimal(graph: PartitionGraph, limits: Limits, check: Callable[[list[list[int]]], list[int]],
             improve: bool = True, baselines: bool = True, first: bool = False):
    """In `graph`'s order: the DP's segmentation, refined by min-cut, or (with `baselines`) a
    baseline if better;
    then, when the graph has few enough ideals, the exact search for a strictly better one
    (bounded by that result).  Without `improve` (when only feasibility matters), neither
    min-cut nor the exact search runs: they never change whether a partitioning exists.
    With `first`, the first candidate found is returned (DP, then the baselines in turn): it
    exists exactly when the best one does."""
    runs = [lambda: _dp(graph, limits, check, improve)]
    # the baselines are candidates too: "optimal" is never worse than them, even where the
    # memory plan rejects what the DP's estimate accepted
    runs += [lambda run=run: run(graph, limits, check) for run in _BASELINES.values() if baselines]
    candidates = []
    for run in runs:
        candidates.append(run())
        if first and candidates[-1] is not None:
            return candidates[-1]
    best = min((c for c in candidates if c is not None), key=lambda parts: _score(graph, parts), default=None)
    if best is None or not improve:
        return best
    better = exact_partition(graph, limits, upper=_score(graph, best))
    return better if better and not check(better) else best


def _dp(graph: PartitionGraph, limits: Limits, check: Callable[[list[list[int]]], list[int]], improve: bool):
    """The DP's best segmentation whose partitions pass `check` (the memory plan), refined by
    min-cut with `improve`."""
    table = SegmentTable.scan(graph, limits)
    for attempt in range(MAX_RETRIES):
        bounds = table.solve()
        if bounds is None:
            return None
        segments = segments_of(bounds)
        over = check(segments)
        if not over:
            if not improve:
                return segments
            refined = refine(graph, segments, limits)
            return refined if refined != segments and not check(refined) else segments
        for k in over:
            table.forbid(segments[k][0], segments[k][-1] + 1, supersets=attempt >= EXACT_RETRIES)
    return None


def _score(graph: PartitionGraph, parts: list[list[int]]) -> tuple[int, int]:
    """(partitions, crossing bytes) of a partitioning, the figure "optimal" minimises."""
    done: set[int] = set()
    crossing = 0
    for part in parts[:-1]:
        done.update(part)
        crossing += graph.crossing_bytes(done)
    return len(parts), crossing


def _baseline(method, fixed: bool = False) -> Callable:
    """`method` under the memory plan: while the plan rejects its partitioning, retry with the
    budget lowered by 4 x BUDGET_STEP.  A partitioning already rejected is not planned again;
    `fixed`: the method's partitions do not depend on the budget (only whether it finds any),
    so the first rejection is final."""
    def run(graph: PartitionGraph, limits: Limits, check: Callable[[list[list[int]]], list[int]]):
        rejected: set[tuple[tuple[int, ...], ...]] = set()
        for _ in range(MAX_RETRIES):
            parts = method(graph, limits)
            if parts is None:
                return None
            key = tuple(map(tuple, parts))
            if key not in rejected:
                if not check(parts):
                    return parts
                if fixed:
                    return None
                rejected.add(key)
            limits = replace(limits, budget=limits.budget - 4 * BUDGET_STEP)
        return None
    return run


_BASELINES = {"greedy": _baseline(greedy), "layerwise": _baseline(layerwise, fixed=True)}


def _plan(specs: list[PartitionSpec], infos: dict[str, TensorInfo], graph: PartitionGraph, limits: Limits,
          cache: dict, *, shrink: bool = True) -> MemoryPlan:
    """The memory plan of `specs` under `limits`."""
    return plan_memory(specs, infos, budget=limits.budget,
                       staging_bytes=limits.staging, reserve_bytes=limits.reserve,
                       model_outputs=graph.model_outputs, cache=cache, shrink=shrink, resident=limits.resident)


def _tiled(model: onnx.ModelProto, infos: dict[str, TensorInfo], limits: Limits,
           cache: dict) -> tuple[onnx.ModelProto, dict[str, TensorInfo], PartitionGraph, dict[str, int]]:
    """The model with its too-large nodes channel-tiled for `limits` (`tiling.py`), its shapes,
    its graph and the tiling."""
    graph = PartitionGraph.build(model, infos)
    tiling = plan_tiling(graph, limits)
    if tiling:
        key = tuple(sorted(tiling.items()))
        if key not in cache:
            tiled = onnx.ModelProto()
            tiled.CopyFrom(model)  # shape-only (`without_bulk_data`): small
            apply_tiling(tiled, tiling, infos)
            tiled_infos = infer_static_shapes(tiled)
            cache[key] = (tiled, tiled_infos, PartitionGraph.build(tiled, tiled_infos))
        return (*cache[key], tiling)
    return model, infos, graph, tiling


def _orders(graph: PartitionGraph, strategy: str) -> list[PartitionGraph]:
    """The node orders a strategy searches: the model's, and for "optimal" on graphs of up to
    SECOND_ORDER_MAX_NODES nodes also `latest_first`."""
    if strategy == "optimal" and graph.n <= SECOND_ORDER_MAX_NODES:
        return [graph, graph.latest_first()]
    return [graph]


def _search(graph: PartitionGraph, base: PartitionGraph, limits: Limits, strategy: str,
            plan_of: Callable[..., MemoryPlan], improve: bool, first: bool = False):
    """The strategy's partitioning of `graph` (one of `base`'s orders) whose memory plan fits, or None."""
    check = lambda p: plan_of(p, shrink=False).over_budget()  # noqa: E731
    if strategy == "optimal":
        return _optimal(graph, limits, check, improve, baselines=graph is base, first=first)
    return _BASELINES[strategy](graph, limits, check)


def _planner(graph: PartitionGraph, infos: dict[str, TensorInfo], limits: Limits) -> Callable[..., MemoryPlan]:
    """plan_of(parts, shrink=True): the memory plan of a partitioning of `graph` (cached per partition)."""
    plans: dict = {}
    return lambda parts, shrink=True: _plan(partition_specs(graph, parts), infos, graph, limits, plans, shrink=shrink)


def _attempt(model: onnx.ModelProto, infos: dict[str, TensorInfo], limits: Limits, strategy: str,
             cache: dict) -> PartitionResult | None:
    model, infos, graph, tiling = _tiled(model, infos, limits, cache)
    best = None
    for candidate in _orders(graph, strategy):
        plan_of = _planner(candidate, infos, limits)
        parts = _search(candidate, graph, limits, strategy, plan_of, True)
        if parts is None:
            continue
        result = PartitionResult(model, infos, candidate, parts, partition_specs(candidate, parts), plan_of(parts),
                                 strategy, tiling)
        if best is None or (len(result.parts), result.crossing_bytes) < (len(best.parts), best.crossing_bytes):
            best = result
    return best


def _fits(model: onnx.ModelProto, infos: dict[str, TensorInfo], limits: Limits, strategy: str, cache: dict) -> bool:
    """Whether `_attempt` finds a partitioning: the same searches, stopping at the first found."""
    _, infos, graph, _ = _tiled(model, infos, limits, cache)
    return any(_search(candidate, graph, limits, strategy, _planner(candidate, infos, limits), False, first=True)
               is not None for candidate in _orders(graph, strategy))


def _spatial_stages(model: onnx.ModelProto, infos: dict[str, TensorInfo], limits: Limits, strategy: str,
                    cache: dict, deadline: float | None = None) -> list[SpatialStage] | None:
    """The spatially tiled stages that make the model feasible under `limits` (`spatial_plan`; None
    also when the search passes `deadline`, a time.process_time() value)."""
    return plan_spatial(model, infos, limits, lambda tiled, tiled_infos: _fits(tiled, tiled_infos, limits, strategy,
                                                                                {}), deadline)


def _feasible(model: onnx.ModelProto, infos: dict[str, TensorInfo], limits: Limits, strategy: str, cache: dict,
              spatial: bool, deadline: float | None = None) -> bool:
    if _fits(model, infos, limits, strategy, cache):
        return True
    return spatial and bool(_spatial_stages(model, infos, limits, strategy, cache, deadline))


@dataclass(frozen=True)
class BudgetBound:
    """What the smallest-budget search found: `works` works and `fails` does not (0: no budget below
    `works` was proven to fail); the smallest budget that works is `works` when `exact`, else in
    (fails, works]."""
    works: int
    fails: int

    @property
    def exact(self) -> bool:
        return self.works - self.fails <= BUDGET_STEP

    def describe(self) -> str:
        """The error message's clause."""
        if self.exact:
            return f"the smallest budget that works is {format_size(self.works)} ({self.works} bytes)"
        if self.fails == 0:
            return (f"a budget of {format_size(self.works)} ({self.works} bytes) works (the search for a smaller "
                    f"one stopped after its time)")
        return (f"a budget of {format_size(self.works)} ({self.works} bytes) works, and the smallest that works "
                f"lies above {format_size(self.fails)} (the search stopped refining after its time)")


def smallest_budget(model: onnx.ModelProto, infos: dict[str, TensorInfo], limits: Limits, strategy: str,
                    cache: dict | None = None, spatial: bool = True, *,
                    seconds: float | None = None, start_fails: bool = True,
                    works_at: int | None = None) -> BudgetBound:
    """The smallest budget (a multiple of BUDGET_STEP) at which partitioning succeeds (with
    spatial tiling unless `spatial` is False), found by doubling then bisection between the
    last failing and the first working budget; each check is the end-to-end one (`_feasible`),
    the search shown as a progress line on a terminal.  With `seconds`, the bisection stops once
    the process has spent that much CPU time in it, and spatial tiling is no longer tried past it
    (the doubling always finishes, on partitioning alone: a budget that works); a failing check then
    proves nothing for spatial tiling, so `fails` is the largest budget proven to fail
    (`start_fails`: the caller proved that `limits.budget` fails).  `works_at`, a budget the caller
    knows to work (e.g. the smallest without spatial tiling, when looking for the one with it), replaces
    the doubling: the bisection runs between `limits.budget` and it."""
    cache = {} if cache is None else cache
    start = time.process_time()
    deadline = None if seconds is None else start + seconds
    proven = limits.budget if start_fails else 0
    console = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), TimeElapsedColumn(), transient=True, console=console,
                  disable=not console.is_terminal) as progress:
        task = progress.add_task("smallest budget")

        def works(budget: int) -> bool:
            nonlocal proven
            progress.update(task, description=f"smallest budget: trying {format_size(budget)}")
            ok = _feasible(model, infos, replace(limits, budget=budget), strategy, cache, spatial, deadline)
            if not ok and (not spatial or deadline is None or time.process_time() <= deadline):
                proven = max(proven, budget)   # the whole check ran: a proof
            return ok

        lo = limits.budget
        hi = max(2 * lo, BUDGET_STEP) if works_at is None else works_at
        while works_at is None and not works(hi):
            lo, hi = hi, 2 * hi
            if hi > 2**40:
                raise UserError("the model cannot be partitioned under any budget (a tensor has no size?)")
        lo, hi = lo // BUDGET_STEP, -(-hi // BUDGET_STEP)
        while hi - lo > 1 and (seconds is None or time.process_time() - start < seconds):
            mid = (lo + hi) // 2
            if not works(mid * BUDGET_STEP):
                lo = mid
            else:
                hi = mid
    return BudgetBound(hi * BUDGET_STEP, proven if proven < hi * BUDGET_STEP else 0)


def partition_model(model: onnx.ModelProto, budget: int, *, strategy: str = "optimal",
                    staging_bytes: int | None = None, reserve_bytes: int = RESERVE_BYTES,
                    infos: dict[str, TensorInfo] | None = None, resident: tuple[str, ...] = (),
                    spatial: bool = True, search_seconds: float | None = ERROR_SEARCH_SECONDS) -> PartitionResult:
    """Partition a model with static shapes under `budget` bytes; see the module docstring.

    `staging_bytes`: the staging buffer's size (None: `STAGING_BYTES`);
    `resident`: model inputs that hold a recurrent state the TA keeps (`memory.plan_memory`);
    `spatial`: tile activations too big for the budget along H (`spatial_plan`);
    `search_seconds`: CPU seconds the spatial stage search may take at `budget`, and again the
    infeasible-budget error's search (None: no limit)."""
    if strategy not in STRATEGIES:
        raise UserError(f"unknown strategy '{strategy}': use one of {', '.join(STRATEGIES)}")
    start = time.perf_counter()
    infos = infer_static_shapes(model) if infos is None else infos
    original_infos = infos
    limits = Limits(budget, align(STAGING_BYTES if staging_bytes is None else staging_bytes), reserve_bytes,
                    tuple(resident))
    cache: dict = {}
    skeleton = without_bulk_data(model)  # the search needs shapes, not weight bytes
    result = _attempt(skeleton, infos, limits, strategy, cache)
    stages: list[SpatialStage] = []
    searched = True   # every way to fit `budget` was tried (the spatial search did not run out of time)
    if result is None and spatial:
        deadline = None if search_seconds is None else time.process_time() + search_seconds
        stages = _spatial_stages(skeleton, infos, limits, strategy, cache, deadline) or []
        searched = deadline is None or time.process_time() <= deadline
        if stages:
            skeleton, infos, _ = apply_stages(skeleton, infos, stages)
            cache.clear()
            result = _attempt(skeleton, infos, limits, strategy, cache)
    if result is None:
        base = without_bulk_data(model)
        need = smallest_budget(base, original_infos, limits, strategy, {}, spatial, seconds=search_seconds,
                               start_fails=searched)
        raise UserError(f"the model does not fit in a budget of {format_size(budget)} with the {strategy} strategy "
                        f"(a single layer or activation needs more): {need.describe()}")
    cache.clear()
    if stages:
        model, _, result.spatial = apply_stages(model, original_infos, stages)
    if result.tiling:
        tiled = onnx.ModelProto()
        tiled.CopyFrom(model)
        result.model = apply_tiling(tiled, result.tiling, infos)
    else:
        result.model = model
    result.models = extract_partitions(result.model, result.specs, [p.node_order for p in result.plan.partitions],
                                       result.infos)
    result.seconds = time.perf_counter() - start
    return result
