"""Where the interpreter's compute time goes: per-op times of a profiled simulator run, by op type.

A simulator run with `profile=True` records every op's eval time (`sim.OpTime`, interp/profile.h).
Op k of a partition body is the k-th node of the partition model that is not a Constant (the body
is written from the same planned node order, `bodies.lower_partition`), so each time can be put
beside its ONNX node: its op type, the kernel path it takes, its MACs (`analysis.macs`)::

    ops = describe_partitions(partition_models)             # per partition: OpInfo per body op
    samples = [op_samples(ops, stats) for stats in runs]    # per profiled run: OpSample per op
    profile = summarise(samples, compute_cpu_seconds, revalidate_seconds, wipe_seconds)
    print(markdown(profile.to_json(), "model"))

A Conv marked fused (it ran the activation after it, RT_PREP_FUSED) counts the activation's time;
the activation itself runs nothing (RT_PREP_APPLIED) and is left out.  Op times are wall time (a
thread CPU clock costs a system call per read); the minimum per op over several runs leaves out the
preemptions of a loaded machine, which only ever add time (a median still caught them on a 2-core
machine at load 5-10).  The compute time is the runs' median thread CPU time; the run command's
revalidation of the body and (models of several partitions) its wipe of the finished body are timed
apart (minimum over the runs), and `other` is what is left: the TA command, the dispatch loop.

Kernel paths name what `kernels/conv.c` and `kernels/gemm.c` do with a node, so that a table row
is one piece of code: `Conv dw 5x5/s2` (depthwise, direct), `Conv grouped 3x3/s1` (c_in/group > 1,
group > 1), `Conv 1x1` (GEMM on the input in place), `Conv 1x1 small map` (at most 64 pixels:
the transposed product on transposed weights, `kernels/pointwise_wt.c`), `Conv 3x3/s2` (im2col + GEMM),
`Gemm M=1`.
"""
from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Mapping, Sequence

import onnx

from ..analysis.macs import node_macs
from ..analysis.shapes import TensorInfo, infer_static_shapes
from ..analysis.spatial import window_geometry
from ..graph import attribute, node_label
from ..target.scratch import conv_wt_ok
from . import format as fmt
from .sim import OpTime, RunStats

PREP_FUSED = 0x1     # RT_PREP_FUSED (interp/ops/ops.h)
PREP_APPLIED = 0x2   # RT_PREP_APPLIED
CODE_NAMES = {code: name for name, code in fmt.OP_CODES.items()}


@dataclass(frozen=True)
class OpInfo:
    """A body op as its ONNX node: name, op type, kernel path, MACs, output shape."""

    name: str
    op_type: str
    path: str
    macs: int
    shape: tuple[int, ...]


def conv_path(node: onnx.NodeProto, infos: Mapping[str, TensorInfo]) -> str:
    """The kern_conv_act path of a Conv node: depthwise, grouped, 1x1 (pointwise; on a small map,
    `conv_wt_ok`: the transposed product when its weights are stored transposed) or im2col."""
    weight = infos[node.input[1]].shape
    c_in = infos[node.input[0]].shape[1]
    group = int(attribute(node, "group", 1))
    kernel = "x".join(str(k) for k in weight[2:]) or "1"
    strides = attribute(node, "strides", None) or [1] * (len(weight) - 2)
    dilations = attribute(node, "dilations", None) or [1] * (len(weight) - 2)
    window = f"{kernel}/s{max(strides)}" + (f"d{max(dilations)}" if max(dilations) > 1 else "")
    if c_in // group == 1:
        return f"Conv dw {window}"
    if group > 1:
        return f"Conv grouped {window}"
    pads = attribute(node, "pads", None) or [0]
    if all(k == 1 for k in weight[2:]) and max(strides) == 1 and max(pads) == 0 \
            and attribute(node, "auto_pad", b"NOTSET") in (b"NOTSET", b"VALID"):
        return "Conv 1x1 small map" if conv_wt_ok(window_geometry(node, infos)) else "Conv 1x1"
    return f"Conv {window}"


