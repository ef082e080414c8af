"""The kernels built for AArch64 Linux with the TA's compiler flags, run under qemu-aarch64 user mode.

The kernel tests call the kernels through `kernel_harness.kernels()` (ctypes on a host .so).  Here the
same kernel sources, plus tests/c/kernel_shim.c and tests/c/kernel_runner.c (a small RPC server), are
cross-compiled with aarch64-linux-gnu-gcc and the flags OP-TEE's dev kit gives a TA
(`ta_arm64-platform-cflags` of export-ta_arm64/mk/conf.mk, plus the TA Makefile's -ffp-contract=off),
and `RemoteKernels` stands in for the ctypes library: every kernel call ships its buffers to the
runner under `qemu-aarch64 -L /usr/aarch64-linux-gnu`, runs there, and copies every buffer back.

Pointer arguments are sized by the harness itself: `install()` makes kernel_harness's `_ptr` and
`Guarded.ptr` record each array whose address they hand out, so the proxy knows the bytes behind every
pointer (guard cells of `Guarded` buffers included: out-of-bounds writes still show).  Structures and
ctypes arrays passed by reference carry their own size (x86-64 and AArch64 LP64 lay them out alike).
A pointer nobody recorded reaches the kernel as an address in a PROT_NONE page: a kernel that touches
it crashes the runner and fails the test.  The math shims (`shim_*`) size their pointers by their
element count.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Sequence

import kernel_harness as kh
from conftest import require_tool

ROOT = Path(__file__).resolve().parents[1]
CROSS_CC = "aarch64-linux-gnu-gcc"
QEMU = "qemu-aarch64"
SYSROOT = "/usr/aarch64-linux-gnu"
# What OP-TEE 4.x's TA dev kit compiles TA sources with (export-ta_arm64/mk/conf.mk
# `ta_arm64-platform-cflags`, compile.mk's -std=gnu11; -g3 dropped: no effect on code), plus the TA
# Makefile's own -ffp-contract=off.  test_aarch64_kernels.py checks them against a kit when one is present.
TA_PLATFORM_CFLAGS = ("-Os", "-fpic", "-mstrict-align", "-mno-outline-atomics", "-fstack-protector-strong")
CFLAGS = ("-std=gnu11", *TA_PLATFORM_CFLAGS, "-ffp-contract=off", "-Wall", "-Wextra", "-Werror")
MAGIC = 0x4350524B

SHIMS = {"shim_expf": (kh.P, kh.P, kh.SZ), "shim_logf": (kh.P, kh.P, kh.SZ), "shim_sqrtf": (kh.P, kh.P, kh.SZ),
         "shim_tanhf": (kh.P, kh.P, kh.SZ), "shim_sigmoidf": (kh.P, kh.P, kh.SZ),
         "shim_powf_pos": (kh.P, kh.P, kh.P, kh.SZ), **{name: (kh.P, kh.P, kh.SZ) for name in kh.TRIG_SHIMS}}


def signatures() -> dict[str, tuple]:
    return {**kh.SIGNATURES, **SHIMS}


def _restype(name: str) -> str:
    return "void" if name.startswith("shim_") else "size" if name.startswith("kern_scratch") else "int"


def dispatch_source() -> str:
    """The runner's dispatch switch: one case per function, called with its real prototype."""
    lines = ["static int dispatch(uint32_t fn, const struct rpc_arg *a, int64_t *ret)", "{", "\tswitch (fn) {"]
    for index, (name, args) in enumerate(sorted(signatures().items())):
        call_args = []
        for i, kind in enumerate(args):
            if kind is kh.P:
                call_args.append(f"a[{i}].p")
            elif kind is kh.SZ:
                call_args.append(f"(size_t)a[{i}].u")
            elif kind is ctypes.c_int:
                call_args.append(f"(int)a[{i}].i")
            elif kind is ctypes.c_uint:
                call_args.append(f"(unsigned)a[{i}].u")
            elif kind is ctypes.c_float:
                call_args.append(f"a[{i}].f")
            else:
                raise TypeError(f"{name}: argument type {kind} has no RPC encoding")
        call = f"{name}({', '.join(call_args)})"
        body = f"{call}; *ret = 0;" if _restype(name) == "void" else f"*ret = (int64_t){call};"
        lines.append(f"\tcase {index}: {body} return 0;")
    lines += ["\tdefault: return -1;", "\t}", "}", ""]
    return "\n".join(lines)


