"""The memory model: what partition k needs inside the TA's one region, with every offset planned.

This module is the single truth used by the partitioner (feasibility), the lowering step
(offsets written into each blob) and, through the blob, the TA (bounds checks).

Per partition k the parts are

- W_k, the decrypted blob body (metadata tables + weights, used in place), live from loading
  to the end of k.  Its exact size comes from the blob format (`target.body_bytes`, or the
  caller's `body_bytes(k)`).  The partitioner's search uses an allowance that is usually at
  least that (`target.BODY_*`; `cost.body_estimate`); the final plan uses the exact size.
- A_k, the activation arena: tensors produced and consumed inside k, each live from its
  producing step to its last reader; element-wise, BatchNormalization and shape-only ops write
  their output over an input that dies there (`target.alias_source`).
- S_k, the largest scratch any op of k needs (`target.node_scratch`).
- C_k, carried tensors: model inputs, tensors an earlier partition made that k or a later one
  reads, tensors k makes for later partitions, model outputs.  Each keeps ONE absolute offset
  from the partition that produces it (before partition 0 for model inputs) to its last
  reader (the end, for model outputs); within k a carried input that no later partition needs
  frees its bytes after its last reader.
- staging: the secure buffer encrypted chunks are copied into, a tile of its size at a time, before
  decryption (one size for the model, `target.STAGING_BYTES` unless fixed; it does not bound the
  chunk a load command carries).  Loading
  completes before k runs, so staging may share addresses with anything not live while
  loading (k's arena, scratch, and the carried tensors k produces) -- the planner overlaps them.
- pinned: in a stream session the bodies of the pinned partitions stay loaded for the whole
  session (`residency.py` chooses them): each has its own fixed place at the top of the region, and
  every partition is planned around all of them (they are live at every step of every partition).
  The streamed bodies go right below the pinned ones.  A pinned partition loads only in the first
  inference: its steady-state figure (`steady_total`) leaves out its staging buffer.
- resident: the model inputs that hold a recurrent state (`lower --state`) keep their bytes from
  before partition 0 to the end of the last partition, whoever reads them: the TA carries the
  state output onto them when the next inference starts, so nothing else may be placed there.
- reserve: a fixed allowance for the TA's own heap (contexts, manifest, bookkeeping) that the
  region must leave free inside the budget: feasible iff total_k + reserve <= budget.

Everything is placed in one address space with time intervals over the steps of k (-1 =
loading, 0..L-1 = the ops), first fit around the fixed carried offsets (`plan_memory`).
total_k = the highest region byte k touches; region_bytes = max_k total_k.  Since parts
overlap in time, total_k <= W_k + A_k + S_k + C_k + staging, and the plan reports the liveness
lower bound next to it.

All offsets and sizes are multiples of ALIGN = 64 bytes.

Inside a partition the node order is chosen to lower the activation peak
(`choose_node_order`): a greedy "free the most, allocate the least" topological order, kept
only when its liveness peak beats the given order's, so the choice is never worse than the
given order.

Kernels must accept out == in for the ops `target.alias_source` lets write in place (the alias
rule of each op's target entry).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable, Collection, Mapping, Sequence

import onnx

from ..analysis.liveness import tensor_lifetimes
from ..analysis.shapes import TensorInfo
from ..analysis.weights import tensor_nbytes
from ..graph import graph_inputs, node_label
from .. import target
from ..target import ALIGN, RESERVE_BYTES, STAGING_BYTES, align, alias_source, node_scratch


# --------------------------------------------------------------------------------------------
# What a partition is, for the memory model


@dataclass(frozen=True)
class PartitionSpec:
    """One partition: its nodes (execution order), the activations it reads from outside,
    the activations it hands on, and its weights (name -> bytes)."""

    nodes: tuple[onnx.NodeProto, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    weights: Mapping[str, int]

    @classmethod
    def of_model(cls, model: onnx.ModelProto) -> "PartitionSpec":
        """A standalone partition model: inputs/outputs = its graph's, weights = its initializers
        and Constant outputs."""
        graph = model.graph
        weights = {t.name: tensor_nbytes(t) for t in graph.initializer}
        for node in graph.node:
            if node.op_type == "Constant":
                for attr in node.attribute:
                    if attr.type == onnx.AttributeProto.TENSOR:
                        weights[node.output[0]] = tensor_nbytes(attr.t)
        nodes = tuple(n for n in graph.node if n.op_type != "Constant")
        return cls(nodes, tuple(i.name for i in graph_inputs(model)), tuple(o.name for o in graph.output),
                   weights)


def scratch_of(nodes: Sequence[onnx.NodeProto], infos: Mapping[str, TensorInfo]) -> int:
    """S_k: the largest scratch (aligned) any of `nodes` needs."""
    return max((node_scratch(node, infos) for node in nodes), default=0)


# --------------------------------------------------------------------------------------------
# Offset assignment (shared by the arena and the carried zone)


@dataclass(frozen=True)
class Buffer:
    """`size` bytes needed from step `start` to step `end` (inclusive)."""

    key: str
    size: int
    start: int
    end: int


def _place(buffers: Sequence[Buffer], fixed: Mapping[str, tuple[int, Buffer]]) -> tuple[dict[str, int], int]:
    """Place buffers in the given sequence around the `fixed` ones (key -> (offset, buffer)):
    each goes at the lowest offset where it overlaps no placed buffer live at the same time
    (first fit), which keeps the top of the region free for the bodies."""
    placed = [(b.start, b.end, off, off + b.size) for off, b in fixed.values()]  # (start, end, low, high)
    offsets: dict[str, int] = {}
    total = max((high for _, _, _, high in placed), default=0)
    for buf in buffers:
        start, end, size = buf.start, buf.end, buf.size
        conflicts = sorted([(low, high) for s, e, low, high in placed if s <= end and start <= e])
        best_offset, cursor = None, 0
        for low, high in conflicts:
            if low - cursor >= size:
                best_offset = cursor
                break
            if high > cursor:
                cursor = high
        offset = cursor if best_offset is None else best_offset
        offsets[buf.key] = offset
        placed.append((start, end, offset, offset + size))
        total = max(total, offset + size)
    return offsets, total


# Placement sequences tried by `assign_offsets`: largest first (TFLite Micro's greedy by size),
# by start (an allocator's view), longest-lived first, largest area (size x lifetime) first,
# latest end first.
PLACEMENT_ORDERS: tuple[Callable[[Buffer], tuple], ...] = (
    lambda b: (-b.size, b.start, b.key),
    lambda b: (b.start, -b.size, b.key),
    lambda b: (b.start - b.end, -b.size, b.key),
    lambda b: (-b.size * (b.end - b.start + 1), b.key),
    lambda b: (-b.end, -b.size, b.key),
)


# Region sizes tried, as multiples of the largest per-partition liveness floor.
REGION_STEPS = (1.0, 1.02, 1.05, 1.1, 1.2, 1.35, 1.5)
RANDOM_PLACEMENTS = 64
RANDOM_PLACEMENT_MAX_BUFFERS = 256


def assign_offsets(buffers: Sequence[Buffer], score: Callable[[dict[str, int], int], float] | None = None,
                   fixed: Mapping[str, tuple[int, Buffer]] | None = None) -> tuple[dict[str, int], int]:
    """Place buffers so that no two overlapping in time overlap in bytes (nor overlap a `fixed`
    buffer, key -> (offset, buffer), that they meet in time).

    First-fit placement in each sequence of PLACEMENT_ORDERS, then (sets of at most
    RANDOM_PLACEMENT_MAX_BUFFERS, while above the liveness bound) in RANDOM_PLACEMENTS seeded
    sequences: one of the two best PLACEMENT_ORDERS with its ties broken at random (many buffers
    share a size or a lifetime), every third one sizes jittered by up to 40% instead; keeps the
    placement with the lowest `score(offsets, total)` (default: the total).  Returns (offset per
    key, total bytes).
    """
    score = score or (lambda offsets, total: total)
    fixed = fixed or {}
    best = None
    ranked = []
    for key in PLACEMENT_ORDERS:
        offsets, total = _place(sorted(buffers, key=key), fixed)
        value = score(offsets, total)
        ranked.append((value, len(ranked)))
        if best is None or value < best[0]:
            best = (value, offsets, total)
    bound = peak_of(list(buffers) + [b for _, b in fixed.values()])
    if best[2] > bound and len(buffers) <= RANDOM_PLACEMENT_MAX_BUFFERS:
        rng = random.Random(len(buffers))
        leaders = [PLACEMENT_ORDERS[k] for _, k in sorted(ranked)[:2]]
        for trial in range(RANDOM_PLACEMENTS):
            noise = {b.key: rng.random() for b in buffers}
            if trial % 3 == 2:  # sizes jittered by up to 40%
                key = lambda b: (-b.size * (0.6 + 0.8 * noise[b.key]), b.key)  # noqa: E731
            else:  # one of the two best orders above, ties broken at random
                primary = leaders[trial % 3]
                key = lambda b: (primary(b)[0], noise[b.key], b.key)  # noqa: E731
            offsets, total = _place(sorted(buffers, key=key), fixed)
            value = score(offsets, total)
            if value < best[0]:
                best = (value, offsets, total)
            if best[2] <= bound:
                break
    return best[1], best[2]


def peak_of(buffers: Sequence[Buffer]) -> int:
    """Liveness lower bound: the largest sum of sizes of buffers live at one step."""
    events: dict[int, int] = {}
    for b in buffers:
        events[b.start] = events.get(b.start, 0) + b.size
        events[b.end + 1] = events.get(b.end + 1, 0) - b.size
    peak = live = 0
    for step in sorted(events):
        live += events[step]
        peak = max(peak, live)
    return peak


# --------------------------------------------------------------------------------------------
# The arena of one partition


def activation_buffers(spec: PartitionSpec, infos: Mapping[str, TensorInfo], nodes: Sequence[onnx.NodeProto],
                       kept: Collection[str] = ()) -> tuple[list[Buffer], list[Buffer], dict[str, str]]:
    """The activations of `spec` run in `nodes` order, as buffers over steps -1 (loading) .. L-1.

    Returns (carried, internal, aliases):
    - carried: the partition's inputs, live from loading (-1) to their last reader, or to the
      end when they are in `kept` (read by a later partition, or model outputs); its outputs,
      live from their producing step to the end;
    - internal: the other activations from producing step to last reader, a tensor written in
      place over a dying internal input (`alias_source`) sharing that input's buffer;
    - aliases: tensor -> the internal buffer whose bytes it reuses.
    """
    nodes = list(nodes)
    last = len(nodes) - 1
    lifetimes = tensor_lifetimes(nodes, infos, graph_inputs=spec.inputs, graph_outputs=spec.outputs,
                                 weights=spec.weights)
    kept = set(kept)
    carried = []
    for name in spec.inputs:
        life = lifetimes.get(name)
        end = last if name in kept or life is None else life.end
        carried.append(Buffer(name, align(infos[name].nbytes), -1, end))
    for name in spec.outputs:
        carried.append(Buffer(name, align(infos[name].nbytes), lifetimes[name].start, last))
    external = set(spec.inputs) | set(spec.outputs)
    internal = {name: life for name, life in lifetimes.items() if name not in external}
    owner: dict[str, str] = {name: name for name in internal}
    for step, node in enumerate(nodes):
        if not node.output or node.output[0] not in internal:
            continue
        src = alias_source(node, lambda x: x in internal and internal[x].end == step, infos)
        if src is not None:
            owner[node.output[0]] = owner[src]
    spans: dict[str, list[int]] = {}
    for name, life in internal.items():
        key = owner[name]
        span = spans.setdefault(key, [life.start, life.end, align(life.nbytes)])
        span[0], span[1] = min(span[0], life.start), max(span[1], life.end)
    buffers = [Buffer(key, size, start, end) for key, (start, end, size) in spans.items() if size > 0]
    aliases = {name: key for name, key in owner.items() if key != name}
    return carried, buffers, aliases


def activation_peak(spec: PartitionSpec, infos: Mapping[str, TensorInfo], nodes: Sequence[onnx.NodeProto],
                    kept: Collection[str] = ()) -> int:
    """The liveness lower bound of the partition's activations (carried + internal) in this order."""
    carried, internal, _ = activation_buffers(spec, infos, nodes, kept)
    return peak_of(carried + internal)


