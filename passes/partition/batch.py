"""Segment totals for many segments after one executed set at once (numpy), for the exact search.

The figure is `cost.segment_cost(graph, S, limits, done).total` -- body + max(peak + scratch,
loading + staging) -- for every row S of a boolean matrix (segments x nodes), with the same
rules, written as array operations over (segments x tensors):

- a tensor is *later* when it is a model output or one of its readers lies outside done + S;
- a carried input (made by `done`, or a model input) still read outside `done` is loaded, and
  lives on S's steps up to its last reader in S, or on all of them when it is later;
- a tensor made in S lives from its producer's step (the next step of S when it is written in
  place over an input made in S, `graph.alias_of`, and is not later) to its last reader in S,
  or to the end when it is later;
- peak = the largest sum over S's steps (its nodes, in the graph's order) of the live bytes,
  through a difference array per row; body and scratch through node incidence.

`tests/test_partition_optimality.py` checks it against `segment_cost` on sampled segments.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .cost import Limits
from .graph import PartitionGraph
from ..target import ALIGN, BODY_HEADER_BYTES, BODY_NODE_BYTES, BODY_TENSOR_BYTES


@dataclass
class BatchTables:
    uses: np.ndarray          # nodes x names: node reads or writes the name (weights included)
    users: np.ndarray         # names x U: the nodes using each name, padded with n ("no node")
    name_weight: np.ndarray   # aligned weight bytes per name (0 for activations)
    scratch: np.ndarray       # per node
    producer: np.ndarray      # per tensor (-1: model input)
    size: np.ndarray          # per tensor, aligned bytes
    output: np.ndarray        # per tensor: a model output
    alias: np.ndarray         # per tensor: producer of the input it may be written over, else -1
    readers: np.ndarray       # tensors x R: reader node indices, -1 padded

    @classmethod
    def build(cls, graph: PartitionGraph) -> "BatchTables":
        n = graph.n
        names = sorted({x for node in graph.nodes for x in node.input if x} |
                       {x for outs in graph.node_outputs for x in outs})
        column = {x: k for k, x in enumerate(names)}
        uses = np.zeros((n, len(names)), dtype=np.float32)
        for v, node in enumerate(graph.nodes):
            for x in list(node.input) + list(graph.node_outputs[v]):
                if x:
                    uses[v, column[x]] = 1
        users = [np.flatnonzero(uses[:, k]) for k in range(len(names))]
        padded = np.full((len(names), max((len(u) for u in users), default=1) or 1), n, dtype=np.int64)
        for k, u in enumerate(users):
            padded[k, :len(u)] = u
        tensors = list(graph.producer)
        width = max((len(set(graph.consumers.get(t, ()))) for t in tensors), default=0)
        readers = np.full((len(tensors), max(width, 1)), -1, dtype=np.int64)
        for k, t in enumerate(tensors):
            consumers = sorted(set(graph.consumers.get(t, ())))
            readers[k, :len(consumers)] = consumers
        return cls(uses, padded, np.array([graph.weight_size.get(x, 0) for x in names], dtype=np.int64),
                   np.array(graph.node_scratch, dtype=np.int64),
                   np.array([graph.producer[t] for t in tensors], dtype=np.int64),
                   np.array([graph.size[t] for t in tensors], dtype=np.int64),
                   np.array([t in graph.model_outputs for t in tensors], dtype=bool),
                   np.array([graph.producer[graph.alias_of[t]] if t in graph.alias_of else -1 for t in tensors],
                            dtype=np.int64),
                   readers)


def segment_totals(tables: BatchTables, done: np.ndarray, segments: np.ndarray, limits: Limits) -> np.ndarray:
    """total of each row of `segments` (bool, rows x nodes, disjoint from `done`) run after the
    down-closed set `done` (bool per node)."""
    t = tables
    rows, n = segments.shape
    if not rows:
        return np.zeros(0, dtype=np.int64)
    # column n: "no node" (never in), column n + 1: "no reader" (always in)
    seg = np.concatenate([segments, np.zeros((rows, 1), dtype=bool), np.ones((rows, 1), dtype=bool)], axis=1)
    hits = seg[:, t.users].any(axis=2)
    body = BODY_HEADER_BYTES + BODY_NODE_BYTES * segments.sum(axis=1) + BODY_TENSOR_BYTES * hits.sum(axis=1)
    body = -(-body // ALIGN) * ALIGN + hits.astype(np.int64) @ t.name_weight
    scratch = np.where(segments, t.scratch, 0).max(axis=1)

    carried = (t.producer < 0) | done[np.maximum(t.producer, 0)]
    valid = t.readers >= 0
    read_outside_done = (valid & ~done[np.maximum(t.readers, 0)]).any(axis=1)
    needed = carried & (t.output | read_outside_done)
    loading = int(t.size[needed].sum())
    made_here = ~carried & (t.producer >= 0)

    whole = seg | np.append(done, [False, True])
    later = t.output | ~whole[:, np.where(valid, t.readers, n + 1)].all(axis=2)  # a reader outside done + S
    last = np.where(carried, -1, t.producer)[None, :].repeat(rows, axis=0)
    for k in range(t.readers.shape[1]):
        reader = np.where(valid[:, k], t.readers[:, k], n)
        last = np.where(seg[:, reader], np.maximum(last, reader), last)
    present = np.where(carried, needed, seg[:, np.where(made_here, t.producer, n)])
    alias = np.where(made_here & (t.alias >= 0), t.alias, n)
    begin = np.where(carried, 0, t.producer + (~later & seg[:, alias]))
    end = np.where(later, n - 1, last)
    active = present & (begin <= end)
    weight = np.where(active, t.size, 0).ravel()
    base = (np.arange(rows) * (n + 1))[:, None]
    diff = np.bincount((base + begin).ravel(), weight, minlength=rows * (n + 1)) - \
        np.bincount((base + end + 1).ravel(), weight, minlength=rows * (n + 1))
    profile = np.cumsum(diff.reshape(rows, n + 1)[:, :n], axis=1)
    peak = np.where(segments, profile, 0).max(axis=1).astype(np.int64)
    return body + np.maximum(peak + scratch, loading + limits.staging)
