"""Drive the TA simulator from Python (ctypes): the real TA and interpreter sources on a GP API shim.

The library (`runtime_ta/sim`, built on demand with the system compiler into the build directory,
rebuilt by make when a source changed) contains the TA, the interpreter, the GP Internal Core API
shim on OpenSSL and the libteec shim, plus the normal-world client (`runtime_ta/host/client.c`);
this module only calls that client, so Python speaks exactly the protocol a device does::

    with Simulator(storage_dir, budget=8 << 20) as sim:     # one simulated device
        sim.provision_key(key)                               # once per device
        outputs, stats = sim.run_bundle(out / "device", [x])

`stats` are the counters `run --stats` writes (README.md): the TEE_Malloc high-water mark overall, per
partition the highest region byte it touched (load + run) next to the planned figure, TA
invocations, bytes into and out of the TA, and load / compute seconds per partition.
"""
from __future__ import annotations

import ctypes
import fcntl
import os
import re
import struct
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from onnx import helper

from ..errors import UserError
from ..target.dtypes import from_held, to_held
from ..target.region import LOAD_CHUNK_BYTES
from .runtime_tree import RUNTIME_DIR, build_dir
from .envelope import MANIFEST_FILE, TensorSlot, blob_file_name, parse_manifest
from .keys import WRAPPED_BYTES
from .sealed_io import OVERHEAD as SEALED_OVERHEAD
from .sealed_io import SESSION_NONCE_BYTES, SealedChannel

SIM_DIR = RUNTIME_DIR / "sim"
LIB_NAME = "libonnxtee_sim.so"
CLI_NAME = "onnx_tee_sim"

KEY_PROVISIONED = 1
KEY_DEVICE = 2
HEAP_RESERVE = 384 * 1024   # OT_HEAP_RESERVE: TA_DATA_SIZE = budget + reserve

HEADER = RUNTIME_DIR / "include" / "onnx_tee_ta.h"


def _ta_result_codes() -> dict[int, str]:
    """The TA's own result codes, read from the one header that defines them."""
    pattern = re.compile(r"#define\s+(OT_ERR_\w+)\s+(0x[0-9A-Fa-f]+)u")
    return {int(value, 16): name for name, value in pattern.findall(HEADER.read_text())}


# the TA's codes and the GP codes it returns
RESULT_NAMES = {
    **_ta_result_codes(),
    0xFFFF0006: "TEE_ERROR_BAD_PARAMETERS", 0xFFFF000C: "TEE_ERROR_OUT_OF_MEMORY",
    0xFFFF0010: "TEE_ERROR_SHORT_BUFFER", 0xFFFF000A: "TEE_ERROR_NOT_SUPPORTED", 0xFFFF000D: "TEE_ERROR_BUSY",
}
RESULT_CODES = {name: code for code, name in RESULT_NAMES.items()}
_MEANING = {
    "OT_ERR_MANIFEST_AUTH": "the device manifest is not authentic under the device's key",
    "OT_ERR_BLOB_AUTH": "the blob was tampered with or encrypted under another key",
    "OT_ERR_TRUNCATED": "the partition or the model is incomplete",
    "OT_ERR_REORDERED": "not the partition expected next",
    "OT_ERR_SWAPPED": "the blob belongs to another model",
    "OT_ERR_ROLLBACK": "the model version is older than this device accepts",
    "OT_ERR_NOT_IN_MANIFEST": "the blob is not the one the manifest lists",
    "OT_ERR_NO_KEY": "the device has no key (provision one first)",
    "OT_ERR_IO_AUTH": "the sealed input was altered or sealed for another I/O session or key",
    "OT_ERR_IO_REPLAYED": "the sealed message's counter is not the next one (replayed or reordered)",
    "OT_ERR_IO_SEALED": "this session's inputs and outputs are sealed: plain I/O is refused",
    "OT_ERR_IO_NO_SESSION": "no I/O session is open (open one after opening the model)",
    "OT_ERR_INPUT_MISSING": "not every model input was written for this inference",
    "OT_ERR_OUTPUT_READ": "this output was already read in this inference",
    "OT_ERR_KEY_MODE": "this TA is built for the other key mode (provisioned vs device-bound key)",
    "OT_ERR_NOT_RESIDENT": "one-command inference needs every partition pinned and loaded",
    "OT_ERR_STATE_TENSOR": "a recurrent state stays in the TA: it is neither written nor read from outside",
    "TEE_ERROR_OUT_OF_MEMORY": "the region does not fit the TA's memory budget",
}


