"""`python cli.py run DIR --input X.npy|X.npz [--backend sim|ort] [--output Y.npz] [--stats FILE.json]`.

Runs a lowered model (the output directory of `lower`):

- ``--backend sim`` (default): the encrypted bundle `DIR/device/` in the TA simulator — the TA
  and interpreter sources on the GP API shim, on a fresh simulated device provisioned with the
  model key (`--key FILE`, default `DIR/model.key`, the key `lower` made when none was given).
  ``--stats FILE.json`` writes the simulator's counters (heap high-water mark overall and per
  partition, TA invocations, bytes in and out, load and compute time per partition) and the
  interpreter's profile: every op's time, and the compute time by op type and by kernel path with
  calls and MACs (`passes/lower/profile.py`).
- ``--backend ort``: the plaintext partition models `DIR/partition_NNN.onnx` chained in
  onnxruntime, as a reference.

`--input` is an `.npy` (a model with one input) or an `.npz` keyed by input name.  `--output`
writes every model output into an `.npz` keyed by its ONNX name.

`--stream`: the leading axis of every input array is the sequence of inferences, run in one
session (sim: pinned bodies load once, a fully resident model takes one TA command per inference;
ort: the chain once per inference); every output gains the same leading axis.  Recurrent states
(`lower --state`) are not given: the TA keeps them (zero at the start, or `--initial-state
NAME=FILE.npy`), onnxruntime is fed its own state back.  `--stats` adds "inferences": per inference bytes_loaded, invocations, compute_seconds,
load_seconds (and the highest region byte each partition touched).
"""
from __future__ import annotations

import argparse
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import onnx

from ..errors import UserError
from ..sizes import format_size
from ..target.dtypes import to_int32
from .common import check_output_file, console, profile_table, table

BACKENDS = ("sim", "ort")
KEY_FILE = "model.key"


def read_manifest(out_dir: Path) -> dict:
    path = out_dir / "manifest.json"
    if not out_dir.is_dir():
        raise UserError(f"{out_dir} is not a directory: give the output directory of `lower`")
    if not path.is_file():
        raise UserError(f"{path} does not exist: is {out_dir} the output directory of `lower`?")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not valid JSON ({exc})") from None
    for key in ("inputs", "outputs", "partitions", "budget"):
        if key not in manifest:
            raise UserError(f"{path} has no '{key}' entry: is it a manifest written by `lower`?")
    return manifest


def state_pairs(manifest: dict) -> list[tuple[str, str]]:
    """(state input, state output) names the TA keeps between inferences (`lower --state`)."""
    return [(pair["input"], pair["output"]) for pair in manifest.get("state", [])]


def plain_io(manifest: dict) -> tuple[list[str], list[str]]:
    """The model inputs and outputs the normal world gives and gets: all but the recurrent states."""
    states = state_pairs(manifest)
    kept_in, kept_out = {i for i, _ in states}, {o for _, o in states}
    return ([n for n in manifest["inputs"] if n not in kept_in], [n for n in manifest["outputs"] if n not in kept_out])


