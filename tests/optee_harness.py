"""Run the TA and its client in a real OP-TEE secure world: QEMU (TCG) with OP-TEE 4.x, from an optee-kit.

The kit (`../shared/optee-kit` beside the repository, or `$ONNX_TEE_OPTEE_KIT`) holds the TA dev kit
(`sdk/export-ta_arm64`), libteec (`sdk/libteec`) and `run.sh`, which boots TF-A -> OP-TEE -> Linux, runs
one client and returns its stdout, stderr and exit code.  Everything here is built outside the source
tree (`<build dir>/optee/`) and cached between runs (make decides what is stale):

    ta = build_ta(8 << 20)                       # make -C runtime_ta/ta ... BUDGET=8388608 O=...
    device_ta = build_ta(8 << 20, vendor_key=h)  # ... KEY_MODE=device VENDOR_KEY=h (keygen --vendor)
    guest = Guest(tmp_path)                      # one boot, many cases
    guest.install_ta(ta)                         # (the script copies it into /lib/optee_armtz/)
    guest.case("lenet", "onnx_tee_client", guest.add(device_dir), guest.add(x_bin))
    results = guest.boot()                       # {case name: CaseResult(rc, stdout, stderr, seconds)}

A boot costs 5-15 s of emulation, so a test module collects its cases into one `Guest` (one shell script
that runs every case in order and prints a block per case) and boots once.  Several TAs (budgets) can
share a boot: every TA has the same UUID, and the script installs the one the next cases need (OP-TEE
loads a TA from /lib/optee_armtz at each first session open, and unloads it when its last session closes).
"""
from __future__ import annotations

import fcntl
import os
import re
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from onnx_tee.passes.lower.runtime_tree import RUNTIME_DIR, build_dir

from conftest import missing, require_tool

ROOT = Path(__file__).resolve().parents[1]
KIT_ENV = "ONNX_TEE_OPTEE_KIT"
TA_UUID = "abf9bcde-c41d-48bf-b7bc-5873da78f43b"
CROSS = "aarch64-linux-gnu-"
HEAP_RESERVE = 384 * 1024          # OT_HEAP_RESERVE: TA_DATA_SIZE = BUDGET + reserve
MiB = 1 << 20
CLIENT = "onnx_tee_client"

# Exit codes of the client (runtime_ta/host/main.c, runtime_ta/README.md).
EXIT = {"ok": 0, "other": 1, "usage": 2, "no_tee": 3, "ta_open": 4, "ta_memory": 5, "model_memory": 6,
        "key": 7, "refused": 8, "run": 9, "protocol": 10, "ta_dead": 11}


# ------------------------------------------------------------------------------------------ the kit

def kit_dir() -> Path | None:
    """The optee-kit: $ONNX_TEE_OPTEE_KIT, else ../shared/optee-kit relative to the repository root."""
    if os.environ.get(KIT_ENV):
        return Path(os.environ[KIT_ENV]).resolve()
    default = ROOT.parent / "shared" / "optee-kit"
    return default.resolve() if default.is_dir() else None


def require_kit() -> Path:
    """The kit and the tools the real-TEE tests need; skips (locally) or fails (CI) when one is missing."""
    kit = kit_dir()
    if kit is None or not (kit / "run.sh").is_file():
        missing(f"no optee-kit: set {KIT_ENV} to a kit directory (with run.sh, sdk/export-ta_arm64, sdk/libteec)")
    for tool, package in ((f"{CROSS}gcc", "gcc-aarch64-linux-gnu"), ("qemu-system-aarch64", "qemu-system-arm"),
                          ("cpio", "cpio"), ("xz", "xz-utils"), ("make", "make")):
        require_tool(tool, f"apt-get install {package}")
    return kit


def _follow_flattened_link(path: Path) -> Path:
    """A kit copied without symlinks holds a symlink as a small text file naming its target: follow it."""
    for _ in range(8):
        if path.is_symlink() or not path.is_file() or path.stat().st_size > 255:
            return path
        data = path.read_bytes()
        if data.startswith(b"\x7fELF") or data.startswith(b"-----") or b"\n" in data.strip() or b"/" in data:
            return path
        target = path.parent / data.decode(errors="replace").strip()
        if not target.exists():
            return path
        path = target
    return path