def kernel_path(node: onnx.NodeProto, infos: Mapping[str, TensorInfo]) -> str:
    """The kernel path of a node (Conv: `conv_path`; Gemm/MatMul by their row count M); its op type
    for every other op."""
    try:
        if node.op_type == "Conv":
            return conv_path(node, infos)
        if node.op_type in ("Gemm", "MatMul"):
            a = infos[node.input[0]].shape
            rows = a[1] if node.op_type == "Gemm" and attribute(node, "transA", 0) else \
                (a[-2] if len(a) >= 2 else 1)
            return f"{node.op_type} M={rows}" if rows < 8 else f"{node.op_type} M>=8"
    except (KeyError, IndexError):
        pass
    return node.op_type


def describe_ops(nodes: Sequence[onnx.NodeProto], infos: Mapping[str, TensorInfo]) -> list[OpInfo]:
    """One OpInfo per body op of a partition running `nodes` in this order (Constant nodes are not ops)."""
    ops = []
    for node in nodes:
        if node.op_type == "Constant":
            continue
        try:
            macs = node_macs(node, infos)
        except Exception:   # noqa: BLE001 - MACs are a figure of the report, not a condition of it
            macs = 0
        out = next((o for o in node.output if o), "")
        ops.append(OpInfo(node_label(node), node.op_type, kernel_path(node, infos), int(macs),
                          tuple(infos[out].shape) if out in infos else ()))
    return ops


def describe_partitions(models: Sequence[onnx.ModelProto]) -> list[list[OpInfo]]:
    """`describe_ops` of every standalone partition model (shapes inferred per partition)."""
    return [describe_ops(list(m.graph.node), infer_static_shapes(m)) for m in models]


@dataclass(frozen=True)
class OpSample:
    """One op of one profiled run."""

    partition: int
    index: int
    info: OpInfo
    fused: str          # the op type of the activation a fused Conv also ran, else ""
    seconds: float


def op_samples(described: Sequence[Sequence[OpInfo]], stats: RunStats) -> list[OpSample]:
    """Every op of a profiled run (fused-away activations left out) beside its node.  A partition
    whose op count differs from its model's nodes is labelled by op codes alone."""
    samples = []
    for part in stats.partitions:
        times: Sequence[OpTime] = part.ops or []
        infos = described[part.index] if part.index < len(described) else []
        for k, t in enumerate(times):
            if t.flags & PREP_APPLIED:
                continue
            if len(infos) == len(times):
                info = infos[k]
                fused = infos[k + 1].op_type if t.flags & PREP_FUSED and k + 1 < len(infos) else ""
            else:
                name = CODE_NAMES.get(t.op, f"op{t.op}")
                info, fused = OpInfo(f"{part.index}:{k}", name, name, 0, ()), ""
            samples.append(OpSample(part.index, k, info, fused, t.seconds))
    return samples


@dataclass
class Row:
    """A group of ops (by op type or by kernel path): calls, time, MACs."""

    key: str
    calls: int = 0
    seconds: float = 0.0
    macs: int = 0
    fused: dict[str, int] = field(default_factory=dict)   # activation type -> calls that fused it


@dataclass
class Profile:
    """Every op's minimum time over the profiled runs, grouped by op type and by kernel path."""

    compute_s: float                 # median thread CPU compute time of the runs
    ops_s: float                     # the sum of the per-op times
    by_type: list[Row]
    by_path: list[Row]
    top: list[tuple[OpSample, float]]    # the most expensive ops: (op, seconds)
    revalidate_s: float = 0.0        # the run commands' revalidation of the bodies
    wipe_s: float = 0.0              # their wipes of the finished bodies

    @property
    def other_s(self) -> float:
        return max(self.compute_s - self.ops_s - self.revalidate_s - self.wipe_s, 0.0)

    def to_json(self) -> dict:
        return {"compute_s": self.compute_s, "ops_s": self.ops_s, "revalidate_s": self.revalidate_s,
                "wipe_s": self.wipe_s, "other_s": self.other_s,
                "by_type": [asdict(r) for r in self.by_type], "by_path": [asdict(r) for r in self.by_path],
                "top": [{"partition": s.partition, "index": s.index, **asdict(s.info), "fused": s.fused,
                         "seconds": t} for s, t in self.top]}


