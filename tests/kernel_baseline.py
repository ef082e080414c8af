"""The kernels as they were before the speed work of issue 19, built beside this checkout's, so that
every new kernel path can be compared with the code it replaces on the same inputs.

    with kernel_harness.using(baseline_kernels()):
        old = run_node(node, inputs, opset)            # the kernels of BASELINE
    new = run_node(node, inputs, opset)                # this checkout's

`baseline_kernels()` extracts `runtime_ta/interp` and `tests/c/kernel_shim.c` of BASELINE from the
repository's history (`git archive`) and compiles them exactly as kernel_harness compiles the current
ones (same compiler, same flags), so a difference is the code's, not the build's.  Without git (a missing
tool) the tests that need it are skipped locally and fail under CI; without that commit (an exported tree, a
shallow clone) they are skipped, there is no history to compare with.
"""
from __future__ import annotations

import ctypes
import functools
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest

import kernel_harness as kh
from conftest import missing

BASELINE = "469c8ffb89c08f1132dbbc8e32aa3a0c813f7dda"   # main before issue 19's kernels (depthwise 3x3 only)
PATHS = ("runtime_ta/interp", "tests/c/kernel_shim.c")


@functools.cache
def baseline_tree() -> Path:
    """The kernel sources of BASELINE, extracted once per machine into the temp dir."""
    tree = Path(tempfile.gettempdir()) / "onnx-tee-kernels" / f"baseline-{BASELINE[:12]}" / "src"
    if not (tree / PATHS[1]).is_file():
        if shutil.which("git") is None:
            missing("git is not installed: the baseline kernels come from the repository's history")
        archive = subprocess.run(["git", "-C", str(kh.ROOT), "archive", "--format=tar", BASELINE, *PATHS],
                                 capture_output=True)
        if archive.returncode != 0:   # a shallow clone or an exported tree: no history to compare with
            pytest.skip(f"commit {BASELINE[:12]} is not in this repository's history: "
                        f"{archive.stderr.decode(errors='replace').strip()}")
        partial = tree.with_name(f"src.{os.getpid()}.tmp")
        shutil.rmtree(partial, ignore_errors=True)
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(partial, filter="data")
        shutil.rmtree(tree, ignore_errors=True)
        os.replace(partial, tree)
    return tree


@functools.cache
def baseline_kernels() -> ctypes.CDLL:
    """The kernel library of BASELINE, compiled like kernel_harness compiles this checkout's."""
    lib = baseline_tree().parent / f"libkernels-{kh.flags_digest()}.so"
    if not lib.exists():
        kh.build_library(lib, root=baseline_tree())
    return kh.load_library(lib, older=True)
