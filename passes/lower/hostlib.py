"""Run plaintext partition bodies in the C interpreter on the host (ctypes), without the TA.

The library is `runtime_ta/interp` (loader + runner + kernels) built by its Makefile into a build
directory.  It is the interpreter alone — no envelope, no GP API — so tests of the format, the
validator and the kernels' numerics do not depend on the TA and the simulator::

    lib = InterpLibrary.build()                   # make -C runtime_ta/interp BUILD=build/interp
    region = Region(lib, region_bytes)
    region.write(offset, array)                   # model inputs at their planned offsets
    status, counters = region.run_body(body_bytes, body_offset, index, count)
"""
from __future__ import annotations

import ctypes
import fcntl
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..analysis.shapes import element_bytes
from ..target.dtypes import from_held, to_held
from .runtime_tree import RUNTIME_DIR
from .runtime_tree import build_dir as default_build_dir

INTERP_DIR = RUNTIME_DIR / "interp"
LIB_NAME = "libonnxtee_interp.so"


class Expected(ctypes.Structure):
    _fields_ = [("partition_index", ctypes.c_uint32), ("partition_count", ctypes.c_uint32),
                ("body_size", ctypes.c_uint32), ("region_size", ctypes.c_uint32)]


class Partition(ctypes.Structure):
    _fields_ = [("region", ctypes.c_void_p), ("region_size", ctypes.c_size_t), ("body_offset", ctypes.c_size_t),
                ("header", ctypes.c_void_p), ("tensors", ctypes.c_void_p), ("ops", ctypes.c_void_p),
                ("pool", ctypes.c_void_p), ("validated", ctypes.c_uint32)]


class Counters(ctypes.Structure):
    _fields_ = [("max_region_end", ctypes.c_uint64), ("ops_run", ctypes.c_uint32), ("failed_op", ctypes.c_uint32)]


@dataclass
class RunResult:
    status: str           # "RT_OK" or the error's name
    max_region_end: int   # highest region byte touched by validation + run
    ops_run: int
    failed_op: int


class InterpLibrary:
    """The host build of the interpreter."""

    def __init__(self, path: Path):
        self.path = Path(path)
        lib = ctypes.CDLL(str(self.path))
        lib.rt_validate_partition.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_size_t,
                                              ctypes.POINTER(Expected), ctypes.POINTER(Partition)]
        lib.rt_validate_partition.restype = ctypes.c_int
        lib.rt_run_partition.argtypes = [ctypes.POINTER(Partition), ctypes.POINTER(Counters)]
        lib.rt_run_partition.restype = ctypes.c_int
        lib.rt_status_name.argtypes = [ctypes.c_int]
        lib.rt_status_name.restype = ctypes.c_char_p
        self.lib = lib

    @classmethod
    def build(cls, build_dir: str | Path | None = None, *, sanitize: bool = False) -> "InterpLibrary":
        """Build (incrementally, with make) and load the library."""
        build_dir = Path(build_dir or default_build_dir()) / (
            "interp-asan" if sanitize else "interp")
        build_dir.mkdir(parents=True, exist_ok=True)
        cmd = ["make", "-s", "-C", str(INTERP_DIR), f"BUILD={build_dir}"] + (["SANITIZE=1"] if sanitize else [])
        with open(build_dir / ".lock", "w") as lock:  # parallel test workers share the build directory
            fcntl.flock(lock, fcntl.LOCK_EX)
            subprocess.run(cmd, check=True)
        return cls(build_dir / LIB_NAME)

    def status_name(self, code: int) -> str:
        return self.lib.rt_status_name(code).decode()


class Region:
    """One TA-like region (64-byte aligned host buffer) the bodies run in."""

    GUARD = 4096  # canary bytes on each side: a write outside the region shows in `guards_intact`
    CANARY = 0xA5

    def __init__(self, lib: InterpLibrary, size: int):
        self.lib = lib
        self.size = int(size)
        self._raw = np.full(self.size + 2 * self.GUARD + 64, self.CANARY, dtype=np.uint8)
        start = self.GUARD + (-(self._raw.ctypes.data + self.GUARD)) % 64
        self._start = start
        self.bytes = self._raw[start:start + self.size]
        self.bytes[:] = 0

    def guards_intact(self) -> bool:
        """No byte outside the region was written."""
        return bool((self._raw[:self._start] == self.CANARY).all() and
                    (self._raw[self._start + self.size:] == self.CANARY).all())

    @property
    def address(self) -> int:
        return self.bytes.ctypes.data

    def write(self, offset: int, array: np.ndarray) -> None:
        """`array` at `offset`, as the region holds its type (integers range-checked, as the host does)."""
        array = np.asarray(array)
        data = np.ascontiguousarray(to_held(array, array.dtype, "input")).view(np.uint8).ravel()
        self.bytes[offset:offset + data.size] = data

    def read(self, offset: int, shape: tuple[int, ...], dtype: np.dtype = np.dtype(np.float32)) -> np.ndarray:
        """The tensor of `shape` at `offset`, in the model's type `dtype` (int64 and bool are held as int32)."""
        n = int(np.prod(shape, dtype=np.int64)) * element_bytes(dtype)
        return from_held(self.bytes[offset:offset + n].tobytes(), dtype, shape)

    def run_body(self, body: bytes, body_offset: int, index: int, count: int,
                 region_size: int | None = None) -> RunResult:
        """Place `body` at `body_offset` (as the TA's decryption would), validate it, run it."""
        self.bytes[body_offset:body_offset + len(body)] = np.frombuffer(body, dtype=np.uint8)
        expected = Expected(index, count, len(body), self.size if region_size is None else region_size)
        part, counters = Partition(), Counters()
        status = self.lib.lib.rt_validate_partition(self.address, self.size, body_offset, len(body),
                                                    ctypes.byref(expected), ctypes.byref(part))
        if status == 0:
            status = self.lib.lib.rt_run_partition(ctypes.byref(part), ctypes.byref(counters))
        return RunResult(self.lib.status_name(status), int(counters.max_region_end), int(counters.ops_run),
                         int(counters.failed_op))


def run_partitions(lib: InterpLibrary, bodies: list[bytes], plan, infos, feeds: dict[str, np.ndarray],
                   model_outputs: list[str]) -> tuple[dict[str, np.ndarray], list[RunResult]]:
    """Run a lowered model's bodies in order in one region, as the TA does: model inputs written at
    their planned offsets before partition 0, outputs read after the last partition.  Stops at
    the first partition that fails (its RunResult says why)."""
    region = Region(lib, plan.region_bytes)
    first, last = plan.partitions[0], plan.partitions[-1]
    for name, value in feeds.items():
        region.write(first.tensor_offsets[name], value)
    results = []
    for k, (body, part) in enumerate(zip(bodies, plan.partitions)):
        results.append(region.run_body(body, part.body_offset, k, len(bodies)))
        if results[-1].status != "RT_OK":
            return {}, results
    outputs = {name: region.read(last.tensor_offsets[name], tuple(infos[name].shape), infos[name].dtype)
               for name in model_outputs}
    return outputs, results
