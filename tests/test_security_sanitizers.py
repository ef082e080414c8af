"""The simulator test suite under AddressSanitizer + UndefinedBehaviorSanitizer, and a fuzzing smoke run.

The sanitised suite runs in a child pytest with ONNX_TEE_SANITIZE=1 (passes/lower/sim.py then loads
the ASan + UBSan build of the TA, interpreter and shims) and libasan preloaded into Python; any
sanitizer report aborts the child.  (The zoo-bundle bit flips are left out: they exercise the same
code as the hand-made bundle's, at many times the cost under ASan.)  The smoke run is `make fuzz` for 20 seconds from the seeds;
the stream seeds (pinned body, OT_CMD_INFER, recurrent state) are each checked to get the TA's documented answers.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from onnx_tee.passes.lower.sim import SIM_DIR, build_dir, build_simulator

ROOT = Path(__file__).resolve().parents[1]
SUITE = ["tests/test_sim_runtime.py", "tests/test_security_envelope.py", "tests/test_ta_params.py",
         "tests/test_security_bitflips.py", "tests/test_security_plaintext.py", "tests/test_security_io.py",
         "tests/test_security_ta_findings.py", "tests/test_stream_session.py"]


def libasan() -> str | None:
    if shutil.which("cc") is None:
        return None
    path = subprocess.run(["cc", "-print-file-name=libasan.so"], capture_output=True, text=True).stdout.strip()
    return path if os.path.isabs(path) and os.path.exists(path) else None


@pytest.mark.skipif(libasan() is None, reason="libasan not installed")
def test_simulator_suite_under_asan_and_ubsan():
    lib = build_simulator(sanitize=True) / "libonnxtee_sim.so"
    symbols = subprocess.run(["nm", "-D", str(lib)], capture_output=True, text=True, check=True).stdout
    assert "__asan_" in symbols and "__ubsan_" in symbols
    env = dict(os.environ, ONNX_TEE_SANITIZE="1", LD_PRELOAD=libasan(),
               ASAN_OPTIONS="detect_leaks=0:abort_on_error=1", UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                             "-m", "not slow", "-k", "not zoo_bundle", *SUITE], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert " passed" in result.stdout and "failed" not in result.stdout


def libfuzzer_available() -> bool:
    if shutil.which("clang") is None:
        return False
    probe = subprocess.run(["clang", "-fsanitize=fuzzer", "-x", "c", "-", "-o", os.devnull],
                           input="#include <stdint.h>\n#include <stddef.h>\n"
                                 "int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return 0; }\n",
                           capture_output=True, text=True)
    return probe.returncode == 0


@pytest.mark.skipif(not libfuzzer_available(), reason="clang with libFuzzer not installed")
def test_fuzz_smoke_run():
    out = build_dir() / "sim-fuzz"
    result = subprocess.run(["make", "-s", "-C", str(SIM_DIR), f"BUILD={out}", "fuzz", "FUZZ_SECONDS=20"],
                            capture_output=True, text=True, timeout=600)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    assert "DONE" in log and "ERROR:" not in log
    assert not any((out / "fuzz-artifacts").iterdir())


@pytest.mark.skipif(not libfuzzer_available(), reason="clang with libFuzzer not installed")
def test_every_seed_is_sealed_for_the_current_format():
    """A seed the TA refuses for its format version only exercises the version check: every committed
    seed (and so every input the harness seals) must get past OT_ERR_UNSUPPORTED_VERSION."""
    out = build_dir() / "sim-fuzz"
    subprocess.run(["make", "-s", "-C", str(SIM_DIR), f"BUILD={out}", str(out / "fuzz_ta")], check=True,
                   capture_output=True, text=True, timeout=600)
    env = dict(os.environ, ONNX_TEE_TA_LOG_LEVEL="1")
    for seed in sorted((SIM_DIR / "fuzz" / "corpus").iterdir()):
        run = subprocess.run([str(out / "fuzz_ta"), "-runs=1", str(seed)], capture_output=True, text=True,
                             env=env, timeout=120)
        assert run.returncode == 0, run.stderr[-2000:]
        assert "refused: 0x80a7000a" not in run.stderr, f"{seed.name}: sealed for another format version"


EVENT = re.compile(r"model opened|loaded and validated|ran:|command (0x[0-9a-f]+) refused: (0x[0-9a-f]+)|"
                   r"output buffer too short")
NOT_RESIDENT, STATE_TENSOR, IO_SEALED, BAD_PARAMETERS = "0x80a70017", "0x80a70018", "0x80a70012", "0xffff0006"
WRITE, READ, INFER, WRITE_SEALED, READ_SEALED = "0x5", "0x6", "0xb", "0x8", "0x9"
# The TA's answers to the stream seeds' command scripts (make_corpus.py), in order: the pinned flag and the
# state pairs pass the plan check, OT_CMD_INFER runs the resident body and carries the state, and each
# refusal is the documented one.
STREAM_SEEDS = {
    "plan_pinned_infer": ["open", (INFER, NOT_RESIDENT), "load", "run", "run", "run", "run",
                          (INFER, BAD_PARAMETERS), "short", (INFER, IO_SEALED), "open", (INFER, NOT_RESIDENT),
                          "load", "run"],
    "plan_state_pinned": ["open", "load", "run", (READ, STATE_TENSOR), "run", "run", (WRITE, STATE_TENSOR), "run",
                          "run", "short", "open", "load", "run", "run"],
    "plan_state_streamed": ["open", "load", "run", "load", "run", (WRITE, STATE_TENSOR), (INFER, NOT_RESIDENT),
                            "load", "run", (WRITE_SEALED, STATE_TENSOR), (READ_SEALED, STATE_TENSOR)],
}


def ta_events(log: str) -> list:
    events = []
    for m in EVENT.finditer(log):
        text = m.group(0)
        events.append((m.group(1), m.group(2)) if m.group(1) else
                      {"model opened": "open", "loaded and validated": "load", "ran:": "run"}.get(text, "short"))
    return events


@pytest.mark.skipif(not libfuzzer_available(), reason="clang with libFuzzer not installed")
@pytest.mark.parametrize("seed", sorted(STREAM_SEEDS))
def test_stream_seeds_drive_the_stream_session_under_sanitizers(seed):
    """The stream seeds under the ASan + UBSan harness: each reaches the stream session it was made for
    (pinned body, OT_CMD_INFER, recurrent state) and the TA answers every command as documented."""
    out = build_dir() / "sim-fuzz"
    subprocess.run(["make", "-s", "-C", str(SIM_DIR), f"BUILD={out}", str(out / "fuzz_ta")], check=True,
                   capture_output=True, text=True, timeout=600)
    run = subprocess.run([str(out / "fuzz_ta"), "-runs=1", str(SIM_DIR / "fuzz" / "corpus" / seed)],
                         capture_output=True, text=True, env=dict(os.environ, ONNX_TEE_TA_LOG_LEVEL="4"), timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    events = ta_events(run.stderr.split("Running: ", 1)[-1])
    assert events[:len(STREAM_SEEDS[seed])] == STREAM_SEEDS[seed], events
