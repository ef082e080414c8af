"""Kernel speed against onnxruntime (one thread) on the layers that dominate the zoo's compute.

    python benchmarks/bench_kernels.py [--repeats 15] [--cflags "-O3 -march=native"]

Each case is one ONNX node: onnxruntime runs it in a single-threaded session, the C kernel runs it
through ctypes from a library compiled with --cflags (default -O3 for the baseline ISA: SSE2 on
x86-64, NEON on AArch64; try "-O3 -march=native").  Times are the calling thread's CPU time (both run
on it), so other load on the machine does not inflate them; medians over --repeats runs after one
warm-up.  The table shows both, their ratio and the kernel's GFLOP/s.
"""
from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import kernel_harness  # noqa: E402

# (label, op, input shapes, attributes, flops)
CASES = [
    ("ResNet-50 3x3 conv 64->64 @56x56", "Conv", [(1, 64, 56, 56), (64, 64, 3, 3), (64,)],
     dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1]), 2 * 64 * 64 * 9 * 56 * 56),
    ("ResNet-50 3x3 conv 256->256 @14x14", "Conv", [(1, 256, 14, 14), (256, 256, 3, 3), (256,)],
     dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1]), 2 * 256 * 256 * 9 * 14 * 14),
    ("ResNet-50 1x1 conv 256->64 @56x56", "Conv", [(1, 256, 56, 56), (64, 256, 1, 1), (64,)],
     dict(kernel_shape=[1, 1]), 2 * 256 * 64 * 56 * 56),
    ("ResNet-50 1x1 conv 1024->256 @14x14", "Conv", [(1, 1024, 14, 14), (256, 1024, 1, 1), (256,)],
     dict(kernel_shape=[1, 1]), 2 * 1024 * 256 * 14 * 14),
    ("ResNet-50 7x7/2 stem conv 3->64 @224x224", "Conv", [(1, 3, 224, 224), (64, 3, 7, 7), (64,)],
     dict(kernel_shape=[7, 7], strides=[2, 2], pads=[3, 3, 3, 3]), 2 * 3 * 64 * 49 * 112 * 112),
    ("MobileNetV2 depthwise 3x3 144ch @56x56", "Conv", [(1, 144, 56, 56), (144, 1, 3, 3), (144,)],
     dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=144), 2 * 144 * 9 * 56 * 56),
    ("MobileNetV2 depthwise 3x3/2 96ch @112x112", "Conv", [(1, 96, 112, 112), (96, 1, 3, 3), (96,)],
     dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], group=96), 2 * 96 * 9 * 56 * 56),
    ("AlexNet fc6 Gemm 1x9216 . 4096x9216^T", "Gemm", [(1, 9216), (4096, 9216), (4096,)],
     dict(transB=1), 2 * 9216 * 4096),
    ("Gemm 64x9216 . 4096x9216^T (batch 64)", "Gemm", [(64, 9216), (4096, 9216), (4096,)],
     dict(transB=1), 2 * 64 * 9216 * 4096),
]


def _library(cflags: list[str]):
    flags = (*kernel_harness.CFLAGS[:1], *cflags, *kernel_harness.CFLAGS[2:])
    interp = ROOT / "runtime_ta" / "interp"
    headers = [interp / "kernels.h", interp / "mathf.h", *sorted((interp / "kernels").glob("*.h"))]
    key = hashlib.sha256(" ".join(flags).encode() + b"".join(p.read_bytes() for p in kernel_harness.sources() + headers))
    out = Path(tempfile.gettempdir()) / "onnx-tee-kernels" / f"bench-{key.hexdigest()[:16]}" / "libkernels.so"
    if not out.exists():
        kernel_harness.build_library(out, flags=flags)
    return out


