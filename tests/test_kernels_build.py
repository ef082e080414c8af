"""The kernels compile as freestanding C99 for x86-64 and AArch64, warning-free, and need nothing
from libc/libm but memcpy/memset/memmove, and hold no mutable global state."""
import shutil
import subprocess

import pytest

from kernel_harness import INTERP

SOURCES = [INTERP / "mathf.c", *sorted((INTERP / "kernels").glob("*.c"))]
FLAGS = ["-std=c99", "-O3", "-Wall", "-Wextra", "-Werror", "-pedantic", "-ffreestanding", "-fno-builtin",
         "-fno-stack-protector", "-Wvla", "-Wstack-usage=2048", f"-I{INTERP}"]
ALLOWED_UNDEFINED = {"memcpy", "memset", "memmove"}
TOOLCHAINS = [pytest.param("gcc", "nm", id="gcc"),
              pytest.param("aarch64-linux-gnu-gcc", "aarch64-linux-gnu-nm", id="aarch64-linux-gnu-gcc"),
              pytest.param("clang", "nm", id="clang", marks=pytest.mark.slow)]


@pytest.mark.parametrize("cc,nm", TOOLCHAINS)
def test_freestanding_objects(tmp_path, cc, nm):
    if shutil.which(cc) is None or shutil.which(nm) is None:
        pytest.skip(f"{cc} not installed")
    flags = [f for f in FLAGS if not (cc == "clang" and f.startswith("-Wstack-usage"))]
    own = set()
    undefined = set()
    for src in SOURCES:
        obj = tmp_path / (src.stem + ".o")
        subprocess.run([cc, *flags, "-c", str(src), "-o", str(obj)], check=True, capture_output=True, text=True)
        symbols = subprocess.run([nm, str(obj)], check=True, capture_output=True, text=True).stdout.splitlines()
        for line in symbols:
            parts = line.split()
            kind, name = (parts[0], parts[1]) if len(parts) == 2 else (parts[1], parts[2])
            if kind == "U":
                undefined.add(name)
            else:
                own.add(name)
            assert kind not in "DdBbCGgSs", f"{src.name}: mutable global {name} ({kind})"
    assert undefined - own <= ALLOWED_UNDEFINED, f"undefined symbols beyond mem*: {sorted(undefined - own)}"
