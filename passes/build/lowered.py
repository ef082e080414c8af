"""The library's `lower`: from an ONNX model to a sealed bundle checked in the TA simulator.

    lowered = lower_model(model, 8 * 2**20, input_shapes={"x": (1, 3, 224, 224)})
    lowered.report              # what every step did (report.json)
    lowered.save("out/")        # partitions, manifest.json, device/, model.key, compacted.onnx, report.json

`lower_model` runs a list of steps over a `LoweredModel`, each a small function that calls the
library and records what it did in `lowered.report` (and its time in `lowered.seconds`):

    fix shapes     inputs named in `input_values` become constants; every other graph input gets a
                   static shape (`input_shapes` where the model has none); every node a unique
                   name; an op only old opsets have is upgraded (UpgradeLegacyOps); onnxruntime's
                   own quantized ops are expressed in standard ONNX (`passes.quant`)
    prune          (with `prune=PruneOptions(...)`) progressive pruning with the built-in hooks
    compact        the compaction pipeline: weight bytes before/after, one record per pass; an If
                   whose condition stays data-dependent runs both branches and a Where (IfToWhere)
                   when that is exact, else it (or a Loop/Scan) is refused here; 3-D Conv / MaxPool /
                   AveragePool become 2-D ones on depth slices (UnrollDepth)
    analyse        the compacted model's summary (params, MACs, peak activations, largest parts); when
                   a shape cannot be inferred, the op types the interpreter does not have (a custom
                   domain's, e.g. com.microsoft's quantized LSTM) are what is refused, if there are any
    check support  int64 indices narrowed to int32 (`target.narrow_indices`: token ids, constant
                   indices), then every op and attribute the interpreter cannot run, all listed,
                   before any work
    state          the recurrent states the TA keeps between inferences (`states`, else, when lowering
                   for streams, the unambiguous LSTM/GRU/RNN pairs: `analysis/recurrent_state.py`; a
                   single-shot lowering keeps the model's inputs and outputs as they are), on the
                   compacted model
    partition      partitions + the memory plan (exact body sizes) of the narrowed model
    residency      the bodies a stream session keeps pinned (`partition/residency.py`, steady-state
                   cost under the budget) and the memory plan re-made with them
    lower          one plaintext body per partition (never written to disk)
    seal           AES-256-GCM blobs + the authenticated device manifest, kept in memory
    simulate       the sealed bundle in the TA simulator on a sample input: parity with onnxruntime
                   within `parity_tolerance` (a miss is a ParityError: exit 2, per-output errors) and
                   measured == planned memory per partition (else RuntimeError: a bug)

Nothing is written before `save`, which writes the bundle that was checked.  `report.json` holds
`model`, `budget`, `input_shapes`, `compaction`, `analysis`, `partitions`, `simulation`, `pruning`
(when pruned) and `seconds` per step.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import onnxruntime as ort

from ..analysis.recurrent_state import check_state_pairs, detect_state_pairs
from ..analysis.shapes import fix_input_shapes, infer_static_shapes
from ..analysis.summary import summarize
from ..analysis.weights import weight_bytes
from ..compact import compaction_pipeline
from ..compact.freeze_inputs import freeze_inputs
from ..compact.if_to_where import IfToWhere
from ..compact.inline_if import control_flow_problems
from ..compact.legacy_ops import UpgradeLegacyOps
from ..compact.node_names import NameNodesUniquely
from ..compact.unroll_depth import UnrollDepth, has_3d_windows
from ..core import PassRecord, Pipeline
from ..errors import UnsupportedModelError, UserError
from ..lower.envelope import MODEL_ID_BYTES, blob_file_name
from ..lower.keys import generate_key, key_in_output_dir, write_key
from ..lower.pipeline import model_io, parity, partition_bodies, run_in_simulator, sample_feeds, seal_bundle
from ..modelio import save_model
from ..partition.partitioner import PartitionResult, partition_model
from ..partition.residency import REPARTITION_FRACTIONS, pin_for_stream
from ..prune.job import PruneOptions, run_prune
from ..prune.report import write_report
from ..quant import express_quantized
from ..quant.static import QuantizeOptions, quantize_model
from ..quant.steps import output_steps
from ..graph import graph_inputs
from ..target import check_op_types, check_supported, narrow_indices
from .manifest import manifest, sha256, write_manifest, write_partitions

GENERATOR = "onnx-tee lower"
KEY_FILE = "model.key"
DEVICE_DIR = "device"
# Parity of the simulator with onnxruntime, per output, numpy.allclose-style: element i passes when
#     |got_i - ref_i| <= atol + PARITY_RTOL * |ref_i|,   atol = max(PARITY_ATOL * max|ref|, PARITY_FLOOR)
# The absolute term scales with the output (float32 sums over thousands of products differ by ~1e-6
# of the largest value, whatever an element's own size); the floor keeps an output that is all near
# zero (a sigmoid probability map whose largest value is 7e-4) from failing on rounding alone.
PARITY_RTOL = 1e-4
PARITY_ATOL = 1e-4
PARITY_FLOOR = 1e-5
# A quantized output (passes/quant/steps.py: an int8/uint8 output, or a DequantizeLinear's) passes when at
# least this share of its elements is within one quantization step of onnxruntime's (issue 16's criterion:
# integer requantization and onnxruntime's float rounding can differ by a step where a value lies at a tie).
PARITY_STEP_SHARE = 0.999


class ParityError(UserError):
    """The lowered model's outputs in the simulator miss onnxruntime's beyond the tolerance."""


@dataclass(frozen=True)
class OutputParity:
    """How one output compares: max |d|, the worst element's |d| over what it is allowed, max |ref|;
    for a quantized output, the share of its elements within one step."""

    max_abs: float
    worst_ratio: float
    ref_max: float
    within_step: float | None = None

    @property
    def ok(self) -> bool:
        if self.within_step is not None:
            return self.within_step >= PARITY_STEP_SHARE
        return self.worst_ratio <= 1.0


def parity_tolerance(got: np.ndarray, ref: np.ndarray, step: float | None = None) -> OutputParity | None:
    """None when shapes differ, else the comparison (module constants: the documented tolerance; with
    a quantization `step`, the share of elements within it).  A NaN/Inf where the reference has none,
    or the reverse, is a miss."""
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    if got.shape != ref.shape:
        return None
    if not ref.size:
        return OutputParity(0.0, 0.0, 0.0)
    if step is not None:
        diff = np.abs(got - ref)
        within = float(np.mean(diff <= step * (1 + 1e-6)))
        return OutputParity(float(diff.max()), float(diff.max() / step) if step else float("inf"),
                            float(np.abs(ref).max()), within)
    finite = np.isfinite(ref)
    ref_max = float(np.abs(ref[finite]).max()) if finite.any() else 0.0
    atol = max(PARITY_ATOL * ref_max, PARITY_FLOOR)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(got - ref)
    same_special = ~finite & ((got == ref) | (np.isnan(got) & np.isnan(ref)))
    diff = np.where(same_special, 0.0, np.where(np.isfinite(diff), diff, np.inf))
    ratio = diff / (atol + PARITY_RTOL * np.where(finite, np.abs(ref), 0.0))
    return OutputParity(float(diff.max()), float(ratio.max()), ref_max)


@dataclass
class LoweredModel:
    """What `lower_model` makes: the compacted model, its partitions and memory plan, the plaintext
    bodies, the sealed device bundle (file name -> bytes) and the report."""

    label: str
    model: onnx.ModelProto
    budget: int
    input_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    input_values: dict[str, list[str]] = field(default_factory=dict)
    key: bytes = b""
    model_id: bytes = b""     # the release identity the device's rollback guard compares (build/release.py)
    model_version: int = 1
    report: dict = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    records: list[PassRecord] = field(default_factory=list)   # the compaction pipeline's, per pass
    rounds: int = 0
    partition: PartitionResult | None = None
    bodies: list[bytes] = field(default_factory=list)
    device: dict[str, bytes] = field(default_factory=dict)
    narrowed: onnx.ModelProto | None = None  # `model` with its int64 indices as int32 (what is partitioned)
    states: list[tuple[str, str]] | None = None   # recurrent (input, output) pairs the TA keeps; None: detect
    stream: bool = False      # partition for stream sessions: cut smaller where that lets bodies stay pinned

    def save(self, directory: str | Path, *, key_path: str | Path | None = None) -> Path:
        """Write the outputs into `directory` (README, "What lower writes"); the key goes to
        `model.key` (mode 0600) unless the caller keeps it in `key_path`.  Returns the directory."""
        out = Path(directory)
        if key_path is None and self.partition is not None:
            existing = key_in_output_dir(out / KEY_FILE)   # never replaced: a rebuild keeps its key
            if existing is not None and existing != self.key:
                raise UserError(f"{out / KEY_FILE} holds another key than this build was sealed with: "
                                f"lower with --key {out / KEY_FILE}, or save into another directory")
        out.mkdir(parents=True, exist_ok=True)
        for stale in [*out.glob("partition_*.onnx"), *(out / DEVICE_DIR).glob("partition_*.blob")]:
            stale.unlink()   # an earlier run into the same directory may have had more partitions
        if "pruning" in self.report:
            write_report(self.report["pruning"], out)
        if self.partition is not None:
            if key_path is None and not (out / KEY_FILE).exists():
                write_key(out / KEY_FILE, self.key)
            (out / DEVICE_DIR).mkdir(exist_ok=True)
            for name, data in self.device.items():
                (out / DEVICE_DIR / name).write_bytes(data)
            write_manifest(self.manifest(write_partitions(self.partition, out), out, key_path), out)
        save_model(self.model, out / "compacted.onnx")
        report = dict(self.report, seconds=self.seconds)
        (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        return out

    def manifest(self, digests: list[str], out: Path, key_path: str | Path | None) -> dict:
        """manifest.json: the partitioning's, each partition naming its sealed blob."""
        data = manifest(self.partition, self.label, GENERATOR, digests)
        data["key"] = str(key_path or out / KEY_FILE)
        data.update({"model_id": self.model_id.hex(), "model_version": self.model_version})
        # the model's own input types: an int64 input (token ids) is int32 in the partitions and the TA
        data["input_dtypes"] = {v.name: str(onnx.helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type))
                                for v in graph_inputs(self.model)}
        data["state"] = [{"input": i, "output": o} for i, o in self.states or []]
        for k, (entry, body, memory) in enumerate(zip(data["partitions"], self.bodies, self.partition.plan.partitions)):
            blob = blob_file_name(k)
            entry.update({"blob": f"{DEVICE_DIR}/{blob}", "blob_sha256": sha256(out / DEVICE_DIR / blob),
                          "body_bytes": len(body), "body_offset": memory.body_offset})
        return data


