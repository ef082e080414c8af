"""An optee-kit, and the TA, client and guest tools built with it.

A kit (`$ONNX_TEE_OPTEE_KIT`, else `../shared/optee-kit` beside a source checkout) holds OP-TEE's TA dev
kit (`sdk/export-ta_arm64`), libteec (`sdk/libteec`) and `run.sh`, which boots a QEMU secure world
(TF-A -> OP-TEE -> Linux), runs one client and returns its stdout, stderr and exit code.  Everything is
built outside the source tree, under `<build dir>/optee/`, and cached between runs (make decides what is
stale; a lock per output lets parallel test workers share it):

    kit = find_kit()                              # UserError naming what is missing
    ta = build_ta(8 << 20, kit)                   # make -C runtime_ta/ta ... BUDGET=8388608 O=...
    device_ta = build_ta(8 << 20, kit, vendor_key=h)   # ... KEY_MODE=device VENDOR_KEY=h (keygen --vendor)
    client = build_client(kit)                    # make -C runtime_ta/host ... TEEC_EXPORT=...
"""
from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

from ..errors import UserError
from ..lower.runtime_tree import PACKAGE_ROOT, RUNTIME_DIR, build_dir, is_source_checkout

KIT_ENV = "ONNX_TEE_OPTEE_KIT"
TA_UUID = "abf9bcde-c41d-48bf-b7bc-5873da78f43b"
CROSS = "aarch64-linux-gnu-"
CLIENT = "onnx_tee_client"
# What building and booting needs besides the kit: program -> Debian package.
TOOLS = {f"{CROSS}gcc": "gcc-aarch64-linux-gnu", "qemu-system-aarch64": "qemu-system-arm", "cpio": "cpio",
         "xz": "xz-utils", "make": "make"}


def kit_dir() -> Path | None:
    """The kit: $ONNX_TEE_OPTEE_KIT, else ../shared/optee-kit beside a source checkout (None if neither)."""
    if os.environ.get(KIT_ENV):
        return Path(os.environ[KIT_ENV]).resolve()
    default = PACKAGE_ROOT.parent / "shared" / "optee-kit"
    return default.resolve() if is_source_checkout() and default.is_dir() else None


def kit_problem() -> str | None:
    """Why the kit cannot be used here (no kit, a missing tool), or None when everything is in place."""
    kit = kit_dir()
    if kit is None or not (kit / "run.sh").is_file():
        return f"no optee-kit: set {KIT_ENV} to a kit directory (with run.sh, sdk/export-ta_arm64, sdk/libteec)"
    for tool, package in TOOLS.items():
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install {package})"
    return None


def find_kit() -> Path:
    """The kit, with every tool it needs on PATH; UserError saying what is missing otherwise."""
    problem = kit_problem()
    if problem:
        raise UserError(problem)
    return kit_dir()


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


def build_ta(budget: int, kit: Path, *, vendor_key: Path | None = None) -> Path:
    """Build (incrementally) the TA for `budget` bytes with the kit's dev kit; returns the signed .ta.

    Without `vendor_key`: the provisioned-key TA (KEY_MODE=provisioned, `ta-<budget>/`).  With it (the
    vendor_key.h of `keygen --vendor`): the device-key TA (KEY_MODE=device, `ta-<budget>-device/`) that
    wraps its device key for that vendor.  The header is copied to a fixed place beside the build, so a
    new vendor key recompiles only the sources that include it."""
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


def build_client(kit: Path) -> Path:
    """Build the normal-world client against the kit's libteec; returns the aarch64 executable."""
    out = optee_build_dir() / "host"
    _locked_make(["-C", str(RUNTIME_DIR / "host"), f"CROSS_COMPILE={CROSS}", f"TEEC_EXPORT={teec_prefix(kit)}",
                  f"O={out}"], out.with_suffix(".lock"))
    return out / CLIENT


def build_guest_tool(name: str, sources: list[Path], kit: Path) -> Path:
    """Cross-compile a guest program against the client library and the kit's libteec."""
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
