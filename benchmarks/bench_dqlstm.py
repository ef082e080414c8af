"""DynamicQuantizeLSTM (kernels/qrecurrent.c) against the float LSTM kernel and onnxruntime (one thread) on
the recurrent layers of the corpus' dynamically quantized recognizers.

    python benchmarks/bench_dqlstm.py [--repeats 9] [--cflags "-O3 -march=native"]

Each case is one layer with random int8 weights (per-tensor scales, zero points 0): the C kernel runs
it through the kernel harness (guards and scratch sizing included) from a library compiled with
--cflags, the float LSTM the same layer dequantized (W and R transposed to ONNX's [D, 4H, I] / [D, 4H,
H]), onnxruntime the DynamicQuantizeLSTM node in a single-threaded session.  Times are the calling
thread's CPU time, medians over --repeats interleaved runs after one warm-up (bench_kernels.py's
timing); the outputs are checked against onnxruntime's first.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))
import kernel_harness  # noqa: E402
import kernel_harness_quant  # noqa: E402,F401  (registers DynamicQuantizeLSTM)
from bench_kernels import _library, _medians_ms  # noqa: E402

MS = "com.microsoft"
# (label, seq_len, input_size, hidden_size, directions)
CASES = [("ddddocr_old_int8 BiLSTM 512 (64x256 image: 32 steps)", 32, 512, 512, 2),
         ("LSTM 128 over 50 steps of 64", 50, 64, 128, 1)]


def layer(seq_len: int, input_size: int, hidden: int, dirs: int, rng: np.random.Generator):
    """The DynamicQuantizeLSTM node, its inputs in ONNX order, the float LSTM node and its inputs."""
    w = rng.integers(-127, 127, (dirs, input_size, 4 * hidden), endpoint=True).astype(np.int8)
    r = rng.integers(-127, 127, (dirs, hidden, 4 * hidden), endpoint=True).astype(np.int8)
    scale, zero = np.full((dirs,), 0.003, np.float32), np.zeros((dirs,), np.int8)
    bias = (rng.standard_normal((dirs, 8 * hidden)) * 0.1).astype(np.float32)
    x = rng.standard_normal((seq_len, 1, input_size)).astype(np.float32)
    direction = "bidirectional" if dirs == 2 else "forward"
    dq = helper.make_node("DynamicQuantizeLSTM", ["x", "w", "r", "b", "", "", "", "", "ws", "wz", "rs", "rz"],
                          ["y", "y_h", "y_c"], domain=MS, direction=direction, hidden_size=hidden)
    dq_inputs = [x, w, r, bias, None, None, None, None, scale, zero, scale, zero]
    lstm = helper.make_node("LSTM", ["x", "w", "r", "b"], ["y", "y_h", "y_c"], direction=direction, hidden_size=hidden)
    lstm_inputs = [x, np.ascontiguousarray((w * scale[:, None, None]).transpose(0, 2, 1), np.float32),
                   np.ascontiguousarray((r * scale[:, None, None]).transpose(0, 2, 1), np.float32), bias]
    return dq, dq_inputs, lstm, lstm_inputs


def session(node: "onnx.NodeProto", inputs: list, threads: int = 1):
    import onnxruntime as ort
    inits = [numpy_helper.from_array(v, n) for n, v in zip(node.input[1:], inputs[1:]) if n]
    graph = helper.make_graph([node], "bench", [helper.make_tensor_value_info("x", TensorProto.FLOAT, inputs[0].shape)],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in node.output],
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(MS, 1)],
                              ir_version=8)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = threads
    opts.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--cflags", default="-O3")
    args = parser.parse_args(argv)
    lib = _library(args.cflags.split())
    rng = np.random.default_rng(0)
    print(f"{'layer':<52} {'int8 ms':>9} {'float ms':>9} {'ort ms':>8} {'int8/float':>10} {'int8/ort':>9}"
          f"   (--cflags {args.cflags!r}, median of {args.repeats})")
    for label, seq_len, input_size, hidden, dirs in CASES:
        dq, dq_inputs, lstm, lstm_inputs = layer(seq_len, input_size, hidden, dirs, rng)
        sess = session(dq, dq_inputs)
        feeds = {"x": dq_inputs[0]}
        with kernel_harness.using(lib):
            got = kernel_harness.run_node(dq, dq_inputs, 17)
            want = sess.run(None, feeds)
            for g, w in zip(got, want):
                assert np.abs(g - w).max() <= 2e-3 * np.abs(w).max(), "the kernel does not match onnxruntime"
            t = _medians_ms({"int8": lambda: kernel_harness.run_node(dq, dq_inputs, 17),
                             "float": lambda: kernel_harness.run_node(lstm, lstm_inputs, 17),
                             "ort": lambda: sess.run(None, feeds)}, args.repeats)
        print(f"{label:<52} {t['int8']:>9.2f} {t['float']:>9.2f} {t['ort']:>8.2f} {t['int8'] / t['float']:>9.2f}x "
              f"{t['int8'] / t['ort']:>8.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