Step = Callable[[LoweredModel], None]


def fix_shapes(lowered: LoweredModel) -> None:
    """Freeze the inputs named in `input_values` to constants, give every other graph input a
    static shape (from `input_shapes` where the model has none), name every node uniquely,
    upgrade ops only old opsets have and express onnxruntime's quantized ops in standard ONNX."""
    clash = sorted(set(lowered.input_values) & set(lowered.input_shapes))
    if clash:
        raise UserError(f"input(s) {', '.join(clash)} given both a value and a shape: the value fixes the shape")
    model = fix_input_shapes(freeze_inputs(lowered.model, lowered.input_values), lowered.input_shapes)
    model = NameNodesUniquely()(model).model   # the copy fix_input_shapes made: the caller's model is kept
    lowered.model = express_quantized(UpgradeLegacyOps()(model).model)


def choose_states(lowered: LoweredModel) -> None:
    """The recurrent states the TA keeps: the pairs given (checked), else for a stream lowering the
    unambiguous ones (`analysis/recurrent_state.py`), else none: a single-shot model keeps the
    inputs and outputs onnxruntime gives it, so the caller can pass a state and read it back."""
    if lowered.states is None:
        lowered.states = detect_state_pairs(lowered.model) if lowered.stream else []
    lowered.states = check_state_pairs(lowered.model, lowered.states)
    if lowered.states:
        lowered.report["state"] = [{"input": i, "output": o} for i, o in lowered.states]


