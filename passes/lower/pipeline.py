"""From a partitioned model to a deployable bundle, and back through the simulator.

    bodies = partition_bodies(result, model)                 # plaintext bodies (bodies.py)
    paths = seal_bundle(bodies, result, model, key, out / "device")   # encrypted blobs + device manifest
    report = check_in_simulator(out / "device", key, budget, model, feeds)   # parity with onnxruntime

The plaintext bodies never touch the disk: only their AES-256-GCM blobs do (envelope.py).
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import onnx
from onnx import helper

from ..analysis.shapes import graph_inputs
from ..target import index_bounds
from . import format as fmt
from .envelope import PartitionBody, TensorSlot, seal_model
from .bodies import lower_plan


def model_io(model: onnx.ModelProto) -> tuple[list[str], list[str]]:
    """The model's real graph input names and its output names, in graph order."""
    return [i.name for i in graph_inputs(model)], [o.name for o in model.graph.output]


def partition_bodies(result, model: onnx.ModelProto) -> list[bytes]:
    """The body of every partition of a `PartitionResult` (model = the model that was partitioned,
    whose graph inputs/outputs are the model's)."""
    inputs, outputs = model_io(model)
    return lower_plan(result.model, result.infos, result.specs, result.plan, inputs, outputs)


def io_slots(result, names: list[str], partition: int, model_dtypes: Mapping[str, int] | None = None
             ) -> list[TensorSlot]:
    """Where the model inputs (partition 0) or outputs (last partition) lie in the region: the region's
    bytes (an int64 input narrowed to int32 takes 4 bytes an element) and the model's own ONNX type
    (`model_dtypes`, else the partitioned model's)."""
    offsets = result.plan.partitions[partition].tensor_offsets
    slots = []
    for name in names:
        info = result.infos[name]
        dtype = (model_dtypes or {}).get(name, helper.np_dtype_to_tensor_dtype(info.dtype))
        slots.append(TensorSlot(int(offsets[name]), int(info.nbytes), int(dtype), tuple(int(d) for d in info.shape)))
    return slots


def model_dtypes(model: onnx.ModelProto) -> dict[str, int]:
    """The ONNX element type of every graph input and output of `model`."""
    return {v.name: v.type.tensor_type.elem_type for v in [*graph_inputs(model), *model.graph.output]}


def seal_bundle(bodies: list[bytes], result, model: onnx.ModelProto, key: bytes, device_dir: Path, *,
                model_id: bytes | None = None, model_version: int = 1,
                states: list[tuple[str, str]] = ()) -> tuple[Path, list[Path]]:
    """Encrypt the bodies into `device_dir` (blobs + device manifest) with the plan's offsets; the
    manifest's I/O types are `model`'s (the model before its indices were narrowed to int32).
    `states`: recurrent (input name, output name) pairs the TA keeps."""
    plan = result.plan
    inputs, outputs = model_io(model)
    dtypes = model_dtypes(model)
    parts = [PartitionBody(body, p.body_offset, p.staging_offset, p.total, p.is_pinned)
             for body, p in zip(bodies, plan.partitions)]
    return seal_model(parts, key=key, out_dir=device_dir, region_bytes=plan.region_bytes,
                      staging_bytes=plan.staging_bytes, inputs=io_slots(result, inputs, 0, dtypes),
                      outputs=io_slots(result, outputs, len(bodies) - 1, dtypes), format_version=fmt.VERSION,
                      model_id=model_id, model_version=model_version,
                      states=[(inputs.index(i), outputs.index(o)) for i, o in states])


@dataclass
class Parity:
    """max |a - b| and max |a - b| / max |b| per output."""

    max_abs: dict[str, float]
    max_rel: dict[str, float]

    @property
    def worst_rel(self) -> float:
        return max(self.max_rel.values(), default=0.0)

    @property
    def worst_abs(self) -> float:
        return max(self.max_abs.values(), default=0.0)


def parity(actual: Mapping[str, np.ndarray], expected: Mapping[str, np.ndarray]) -> Parity:
    abs_err, rel_err = {}, {}
    for name, ref in expected.items():
        ref = np.asarray(ref, np.float64)   # integer and boolean outputs compare by value
        diff = float(np.abs(np.asarray(actual[name], np.float64) - ref).max()) if ref.size else 0.0
        abs_err[name] = diff
        rel_err[name] = diff / max(float(np.abs(ref).max()) if ref.size else 0.0, 1e-30)
    return Parity(abs_err, rel_err)


def run_in_simulator(device_dir: Path, key: bytes, budget: int, feeds: Mapping[str, np.ndarray],
                     input_names: list[str], output_names: list[str], *, encrypt_io: bool = False,
                     profile: bool = False):
    """Run the bundle on a fresh simulated device provisioned with `key`: (outputs by name, RunStats).

    `encrypt_io`: inputs and outputs cross shared memory sealed under a session key (sealed_io.py).
    `profile`: every op's time in the partitions' stats (`PartitionStats.ops`, profile.py)."""
    from .sim import Simulator

    with tempfile.TemporaryDirectory(prefix="onnx-tee-device-") as storage:
        with Simulator(storage, budget=budget, profile=profile) as sim:
            sim.provision_key(key)
            arrays, stats = sim.run_bundle(device_dir, [feeds[name] for name in input_names],
                                           sealed_io_key=key if encrypt_io else None)
    return dict(zip(output_names, arrays)), stats


def run_stream_in_simulator(device_dir: Path, key: bytes, budget: int, steps: list[Mapping[str, np.ndarray]],
                            input_names: list[str], output_names: list[str],
                            initial_states: Mapping[int, np.ndarray] | None = None):
    """Run a stream of inferences in one session on a fresh simulated device provisioned with `key`:
    (outputs by name per inference, StepStats per inference, the session's heap high-water mark).
    `input_names` / `output_names` are the model's non-state inputs / outputs, in model order;
    `initial_states`: model input index -> the state it starts from (default zero)."""
    from .sim import Simulator

    with tempfile.TemporaryDirectory(prefix="onnx-tee-device-") as storage:
        with Simulator(storage, budget=budget) as sim:
            sim.provision_key(key)
            arrays, stats = sim.run_stream(device_dir, [[feeds[name] for name in input_names] for feeds in steps],
                                           initial_states=dict(initial_states or {}))
            heap = int(sim.lib.ot_sim_heap_peak())
    return [dict(zip(output_names, step)) for step in arrays], stats, heap


def sample_feeds(model: onnx.ModelProto, infos, seed: int = 0) -> dict[str, np.ndarray]:
    """A sample input for every model input (static shapes), in the model's own type: standard normal
    floats; integer inputs read as indices uniform over [0, the smallest table they index); booleans
    uniform; other integer inputs (quantized int8/uint8 data) uniform over their type's range."""
    rng = np.random.default_rng(seed)
    bounds, dtypes = index_bounds(model, infos), model_dtypes(model)
    feeds = {}
    for name in model_io(model)[0]:
        shape, dtype = infos[name].shape, np.dtype(helper.tensor_dtype_to_np_dtype(dtypes[name]))
        if name in bounds:
            feeds[name] = rng.integers(0, bounds[name], shape).astype(dtype)
        elif dtype == np.bool_:
            feeds[name] = rng.integers(0, 2, shape).astype(np.bool_)
        elif dtype.kind in "iu":
            feeds[name] = rng.integers(np.iinfo(dtype).min, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype)
        else:
            feeds[name] = rng.standard_normal(shape).astype(np.float32)
    return feeds
