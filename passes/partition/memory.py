"""The memory model: what partition k needs inside the TA's one region, with every offset planned.

This module is the single truth used by the partitioner (feasibility), the lowering step
(offsets written into each blob) and, through the blob, the TA (bounds checks).

Per partition k (DESIGN.md section 5, RUNTIME-CONTRACT.md)::

    total_k = C_k + W_k + max(A_k + S_k, staging)          (+ reserve, outside the region)

    offset 0 ──────────────┬───────────────┬──────────────────────┬────────────┐
    | carried (C_k)        | body (W_k)    | arena (A_k)          | scratch S_k |
    |                      |               | staging (loading only, overlaps   |
    |                      |               |  arena + scratch)                 |
    0                 body_offset     arena_offset = staging_offset      total_k

- C_k, carried tensors: tensors alive across a partition boundary (model inputs, tensors made
  by an earlier partition and read in k or later, tensors k makes for later partitions, model
  outputs).  Each keeps ONE absolute offset from the partition that produces it (or from
  before partition 0 for model inputs) to its last reader (or to the end, for model outputs).
  The offsets come from the same best-fit planner as the arena, over partition-index
  intervals, keeping the placement with the smallest largest total_k; C_k is the highest
  carried byte live during k.
- W_k, the decrypted blob body (metadata tables + weights, used in place).  Its exact size
  comes from lowering (`body_bytes(k)`); otherwise `estimate_body_bytes` (see there).
- A_k, the activation arena: tensors produced and consumed inside k, placed by liveness
  (`plan_arena`): a tensor occupies its bytes from its producing step to its last reading
  step; element-wise, BatchNormalization and shape-only ops write their output over an
  input that dies there (`alias_source`).  Offsets: best-fit, largest buffer first.
- S_k, the largest scratch any op of k needs (`passes.analysis.scratch.scratch_bytes`).
- staging: the secure buffer encrypted chunks are copied into before decryption.  Loading
  completes before k runs, so staging shares addresses with k's arena and scratch (never
  with the carried zone or the body, which are live while loading).
- reserve: a fixed allowance for the TA's own heap (contexts, manifest, bookkeeping) that the
  region must leave free inside the budget: feasible iff total_k + reserve <= budget.

All offsets and sizes are multiples of ALIGN = 64 bytes.

Inside a partition the node order is chosen to lower the arena (`choose_node_order`): a
greedy "free the most, allocate the least" topological order, kept only when its liveness
lower bound beats the given order's, so the choice is never worse than the given order.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Callable, Collection, Mapping, Sequence

import onnx

from ..analysis.liveness import tensor_lifetimes
from ..analysis.shapes import TensorInfo, graph_inputs as real_graph_inputs
from ..analysis.weights import tensor_nbytes

ALIGN = 64
STAGING_BYTES = 64 * 1024
RESERVE_BYTES = 16 * 1024

# Allowance for the blob body's metadata until the blob format's exact size is known:
# a fixed header, one fixed-width record per node and per tensor.  Generous on purpose.
BODY_HEADER_BYTES = 256
BODY_NODE_BYTES = 128
BODY_TENSOR_BYTES = 64

# In-place aliasing: a node's output may take the bytes of an input that dies at that node.
# Unary element-wise maps (y[i] = f(x[i])), BatchNormalization (per-channel affine) and
# shape-only ops write over their first input when it has the output's byte size; binary
# element-wise ops write over an input of exactly the output's shape (each y[i] is written
# after a[i] and b[broadcast(i)] are read).  Kernels must accept such out == in pointers.
UNARY_ALIAS_OPS = frozenset({
    "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Clip", "Elu", "Selu", "HardSigmoid", "HardSwish", "Softplus",
    "Exp", "Log", "Neg", "Abs", "Sqrt", "Reciprocal", "Identity", "Dropout", "BatchNormalization",
    "Reshape", "Flatten", "Squeeze", "Unsqueeze",
})
BINARY_ALIAS_OPS = frozenset({"Add", "Sub", "Mul", "Div", "Max", "Min"})


def alias_source(node: onnx.NodeProto, dies_here: Callable[[str], bool],
                 infos: Mapping[str, TensorInfo]) -> str | None:
    """The input whose bytes `node`'s first output may reuse, or None (see ALIAS ops above)."""
    if not node.output or not node.output[0] or node.output[0] not in infos:
        return None
    out = infos[node.output[0]]
    if node.op_type in UNARY_ALIAS_OPS:
        candidates = list(node.input[:1])
    elif node.op_type in BINARY_ALIAS_OPS:
        candidates = list(node.input)
    else:
        return None
    for name in candidates:
        if not name or name not in infos or list(node.input).count(name) != 1 or not dies_here(name):
            continue
        info = infos[name]
        if node.op_type in BINARY_ALIAS_OPS and (info.shape != out.shape or info.dtype != out.dtype):
            continue
        if align(info.nbytes) == align(out.nbytes):
            return name
    return None


