"""The ONNX backend node tests as the kernels' conformance suite.

The cases are regenerated offline from the installed onnx package
(`onnx.backend.test.case.node.collect_testcases()`); a case is selected when every node of its
graph has a kernel (`kernel_harness.OPS`).  Its graph runs node by node through the C kernels and
every output is compared with the expected one at the case's own tolerances.  Attributes or
dtypes the kernels do not support skip the case with the reason.

    python tests/kernel_conformance.py      # table: passed / skipped / failed per op, skip reasons
"""
from __future__ import annotations

import collections
import functools
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kernel_harness import OPS, Unsupported, run_node  # noqa: E402

ATOL_FLOOR = 1e-6  # float32 rounding of the kernels' summation order vs numpy's on values near 0

# Cases where the ONNX reference and onnxruntime disagree; the kernels follow onnxruntime (the parity
# target of the whole runtime) and these cases are checked against onnxruntime's output instead.
FOLLOW_ONNXRUNTIME = {
    "test_resize_downsample_scales_linear_align_corners":
        "align_corners divides by (output length - 1) in onnxruntime, by (in * scale - 1) in the reference",
    "test_resize_downsample_scales_cubic_align_corners":
        "align_corners divides by (output length - 1) in onnxruntime, by (in * scale - 1) in the reference",
}


@functools.cache
def node_cases() -> tuple:
    """Every node test case whose graph only uses ops that have kernels, by name."""
    from onnx.backend.test.case.node import collect_testcases
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = collect_testcases()
    picked = [c for c in cases if c.model is not None and all(n.op_type in OPS for n in c.model.graph.node)]
    return tuple(sorted(picked, key=lambda c: c.name))


# Ops whose node tests only come in float64 (e.g. every ReduceLogSumExp case): run with the inputs
# rounded to float32, compared with the float64 expectation at float32 tolerances.
FLOAT64_AS_FLOAT32 = {"ReduceLogSumExp": (1e-5, 1e-6)}


def main_op(case) -> str:
    """The op a case is filed under: its last node's (the op under test in the expanded graphs too)."""
    return case.model.graph.node[-1].op_type


def _onnxruntime_outputs(model: onnx.ModelProto, inputs) -> list[np.ndarray]:
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session.run(None, dict(zip(names, inputs)))


def run_case(case) -> None:
    """Raise Unsupported (skip) or AssertionError (fail); return on pass."""
    model = case.model
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
    for inputs, expected in case.data_sets:
        if case.name in FOLLOW_ONNXRUNTIME:
            expected = _onnxruntime_outputs(model, inputs)
        values: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
        names = [i.name for i in model.graph.input if i.name not in values]
        for name, value in zip(names, inputs):
            if isinstance(value, np.generic):
                value = np.asarray(value)
            if not isinstance(value, np.ndarray):
                raise Unsupported("non-tensor (sequence/optional) input")
            if value.dtype == np.float64 and main_op(case) in FLOAT64_AS_FLOAT32:
                value = value.astype(np.float32)
            values[name] = value
        for node in model.graph.node:
            outs = run_node(node, [values.get(i) if i else None for i in node.input], opset)
            for name, value in zip(node.output, outs):
                if name:
                    values[name] = value
        for out, want in zip(model.graph.output, expected):
            got = values[out.name]
            rtol, atol = case.rtol, max(case.atol, ATOL_FLOOR)
            if want.dtype == np.float64 and main_op(case) in FLOAT64_AS_FLOAT32:
                rtol, atol = (max(a, b) for a, b in zip((rtol, atol), FLOAT64_AS_FLOAT32[main_op(case)]))
            assert got.shape == want.shape, f"{out.name}: shape {got.shape} != expected {want.shape}"
            np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=f"{case.name}: output {out.name}")


def report() -> dict[str, collections.Counter]:
    from rich.console import Console
    from rich.table import Table
    per_op: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    skipped, failed = [], []
    for case in node_cases():
        op = main_op(case)
        try:
            run_case(case)
            per_op[op]["passed"] += 1
        except Unsupported as e:
            per_op[op]["skipped"] += 1
            skipped.append((case.name, str(e)))
        except AssertionError as e:
            per_op[op]["failed"] += 1
            failed.append((case.name, str(e).strip().splitlines()[0]))
    table = Table(title="ONNX backend node tests through the C kernels")
    for col in ("op", "passed", "skipped", "failed"):
        table.add_column(col, justify="left" if col == "op" else "right")
    for op in sorted(per_op):
        c = per_op[op]
        table.add_row(op, str(c["passed"]), str(c["skipped"]), str(c["failed"]))
    total = sum(per_op.values(), collections.Counter())
    table.add_row("total", str(total["passed"]), str(total["skipped"]), str(total["failed"]))
    console = Console()
    console.print(table)
    for name, why in skipped:
        console.print(f"skipped {name}: {why}")
    for name, why in failed:
        console.print(f"[red]FAILED[/red] {name}: {why}")
    return per_op


if __name__ == "__main__":
    report()