def optee_build_dir() -> Path:
    out = build_dir() / "optee"
    out.mkdir(parents=True, exist_ok=True)
    return out


def _locked_make(args: list[str], lock: Path, files: dict[Path, bytes] | None = None) -> None:
    """make under a lock; `files` are written first (only where their bytes changed, so make rebuilds just
    what includes them)."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as handle:   # parallel test workers share the build directory
        fcntl.flock(handle, fcntl.LOCK_EX)
        for path, data in (files or {}).items():
            if not path.is_file() or path.read_bytes() != data:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
        result = subprocess.run(["make", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"make {' '.join(args)} failed:\n{result.stdout[-4000:]}{result.stderr[-4000:]}")


def teec_prefix(kit: Path) -> Path:
    """A TEEC_EXPORT prefix (include/, lib/libteec.so) for the kit's libteec, with real symlinks."""
    prefix = optee_build_dir() / "teec"
    (prefix / "lib").mkdir(parents=True, exist_ok=True)
    so = _follow_flattened_link(kit / "sdk" / "libteec" / "lib" / "libteec.so")
    for link, target in ((prefix / "include", kit / "sdk" / "libteec" / "include"), (prefix / "lib" / "libteec.so", so)):
        if link.is_symlink() and Path(os.readlink(link)) == target:
            continue
        tmp = link.with_name(link.name + f".{os.getpid()}")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(target)
        os.replace(tmp, link)
    return prefix


def sign_key(kit: Path) -> Path:
    """The dev kit's TA signing key (keys/default_ta.pem, followed if the kit flattened that symlink)."""
    return _follow_flattened_link(kit / "sdk" / "export-ta_arm64" / "keys" / "default_ta.pem")


def build_ta(budget: int, kit: Path | None = None, *, vendor_key: Path | None = None) -> Path:
    """Build (incrementally) the TA for `budget` bytes with the kit's dev kit; returns the signed .ta.

    Without `vendor_key`: the provisioned-key TA (KEY_MODE=provisioned, `ta-<budget>/`).  With it (the
    vendor_key.h of `keygen --vendor`): the device-key TA (KEY_MODE=device, `ta-<budget>-device/`) that
    wraps its device key for that vendor.  The header is copied to a fixed place beside the build, so a
    new vendor key recompiles only the sources that include it."""
    kit = kit or require_kit()
    out = optee_build_dir() / (f"ta-{budget}-device" if vendor_key else f"ta-{budget}")
    args = ["-C", str(RUNTIME_DIR / "ta"), f"CROSS_COMPILE={CROSS}",
            f"TA_DEV_KIT_DIR={kit / 'sdk' / 'export-ta_arm64'}", f"BUDGET={budget}", f"O={out}",
            f"TA_SIGN_KEY={sign_key(kit)}", f"-j{os.cpu_count() or 2}"]
    files = {}
    if vendor_key:
        header = out.with_name(out.name + ".vendor_key.h")
        files[header] = Path(vendor_key).read_bytes()
        args += ["KEY_MODE=device", f"VENDOR_KEY={header}"]
    _locked_make(args, out.with_suffix(".lock"), files)
    return out / f"{TA_UUID}.ta"


def build_client(kit: Path | None = None) -> Path:
    """Build the normal-world client against the kit's libteec; returns the aarch64 executable."""
    kit = kit or require_kit()
    out = optee_build_dir() / "host"
    _locked_make(["-C", str(RUNTIME_DIR / "host"), f"CROSS_COMPILE={CROSS}", f"TEEC_EXPORT={teec_prefix(kit)}",
                  f"O={out}"], out.with_suffix(".lock"))
    return out / CLIENT