def align(nbytes: int) -> int:
    """Round up to a multiple of ALIGN."""
    return -(-int(nbytes) // ALIGN) * ALIGN


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
        return cls(nodes, tuple(i.name for i in real_graph_inputs(model)), tuple(o.name for o in graph.output),
                   weights)


def estimate_body_bytes(spec: PartitionSpec, infos: Mapping[str, TensorInfo]) -> int:
    """Blob body bytes without the exact format: aligned weights + metadata allowance.

    body = BODY_HEADER_BYTES + BODY_NODE_BYTES * nodes + BODY_TENSOR_BYTES * tensors
           + sum(align(weight))      (tensors = every distinct name the nodes read or write)
    """
    names = {n for node in spec.nodes for n in list(node.input) + list(node.output) if n}
    return align(BODY_HEADER_BYTES + BODY_NODE_BYTES * len(spec.nodes) + BODY_TENSOR_BYTES * len(names)) + \
        sum(align(b) for b in spec.weights.values())


def body_bytes_of(spec: PartitionSpec, infos: Mapping[str, TensorInfo]) -> int:
    """The blob body size of a partition: the blob format's exact figure when the format module
    provides it, else `estimate_body_bytes`."""
    try:
        from ..lower.format import estimate_body_bytes as exact
    except ImportError:
        return estimate_body_bytes(spec, infos)
    return align(exact(spec, infos))


def scratch_of(nodes: Sequence[onnx.NodeProto], infos: Mapping[str, TensorInfo]) -> int:
    """S_k: the largest scratch (aligned) any of `nodes` needs."""
    return max((node_scratch(node, infos) for node in nodes), default=0)


def node_scratch(node: onnx.NodeProto, infos: Mapping[str, TensorInfo]) -> int:
    """The aligned scratch bytes the interpreter's kernel for `node` needs."""
    try:
        from ..analysis.scratch import scratch_bytes
    except ImportError:  # the kernels' scratch formulas are not in this checkout yet
        return 0
    return align(scratch_bytes(node, infos))


# --------------------------------------------------------------------------------------------
# Offset assignment (shared by the arena and the carried zone)


@dataclass(frozen=True)
class Buffer:
    """`size` bytes needed from step `start` to step `end` (inclusive)."""

    key: str
    size: int
    start: int
    end: int


def _place(buffers: Sequence[Buffer]) -> tuple[dict[str, int], int]:
    """Place buffers in the given sequence: each goes into the smallest gap between the already
    placed, time-overlapping buffers that holds it (best fit), else on top of them."""
    placed: list[tuple[int, Buffer]] = []
    offsets: dict[str, int] = {}
    total = 0
    for buf in buffers:
        conflicts = sorted((off, off + other.size) for off, other in placed
                           if other.start <= buf.end and buf.start <= other.end)
        best_offset, best_gap, cursor = None, None, 0
        for lo, hi in conflicts:
            gap = lo - cursor
            if gap >= buf.size and (best_gap is None or gap < best_gap):
                best_offset, best_gap = cursor, gap
            cursor = max(cursor, hi)
        offset = cursor if best_offset is None else best_offset
        offsets[buf.key] = offset
        placed.append((offset, buf))
        total = max(total, offset + buf.size)
    return offsets, total


# Placement sequences tried by `assign_offsets`: largest first (TFLite Micro's greedy by size),
# by start (an allocator's view), longest-lived first, largest area (size x lifetime) first.
PLACEMENT_ORDERS: tuple[Callable[[Buffer], tuple], ...] = (
    lambda b: (-b.size, b.start, b.key),
    lambda b: (b.start, -b.size, b.key),
    lambda b: (b.start - b.end, -b.size, b.key),
    lambda b: (-b.size * (b.end - b.start + 1), b.key),
    lambda b: (-b.end, -b.size, b.key),
)


def assign_offsets(buffers: Sequence[Buffer],
                   score: Callable[[dict[str, int], int], float] | None = None) -> tuple[dict[str, int], int]:
    """Place buffers so that no two overlapping in time overlap in bytes.

    Best-fit placement in each sequence of PLACEMENT_ORDERS; keeps the placement with the lowest
    `score(offsets, total)` (default: the total).  Returns (offset per key, total bytes).
    """
    score = score or (lambda offsets, total: total)
    best = None
    for key in PLACEMENT_ORDERS:
        offsets, total = _place(sorted(buffers, key=key))
        value = score(offsets, total)
        if best is None or value < best[0]:
            best = (value, offsets, total)
    return (best[1], best[2]) if best else ({}, 0)


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


@dataclass
class ArenaPlan:
    """Arena offsets (relative to the arena start) of a partition's internal tensors."""

    offsets: dict[str, int]
    size: int
    lower_bound: int
    aliases: dict[str, str]  # output tensor -> the tensor whose bytes it reuses


def arena_buffers(spec: PartitionSpec, infos: Mapping[str, TensorInfo],
                  nodes: Sequence[onnx.NodeProto] | None = None) -> tuple[list[Buffer], dict[str, str]]:
    """The arena buffers of `spec` run in `nodes` order (default: spec.nodes), after in-place
    aliasing.  Returns (buffers, alias map tensor -> buffer key)."""
    nodes = list(spec.nodes if nodes is None else nodes)
    lifetimes = tensor_lifetimes(nodes, infos, graph_inputs=spec.inputs, graph_outputs=spec.outputs,
                                 weights=spec.weights)
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
    return buffers, aliases


def plan_arena(spec: PartitionSpec, infos: Mapping[str, TensorInfo],
               nodes: Sequence[onnx.NodeProto] | None = None) -> ArenaPlan:
    """Liveness-planned arena offsets for `spec` run in `nodes` order (default: spec.nodes)."""
    buffers, aliases = arena_buffers(spec, infos, nodes)
    offsets, size = assign_offsets(buffers)
    sized = {b.key for b in buffers}
    for name, key in aliases.items():
        if key in sized:
            offsets[name] = offsets[key]
    return ArenaPlan(offsets, size, peak_of(buffers), aliases)


def arena_lower_bound(spec: PartitionSpec, infos: Mapping[str, TensorInfo],
                      nodes: Sequence[onnx.NodeProto] | None = None) -> int:
    """The liveness lower bound of the arena for this order (aliases counted once)."""
    return peak_of(arena_buffers(spec, infos, nodes)[0])


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


def choose_node_order(spec: PartitionSpec, infos: Mapping[str, TensorInfo]) -> list[onnx.NodeProto]:
    """The node order the partition runs in: the greedy order if its arena lower bound is
    strictly smaller than the given order's, else the given order."""
    given = list(spec.nodes)
    candidate = greedy_order(spec, infos)
    if arena_lower_bound(spec, infos, candidate) < arena_lower_bound(spec, infos, given):
        return candidate
    return given


# --------------------------------------------------------------------------------------------
# The whole plan


@dataclass
class PartitionMemory:
    """Partition k's bytes and absolute offsets in the region."""

    weights: int
    arena: int
    scratch: int
    carried: int
    staging: int
    reserve: int
    total: int
    body_offset: int
    arena_offset: int
    scratch_offset: int
    staging_offset: int
    tensor_offsets: dict[str, int]
    node_order: list[str]
    arena_lower_bound: int
    aliases: dict[str, str] = field(default_factory=dict)

    def breakdown(self) -> dict[str, int]:
        """The manifest's "memory" entry (bytes); total = highest region byte touched."""
        return {"weights": self.weights, "arena": self.arena, "scratch": self.scratch, "carried": self.carried,
                "staging": self.staging, "reserve": self.reserve, "total": self.total}

    def layout(self) -> dict:
        """Offsets the lowering step writes into the blob."""
        return {"body_offset": self.body_offset, "arena_offset": self.arena_offset,
                "scratch_offset": self.scratch_offset, "staging_offset": self.staging_offset,
                "staging_overlaps": "arena+scratch", "tensor_offsets": dict(self.tensor_offsets),
                "aliases": dict(self.aliases), "node_order": list(self.node_order)}


@dataclass
class MemoryPlan:
    """The region size and every partition's breakdown and offsets."""

    budget: int
    region_bytes: int
    staging_bytes: int
    reserve_bytes: int
    partitions: list[PartitionMemory]

    def over_budget(self) -> list[int]:
        """Indices of partitions whose total + reserve exceeds the budget."""
        return [k for k, p in enumerate(self.partitions) if p.total + self.reserve_bytes > self.budget]


def node_label(node: onnx.NodeProto) -> str:
    """The name a plan uses for a node: its name, else its first output."""
    return node.name or node.output[0]


def carried_intervals(specs: Sequence[PartitionSpec], model_outputs: Collection[str] | None = None) -> list[Buffer]:
    """Each carried tensor with the partition-index interval it must stay resident for.

    Model outputs stay to the last partition; by default they are the partition outputs no
    later partition reads."""
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
    return [Buffer(name, 0, s, e) for name, (s, e) in spans.items()]


def plan_memory(partitions: Sequence[PartitionSpec | onnx.ModelProto], infos: Mapping[str, TensorInfo], *,
                budget: int, staging_bytes: int = STAGING_BYTES, reserve_bytes: int = RESERVE_BYTES,
                body_bytes: Callable[[int], int] | None = None, reorder: bool = True,
                model_outputs: Collection[str] | None = None, cache: dict | None = None) -> MemoryPlan:
    """Plan the region for a chain of partitions (execution order).

    `partitions` are `PartitionSpec`s or standalone partition models.  `body_bytes(k)` gives
    the exact blob body size of partition k; default `body_bytes_of`.  With `reorder`, each
    partition runs in `choose_node_order`; `node_order` in the result names the nodes in the
    order the interpreter must run them.  `model_outputs` (default: the partition outputs no
    later partition reads) stay resident to the end.  `cache` (a dict the caller keeps) memoises
    each partition's order, arena, body and scratch across calls that share partitions.
    """
    specs = [p if isinstance(p, PartitionSpec) else PartitionSpec.of_model(p) for p in partitions]
    staging = align(staging_bytes)
    carried = [Buffer(b.key, align(infos[b.key].nbytes), b.start, b.end) for b in carried_intervals(specs, model_outputs)]
    cache = {} if cache is None or body_bytes else cache
    orders, arenas, bodies, scratches = [], [], [], []
    for k, spec in enumerate(specs):
        key = (tuple(node_label(n) for n in spec.nodes), spec.inputs, spec.outputs, reorder)
        if key not in cache:
            order = choose_node_order(spec, infos) if reorder else list(spec.nodes)
            body = align(body_bytes(k)) if body_bytes else body_bytes_of(spec, infos)
            cache[key] = (order, plan_arena(spec, infos, order), body, scratch_of(order, infos))
        for values, item in zip((orders, arenas, bodies, scratches), cache[key]):
            values.append(item)
    above = [w + max(a.size + s, staging) for w, a, s in zip(bodies, arenas, scratches)]
    live_in = [[b for b in carried if b.start <= k <= b.end] for k in range(len(specs))]

    def largest_total(offsets: dict[str, int], _: int) -> int:
        return max((max((offsets[b.key] + b.size for b in live), default=0) + rest
                    for live, rest in zip(live_in, above)), default=0)

    carried_offsets, _ = assign_offsets(carried, largest_total)
    result = []
    for k, spec in enumerate(specs):
        order, arena, weights, scratch, live = orders[k], arenas[k], bodies[k], scratches[k], live_in[k]
        carried_top = max((carried_offsets[b.key] + b.size for b in live), default=0)
        body_offset = carried_top
        arena_offset = body_offset + weights
        scratch_offset = arena_offset + arena.size
        total = arena_offset + max(arena.size + scratch, staging)
        offsets = {b.key: carried_offsets[b.key] for b in live}
        offsets.update({name: arena_offset + off for name, off in arena.offsets.items()})
        result.append(PartitionMemory(
            weights=weights, arena=arena.size, scratch=scratch, carried=carried_top, staging=staging,
            reserve=reserve_bytes, total=total, body_offset=body_offset, arena_offset=arena_offset,
            scratch_offset=scratch_offset, staging_offset=arena_offset, tensor_offsets=offsets,
            node_order=[node_label(n) for n in order], arena_lower_bound=arena.lower_bound,
            aliases=arena.aliases))
    region = max((p.total for p in result), default=0)
    return MemoryPlan(budget, region, staging, reserve_bytes, result)