class TAError(UserError):
    """The TA refused a command; `code` is its TEE result code, `name` the constant's name."""

    def __init__(self, what: str, code: int, detail: int = 0):
        self.code, self.detail = code, detail
        self.name = RESULT_NAMES.get(code, f"0x{code:08x}")
        meaning = _MEANING.get(self.name)
        super().__init__(f"{what}: the TA answered {self.name}" + (f" ({meaning})" if meaning else "")
                         + (f", detail {detail}" if detail else ""))


class _OpTime(ctypes.Structure):
    _fields_ = [("ns", ctypes.c_uint64), ("op", ctypes.c_uint16), ("flags", ctypes.c_uint16),
                ("reserved", ctypes.c_uint32)]


class _Traffic(ctypes.Structure):
    _fields_ = [("invocations", ctypes.c_uint64), ("sessions", ctypes.c_uint64), ("bytes_in", ctypes.c_uint64),
                ("bytes_out", ctypes.c_uint64)]


def sanitizing() -> bool:
    """True when ONNX_TEE_SANITIZE=1: use the ASan + UBSan build of the simulator."""
    return os.environ.get("ONNX_TEE_SANITIZE") == "1"


def build_simulator(*, sanitize: bool | None = None) -> Path:
    """Build (incrementally) the simulator library and CLI; returns their directory.

    A lock file serialises concurrent builds (parallel test workers share the build directory)."""
    sanitize = sanitizing() if sanitize is None else sanitize
    out = build_dir() / ("sim-asan" if sanitize else "sim")
    out.mkdir(parents=True, exist_ok=True)
    cmd = ["make", "-s", "-C", str(SIM_DIR), f"BUILD={out}"] + (["SANITIZE=1"] if sanitize else [])
    with open(out / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"building the simulator failed:\n{result.stdout}{result.stderr}")
    return out


_LIBS: dict[bool, ctypes.CDLL] = {}

# The phases the simulator times (interp/profile.h, RT_PROFILE_*, in that order): the run command's
# revalidation and body wipe, then the load command's passes over a blob.
PHASES = ("revalidate", "wipe", "copy", "decrypt", "validate")
LOAD_PASSES = PHASES[2:]


def load_library(*, sanitize: bool | None = None) -> ctypes.CDLL:
    """The simulator library of this process (built first if missing or stale)."""
    sanitize = sanitizing() if sanitize is None else sanitize
    if sanitize in _LIBS:
        return _LIBS[sanitize]
    lib = ctypes.CDLL(str(build_simulator(sanitize=sanitize) / LIB_NAME))
    u32p, sz, vp = ctypes.POINTER(ctypes.c_uint32), ctypes.c_size_t, ctypes.c_void_p
    signatures = {
        "ot_sim_set_heap_cap": ([sz], None), "ot_sim_heap_used": ([], sz), "ot_sim_heap_peak": ([], sz),
        "ot_sim_reset_heap_peak": ([], None), "ot_sim_set_storage": ([ctypes.c_char_p], ctypes.c_int),
        "ot_sim_traffic": ([ctypes.POINTER(_Traffic)], None), "ot_sim_reset_traffic": ([], None),
        "ot_sim_set_trace": ([ctypes.c_char_p], ctypes.c_int),
        "ot_sim_watch_arm": ([], ctypes.c_int), "ot_sim_watch_disarm": ([], sz),
        "ot_sim_set_key_mode": ([ctypes.c_uint32], None),
        "ot_sim_profile_enable": ([ctypes.c_int], None),
        "ot_sim_profile_read": ([ctypes.POINTER(_OpTime), sz], sz),
        "ot_sim_profile_read_phases": ([ctypes.POINTER(ctypes.c_uint64)], None),
        "ot_sim_gcm_decrypt_ns": ([sz, sz, ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_uint64)],
                                  ctypes.c_int),
        "ot_sim_set_vendor_modulus": ([ctypes.c_char_p, sz], ctypes.c_int),
        "ot_client_new": ([], vp), "ot_client_free": ([vp], None), "ot_client_open": ([vp], ctypes.c_uint32),
        "ot_client_close": ([vp], None),
        "ot_client_provision_key": ([vp, ctypes.c_char_p, sz], ctypes.c_uint32),
        "ot_client_enrol_device": ([vp, ctypes.c_char_p, sz], ctypes.c_uint32),
        "ot_client_open_model": ([vp, ctypes.c_char_p, sz, ctypes.c_uint32], ctypes.c_uint32),
        "ot_client_load_partition": ([vp, ctypes.c_uint32, ctypes.c_char_p, sz, ctypes.POINTER(sz), u32p],
                                     ctypes.c_uint32),
        "ot_client_run": ([vp, ctypes.c_uint32, u32p, u32p, u32p], ctypes.c_uint32),
        "ot_client_infer": ([vp, ctypes.c_char_p, sz, vp, ctypes.POINTER(sz), u32p, u32p, u32p, u32p],
                            ctypes.c_uint32),
        "ot_client_write_input": ([vp, ctypes.c_uint32, vp, sz], ctypes.c_uint32),
        "ot_client_read_output": ([vp, ctypes.c_uint32, vp, sz], ctypes.c_uint32),
        "ot_client_read_topk": ([vp, ctypes.c_uint32, ctypes.c_uint32, vp, ctypes.POINTER(sz)], ctypes.c_uint32),
        "ot_client_open_io_session": ([vp, ctypes.c_char_p, sz], ctypes.c_uint32),
        "ot_client_write_input_sealed": ([vp, ctypes.c_uint32, ctypes.c_char_p, sz], ctypes.c_uint32),
        "ot_client_read_output_sealed": ([vp, ctypes.c_uint32, vp, sz, ctypes.POINTER(sz)], ctypes.c_uint32),
    }
    for name, (args, res) in signatures.items():
        getattr(lib, name).argtypes = args
        getattr(lib, name).restype = res
    _LIBS[sanitize] = lib
    return lib