def greedy_order(spec: PartitionSpec, infos: Mapping[str, TensorInfo]) -> list[onnx.NodeProto]:
    """A topological order that runs, among the ready nodes, the one that frees the most bytes
    net of what it allocates (ties: given order)."""
    nodes = list(spec.nodes)
    produced_by = {out: i for i, node in enumerate(nodes) for out in node.output if out}
    readers: dict[str, set[int]] = {}
    deps = [set() for _ in nodes]
    for i, node in enumerate(nodes):
        for name in node.input:
            if name in produced_by:
                deps[i].add(produced_by[name])
            if name and name not in spec.weights:
                readers.setdefault(name, set()).add(i)
    keep = set(spec.outputs)
    size = {name: infos[name].nbytes for node in nodes for name in node.output if name in infos}
    users = [set() for _ in nodes]
    for i, d in enumerate(deps):
        for j in d:
            users[j].add(i)
    pending = [len(d) for d in deps]
    remaining = {name: set(r) for name, r in readers.items()}

    def delta(i: int) -> int:
        alloc = sum(align(size.get(o, 0)) for o in nodes[i].output if o)
        freed = sum(align(size.get(n, 0)) for n in set(nodes[i].input)
                    if n in remaining and remaining[n] == {i} and n not in keep)
        return alloc - freed

    ready = [i for i, p in enumerate(pending) if p == 0]
    order = []
    while ready:
        best = min(ready, key=lambda i: (delta(i), i))
        ready.remove(best)
        order.append(nodes[best])
        for name in set(nodes[best].input):
            if name in remaining:
                remaining[name].discard(best)
        for j in users[best]:
            pending[j] -= 1
            if pending[j] == 0:
                ready.append(j)
    return order