def require_tools() -> None:
    require_tool(CROSS_CC, "apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross")
    require_tool(QEMU, "apt-get install qemu-user")
    if not Path(SYSROOT, "lib").is_dir():
        from conftest import missing
        missing(f"no AArch64 glibc in {SYSROOT}: apt-get install libc6-dev-arm64-cross")


def build_runner() -> Path:
    """Cross-compile the runner (cached under the build dir by a digest of sources and flags)."""
    from onnx_tee.passes.lower.runtime_tree import build_dir
    require_tools()
    sources = [*kh.sources(), ROOT / "tests" / "c" / "kernel_runner.c"]
    headers = [kh.INTERP / "kernels.h", kh.INTERP / "mathf.h", kh.INTERP / "kernels" / "internal.h"]
    dispatch = dispatch_source()
    digest = hashlib.sha256(" ".join(CFLAGS).encode() + dispatch.encode())
    for path in sources + headers:
        digest.update(path.read_bytes())
    out_dir = build_dir() / "aarch64" / digest.hexdigest()[:16]
    runner = out_dir / "kernel_runner"
    if not runner.exists():
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "kernel_dispatch.h").write_text(dispatch)
        tmp = runner.with_name(f"kernel_runner.{os.getpid()}.tmp")
        subprocess.run([CROSS_CC, *CFLAGS, f"-I{kh.INTERP}", f"-I{out_dir}", *map(str, sources), "-o", str(tmp)],
                       check=True, capture_output=True, text=True)
        os.replace(tmp, runner)
    return runner


def build_insn_driver(out: Path, opt: Sequence[str] = ("-Os",)) -> Path:
    """benchmarks/c/insn_driver.c with the kernels, a static AArch64 executable: TA_PLATFORM_CFLAGS with
    `opt` in place of -Os (plus e.g. -DKERN_SCALAR_PATHS for the build without the NEON paths)."""
    require_tools()
    interp = ROOT / "runtime_ta" / "interp"
    sources = [interp / "mathf.c", *sorted((interp / "kernels").glob("*.c")), ROOT / "benchmarks" / "c" / "insn_driver.c"]
    platform = [f for f in TA_PLATFORM_CFLAGS if f != "-Os"]
    subprocess.run([CROSS_CC, "-std=gnu11", *opt, *platform, "-ffp-contract=off", "-Wall", "-Wextra", "-Werror",
                    "-static", f"-I{interp}", *map(str, sources), "-o", str(out)], check=True)
    return out


class Registry:
    """Host arrays whose addresses the harness handed out: address -> (bytes, the owner kept alive)."""

    def __init__(self):
        self.ranges: dict[int, tuple[int, object]] = {}

    def add(self, address: int, nbytes: int, owner: object) -> int:
        self.ranges[address] = (nbytes, owner)
        return address

    def find(self, pointer: int) -> tuple[int, int] | None:
        """(start, nbytes) of the recorded range holding `pointer` (the largest such range)."""
        best = None
        for start, (nbytes, _) in self.ranges.items():
            if start <= pointer < start + max(nbytes, 1) and (best is None or nbytes > best[1]):
                best = (start, nbytes)
        return best

    def clear(self) -> None:
        self.ranges.clear()