def gcm_decrypt_seconds(nbytes: int, chunk_bytes: int) -> tuple[float, float]:
    """(wall, thread CPU) seconds the machine's AES-256-GCM (OpenSSL EVP, the simulator's TEE_AE*
    calls) takes to decrypt `nbytes` bytes in pieces of `chunk_bytes` in one cache-resident buffer:
    the cipher alone, the yardstick of the load path (sim/gcm_pace.c)."""
    wall, cpu = ctypes.c_uint64(0), ctypes.c_uint64(0)
    if load_library().ot_sim_gcm_decrypt_ns(nbytes, chunk_bytes, ctypes.byref(wall), ctypes.byref(cpu)) != 0:
        raise RuntimeError(f"AES-256-GCM timing of {nbytes} bytes in {chunk_bytes}-byte pieces failed")
    return wall.value * 1e-9, cpu.value * 1e-9


@dataclass
class OpTime:
    """One op of a partition run with profiling on (interp/profile.h): its RT_OP_* code, its RT_PREP_*
    flags (RT_PREP_FUSED: it also ran the activation after it, which is RT_PREP_APPLIED and takes no
    time of its own) and the wall time of its eval."""

    op: int
    flags: int
    seconds: float


@dataclass
class PartitionStats:
    index: int
    planned_bytes: int          # the memory plan's highest region byte for this partition
    touched_bytes: int          # measured: highest region byte touched while loading and running
    blob_bytes: int             # bytes loaded for this run (0: a pinned body already resident)
    load_seconds: float         # copy into staging + decrypt + validate
    compute_seconds: float
    pages_touched_bytes: int | None = None   # with track_pages: end of the highest page the MMU saw touched
    ops: list[OpTime] | None = None          # with profile: every op's time, in run order
    compute_cpu_seconds: float | None = None  # the run's thread CPU time (descheduled time left out)
    revalidate_seconds: float | None = None   # with profile: the run command's revalidation of the body
    wipe_seconds: float | None = None         # with profile: its wipe of the finished body
    load_passes: dict[str, float] | None = None  # with profile: seconds of each pass of the load (LOAD_PASSES)
    load_cpu_seconds: float | None = None     # the load's thread CPU time


@dataclass
class RunStats:
    budget: int
    region_bytes: int
    heap_high_water: int        # TEE_Malloc high-water mark of the whole run (region + TA state)
    invocations: int
    bytes_in: int
    bytes_out: int
    partitions: list[PartitionStats] = field(default_factory=list)

    def to_json(self) -> dict:
        data = asdict(self)
        data["heap_high_water_per_partition"] = [p.touched_bytes for p in self.partitions]
        return data