def choose_node_order(spec: PartitionSpec, infos: Mapping[str, TensorInfo],
                      kept: Collection[str] = ()) -> list[onnx.NodeProto]:
    """The node order the partition runs in: the greedy order if its activation peak
    (`activation_peak`) is strictly smaller than the given order's, else the given order."""
    given = list(spec.nodes)
    candidate = greedy_order(spec, infos)
    if activation_peak(spec, infos, candidate, kept) < activation_peak(spec, infos, given, kept):
        return candidate
    return given


# --------------------------------------------------------------------------------------------
# The whole plan


@dataclass
class PartitionMemory:
    """Partition k's bytes and absolute offsets in the region.

    weights = W_k, arena = liveness peak of k's internal activations, scratch = S_k,
    carried = bytes of carried tensors resident during k, staging = the staging buffer;
    total = the highest region byte k touches (the parts overlap in time, so total may be less
    than their sum); lower_bound = what any placement of k needs: the largest sum of bytes live
    at one step (loading included), or the top of the fixed carried offsets if higher."""

    weights: int
    arena: int
    scratch: int
    carried: int
    staging: int
    reserve: int
    total: int
    lower_bound: int
    body_offset: int
    scratch_offset: int
    staging_offset: int
    tensor_offsets: dict[str, int]
    node_order: list[str]
    aliases: dict[str, str] = field(default_factory=dict)
    pinned: int = 0          # bytes of the other partitions' pinned bodies resident during k
    is_pinned: bool = False  # k's own body stays loaded for the session
    steady_total: int = 0    # highest region byte k touches in a steady-state inference

    def breakdown(self) -> dict[str, int]:
        """The manifest's "memory" entry (bytes)."""
        return {"weights": self.weights, "arena": self.arena, "scratch": self.scratch, "carried": self.carried,
                "staging": self.staging, "pinned": self.pinned, "reserve": self.reserve, "total": self.total,
                "steady_total": self.steady_total}

    def layout(self) -> dict:
        """Offsets the lowering step writes into the blob."""
        return {"body_offset": self.body_offset, "scratch_offset": self.scratch_offset,
                "staging_offset": self.staging_offset, "tensor_offsets": dict(self.tensor_offsets),
                "aliases": dict(self.aliases), "node_order": list(self.node_order), "lower_bound": self.lower_bound}