def build_guest_tool(name: str, sources: list[Path], kit: Path | None = None) -> Path:
    """Cross-compile a test tool against the client library and the kit's libteec."""
    kit = kit or require_kit()
    out = optee_build_dir() / "tools" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    prefix = teec_prefix(kit)
    srcs = [*sources, RUNTIME_DIR / "host" / "client.c", RUNTIME_DIR / "host" / "host_io.c"]
    if not out.exists() or any(s.stat().st_mtime > out.stat().st_mtime for s in srcs):
        cmd = [f"{CROSS}gcc", "-O2", "-std=c99", "-D_DEFAULT_SOURCE", "-Wall", "-Wextra", "-Werror",
               f"-I{RUNTIME_DIR / 'include'}", f"-I{RUNTIME_DIR / 'host'}", f"-I{prefix / 'include'}",
               *map(str, srcs), "-o", str(out) + ".tmp", f"-L{prefix / 'lib'}", "-lteec"]
        subprocess.run(cmd, check=True, capture_output=True, text=True)
        os.replace(str(out) + ".tmp", out)
    return out


# --------------------------------------------------------------------------------------- one boot

@dataclass
class CaseResult:
    name: str
    rc: int
    stdout: str
    stderr: str
    seconds: float                  # guest clock (10 ms resolution), the command alone

    def refusal(self) -> str | None:
        """The result code name of the first failed command the client reported, if any."""
        match = re.search(r"failed: (\w+) \(0x", self.stderr)
        return match.group(1) if match else None

    def outputs(self) -> list[list[np.ndarray]]:
        """Every inference's printed float32 outputs: [inference][output index] -> 1-D array."""
        runs: list[list[np.ndarray]] = []
        current: list[np.ndarray] | None = None
        for line in self.stdout.splitlines():
            if line.startswith("inference "):
                current = []
                runs.append(current)
            elif line.startswith("output ") and ":" in line:
                if current is None:
                    current = []
                    runs.append(current)
                values = line.split(":", 1)[1].split()
                current.append(np.array([float(v) for v in values], dtype=np.float32))
        return runs

    def partition_times(self) -> list[dict]:
        """The client's --times lines: per partition load/run seconds, blob bytes, chunks."""
        pattern = re.compile(r"time partition (\d+): load ([\d.]+) s \((\d+) bytes, (\d+) chunks\), run ([\d.]+) s")
        return [dict(partition=int(m[0]), load=float(m[1]), bytes=int(m[2]), chunks=int(m[3]), run=float(m[4]))
                for m in pattern.findall(self.stdout)]

    def describe(self) -> str:
        return f"case {self.name}: rc={self.rc}\n--- stdout\n{self.stdout[-3000:]}\n--- stderr\n{self.stderr[-3000:]}"


@dataclass
class BootResult:
    cases: dict[str, CaseResult]
    wall_seconds: float             # host: run.sh start to result
    ready_seconds: float | None     # host: start to the guest's "ready" (TEE driver + tee-supplicant up)
    rc: int
    stderr: str
    storage: Path | None = None

    def __getitem__(self, name: str) -> CaseResult:
        if name not in self.cases:
            raise AssertionError(f"case {name} did not run in the guest; run.sh rc={self.rc}\n{self.stderr[-4000:]}")
        return self.cases[name]


SCRIPT_HEAD = r'''# generated by tests/optee_harness.py: one block per case on stdout
export PATH=/kit/bin:$PATH
cd /kit/work
case_run() {
    name=$1; shift
    t0=$(cut -d' ' -f1 /proc/uptime)
    "$@" > /tmp/case.out 2> /tmp/case.err
    rc=$?
    t1=$(cut -d' ' -f1 /proc/uptime)
    echo "@@CASE-BEGIN $name"
    cat /tmp/case.out
    echo "@@CASE-STDERR $name"
    cat /tmp/case.err
    echo "@@CASE-END $name rc=$rc t0=$t0 t1=$t1"
}
install_ta() {
    cp "$1" /lib/optee_armtz/''' + TA_UUID + r'''.ta
}
'''