@dataclass
class StepStats:
    """One inference of a stream session (`run --stream --stats`, "inferences")."""

    bytes_loaded: int           # blob bytes loaded into the TA for this inference
    invocations: int            # TA commands of this inference
    compute_seconds: float
    load_seconds: float
    touched_bytes: list[int]    # per partition: highest region byte touched (load + run)

    def to_json(self) -> dict:
        return asdict(self)


class Simulator:
    """One simulated device (its secure storage lives in `storage_dir`) with one open TA session.

    `budget` is the memory budget the TA was built for: TA_DATA_SIZE = budget + the TA's reserve,
    and TEE_Malloc fails past it as in OP-TEE.  One simulator may be open per process at a time
    (the TA is single-instance, single-session, like the real one).  `track_pages` adds an
    independent, page-granular measurement of what each partition touches (page faults on the
    region; slower, and not under AddressSanitizer).  `key_mode` ("provisioned" or "device") and
    `vendor_modulus` (the vendor public key's modulus, keys.vendor_modulus) stand for the TA build
    options of the simulated device (runtime_ta/README.md, "Keys").  `profile` times every op the
    interpreter runs (`PartitionStats.ops`; a clock read per op, nothing when off).
    """

    _open: "Simulator | None" = None

    def __init__(self, storage_dir: str | Path, *, budget: int, trace: str | Path | None = None,
                 sanitize: bool | None = None, track_pages: bool = False, key_mode: str = "provisioned",
                 vendor_modulus: bytes | None = None, profile: bool = False):
        if Simulator._open is not None:
            raise RuntimeError("a simulator session is already open in this process")
        self.lib = load_library(sanitize=sanitize)
        self.budget = int(budget)
        self.track_pages = track_pages
        self.profile = profile
        self.lib.ot_sim_profile_enable(int(profile))
        storage = Path(storage_dir)
        storage.mkdir(parents=True, exist_ok=True)
        if key_mode not in ("provisioned", "device"):
            raise ValueError(f"key_mode is 'provisioned' or 'device', not {key_mode!r}")
        self.lib.ot_sim_set_key_mode(KEY_DEVICE if key_mode == "device" else KEY_PROVISIONED)
        if self.lib.ot_sim_set_vendor_modulus(vendor_modulus, len(vendor_modulus or b"")) != 0:
            raise ValueError("the vendor modulus has 384 bytes (RSA-3072)")
        self.lib.ot_sim_set_heap_cap(self.budget + HEAP_RESERVE)
        if self.lib.ot_sim_set_storage(str(storage).encode()) != 0:
            raise UserError(f"storage directory path too long: {storage}")
        self.lib.ot_sim_set_trace(str(trace).encode() if trace else None)
        self.lib.ot_sim_reset_traffic()
        self.client = self.lib.ot_client_new()
        self._check("open session", self.lib.ot_client_open(self.client))
        self.lib.ot_sim_reset_heap_peak()
        Simulator._open = self

    def close(self) -> None:
        if self.client:
            self.lib.ot_client_free(self.client)
            self.client = None
            self.lib.ot_sim_set_trace(None)
            self.lib.ot_sim_profile_enable(0)
            Simulator._open = None

    def __enter__(self) -> "Simulator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @staticmethod
    def _check(what: str, code: int, detail: int = 0) -> None:
        if code != 0:
            raise TAError(what, code, detail)

    # ---- commands -----------------------------------------------------------------------------
    def provision_key(self, key: bytes) -> None:
        self._check("provision key", self.lib.ot_client_provision_key(self.client, key, len(key)))

    def enrol_device(self) -> bytes:
        """The device-bound key wrapped for the vendor (keys.unwrap_device_key opens it)."""
        wrapped = ctypes.create_string_buffer(WRAPPED_BYTES)
        self._check("enrol device", self.lib.ot_client_enrol_device(self.client, wrapped, WRAPPED_BYTES))
        return wrapped.raw

    def open_model(self, manifest: bytes, key_source: int = KEY_PROVISIONED) -> None:
        self._check("open model", self.lib.ot_client_open_model(self.client, manifest, len(manifest), key_source))

    def load_partition(self, index: int, blob: bytes, chunk_bytes: int = LOAD_CHUNK_BYTES) -> None:
        """Send `blob` to the TA in OT_CMD_LOAD_CHUNK commands of at most `chunk_bytes` (the device client's
        default, `target.LOAD_CHUNK_BYTES`)."""
        detail, chunk = ctypes.c_uint32(0), ctypes.c_size_t(chunk_bytes)
        code = self.lib.ot_client_load_partition(self.client, index, blob, len(blob), ctypes.byref(chunk),
                                                 ctypes.byref(detail))
        self._check(f"load partition {index}", code, detail.value)

    def run_partition(self, index: int) -> int:
        """Run partition `index`; returns the highest region byte it touched (load + run)."""
        touched, detail, failed = ctypes.c_uint32(0), ctypes.c_uint32(0), ctypes.c_uint32(0)
        code = self.lib.ot_client_run(self.client, index, ctypes.byref(touched), ctypes.byref(detail),
                                      ctypes.byref(failed))
        if code != 0:
            raise TAError(f"run partition {index} (stopped at op {failed.value})", code, detail.value)
        return touched.value

    def write_input(self, index: int, data: np.ndarray) -> None:
        data = np.ascontiguousarray(data)
        self._check(f"write input {index}",
                    self.lib.ot_client_write_input(self.client, index, data.ctypes.data, data.nbytes))

    def read_output(self, index: int, nbytes: int) -> bytes:
        out = ctypes.create_string_buffer(nbytes)
        self._check(f"read output {index}", self.lib.ot_client_read_output(self.client, index, out, nbytes))
        return out.raw

    def open_io_session(self) -> bytes:
        """Start sealed I/O for the open model; returns the TA's session nonce."""
        nonce = ctypes.create_string_buffer(SESSION_NONCE_BYTES)
        self._check("open I/O session", self.lib.ot_client_open_io_session(self.client, nonce, SESSION_NONCE_BYTES))
        return nonce.raw

    def write_input_sealed(self, index: int, message: bytes) -> None:
        self._check(f"write sealed input {index}",
                    self.lib.ot_client_write_input_sealed(self.client, index, message, len(message)))

    def read_output_sealed(self, index: int, nbytes: int) -> bytes:
        """The TA's sealed message for output `index` (of `nbytes` plaintext bytes)."""
        out, written = ctypes.create_string_buffer(nbytes + SEALED_OVERHEAD), ctypes.c_size_t(0)
        self._check(f"read sealed output {index}",
                    self.lib.ot_client_read_output_sealed(self.client, index, out, len(out), ctypes.byref(written)))
        return out.raw[:written.value]

    def read_topk(self, index: int, k: int) -> list[tuple[int, float]]:
        """Only the k largest elements of output `index` leave the TA: [(flat index, value)], best first."""
        entries = (ctypes.c_uint32 * (2 * max(k, 1)))()
        count = ctypes.c_size_t(0)
        self._check(f"read top-{k} of output {index}",
                    self.lib.ot_client_read_topk(self.client, index, k, entries, ctypes.byref(count)))
        raw = np.frombuffer(bytes(entries), dtype=np.dtype([("index", "<u4"), ("value", "<f4")]))[:count.value]
        return [(int(e["index"]), float(e["value"])) for e in raw]

    def phase_times(self) -> dict[str, float]:
        """Seconds of each phase (PHASES: the run command's revalidation and body wipe, the load
        command's passes over the blob) since the last call."""
        phases = (ctypes.c_uint64 * len(PHASES))()
        self.lib.ot_sim_profile_read_phases(phases)
        return {name: ns * 1e-9 for name, ns in zip(PHASES, phases)}

    def op_times(self) -> list[OpTime]:
        """The per-op times of the last partition run (profile on), in op order."""
        count = int(self.lib.ot_sim_profile_read(None, 0))
        records = (_OpTime * count)()
        self.lib.ot_sim_profile_read(records, count)
        return [OpTime(int(r.op), int(r.flags), r.ns * 1e-9) for r in records]

    # ---- a whole run --------------------------------------------------------------------------
    def _open_bundle(self, device_dir: str | Path, key_source: int):
        """Read the bundle, reset the counters, open its model: (manifest, blobs)."""
        device_dir = Path(device_dir)
        manifest_bytes = _read(device_dir / MANIFEST_FILE)
        manifest = parse_manifest(manifest_bytes)
        blobs = [_read(device_dir / blob_file_name(k)) for k in range(len(manifest.partitions))]
        self.lib.ot_sim_reset_traffic()
        self.lib.ot_sim_reset_heap_peak()
        self.open_model(manifest_bytes, key_source)
        return manifest, blobs

    @staticmethod
    def _plain_slots(manifest, outputs: bool) -> list[tuple[int, TensorSlot]]:
        """(index, slot) of the model inputs (or outputs) the normal world gives (or gets): all but the
        recurrent states the TA keeps."""
        kept = {o if outputs else i for i, o in manifest.states}
        slots = manifest.outputs if outputs else manifest.inputs
        return [(k, slot) for k, slot in enumerate(slots) if k not in kept]

    def _held_inputs(self, manifest, inputs: list[np.ndarray]) -> list[tuple[int, np.ndarray]]:
        slots = self._plain_slots(manifest, outputs=False)
        if len(inputs) != len(slots):
            raise UserError(f"the model takes {len(slots)} inputs, {len(inputs)} given")
        held = []
        for (k, slot), array in zip(slots, inputs):
            array = to_held(array, helper.tensor_dtype_to_np_dtype(slot.dtype), f"input {k}")
            if array.nbytes != slot.nbytes:
                raise UserError(f"input {k} has shape {array.shape} ({array.nbytes} bytes); the model expects "
                                f"{slot.shape} ({slot.nbytes} bytes)")
            held.append((k, array))
        return held

    def _run_partitions(self, manifest, blobs: list[bytes], resident: set[int]) -> list[PartitionStats]:
        """Load (unless resident: a pinned body loaded before) and run every partition, in order."""
        parts = []
        for k, blob in enumerate(blobs):
            watched = self.track_pages and self.lib.ot_sim_watch_arm() == 0
            start, start_cpu = time.perf_counter(), time.thread_time()
            loaded_bytes = 0
            if k not in resident:
                self.load_partition(k, blob)
                loaded_bytes = len(blob)
                if manifest.partitions[k].pinned:
                    resident.add(k)
            loaded, loaded_cpu = time.perf_counter(), time.thread_time()
            touched = self.run_partition(k)
            done, done_cpu = time.perf_counter(), time.thread_time()
            pages = int(self.lib.ot_sim_watch_disarm()) if watched else None
            phases = self.phase_times() if self.profile else {}
            parts.append(PartitionStats(k, manifest.partitions[k].planned_bytes, touched, loaded_bytes,
                                        loaded - start, done - loaded, pages,
                                        self.op_times() if self.profile else None, done_cpu - loaded_cpu,
                                        phases.get("revalidate"), phases.get("wipe"),
                                        {p: phases[p] for p in LOAD_PASSES} if phases else None,
                                        loaded_cpu - start_cpu))
        return parts

    def _stats(self, manifest, parts: list[PartitionStats]) -> RunStats:
        traffic = _Traffic()
        self.lib.ot_sim_traffic(ctypes.byref(traffic))
        return RunStats(self.budget, manifest.region_bytes, int(self.lib.ot_sim_heap_peak()),
                        int(traffic.invocations), int(traffic.bytes_in), int(traffic.bytes_out), parts)

    def run_bundle(self, device_dir: str | Path, inputs: list[np.ndarray], *, key_source: int = KEY_PROVISIONED,
                   sealed_io_key: bytes | None = None,
                   read_outputs: bool = True) -> tuple[list[np.ndarray], RunStats]:
        """Open the bundle's model, write `inputs`, load and run every partition, read the outputs.

        With `sealed_io_key` (the model key, held by the trusted data source/sink) inputs and outputs
        cross shared memory sealed under a fresh I/O session (passes/lower/sealed_io.py).  The TA hands
        each output out once per inference: with `read_outputs=False` none is read (the list is empty),
        so the caller can read one its own way (e.g. `read_topk`).  Inputs and outputs are in the model's
        own types (the device manifest's): int64 and bool ones cross as the int32 the TA holds
        (`target.dtypes.to_held`, `from_held`).  Recurrent state inputs and outputs (`lower --state`)
        stay in the TA: `inputs` and the outputs are the others, in model order."""
        manifest, blobs = self._open_bundle(device_dir, key_source)
        held = self._held_inputs(manifest, inputs)
        channel = SealedChannel(sealed_io_key, self.open_io_session()) if sealed_io_key is not None else None
        for k, array in held:
            if channel is not None:
                self.write_input_sealed(k, channel.seal_input(k, array.tobytes()))
            else:
                self.write_input(k, array)
        parts = self._run_partitions(manifest, blobs, set())
        outputs = []
        for k, slot in (self._plain_slots(manifest, outputs=True) if read_outputs else ()):
            raw = (channel.open_output(k, self.read_output_sealed(k, slot.nbytes)) if channel is not None
                   else self.read_output(k, slot.nbytes))
            outputs.append(from_held(raw, helper.tensor_dtype_to_np_dtype(slot.dtype), slot.shape))
        return outputs, self._stats(manifest, parts)

    def infer(self, inputs: bytes, out_bytes: int, partitions: int) -> tuple[bytes, list[int]]:
        """OT_CMD_INFER: one inference of a fully resident model of `partitions` partitions in one
        command; (the `out_bytes` of outputs, per partition the highest region byte it touched)."""
        need = out_bytes + 4 * partitions
        out, size = ctypes.create_string_buffer(need), ctypes.c_size_t(need)
        touched, detail, part, op = (ctypes.c_uint32(0) for _ in range(4))
        code = self.lib.ot_client_infer(self.client, inputs, len(inputs), out, ctypes.byref(size),
                                        ctypes.byref(touched), ctypes.byref(detail), ctypes.byref(part),
                                        ctypes.byref(op))
        if code != 0:
            raise TAError(f"infer (partition {part.value}, op {op.value})", code, detail.value)
        return out.raw[:out_bytes], list(struct.unpack_from(f"<{partitions}I", out.raw, out_bytes))

    def run_stream(self, device_dir: str | Path, steps: list[list[np.ndarray]], *,
                   key_source: int = KEY_PROVISIONED, initial_states: dict[int, np.ndarray] | None = None
                   ) -> tuple[list[list[np.ndarray]], list[StepStats]]:
        """A stream session: open the model once and run one inference per entry of `steps` (each the
        model's non-state inputs).  Pinned bodies load in the first inference only; once every
        partition is pinned and loaded, an inference is the one OT_CMD_INFER command.  Recurrent
        states start at zero, or at `initial_states` (model input index -> array), written at
        session start.  Returns the outputs and the counters of every inference."""
        manifest, blobs = self._open_bundle(device_dir, key_source)
        states = {i for i, _ in manifest.states}
        for index, array in (initial_states or {}).items():
            if index not in states:
                raise UserError(f"input {index} is not a recurrent state of this model")
            slot = manifest.inputs[index]
            self.write_input(index, to_held(array, helper.tensor_dtype_to_np_dtype(slot.dtype), f"state {index}"))
        resident: set[int] = set()
        out_slots = self._plain_slots(manifest, outputs=True)
        all_pinned = all(p.pinned for p in manifest.partitions)
        results, stats = [], []
        for inputs in steps:
            held = self._held_inputs(manifest, inputs)
            before = _Traffic()
            self.lib.ot_sim_traffic(ctypes.byref(before))
            if all_pinned and len(resident) == len(blobs):
                start = time.perf_counter()
                raw, touched = self.infer(b"".join(a.tobytes() for _, a in held),
                                          sum(slot.nbytes for _, slot in out_slots), len(blobs))
                seconds = time.perf_counter() - start
                parts = [PartitionStats(k, p.planned_bytes, touched[k], 0, 0.0, seconds if k == 0 else 0.0)
                         for k, p in enumerate(manifest.partitions)]
                chunks, at = [], 0
                for _, slot in out_slots:
                    chunks.append(raw[at:at + slot.nbytes])
                    at += slot.nbytes
            else:
                for k, array in held:
                    self.write_input(k, array)
                parts = self._run_partitions(manifest, blobs, resident)
                chunks = [self.read_output(k, slot.nbytes) for k, slot in out_slots]
            after = _Traffic()
            self.lib.ot_sim_traffic(ctypes.byref(after))
            results.append([from_held(raw, helper.tensor_dtype_to_np_dtype(slot.dtype), slot.shape)
                            for raw, (_, slot) in zip(chunks, out_slots)])
            stats.append(StepStats(sum(p.blob_bytes for p in parts), int(after.invocations - before.invocations),
                                   sum(p.compute_seconds for p in parts), sum(p.load_seconds for p in parts),
                                   [p.touched_bytes for p in parts]))
        return results, stats


def _read(path: Path) -> bytes:
    if not path.is_file():
        raise UserError(f"{path} does not exist: is this the `device/` directory `lower` wrote?")
    return path.read_bytes()

