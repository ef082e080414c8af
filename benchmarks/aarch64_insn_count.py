"""Dynamic instruction counts of the most expensive kernels on AArch64, under qemu-aarch64.

No AArch64 board is available, and the installed QEMU (Debian's 7.2) ships no TCG plugins
(`libinsn.so`: `find / -name 'libinsn*'` finds nothing; the plugin API needs QEMU's own
`qemu-plugin.h`, which no installed package carries).  QEMU's own execution log counts as well:
with one guest instruction per translation block (`-singlestep`) and block chaining off
(`-d nochain,exec`), QEMU logs one `Trace` line per executed instruction.  Each case runs once
and twice (benchmarks/c/insn_driver.c); the difference is the instructions of exactly one call.

Builds, all with the flags OP-TEE's TA dev kit compiles a TA with (tests/aarch64_harness.py,
`TA_PLATFORM_CFLAGS`: -Os -mstrict-align ..., -ffp-contract=off; the kernels raise themselves to -O3
by pragma, internal.h):

    scalar      -fno-tree-vectorize -fno-tree-slp-vectorize -DKERN_SCALAR_PATHS: no vector code
    compiler    -DKERN_SCALAR_PATHS: the compiler's own vectorisation, without the NEON paths
    neon        the TA build: the compiler's vectorisation and the `#ifdef __ARM_NEON` paths

    python benchmarks/aarch64_insn_count.py            # the markdown table of KERNELS.md
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from aarch64_harness import QEMU, SYSROOT, build_insn_driver  # noqa: E402

CASES = {"conv1x1": "Conv 1x1, 64 -> 64 channels, 14x14", "conv3x3s2": "Conv 3x3/s2, 16 -> 32 channels, 28x28 in",
         "dw3x3": "Conv dw 3x3/s1, 96 channels, 14x14", "dw5x5s2": "Conv dw 5x5/s2, 96 channels, 28x28 in",
         "sigmoid": "Sigmoid, 18,816 elements"}
BUILDS = {"scalar": ("-Os", "-fno-tree-vectorize", "-fno-tree-slp-vectorize", "-DKERN_SCALAR_PATHS"),
          "compiler": ("-Os", "-DKERN_SCALAR_PATHS"), "neon": ("-Os",)}


def instructions(binary: Path, case: str, repeats: int) -> int:
    """Guest instructions of one run (QEMU's exec log: one `Trace` line per instruction)."""
    proc = subprocess.Popen([QEMU, "-L", SYSROOT, "-singlestep", "-d", "nochain,exec", "-D", "/dev/stderr",
                             str(binary), case, str(repeats)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    count = sum(line.startswith(b"Trace") for line in proc.stderr)
    if proc.wait() != 0:
        raise RuntimeError(f"{binary.name} {case} {repeats} exited with {proc.returncode}")
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", default=list(CASES))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        binaries = {name: build_insn_driver(Path(tmp) / f"driver-{name}", opt) for name, opt in BUILDS.items()}
        print("| kernel | " + " | ".join(f"{b} (insns)" for b in BUILDS) + " | compiler / scalar | neon / scalar |")
        print("|---|" + "---:|" * (len(BUILDS) + 2))
        for case in args.cases:
            counts = {b: instructions(p, case, 2) - instructions(p, case, 1) for b, p in binaries.items()}
            print(f"| {CASES[case]} | " + " | ".join(f"{counts[b]:,}" for b in BUILDS)
                  + f" | {counts['compiler'] / counts['scalar']:.2f} | {counts['neon'] / counts['scalar']:.2f} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