def _kernel_call(lib, node, inputs):
    """A closure making just the kernel call of a Conv/Gemm node (buffers and arguments prepared once),
    so the timing excludes the harness's guard checks and copies."""
    import ctypes
    from onnx_tee.passes.target.scratch import conv_scratch_bytes, gemm_scratch_bytes
    from onnx_tee.passes.analysis.shapes import TensorInfo
    from onnx_tee.passes.analysis.spatial import window_geometry
    at = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if node.op_type == "Conv":
        infos = {n: TensorInfo(a.shape, a.dtype) for n, a in zip(node.input, inputs)}
        g = window_geometry(node, infos)
        geom = kernel_harness.ConvGeom(*g.as_tuple())
        y = np.empty((g.batch, g.c_out, g.h_out, g.w_out), np.float32)
        scratch = np.empty(max(conv_scratch_bytes(g) // 4, 1), np.float32)
        args = (ctypes.byref(geom), *(a.ctypes.data for a in inputs), y.ctypes.data, scratch.ctypes.data,
                conv_scratch_bytes(g))
        return lambda: lib.kern_conv(*args) + 0 * (y.size + scratch.size)  # keeps the buffers alive
    a, b, c = inputs
    m, k = a.shape
    n = b.shape[0] if at.get("transB", 0) else b.shape[1]
    attr = kernel_harness.GemmAttr(m, n, k, 0, at.get("transB", 0), 1.0, 1.0, 0, 1)
    need = gemm_scratch_bytes(m, n, k, bool(at.get("transB", 0)))
    y = np.empty((m, n), np.float32)
    scratch = np.empty(max(need // 4, 1), np.float32)
    args = (ctypes.byref(attr), a.ctypes.data, b.ctypes.data, c.ctypes.data, y.ctypes.data, scratch.ctypes.data, need)
    return lambda: lib.kern_gemm(*args) + 0 * (y.size + scratch.size)  # keeps the buffers alive


def _median_ms(fn, repeats: int) -> float:
    fn()
    samples = []
    for _ in range(repeats):
        t = time.thread_time()
        fn()
        samples.append(time.thread_time() - t)
    return statistics.median(samples) * 1e3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--cflags", default="-O3")
    args = parser.parse_args(argv)

    import ctypes
    import onnxruntime as ort
    from rich.console import Console
    from rich.table import Table

    lib_path = _library(args.cflags.split())
    kernel_harness.kernels.cache_clear()
    lib = ctypes.CDLL(str(lib_path))
    for name, sig in kernel_harness.SIGNATURES.items():
        getattr(lib, name).argtypes = list(sig)
    # route the harness through the benchmark build (its guards and scratch sizing stay in place)
    kernel_harness.kernels = lambda: lib  # noqa: E731

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    table = Table(title=f"Kernels ({args.cflags}) vs onnxruntime {ort.__version__}, one thread, median of "
                        f"{args.repeats}")
    for col in ("layer", "kernels ms", "onnxruntime ms", "ratio", "kernels GFLOP/s"):
        table.add_column(col, justify="left" if col == "layer" else "right")
    rng = np.random.default_rng(0)
    for label, op, shapes, attrs, flops in CASES:
        names = [f"in{i}" for i in range(len(shapes))]
        feeds = {n: rng.standard_normal(s).astype(np.float32) for n, s in zip(names, shapes)}
        node = helper.make_node(op, names, ["y"], **attrs)
        graph = helper.make_graph([node], "bench", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s)
                                                    for n, s in zip(names, shapes)],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        inputs = [feeds[n] for n in names]
        ours = kernel_harness.run_node(node, inputs, 17)[0]
        want = session.run(None, feeds)[0]
        np.testing.assert_allclose(ours, want, rtol=1e-3, atol=1e-3)
        t_ours = _median_ms(_kernel_call(lib, node, inputs), args.repeats)
        t_ort = _median_ms(lambda: session.run(None, feeds), args.repeats)
        table.add_row(label, f"{t_ours:.2f}", f"{t_ort:.2f}", f"{t_ours / t_ort:.2f}x", f"{flops / t_ours / 1e6:.1f}")
    Console().print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
