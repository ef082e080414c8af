"""Kernel speed against onnxruntime (one thread) on the layers that dominate the zoo's and the corpus' compute.

    python benchmarks/bench_kernels.py [--repeats 15] [--cflags "-O3 -march=native"] [--baseline] [--int8] [-k TEXT]

Each case is one ONNX node: onnxruntime runs it in a single-threaded session, the C kernel runs it
through ctypes from a library compiled with --cflags (default -O3 for the baseline ISA: SSE2 on
x86-64, NEON on AArch64; try "-O3 -march=native").  `--baseline` also times the kernels of
tests/kernel_baseline.py's BASELINE (the code before issue 19's kernel work) built with the same
flags.  Times are the calling thread's CPU time (all run on it), so other load on the machine does
not inflate them; the contenders of a case run interleaved, medians over --repeats runs after one
warm-up.  The table shows the times, the ratio to onnxruntime and the kernel's GFLOP/s.  `-k` keeps
the cases whose label contains TEXT.  `--int8` runs the Conv cases as QLinearConv the way
onnxruntime's quantize_static writes them (uint8 activations, per-channel int8 weights, int32 bias) and
checks the kernel within one quantization step of onnxruntime's output.
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
    ("MobileNetV3 depthwise 3x3 16ch @112x112", "Conv", [(1, 16, 112, 112), (16, 1, 3, 3), (16,)],
     dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=16), 2 * 16 * 9 * 112 * 112),
    ("MobileNetV3 depthwise 3x3 480ch @14x14", "Conv", [(1, 480, 14, 14), (480, 1, 3, 3), (480,)],
     dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=480), 2 * 480 * 9 * 14 * 14),
    ("MobileNetV3 depthwise 3x3/2 240ch @28x28", "Conv", [(1, 240, 28, 28), (240, 1, 3, 3), (240,)],
     dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], group=240), 2 * 240 * 9 * 14 * 14),
    ("MobileNetV3 depthwise 5x5 120ch @28x28", "Conv", [(1, 120, 28, 28), (120, 1, 5, 5), (120,)],
     dict(kernel_shape=[5, 5], pads=[2, 2, 2, 2], group=120), 2 * 120 * 25 * 28 * 28),
    ("MobileNetV3 depthwise 5x5/2 72ch @56x56", "Conv", [(1, 72, 56, 56), (72, 1, 5, 5), (72,)],
     dict(kernel_shape=[5, 5], strides=[2, 2], pads=[2, 2, 2, 2], group=72), 2 * 72 * 25 * 28 * 28),
    ("MobileNetV3 depthwise 5x5/2 672ch @14x14", "Conv", [(1, 672, 14, 14), (672, 1, 5, 5), (672,)],
     dict(kernel_shape=[5, 5], strides=[2, 2], pads=[2, 2, 2, 2], group=672), 2 * 672 * 25 * 7 * 7),
    ("MobileNetV3 depthwise 5x5 960ch @7x7", "Conv", [(1, 960, 7, 7), (960, 1, 5, 5), (960,)],
     dict(kernel_shape=[5, 5], pads=[2, 2, 2, 2], group=960), 2 * 960 * 25 * 7 * 7),
    ("ConvNeXt depthwise 7x7 96ch @56x56", "Conv", [(1, 96, 56, 56), (96, 1, 7, 7), (96,)],
     dict(kernel_shape=[7, 7], pads=[3, 3, 3, 3], group=96), 2 * 96 * 49 * 56 * 56),
    ("RegNetY-400MF grouped 3x3 208ch g26 @14x14", "Conv", [(1, 208, 14, 14), (208, 8, 3, 3), (208,)],
     dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=26), 2 * 208 * 8 * 9 * 14 * 14),
    ("RegNetY-400MF grouped 3x3/2 104ch g13 @56x56", "Conv", [(1, 104, 56, 56), (104, 8, 3, 3), (104,)],
     dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], group=13), 2 * 104 * 8 * 9 * 28 * 28),
    ("ResNeXt-50 grouped 3x3 256ch g32 @28x28", "Conv", [(1, 256, 28, 28), (256, 8, 3, 3), (256,)],
     dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=32), 2 * 256 * 8 * 9 * 28 * 28),
    ("MobileNetV3 1x1 conv 96->576 @7x7", "Conv", [(1, 96, 7, 7), (576, 96, 1, 1), (576,)],
     dict(kernel_shape=[1, 1]), 2 * 96 * 576 * 49),
    ("EfficientNet 1x1 conv 672->112 @14x14", "Conv", [(1, 672, 14, 14), (112, 672, 1, 1), (112,)],
     dict(kernel_shape=[1, 1]), 2 * 672 * 112 * 196),
    ("squeeze-excite 1x1 conv 960->240 @1x1", "Conv", [(1, 960, 1, 1), (240, 960, 1, 1), (240,)],
     dict(kernel_shape=[1, 1]), 2 * 960 * 240),
    ("AlexNet fc6 Gemm 1x9216 . 4096x9216^T", "Gemm", [(1, 9216), (4096, 9216), (4096,)],
     dict(transB=1), 2 * 9216 * 4096),
    ("Gemm 64x9216 . 4096x9216^T (batch 64)", "Gemm", [(64, 9216), (4096, 9216), (4096,)],
     dict(transB=1), 2 * 64 * 9216 * 4096),
]


def _library(cflags: list[str], root: Path = ROOT):
    """The kernels of the tree at `root` built with `cflags` (cached by sources and flags)."""
    flags = (*kernel_harness.CFLAGS[:1], *cflags, *kernel_harness.CFLAGS[2:])
    interp = root / "runtime_ta" / "interp"
    headers = [interp / "kernels.h", interp / "mathf.h", *sorted((interp / "kernels").glob("*.h"))]
    key = hashlib.sha256(" ".join(flags).encode() + b"".join(
        p.read_bytes() for p in kernel_harness.sources(root) + headers))
    out = Path(tempfile.gettempdir()) / "onnx-tee-kernels" / f"bench-{key.hexdigest()[:16]}" / "libkernels.so"
    if not out.exists():
        kernel_harness.build_library(out, flags=flags, root=root)
    return kernel_harness.load_library(out)


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


def _quantized(rng, shapes, attrs):
    """A QLinearConv node and its inputs for a Conv case: uint8 x, per-channel int8 weights (zero point 0),
    int32 bias, the output scale set so that the outputs spread over the uint8 range."""
    (x_shape, w_shape, b_shape) = shapes
    k = int(np.prod(w_shape[1:]))
    values = [rng.integers(0, 256, x_shape, dtype=np.uint8), np.array(0.02, np.float32), np.array(128, np.uint8),
              rng.integers(-127, 128, w_shape, dtype=np.int8),
              rng.uniform(0.002, 0.01, w_shape[0]).astype(np.float32), np.zeros(w_shape[0], np.int8),
              np.array(0.02 * 0.006 * 64 * np.sqrt(k) / 4, np.float32), np.array(128, np.uint8),
              rng.integers(-20000, 20000, b_shape, dtype=np.int32)]
    names = ["x", "x_s", "x_zp", "w", "w_s", "w_zp", "y_s", "y_zp", "b"]
    return helper.make_node("QLinearConv", names, ["y"], **attrs), names, values


def _qkernel_call(lib, node, inputs):
    """The kernel call of a QLinearConv node, buffers and arguments prepared once."""
    import ctypes
    import kernel_harness_quant as khq
    from onnx_tee.passes.target.scratch import qconv_scratch_bytes
    g, geom = kernel_harness._geometry(node, inputs)
    x, x_s, x_zp, w, w_s, w_zp, y_s, y_zp, b = inputs
    q = khq.QConvAttr(khq.QTYPES[x.dtype], khq.QTYPES[w.dtype], khq.QTYPES[y_zp.dtype], w_zp.size, w_s.size)
    need = qconv_scratch_bytes(g, True)
    y = np.empty((g.batch, g.c_out, g.h_out, g.w_out), np.uint8)
    scratch = np.empty(max(need, 1), np.uint8)
    args = (ctypes.byref(geom), ctypes.byref(q), *(a.ctypes.data for a in (x, x_zp, w, w_zp, b, x_s, w_s, y_s, y_zp)),
            y.ctypes.data, scratch.ctypes.data, need)
    return lambda: lib.kern_qconv(*args) + 0 * (y.size + scratch.size)  # keeps the buffers alive


def _medians_ms(fns: dict, repeats: int) -> dict[str, float]:
    """Median thread CPU ms of each function, called round-robin after one warm-up call each."""
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        fn()
    for _ in range(repeats):
        for name, fn in fns.items():
            t = time.thread_time()
            fn()
            samples[name].append(time.thread_time() - t)
    return {name: statistics.median(v) * 1e3 for name, v in samples.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--cflags", default="-O3")
    parser.add_argument("--baseline", action="store_true", help="also time the kernels before issue 19")
    parser.add_argument("--int8", action="store_true", help="the Conv cases as QLinearConv (uint8 x, int8 w)")
    parser.add_argument("-k", dest="keep", default="", help="only the cases whose label contains this")
    args = parser.parse_args(argv)

    import onnxruntime as ort
    from rich.console import Console
    from rich.table import Table

    if args.int8:
        import kernel_harness_quant  # noqa: F401  (registers the quantized kernels' signatures)
    lib = _library(args.cflags.split())
    old = None
    if args.baseline:
        from kernel_baseline import baseline_tree
        old = _library(args.cflags.split(), baseline_tree())

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    table = Table(title=f"{'int8 ' if args.int8 else ''}Kernels ({args.cflags}) vs onnxruntime {ort.__version__}, one thread, median of "
                        f"{args.repeats}")
    columns = ["layer", "kernels ms"] + (["baseline ms", "baseline / kernels"] if old else []) + [
        "onnxruntime ms", "kernels / ort", "kernels GFLOP/s"]
    for col in columns:
        table.add_column(col, justify="left" if col == "layer" else "right")
    rng = np.random.default_rng(0)
    for label, op, shapes, attrs, flops in (c for c in CASES if args.keep in c[0] and (c[1] == "Conv" or not args.int8)):
        if args.int8:
            node, names, inputs = _quantized(rng, shapes, attrs)
        else:
            names = [f"in{i}" for i in range(len(shapes))]
            node = helper.make_node(op, names, ["y"], **attrs)
            inputs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        feeds = dict(zip(names, inputs))
        graph = helper.make_graph([node], "bench", [helper.make_tensor_value_info(
            n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape) for n, a in feeds.items()],
            [helper.make_tensor_value_info("y", TensorProto.UINT8 if args.int8 else TensorProto.FLOAT, None)])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        with kernel_harness.using(lib):   # the harness's guards and scratch sizing, on the benchmark build
            ours = kernel_harness.run_node(node, inputs, 17)[0]
        want = session.run(None, feeds)[0]
        if args.int8:   # within one quantization step of onnxruntime's float requantization
            assert np.abs(ours.astype(np.int32) - want.astype(np.int32)).max() <= 1, label
        else:
            np.testing.assert_allclose(ours, want, rtol=1e-3, atol=1e-3)
        call = _qkernel_call if args.int8 else _kernel_call
        fns = {"ours": call(lib, node, inputs), "ort": lambda: session.run(None, feeds)}
        if old is not None:
            fns["old"] = call(old, node, inputs)
        t = _medians_ms(fns, args.repeats)
        row = [label, f"{t['ours']:.3f}"]
        if old is not None:
            row += [f"{t['old']:.3f}", f"{t['old'] / t['ours']:.2f}x"]
        table.add_row(*row, f"{t['ort']:.3f}", f"{t['ours'] / t['ort']:.2f}x", f"{flops / t['ours'] / 1e6:.1f}")
    Console(width=160).print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