@dataclass
class MemoryPlan:
    """The region size and every partition's breakdown and offsets."""

    budget: int
    region_bytes: int
    staging_bytes: int
    reserve_bytes: int
    partitions: list[PartitionMemory]
    floors: list[int] = field(default_factory=list)   # per partition: liveness lower bound of its bytes
    resident: tuple[str, ...] = ()                    # state inputs kept to the end

    def over_budget(self) -> list[int]:
        """Indices of partitions whose total + reserve exceeds the budget."""
        return [k for k, p in enumerate(self.partitions) if p.total + self.reserve_bytes > self.budget]


def carried_intervals(specs: Sequence[PartitionSpec], model_outputs: Collection[str] | None = None,
                      resident: Collection[str] = ()) -> list[Buffer]:
    """Each carried tensor (size 0 here) with the partition-index interval it stays resident for.

    Model outputs stay to the last partition; by default they are the partition outputs no
    later partition reads.  `resident` inputs span every partition."""
    last = len(specs) - 1
    produced = {o: k for k, s in enumerate(specs) for node in s.nodes for o in node.output if o}
    if model_outputs is None:
        model_outputs = {o for k, s in enumerate(specs) for o in s.outputs
                         if not any(o in later.inputs for later in specs[k + 1:])}
    model_outputs = set(model_outputs)
    spans: dict[str, list[int]] = {}
    for k, spec in enumerate(specs):
        for name in spec.inputs:
            start = produced.get(name, 0)
            span = spans.setdefault(name, [start, k])
            span[1] = max(span[1], k)
        for name in spec.outputs:
            span = spans.setdefault(name, [k, k])
            if name in model_outputs:
                span[1] = last
    for name in resident:
        spans[name] = [0, last]
    return [Buffer(name, 0, s, e) for name, (s, e) in spans.items()]