def input_signature(out_dir: Path, manifest: dict) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Shape and dtype of every model input the normal world gives, from the partition models that read them."""
    wanted, found = set(plain_io(manifest)[0]), {}
    for part in manifest["partitions"]:
        path = out_dir / part["onnx"]
        if not path.is_file():
            raise UserError(f"{path} is missing from the lowered model's directory")
        graph = onnx.load(str(path), load_external_data=False).graph
        for value in graph.input:
            if value.name in wanted and value.name not in found:
                tensor_type = value.type.tensor_type
                found[value.name] = (tuple(d.dim_value for d in tensor_type.shape.dim),
                                     np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor_type.elem_type)))
    return {name: found[name] for name in manifest["inputs"] if name in found}


def load_inputs(path: Path, signature: dict[str, tuple[tuple[int, ...], np.dtype]],
                stream: bool = False) -> dict[str, np.ndarray]:
    """The arrays of `--input`, checked against the model's inputs (names, shapes; cast to the dtype).
    With `stream` every array has one leading axis more, the same length for all: the sequence."""
    if not path.is_file():
        raise UserError(f"input file {path} does not exist")
    names = list(signature)
    try:
        if path.suffix == ".npy":
            if len(names) != 1:
                raise UserError(f"the model has {len(names)} inputs ({', '.join(names)}): give an .npz keyed by "
                                f"input name")
            arrays = {names[0]: np.load(path, allow_pickle=False)}
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        else:
            raise UserError(f"--input {path}: expected an .npy or .npz file")
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise UserError(f"cannot read {path} as numpy data: {exc}") from None
    missing, extra = [n for n in names if n not in arrays], sorted(set(arrays) - set(names))
    if missing or extra:
        raise UserError(f"{path}: the model's inputs are {', '.join(names)}"
                        + (f"; missing {', '.join(missing)}" if missing else "")
                        + (f"; unknown {', '.join(extra)}" if extra else ""))
    feeds = {}
    if stream:
        lengths = {name: arrays[name].shape[0] if arrays[name].ndim else 0 for name in names}
        if len(set(lengths.values())) != 1 or min(lengths.values()) < 1:
            raise UserError(f"--stream: the leading axis of every input is the sequence of inferences, the same "
                            f"length >= 1 for all; got {', '.join(f'{n}: {k}' for n, k in lengths.items())}")
        count = next(iter(lengths.values()))
        signature = {name: ((count, *shape), dtype) for name, (shape, dtype) in signature.items()}
    for name, (shape, dtype) in signature.items():
        array = arrays[name]
        if tuple(array.shape) != shape:
            raise UserError(f"input '{name}' has shape {tuple(array.shape)}; the lowered model expects {shape} "
                            f"(lower again with --input-shape {name}:{','.join(map(str, array.shape))})")
        if dtype == np.int32 and array.dtype == np.int64:   # token ids the lowered model holds as int32
            feeds[name] = np.ascontiguousarray(to_int32(array, f"input '{name}'"))   # range-checked
            continue
        if array.dtype != dtype:   # no silent cast: float64 -> float32 loses precision, int/bool change meaning
            raise UserError(f"input '{name}' is {array.dtype}; the model expects {dtype}: convert it first "
                            f"(e.g. numpy's x.astype(np.{dtype.name}))")
        if array.dtype.kind in "fc" and not np.isfinite(array).all():
            bad = int(array.size - np.isfinite(array).sum())
            raise UserError(f"input '{name}' holds {bad} NaN or infinite value(s): give finite inputs")
        feeds[name] = np.ascontiguousarray(array, dtype=dtype)
    return feeds


def run_ort(out_dir: Path, manifest: dict, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    from ..partition.chain import run_chain

    return run_chain([out_dir / p["onnx"] for p in manifest["partitions"]], feeds, manifest["outputs"])


def run_ort_stream(out_dir: Path, manifest: dict, steps: list[dict[str, np.ndarray]],
                   initial: dict[str, np.ndarray] | None = None) -> list[dict[str, np.ndarray]]:
    """The chain once per inference; each state input is fed the state output of the inference
    before (`initial`, else zeros, at the start), as the TA carries it."""
    signature = {}
    for part in manifest["partitions"]:   # the state inputs' shapes and types
        graph = onnx.load(str(out_dir / part["onnx"]), load_external_data=False).graph
        for value in graph.input:
            t = value.type.tensor_type
            signature.setdefault(value.name, (tuple(d.dim_value for d in t.shape.dim),
                                              onnx.helper.tensor_dtype_to_np_dtype(t.elem_type)))
    states = state_pairs(manifest)
    carried = {i: (initial or {}).get(i, np.zeros(*signature[i])) for i, _ in states}
    outputs = []
    for feeds in steps:
        result = run_ort(out_dir, manifest, {**feeds, **carried})
        carried = {i: result[o] for i, o in states}
        outputs.append({name: result[name] for name in plain_io(manifest)[1]})
    return outputs


def _device_and_key(out_dir: Path, key_path: Path | None):
    from ..lower.keys import load_key

    key = load_key(key_path or out_dir / KEY_FILE)
    device = out_dir / "device"
    if not device.is_dir():
        raise UserError(f"{device} does not exist: `lower` writes the encrypted bundle there")
    return device, key


def run_sim(out_dir: Path, manifest: dict, feeds: dict[str, np.ndarray], key_path: Path | None,
            encrypt_io: bool = False, profile: bool = False):
    from ..lower.pipeline import run_in_simulator

    device, key = _device_and_key(out_dir, key_path)
    inputs, outputs = plain_io(manifest)
    return run_in_simulator(device, key, int(manifest["budget"]), feeds, inputs, outputs,
                            encrypt_io=encrypt_io, profile=profile)


def run_sim_stream(out_dir: Path, manifest: dict, steps: list[dict[str, np.ndarray]], key_path: Path | None,
                   initial: dict[str, np.ndarray] | None = None):
    """(outputs per inference, StepStats per inference, heap high-water mark of the session)."""
    from ..lower.pipeline import run_stream_in_simulator

    device, key = _device_and_key(out_dir, key_path)
    inputs, outputs = plain_io(manifest)
    by_index = {manifest["inputs"].index(name): value for name, value in (initial or {}).items()}
    return run_stream_in_simulator(device, key, int(manifest["budget"]), steps, inputs, outputs, by_index)


def initial_states(values: list[str], manifest: dict) -> dict[str, np.ndarray]:
    """`--initial-state NAME=FILE.npy ...`: the arrays, checked against the model's state inputs."""
    states = {i for i, _ in state_pairs(manifest)}
    arrays = {}
    for value in values or []:
        name, sep, path = value.partition("=")
        if not sep or name not in states:
            raise UserError(f"--initial-state {value}: expected NAME=FILE.npy with NAME one of the model's state "
                            f"inputs ({', '.join(sorted(states)) or 'none: lower with --state'})")
        try:
            arrays[name] = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise UserError(f"--initial-state {value}: cannot read {path} as an .npy array ({exc})") from None
        shape = tuple(manifest.get("tensors", {}).get(name, {}).get("shape", arrays[name].shape))
        if tuple(arrays[name].shape) != shape or arrays[name].dtype != np.float32:
            raise UserError(f"--initial-state {value}: the state is float32 of shape {shape}, the file holds "
                            f"{arrays[name].dtype} of shape {tuple(arrays[name].shape)}")
    return arrays