def compact(lowered: LoweredModel) -> None:
    """Run the compaction pipeline (then IfToWhere and UnrollDepth where they apply); record weight
    bytes before/after and the per-pass rows."""
    before = weight_bytes(lowered.model)
    result = compaction_pipeline()(lowered.model)
    lowered.model, lowered.records, lowered.rounds = result.model, result.stats["records"], result.stats["rounds"]
    if control_flow_problems(lowered.model):   # an If on the data: both branches + Where, where that is exact
        converted = Pipeline([IfToWhere()], in_place=True)(lowered.model)
        if converted.modified:
            again = compaction_pipeline(in_place=True)(converted.model)
            lowered.model, lowered.rounds = again.model, lowered.rounds + again.stats["rounds"]
            lowered.records = [*lowered.records, *converted.stats["records"], *again.stats["records"]]
    if has_3d_windows(lowered.model):   # 3-D Conv / pools as 2-D ones on depth slices
        unrolled = Pipeline([UnrollDepth()], in_place=True)(lowered.model)
        lowered.model, lowered.records = unrolled.model, [*lowered.records, *unrolled.stats["records"]]
    refused = control_flow_problems(lowered.model)
    if refused:
        more = f" (and {len(refused) - 1} more control-flow node(s))" if len(refused) > 1 else ""
        raise UnsupportedModelError(refused[0] + more)
    lowered.report["compaction"] = {
        "weight_bytes_before": before, "weight_bytes_after": weight_bytes(lowered.model),
        "passes": [{"pass": r.name, "seconds": r.seconds, "bytes_before": r.bytes_before,
                    "bytes_after": r.bytes_after, "modified": r.modified} for r in lowered.records]}