def body_offsets(bodies: Sequence[int], pinned: Collection[int], region: int) -> list[int]:
    """Where each body lies: the pinned ones stacked down from the top of the region in partition
    order, each streamed one right below the lowest pinned body."""
    offsets, top = [], region
    for k, size in enumerate(bodies):
        if k in pinned:
            top = max(top - size, 0) // ALIGN * ALIGN
        offsets.append(top)
    return [off if k in pinned else max(top - size, 0) // ALIGN * ALIGN
            for k, (off, size) in enumerate(zip(offsets, bodies))]


def _place_partitions(specs, prepared, live_in, floors, staging: int, reserve: int, region: int,
                      pinned: Collection[int] = ()) -> list:
    """Place every partition in a region of `region` bytes: each body where `body_offsets` puts it
    (fixed), the other partitions' pinned bodies fixed for all of k, then first fit from the bottom:
    the carried tensors first seen in k (clear of the bodies of the later partitions they live
    through), then the internal activations, scratch and staging, around the carried tensors placed
    before.  total_k leaves out the other pinned bodies (k does not touch them)."""
    carried_offsets: dict[str, int] = {}
    result = []
    bodies = body_offsets([p[1] for p in prepared], pinned, region)
    for k, spec in enumerate(specs):
        order, body, scratch, (own_carried, internal, aliases) = prepared[k]
        last = len(order) - 1
        spans_in_k = {b.key: b for b in own_carried}
        for b in live_in[k]:
            spans_in_k.setdefault(b.key, Buffer(b.key, b.size, -1, last))
        body_buffer = Buffer("\0body", body, -1, last)
        body_offset = bodies[k]
        fixed = {key: (carried_offsets[key], b) for key, b in spans_in_k.items() if key in carried_offsets}
        bound = max([floors[k]] + [off + b.size for off, b in fixed.values()])
        fixed["\0body"] = (body_offset, body_buffer)
        others = {f"\0pinned {j}": (bodies[j], Buffer(f"\0pinned {j}", prepared[j][1], -1, last))
                  for j in sorted(pinned) if j != k}
        # A carried tensor first placed here keeps its offset while later partitions load their
        # bodies at the top of the region: place the new ones first, clear of the bodies of
        # partitions k+1 .. the last partition that still needs one of them.
        ends = {b.key: b.end for b in live_in[k]}
        fresh = [b for key, b in spans_in_k.items() if key not in carried_offsets]
        horizon = max((ends.get(b.key, k) for b in fresh), default=k)
        future = {f"\0body {j}": (bodies[j], Buffer(f"\0body {j}", prepared[j][1], -1, last))
                  for j in range(k + 1, min(horizon, len(specs) - 1) + 1) if j not in pinned}
        fresh_offsets, _ = assign_offsets(fresh, fixed={**fixed, **future, **others})
        fixed.update({b.key: (fresh_offsets[b.key], b) for b in fresh})
        movable = [Buffer("\0staging", staging, -1, -1)] + internal
        if scratch:
            movable.append(Buffer("\0scratch", scratch, 0, last))
        offsets, _ = assign_offsets(movable, fixed={**fixed, **others})
        total = max([off + b.size for off, b in fixed.values()] + [offsets[b.key] + b.size for b in movable])
        steady = max([off + b.size for off, b in fixed.values()]
                     + [offsets[b.key] + b.size for b in movable if b.key != "\0staging" or k not in pinned])
        offsets.update(fresh_offsets)
        carried_offsets.update({key: offsets[key] for key in spans_in_k if key not in carried_offsets})
        tensor_offsets = {name: carried_offsets[name] for name in spans_in_k}
        tensor_offsets.update({b.key: offsets[b.key] for b in internal})
        tensor_offsets.update({name: offsets[key] for name, key in aliases.items()})
        result.append(PartitionMemory(
            weights=body, arena=peak_of(internal), scratch=scratch, carried=sum(b.size for b in live_in[k]),
            staging=staging, reserve=reserve, total=total, lower_bound=bound,
            body_offset=body_offset, scratch_offset=offsets.get("\0scratch", body_offset),
            staging_offset=offsets["\0staging"], tensor_offsets=tensor_offsets,
            node_order=[node_label(n) for n in order], aliases=aliases,
            pinned=sum(b.size for _, b in others.values()), is_pinned=k in pinned, steady_total=steady))
    return result