def _group(ops: Sequence[tuple[OpSample, float]], key) -> list[Row]:
    rows: dict[str, Row] = defaultdict(lambda: Row(""))
    for sample, seconds in ops:
        row = rows[key(sample)]
        row.key = key(sample)
        row.calls += 1
        row.seconds += seconds
        row.macs += sample.info.macs
        if sample.fused:
            row.fused[sample.fused] = row.fused.get(sample.fused, 0) + 1
    return sorted(rows.values(), key=lambda r: -r.seconds)


def summarise(runs: Sequence[Sequence[OpSample]], compute_seconds: Sequence[float],
              revalidate_seconds: Sequence[float] = (), wipe_seconds: Sequence[float] = (), *,
              top: int = 15) -> Profile:
    """The profile of several runs of one deployment (the same ops in each), their compute times and
    the time of their revalidations and body wipes (per run, summed over partitions): every op's
    minimum time, grouped by op type and by kernel path, slowest first; `top` ops by time."""
    if not runs:
        raise ValueError("no profiled run to summarise")
    first = runs[0]
    times = [(s, min(run[i].seconds for run in runs)) for i, s in enumerate(first)]
    return Profile(statistics.median(compute_seconds), sum(t for _, t in times),
                   _group(times, lambda s: s.info.op_type), _group(times, lambda s: s.info.path),
                   sorted(times, key=lambda m: -m[1])[:top], min(revalidate_seconds, default=0.0),
                   min(wipe_seconds, default=0.0))


def run_phases(stats: RunStats) -> tuple[float, float]:
    """A profiled run's revalidation and body-wipe seconds, summed over its partitions."""
    return (sum(p.revalidate_seconds or 0.0 for p in stats.partitions),
            sum(p.wipe_seconds or 0.0 for p in stats.partitions))


def _gmacs(macs: int, seconds: float) -> str:
    return f"{macs / seconds / 1e9:.1f}" if macs and seconds > 0 else ""


def markdown(profile: dict, title: str) -> str:
    """A profile (`Profile.to_json()`) as markdown: by op type, by kernel path, the most expensive ops."""
    total = profile["compute_s"] or 1.0
    lines = [f"### {title}", "",
             f"compute {profile['compute_s'] * 1e3:.3f} ms (thread CPU time): ops {profile['ops_s'] * 1e3:.3f} ms, "
             f"revalidation {profile.get('revalidate_s', 0.0) * 1e3:.3f} ms, body wipe "
             f"{profile.get('wipe_s', 0.0) * 1e3:.3f} ms, other (TA command, dispatch) "
             f"{profile['other_s'] * 1e3:.3f} ms", ""]
    for heading, rows in (("op type", profile["by_type"]), ("kernel path", profile["by_path"])):
        lines += [f"| {heading} | calls | ms | % of compute | MMACs | GMAC/s | fused activations |",
                  "|---|---:|---:|---:|---:|---:|---|"]
        for r in rows:
            fused = ", ".join(f"{k} {v}" for k, v in sorted(r["fused"].items()))
            lines.append(f"| {r['key']} | {r['calls']} | {r['seconds'] * 1e3:.3f} | "
                         f"{100 * r['seconds'] / total:.1f} | {r['macs'] / 1e6:.1f} | "
                         f"{_gmacs(r['macs'], r['seconds'])} | {fused} |")
        lines.append("")
    lines += ["| most expensive ops | kernel path | output | ms | GMAC/s |", "|---|---|---|---:|---:|"]
    for t in profile["top"]:
        path = t["path"] + (f" + {t['fused']}" if t["fused"] else "")
        lines.append(f"| {t['partition']}:{t['index']} {t['name']} | {path} | {list(t['shape'])} | "
                     f"{t['seconds'] * 1e3:.3f} | {_gmacs(t['macs'], t['seconds'])} |")
    return "\n".join(lines) + "\n"