def analyse(lowered: LoweredModel) -> None:
    """Static analysis of the compacted model (params, MACs, peak activations, largest parts)."""
    try:
        summary = summarize(lowered.model)
    except UnsupportedModelError:
        check_op_types(lowered.model)   # an op no shape rule knows: the op is what blocks the model
        raise
    lowered.report["analysis"] = summary.to_json()


def check_support(lowered: LoweredModel) -> None:
    """Narrow int64 indices to int32, then fail before any work if the interpreter cannot run an op or
    attribute (all listed)."""
    lowered.narrowed, narrowed_inputs = narrow_indices(lowered.model)
    if narrowed_inputs:
        lowered.report["narrowed_inputs"] = sorted(narrowed_inputs)
    check_supported(lowered.narrowed, infer_static_shapes(lowered.narrowed))


def partition(lowered: LoweredModel) -> None:
    """Cut the compacted model (its indices narrowed) into partitions that fit the budget, with the
    memory plan."""
    lowered.partition = result = partition_model(lowered.narrowed or lowered.model, lowered.budget,
                                                 resident=tuple(i for i, _ in lowered.states or []))
    lowered.report["partitions"] = {"count": len(result.plan.partitions), "region_bytes": result.plan.region_bytes,
                                    "strategy": result.strategy, "tiling": dict(result.tiling),
                                    "spatial": result.spatial_report(lowered.report["analysis"]["macs"])}


def plan_residency(lowered: LoweredModel) -> None:
    """Choose the bodies a stream session keeps pinned (partition/residency.py; with `stream`, a
    packed partitioning may be cut smaller so that some bodies can stay) and re-plan the memory with
    them: the single-shot plan is the case where none is."""
    lowered.partition, residency = pin_for_stream(lowered.partition,
                                                  repartition=REPARTITION_FRACTIONS if lowered.stream else ())
    lowered.report["partitions"].update({
        "count": len(lowered.partition.plan.partitions), "region_bytes": lowered.partition.plan.region_bytes,
        "tiling": dict(lowered.partition.tiling), "pinned": sorted(residency.pinned),
        "residency": {"method": residency.method, "steady_seconds_beside_compute": residency.seconds,
                      "plans_checked": residency.plans_checked}})