class RemoteKernels:
    """Stands in for kernel_harness.kernels(): the same functions, run by the AArch64 runner."""

    def __init__(self, runner: Path):
        self.runner = runner
        self.registry = Registry()
        self.names = {name: i for i, name in enumerate(sorted(signatures()))}
        self.calls = 0
        self._start()

    def _start(self) -> None:
        self.proc = subprocess.Popen([shutil.which(QEMU), "-L", SYSROOT, str(self.runner)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)

    def __getattr__(self, name: str):
        if name not in self.names:
            raise AttributeError(name)
        return lambda *args: self.call(name, args)

    def _buffer_of(self, arg) -> tuple[int, int]:
        """(address, nbytes) of a ctypes object passed by reference or by value."""
        obj = getattr(arg, "_obj", arg)
        return ctypes.addressof(obj), ctypes.sizeof(obj)

    def call(self, name: str, args: tuple):
        types = signatures()[name]
        if len(args) != len(types):
            raise TypeError(f"{name} takes {len(types)} arguments, {len(args)} given")
        spans: list[tuple[int, int]] = []        # host (address, nbytes) of every pointer argument
        encoded: list[tuple] = []
        for value, kind in zip(args, types):
            if kind is kh.P:
                if value is None:
                    encoded.append(("null",))
                elif isinstance(value, int):
                    found = self.registry.find(value)
                    if found is None and name.startswith("shim_"):
                        found = (value, int(args[-1]) * 4)    # shim_*(..., n): n float32 per pointer
                    if found is None:
                        encoded.append(("poison",))
                    else:
                        spans.append(found)
                        encoded.append(("ptr", value))
                else:
                    address, nbytes = self._buffer_of(value)
                    spans.append((address, nbytes))
                    encoded.append(("ptr", address))
            elif kind is ctypes.c_float:
                encoded.append(("float", float(value)))
            else:
                encoded.append(("int", int(value)))
        # merge overlapping spans into buffers (views of one array, in-place calls)
        merged: list[list[int]] = []
        for start, nbytes in sorted(spans):
            if merged and start <= merged[-1][0] + merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], start + nbytes - merged[-1][0])
            else:
                merged.append([start, nbytes])
        request = bytearray(struct.pack("<III", MAGIC, self.names[name], len(merged)))
        for start, nbytes in merged:
            request += struct.pack("<Q", nbytes) + ctypes.string_at(start, nbytes)
        request += struct.pack("<I", len(encoded))
        for item in encoded:
            if item[0] == "null":
                request += b"\0"
            elif item[0] == "poison":
                request += b"\4"
            elif item[0] == "float":
                request += b"\3" + struct.pack("<f", item[1])
            elif item[0] == "int":
                request += b"\2" + struct.pack("<Q", item[1] & (2**64 - 1))
            else:
                index = next(i for i, (s, n) in enumerate(merged) if s <= item[1] < s + max(n, 1))
                request += b"\1" + struct.pack("<IQ", index, item[1] - merged[index][0])
        self.registry.clear()
        try:
            self.proc.stdin.write(request)
            self.proc.stdin.flush()
            reply = self._read(16)
            for start, nbytes in merged:
                ctypes.memmove(start, self._read(nbytes), nbytes)
        except (BrokenPipeError, EOFError) as exc:
            err = self.proc.stderr.read().decode(errors="replace") if self.proc.poll() is not None else ""
            self._start()   # the next test gets a fresh runner
            raise kh.KernelError(f"{name} crashed the AArch64 runner ({exc}; a kernel touched a buffer it was not "
                                 f"given?) {err}") from None
        magic, ret, guards = struct.unpack("<IqI", reply)
        assert magic == MAGIC
        self.calls += 1
        if guards:
            raise kh.KernelError(f"{name} wrote outside its buffers on AArch64 ({guards} buffer guards changed)")
        if name.startswith("shim_"):
            return None
        return ret

    def _read(self, n: int) -> bytes:
        data = self.proc.stdout.read(n) if n else b""
        if len(data) != n:
            raise EOFError("the runner exited")
        return data


def install(monkeypatch, remote: RemoteKernels, *modules) -> None:
    """Route the kernel tests' calls to `remote`: kernel_harness.kernels(), the `kernels` names that test
    modules imported from it, and the address book of `_ptr` / `Guarded.ptr`."""
    registry = remote.registry
    original_ptr = kh._ptr

    def recorded_ptr(a):
        address = original_ptr(a)
        return None if address is None else registry.add(address, a.nbytes, a)

    def guarded_ptr(self):
        return registry.add(self.buf.ctypes.data, self.buf.nbytes, self.buf)

    monkeypatch.setattr(kh, "kernels", lambda: remote)
    monkeypatch.setattr(kh, "_ptr", recorded_ptr)
    monkeypatch.setattr(kh.Guarded, "ptr", property(guarded_ptr))
    for module in modules:
        if hasattr(module, "kernels"):
            monkeypatch.setattr(module, "kernels", lambda: remote)


def kit_platform_cflags(kit: Path) -> list[str] | None:
    """`ta_arm64-platform-cflags` of a TA dev kit's mk/conf.mk, without -g*."""
    conf = kit / "sdk" / "export-ta_arm64" / "mk" / "conf.mk"
    if not conf.is_file():
        return None
    for line in conf.read_text().splitlines():
        if line.startswith("ta_arm64-platform-cflags"):
            return [f for f in line.split(":=", 1)[1].split() if not f.startswith("-g")]
    return None