def plan_memory(partitions: Sequence[PartitionSpec | onnx.ModelProto], infos: Mapping[str, TensorInfo], *,
                budget: int, staging_bytes: int = STAGING_BYTES, reserve_bytes: int = RESERVE_BYTES,
                body_bytes: Callable[[int], int] | None = None, reorder: bool = True,
                model_outputs: Collection[str] | None = None, cache: dict | None = None,
                shrink: bool = True, pinned: Collection[int] | None = None,
                resident: Collection[str] = ()) -> MemoryPlan:
    """Plan the region for a chain of partitions (execution order).

    The region size R is the first of REGION_STEPS x the largest per-partition liveness floor
    (with `shrink`), else budget - reserve, in which everything fits.
    Partition by partition (steps: -1 = loading, 0..L-1 = ops), the body [-1, L-1] goes to the
    top of R; staging [-1, -1], scratch [0, L-1], the internal activations and the carried
    tensors that first appear in k (its outputs; model inputs in partition 0) are placed, first
    fit from the bottom, around the carried tensors placed before.  A carried tensor keeps its
    offset until its last reader; within k it occupies it only while live (a carried input's bytes are free after its last
    reader in k when no later partition needs it).

    `partitions` are `PartitionSpec`s or standalone partition models.  `body_bytes(k)` gives
    the exact blob body size of partition k; default `target.body_bytes`.  With `reorder`, each
    partition runs in `choose_node_order`; `node_order` names the nodes in run order.
    `model_outputs` (default: the partition outputs no later partition reads) stay resident to
    the end.  `cache` (a dict the caller keeps) memoises per-partition work across calls.
    `pinned`: the partitions whose bodies stay loaded for a stream session (default: the one
    partition of a single-partition model, none otherwise); their bodies count in every
    partition's floor.  `resident`: state inputs, live from before partition 0 to the end.
    """
    specs = [p if isinstance(p, PartitionSpec) else PartitionSpec.of_model(p) for p in partitions]
    staging = align(staging_bytes)
    resident = tuple(sorted(resident))
    spans = carried_intervals(specs, model_outputs, resident)
    carried = [Buffer(b.key, align(infos[b.key].nbytes), b.start, b.end) for b in spans]
    cache = {} if cache is None or body_bytes else cache
    prepared = []
    for k, spec in enumerate(specs):
        kept = frozenset(b.key for b in spans if b.key in spec.inputs and (b.end > k or b.key in resident))
        key = (tuple(node_label(n) for n in spec.nodes), spec.inputs, spec.outputs, kept, reorder)
        if key not in cache:
            order = choose_node_order(spec, infos, kept) if reorder else list(spec.nodes)
            body = align(body_bytes(k) if body_bytes else target.body_bytes(spec.nodes, spec.weights))
            cache[key] = (order, body, scratch_of(order, infos), activation_buffers(spec, infos, order, kept))
        prepared.append(cache[key])
    pinned = frozenset(({0} if len(specs) == 1 else set()) if pinned is None else pinned)
    pinned_bytes = sum(prepared[j][1] for j in pinned)
    live_in = [[b for b in carried if b.start <= k <= b.end] for k in range(len(specs))]
    floors = []
    for k, (order, body, scratch, (own, internal, _)) in enumerate(prepared):
        last = len(order) - 1
        spans_in_k = {b.key: b for b in own}
        for b in live_in[k]:
            spans_in_k.setdefault(b.key, Buffer(b.key, b.size, -1, last))
        floors.append(peak_of(list(spans_in_k.values()) + internal + [
            Buffer("body", body, -1, last), Buffer("staging", staging, -1, -1), Buffer("scratch", scratch, 0, last)])
            + pinned_bytes - (body if k in pinned else 0))
    full = budget - reserve_bytes
    floor = max(floors, default=0)
    sizes = sorted({align(floor * f) for f in REGION_STEPS if align(floor * f) < full}) if shrink else []
    for region in sizes + [full]:
        result = _place_partitions(specs, prepared, live_in, floors, staging, reserve_bytes, region, pinned)
        if all(p.total <= region for p in result):
            break
    region = max((p.total for p in result), default=0)
    return MemoryPlan(budget, region, staging, reserve_bytes, result, floors, resident)