def lower_bodies(lowered: LoweredModel) -> None:
    """Translate every partition into the body the TA interpreter runs."""
    lowered.bodies = partition_bodies(lowered.partition, lowered.model)


def seal(lowered: LoweredModel) -> None:
    """Encrypt the bodies under the model key (a new one unless given): blobs + device manifest."""
    lowered.key = lowered.key or generate_key()
    lowered.model_id = lowered.model_id or os.urandom(MODEL_ID_BYTES)
    with tempfile.TemporaryDirectory(prefix="onnx-tee-seal-") as tmp:
        seal_bundle(lowered.bodies, lowered.partition, lowered.model, lowered.key, Path(tmp),
                    model_id=lowered.model_id, model_version=lowered.model_version, states=lowered.states or [])
        lowered.device = {path.name: path.read_bytes() for path in sorted(Path(tmp).iterdir())}


def simulate(lowered: LoweredModel) -> None:
    """Run the sealed bundle in the simulator on a sample input; compare with onnxruntime and the plan."""
    inputs, outputs = model_io(lowered.model)
    feeds = sample_feeds(lowered.model, lowered.partition.infos)
    for state_in, _ in lowered.states or []:   # the TA starts every state at zero
        feeds[state_in] = np.zeros_like(feeds[state_in])
    kept_in, kept_out = {i for i, _ in lowered.states or []}, {o for _, o in lowered.states or []}
    with tempfile.TemporaryDirectory(prefix="onnx-tee-device-") as tmp:
        for name, data in lowered.device.items():
            (Path(tmp) / name).write_bytes(data)
        got, stats = run_in_simulator(Path(tmp), lowered.key, lowered.budget, feeds,
                                      [n for n in inputs if n not in kept_in], [n for n in outputs if n not in kept_out])
    outputs = [n for n in outputs if n not in kept_out]   # a state output never leaves the TA
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(lowered.model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    expected = dict(zip(outputs, session.run(outputs, feeds)))
    report, steps = parity(got, expected), output_steps(lowered.model)
    lowered.report["simulation"] = {
        "max_abs_error": report.max_abs, "max_rel_error": report.max_rel,
        "tolerance": {"rtol": PARITY_RTOL, "atol_of_max_ref": PARITY_ATOL, "atol_floor": PARITY_FLOOR,
                      "quantization_steps": steps, "within_one_step_share": PARITY_STEP_SHARE},
        "heap_high_water": stats.heap_high_water, "invocations": stats.invocations,
        "bytes_in": stats.bytes_in, "bytes_out": stats.bytes_out,
        "partitions": [{"planned": p.planned_bytes, "measured": p.touched_bytes, "load_seconds": p.load_seconds,
                        "compute_seconds": p.compute_seconds} for p in stats.partitions]}
    check_parity(got, expected, steps)
    mismatched = [p.index for p in stats.partitions if p.touched_bytes != p.planned_bytes]
    if mismatched:
        raise RuntimeError(f"partitions {mismatched}: measured memory differs from the plan")


def check_parity(got: dict[str, np.ndarray], expected: dict[str, np.ndarray],
                 steps: dict[str, float] | None = None) -> None:
    """Raise ParityError (one line, every output that misses) unless every output has onnxruntime's
    type and is within the tolerance (PARITY_* above; integer and boolean outputs by value; a quantized
    output's `steps`: PARITY_STEP_SHARE of it within one step)."""
    misses = []
    for name, ref in expected.items():
        result = parity_tolerance(got[name], ref, (steps or {}).get(name))
        if np.asarray(got[name]).dtype != np.asarray(ref).dtype:
            misses.append(f"'{name}': {np.asarray(got[name]).dtype}, onnxruntime's {np.asarray(ref).dtype}")
        elif result is None:
            misses.append(f"'{name}': shape {list(np.shape(got[name]))}, onnxruntime's {list(np.shape(ref))}")
        elif result.within_step is not None and not result.ok:
            misses.append(f"'{name}': {result.within_step:.4%} of the elements within one quantization step "
                          f"({(steps or {})[name]:.3g}), needs {PARITY_STEP_SHARE:.1%}")
        elif not result.ok:
            misses.append(f"'{name}': max|d| {result.max_abs:.3g} (max|ref| {result.ref_max:.3g}), worst element "
                          f"{result.worst_ratio:.3g}x its tolerance")
    if misses:
        raise ParityError(f"the simulator's outputs differ from onnxruntime's beyond |d| <= max({PARITY_ATOL:g}"
                          f"*max|ref|, {PARITY_FLOOR:g}) + {PARITY_RTOL:g}*|ref| on {len(misses)} of "
                          f"{len(expected)} output(s): " + "; ".join(misses))


def quantize_step(options: QuantizeOptions) -> Step:
    """A step that quantizes the (pruned) model as `options` say, expresses it in the integer ops the
    target runs, and records the quantization report."""
    def quantize(lowered: LoweredModel) -> None:
        quantized, report = quantize_model(lowered.model, options, label=lowered.label)
        lowered.model = express_quantized(quantized)
        lowered.report["quantization"] = report
    return quantize


def prune_step(options: PruneOptions) -> Step:
    """A step that prunes the model as `options` say and records the pruning report."""
    def prune(lowered: LoweredModel) -> None:
        outcome, report = run_prune(lowered.model, options, label=lowered.label)
        lowered.model = outcome.model
        lowered.report["pruning"] = report
    return prune


def front_end(model: onnx.ModelProto, *, label: str = "model") -> onnx.ModelProto:
    """`model` as `lower` partitions it: its first two steps, `fix_shapes` (inputs with the model's own
    static shapes) and `compact` (compaction, and If on the data as Where); `model` is not changed."""
    lowered = LoweredModel(label, model, 0)
    fix_shapes(lowered)
    compact(lowered)
    return lowered.model


STEPS: list[tuple[str, Step]] = [("fix shapes", fix_shapes), ("compact", compact), ("analyse", analyse),
                                 ("check support", check_support), ("state", choose_states), ("partition", partition),
                                 ("residency", plan_residency), ("lower", lower_bodies), ("seal", seal), ("simulate", simulate)]


def lower_model(model: onnx.ModelProto, budget: int, *, label: str = "model",
                input_shapes: dict[str, tuple[int, ...]] | None = None,
                input_values: dict[str, list[str]] | None = None, key: bytes | None = None,
                model_id: bytes | None = None, model_version: int = 1,
                prune: PruneOptions | None = None, quantize: QuantizeOptions | None = None,
                steps: list[tuple[str, Step]] | None = None,
                states: list[tuple[str, str]] | None = None, stream: bool = False) -> LoweredModel:
    """Run `steps` (default `STEPS`; `prune` inserts pruning after the input shapes are fixed, `quantize`
    int8 quantization after that) over
    `model` under `budget` bytes, timing each; `model` is not changed (module docstring).  The bundle is
    sealed under `key` (a new one if None) for release `model_id` (random if None) / `model_version`.
    `states`: the recurrent (input, output) pairs the TA keeps between inferences; None detects the
    unambiguous ones with `stream` (none without), [] keeps none.  `stream`: favour the steady state
    of stream sessions over the single shot (the residency plan may cut the model into more, smaller
    partitions)."""
    if steps is None:
        steps = list(STEPS)
        if quantize is not None:
            steps.insert(1, ("quantize", quantize_step(quantize)))
        if prune is not None:
            steps.insert(1, ("prune", prune_step(prune)))
    lowered = LoweredModel(label, model, budget, dict(input_shapes or {}), dict(input_values or {}), key=key or b"",
                           model_id=model_id or b"", model_version=model_version,
                           states=None if states is None else list(states), stream=stream)
    lowered.report.update({"model": label, "budget": budget,
                           "input_shapes": {k: list(v) for k, v in lowered.input_shapes.items()}})
    if lowered.input_values:
        lowered.report["input_values"] = dict(lowered.input_values)
    for name, step in steps:
        start = time.perf_counter()
        step(lowered)
        lowered.seconds[name] = time.perf_counter() - start
    return lowered