@dataclass
class Guest:
    """One boot of the emulated device: files to copy in, then a script of cases run in order."""
    workdir: Path
    mem_mb: int = 1024
    lines: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    _tas: dict[Path, str] = field(default_factory=dict)
    _files: dict[Path, str] = field(default_factory=dict)

    def __post_init__(self):
        self.kit = require_kit()
        self.stage = Path(self.workdir) / "guest-data"
        self.stage.mkdir(parents=True, exist_ok=True)

    def add(self, src: Path, name: str | None = None) -> str:
        """Copy a file or directory into the guest; returns its path there (relative to /kit/work)."""
        src = Path(src).resolve()
        if src in self._files:
            return self._files[src]
        rel = f"d/{len(self._files):03d}-{name or src.name}"
        target = self.stage / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, target)
        self._files[src] = rel
        return rel

    def install_ta(self, ta: Path) -> None:
        """From here on, sessions open this TA build (a script step: copy it into /lib/optee_armtz/)."""
        ta = Path(ta).resolve()
        if ta not in self._tas:
            self._tas[ta] = self.add(ta, f"{ta.parent.name}.ta")
        self.lines.append(f"install_ta {shlex.quote(self._tas[ta])}")

    def case(self, name: str, *argv: str) -> str:
        """Run `argv` (a program on the guest's PATH, e.g. the client, with paths from `add`) as case `name`."""
        if not re.fullmatch(r"[\w.+-]+", name) or name in self.names:
            raise ValueError(f"bad or repeated case name {name!r}")
        self.names.append(name)
        self.lines.append("case_run " + " ".join(shlex.quote(str(a)) for a in (name, *argv)))
        return name

    def shell(self, line: str) -> None:
        """A raw script line (busybox sh), run in order between the cases."""
        self.lines.append(line)

    def boot(self, *, client: Path | None = None, tools: dict[str, Path] | None = None, storage: Path | None = None,
             out: Path | None = None, timeout: int = 900) -> BootResult:
        """Boot once, run every case, parse the result.  `storage`: the device's secure storage (REE FS),
        kept across boots; `out`: receives the guest's /kit/out ($KIT_OUT)."""
        script = Path(self.workdir) / "guest-script.sh"
        script.write_text(SCRIPT_HEAD + "\n".join(self.lines) + "\n")
        cmd = [str(self.kit / "run.sh"), "--timeout", str(timeout), "--mem", str(self.mem_mb), "--stats",
               "--data", f"{self.stage}/d:d"]
        for name, path in {CLIENT: client or build_client(self.kit), **(tools or {})}.items():
            cmd += ["--data", f"{path}:/kit/bin/{name}"]
        if storage is not None:
            Path(storage).mkdir(parents=True, exist_ok=True)
            cmd += ["--storage", str(storage)]
        if out is not None:
            cmd += ["--out", str(out)]
        cmd.append(str(script))
        start = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 120)
        wall = time.monotonic() - start
        ready = re.search(r"host start->guest ready ([\d.]+) s", proc.stderr)
        return BootResult(parse_cases(proc.stdout), wall, float(ready.group(1)) if ready else None, proc.returncode,
                          proc.stderr, storage)


def parse_cases(stdout: str) -> dict[str, CaseResult]:
    cases: dict[str, CaseResult] = {}
    pattern = re.compile(r"^@@CASE-BEGIN (\S+)\n(.*?)^@@CASE-STDERR \1\n(.*?)^@@CASE-END \1 rc=(\d+) t0=([\d.]+) "
                         r"t1=([\d.]+)$", re.S | re.M)
    for m in pattern.finditer(stdout):
        cases[m.group(1)] = CaseResult(m.group(1), int(m.group(4)), m.group(2), m.group(3),
                                       float(m.group(6)) - float(m.group(5)))
    return cases


def write_inputs(path: Path, arrays: list[np.ndarray]) -> Path:
    """Raw little-endian float32 bytes of `arrays`, back to back (one tensor, or a --batch stack)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        for a in arrays:
            handle.write(np.ascontiguousarray(a, dtype="<f4").tobytes())
    return path


def record_figures(name: str, figures: dict) -> Path:
    """Keep measured figures (boot time, per-case times) of the last run as JSON in the build dir."""
    import json
    path = optee_build_dir() / "figures" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    return path