def run_profile(out_dir: Path, manifest: dict, stats):
    """The profile of one simulator run, its ops described by the partition models in `out_dir`."""
    from ..lower.profile import describe_partitions, op_samples, run_phases, summarise

    models = [onnx.load(str(out_dir / p["onnx"])) for p in manifest["partitions"]]
    revalidate, wipe = run_phases(stats)
    return summarise([op_samples(describe_partitions(models), stats)],
                     [sum(p.compute_cpu_seconds for p in stats.partitions)], [revalidate], [wipe])


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run", help="run a lowered model (simulated TA or onnxruntime)",
        description="Run the model `lower` wrote into DIR on an input, in the TA simulator or in onnxruntime.")
    parser.add_argument("directory", metavar="DIR", help="output directory of `lower`")
    parser.add_argument("--input", required=True, metavar="X.npy|X.npz", help="the model input(s)")
    parser.add_argument("--backend", choices=BACKENDS, default="sim", help="where to run (default sim)")
    parser.add_argument("--output", metavar="Y.npz", help="write every model output into this .npz")
    parser.add_argument("--stats", metavar="FILE.json", help="write the simulator's counters (sim backend)")
    parser.add_argument("--key", metavar="FILE", help=f"model key for the simulated device (default DIR/{KEY_FILE})")
    parser.add_argument("--stream", action="store_true",
                        help="the leading axis of every input is a sequence of inferences, run in one session")
    parser.add_argument("--initial-state", action="append", metavar="NAME=FILE.npy",
                        help="with --stream: the value a recurrent state input starts from (default zero), written "
                             "into the TA at session start (repeatable)")
    parser.add_argument("--encrypt-io", action="store_true",
                        help="seal inputs and outputs under a session key derived from the model key, so the "
                             "normal world carries only ciphertext (sim backend)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out_dir = Path(args.directory)
    if args.initial_state and not args.stream:
        raise UserError("--initial-state sets where a stream's recurrent state starts: use it with --stream")
    if args.stats and args.backend != "sim":
        raise UserError("--stats reports the simulator's counters: use it with --backend sim")
    if args.encrypt_io and args.backend != "sim":
        raise UserError("--encrypt-io seals the TA's inputs and outputs: use it with --backend sim")
    if args.output and not args.output.endswith(".npz"):
        args.output += ".npz"   # as numpy.savez names it
    for option, path in (("--output", args.output), ("--stats", args.stats)):
        if path:   # checked before the run, not after it
            check_output_file(path, option)
    manifest = read_manifest(out_dir)
    if args.stream:
        return run_stream(args, out_dir, manifest)
    feeds = load_inputs(Path(args.input), input_signature(out_dir, manifest))
    stats = profile = None
    if args.backend == "ort":
        outputs = run_ort(out_dir, manifest, feeds)
    else:
        outputs, stats = run_sim(out_dir, manifest, feeds, Path(args.key) if args.key else None, args.encrypt_io,
                                 profile=bool(args.stats))
    if args.output:
        _write_atomic(Path(args.output), lambda handle: np.savez(handle, **outputs))
    if args.stats:
        profile = run_profile(out_dir, manifest, stats)
        data = {**stats.to_json(), "profile": profile.to_json()}
        _write_atomic(Path(args.stats), lambda handle: handle.write((json.dumps(data, indent=2) + "\n").encode()))
    print_outputs(outputs, args.backend, stats, profile)
    return 0


def run_stream(args: argparse.Namespace, out_dir: Path, manifest: dict) -> int:
    """`run --stream`: one session, one inference per entry of the inputs' leading axis."""
    if args.encrypt_io:
        raise UserError("--stream runs plain I/O; --encrypt-io is for single inferences")
    arrays = load_inputs(Path(args.input), input_signature(out_dir, manifest), stream=True)
    initial = initial_states(args.initial_state, manifest)
    count = len(next(iter(arrays.values())))
    steps = [{name: np.ascontiguousarray(a[t]) for name, a in arrays.items()} for t in range(count)]
    if args.backend == "ort":
        results, stats, heap = run_ort_stream(out_dir, manifest, steps, initial), None, None
    else:
        results, stats, heap = run_sim_stream(out_dir, manifest, steps, Path(args.key) if args.key else None,
                                              initial)
    outputs = {name: np.stack([r[name] for r in results]) for name in plain_io(manifest)[1]}
    if args.output:
        _write_atomic(Path(args.output), lambda handle: np.savez(handle, **outputs))
    if args.stats:
        data = {"budget": int(manifest["budget"]), "heap_high_water": heap,
                "planned_bytes": [p["memory"].get("total") for p in manifest["partitions"]],
                "planned_steady_bytes": [p["memory"].get("steady_total") for p in manifest["partitions"]],
                "inferences": [s.to_json() for s in stats]}
        _write_atomic(Path(args.stats), lambda handle: handle.write((json.dumps(data, indent=2) + "\n").encode()))
    print_outputs({name: value[-1] for name, value in outputs.items()}, f"{args.backend}, last of {count}", None)
    if stats:
        out = console()
        steady = stats[1:] or stats
        out.print(table("stream", ["", "first", "steady (median)"], [
            ["bytes loaded", format_size(stats[0].bytes_loaded),
             format_size(int(np.median([s.bytes_loaded for s in steady])))],
            ["TA invocations", stats[0].invocations, int(np.median([s.invocations for s in steady]))],
            ["compute s", f"{stats[0].compute_seconds:.4f}", f"{np.median([s.compute_seconds for s in steady]):.4f}"],
            ["load s", f"{stats[0].load_seconds:.4f}", f"{np.median([s.load_seconds for s in steady]):.4f}"],
        ]))
    return 0


def _write_atomic(path: Path, write) -> None:
    """Write through `write(binary handle)` into a temporary file beside `path`, then rename it."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as handle:
            write(handle)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None


def print_outputs(outputs: dict[str, np.ndarray], backend: str, stats, profile=None) -> None:
    rows = []
    for name, value in outputs.items():
        numbers = np.asarray(value, np.float64)   # integer and boolean outputs shown by value
        flat = numbers.reshape(numbers.shape[0], -1) if numbers.ndim > 1 else numbers.reshape(1, -1)
        top = np.argsort(-flat[0])[:5]
        rows.append([name, "x".join(map(str, value.shape)), str(value.dtype), f"{numbers.min():.4g}",
                     f"{numbers.max():.4g}", " ".join(f"{i}:{flat[0, i]:.3g}" for i in top)])
    out = console()
    out.print(table(f"outputs ({backend})", ["output", "shape", "dtype", "min", "max", "top-5 of the first row"],
                    rows))
    if stats is not None:
        out.print(table("simulator", ["", "value"], [
            ["partitions", len(stats.partitions)],
            ["heap high-water", f"{format_size(stats.heap_high_water)} of a {format_size(stats.budget)} budget"],
            ["TA invocations", stats.invocations],
            ["bytes in / out", f"{format_size(stats.bytes_in)} / {format_size(stats.bytes_out)}"],
            ["load / compute s", f"{sum(p.load_seconds for p in stats.partitions):.3f} / "
                                 f"{sum(p.compute_seconds for p in stats.partitions):.3f}"],
        ]))
    if profile is not None:
        out.print(profile_table("compute by op type", profile.to_json()))

