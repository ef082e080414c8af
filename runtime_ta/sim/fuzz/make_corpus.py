"""Write the fuzzer's seed corpus: real partition bodies lowered from small models.

    python runtime_ta/sim/fuzz/make_corpus.py [OUT_DIR]      (default: the corpus/ beside this file)

Each seed is a `body` case of fuzz_ta.c (mode byte 0, chunk size, body and staging offsets) followed
by a body that `passes/lower` produced for a tiny model covering a group of operators, plus one
`envelope` case (a sealed manifest and blob under the fuzzing key's counterpart, i.e. not
authentic for the harness: it exercises the unauthenticated parsing).  Bodies of multi-partition
models are re-labelled partition 0 of 1, which is what the harness seals them as.  `plan` cases
(mode 2) give manifest slots apart from the body and a command script: the review's F5 layout (an
input slot over the body's tensor table, written after the load), a sealed-I/O session, and reads
and runs out of order; stream sessions: a pinned body driven by OT_CMD_INFER (with short input and
output buffers, after a reopen that leaves it unloaded), and a GRU cell lowered with its hidden state
kept (`--state h=h_out`), pinned or streamed, with an initial state written, the state output read and
the state input rewritten after a run.
"""
from __future__ import annotations

import struct
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[3]

from onnx_tee.passes.lower.envelope import MANIFEST_FILE, blob_file_name  # noqa: E402
from onnx_tee.passes.lower.keys import generate_key  # noqa: E402
from onnx_tee.passes.lower.pipeline import partition_bodies, seal_bundle  # noqa: E402
from onnx_tee.passes.partition.partitioner import partition_model  # noqa: E402

CASE = struct.Struct("<BBHII")   # struct body_case: mode, chunk_log2, top_k, body_offset, staging_offset
PLAN = struct.Struct("<BBBBIIHBB")   # struct plan_case: mode 2, chunk_log2, n_in, n_out, body_offset,
#                                      staging_offset, top_k, script_len, kept
PINNED = 1                            # plan_case.kept bit 0; kept >> 2 = number of state pairs
# script commands (low 3 bits; argument in the high 5): fuzz_ta.c run_script
WRITE, LOAD, RUN, READ, OPEN_IO, WRITE_SEALED, READ_SEALED, REOPEN = range(8)
INFER = RUN | 2 << 3                  # a run whose argument has bit 1 set: OT_CMD_INFER
SHORT_INPUT, SHORT_OUTPUT = 4 << 3, 8 << 3   # INFER argument bits: a buffer one byte short
TENSOR_DESC = 48
RNG = np.random.default_rng(0)


def weight(name: str, *shape: int, rng: np.random.Generator = RNG) -> onnx.TensorProto:
    return numpy_helper.from_array((rng.standard_normal(shape) * 0.3).astype(np.float32), name)


def graph(name: str, nodes, x_shape, y_shape, inits) -> onnx.ModelProto:
    g = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)])


def small_models() -> dict[str, onnx.ModelProto]:
    n = helper.make_node
    return {
        "conv_pool_gemm": graph("a", [
            n("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], strides=[2, 2]),
            n("Relu", ["c1"], ["r1"]),
            n("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
            n("Flatten", ["p1"], ["f1"]),
            n("Gemm", ["f1", "w2", "b2"], ["g1"], transB=1),
            n("Softmax", ["g1"], ["y"], axis=1)],
            [1, 3, 16, 16], [1, 10], [weight("w1", 8, 3, 3, 3), weight("b1", 8), weight("w2", 10, 128),
                                      weight("b2", 10)]),
        "depthwise_add_avgpool": graph("b", [
            n("Conv", ["x", "w1"], ["c1"], group=4, pads=[1, 1, 1, 1]),
            n("Add", ["c1", "bias"], ["a1"]),
            n("LeakyRelu", ["a1"], ["k1"], alpha=0.1),
            n("AveragePool", ["k1"], ["p1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1),
            n("Conv", ["p1", "w2"], ["c2"]),
            n("GlobalAveragePool", ["c2"], ["y"])],
            [1, 4, 8, 8], [1, 6, 1, 1], [weight("w1", 4, 1, 3, 3), weight("bias", 4, 1, 1),
                                         weight("w2", 6, 4, 1, 1)]),
        "movement": graph("c", [
            n("Split", ["x"], ["s1", "s2"], axis=1),
            n("Sigmoid", ["s1"], ["t1"]),
            n("Tanh", ["s2"], ["t2"]),
            n("Concat", ["t2", "t1"], ["c1"], axis=1),
            n("Transpose", ["c1"], ["tr"], perm=[0, 2, 3, 1]),
            n("Pad", ["tr", "pads"], ["pd"], mode="reflect"),
            n("Slice", ["pd", "starts", "ends"], ["sl"]),
            n("Mul", ["sl", "scale"], ["y"])],
            [1, 4, 6, 6], [1, 6, 6, 4], [numpy_helper.from_array(np.array([0, 1, 1, 0, 0, 1, 1, 0], np.int64), "pads"),
                                         numpy_helper.from_array(np.array([0, 1, 1, 0], np.int64), "starts"),
                                         numpy_helper.from_array(np.array([1, 7, 7, 4], np.int64), "ends"),
                                         weight("scale", 4)]),
        "lrn_resize_transpose_conv": graph("d", [
            n("LRN", ["x"], ["l1"], size=3),
            n("Resize", ["l1", "", "scales"], ["r1"], mode="nearest"),
            n("ConvTranspose", ["r1", "w1"], ["ct"], strides=[2, 2]),
            n("HardSwish", ["ct"], ["h1"]),
            n("MatMul", ["h1", "m"], ["y"])],
            [1, 2, 4, 4], [1, 3, 17, 5], [numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales"),
                                          weight("w1", 2, 3, 3, 3), weight("m", 17, 5)]),
    }


def model_slots(body: bytes, flag: int) -> list[tuple[int, int]]:
    """(offset, nbytes) of the tensors of `body` flagged `flag` (model inputs or outputs)."""
    table, count = struct.unpack_from("<I", body, 24)[0], struct.unpack_from("<I", body, 12)[0]
    found = []
    for k in range(count):
        _, _, _, flags, _, _, offset, nbytes = struct.unpack_from("<BBBBHHII", body, table + k * TENSOR_DESC)
        if flags & flag:
            found.append((offset, nbytes))
    return found


def plan_case(body: bytes, body_offset: int, staging_offset: int, inputs, outputs, script: list[int], *,
              pinned: bool = False, states: tuple[tuple[int, int], ...] = ()) -> bytes:
    """A mode-2 case; `states`: (model input index, model output index) pairs the TA keeps."""
    kept = (PINNED if pinned else 0) | len(states) << 2
    head = PLAN.pack(2, 6, len(inputs), len(outputs), body_offset, staging_offset, 3, len(script), kept)
    slots = b"".join(struct.pack("<II", o, n) for o, n in (*inputs, *outputs))
    pairs = b"".join(struct.pack("<BB", i, o) for i, o in states)
    return head + slots + pairs + bytes(script) + body


def write_plan_seeds(out_dir: Path, body: bytes, body_offset: int, staging_offset: int) -> list[Path]:
    """Mode-2 seeds from one real body (re-labelled partition 0 of 1)."""
    inputs, outputs = model_slots(body, 0x04), model_slots(body, 0x08)
    table = struct.unpack_from("<I", body, 24)[0]
    # F5: the body declares no model input; the manifest's input slot lies over its tensor table
    undeclared = bytearray(body)
    for k in range(struct.unpack_from("<I", body, 12)[0]):
        undeclared[table + k * TENSOR_DESC + 3] &= ~0x04 & 0xFF
    f5_slot = [(body_offset + table, inputs[0][1] if inputs else 256)]
    seeds = {
        "plan_f5_slot_over_body": plan_case(bytes(undeclared), body_offset, staging_offset, f5_slot, outputs,
                                            [LOAD, WRITE, RUN, READ, WRITE, RUN, READ | 8]),
        "plan_sealed_session": plan_case(body, body_offset, staging_offset, inputs, outputs,
                                         [WRITE, OPEN_IO, WRITE_SEALED, LOAD, RUN, READ_SEALED, READ_SEALED,
                                          WRITE_SEALED | 128, WRITE_SEALED, RUN, READ_SEALED, READ, REOPEN]),
        "plan_out_of_order": plan_case(body, body_offset, staging_offset, inputs, outputs,
                                       [RUN, READ, LOAD, RUN, WRITE, LOAD, RUN, READ, READ | 8, WRITE, RUN,
                                        READ | 8, REOPEN | 8, LOAD]),
        "plan_pinned_infer": plan_case(body, body_offset, staging_offset, inputs, outputs,
                                       [INFER, LOAD, INFER, INFER, WRITE, RUN, READ, INFER, INFER | SHORT_INPUT,
                                        INFER | SHORT_OUTPUT, OPEN_IO, INFER, REOPEN, INFER, LOAD, INFER],
                                       pinned=True),
    }
    return write_seeds(out_dir, seeds)


def write_seeds(out_dir: Path, seeds: dict[str, bytes]) -> list[Path]:
    written = []
    for name, data in seeds.items():
        path = out_dir / name
        path.write_bytes(data)
        written.append(path)
    return written


def gru_cell() -> onnx.ModelProto:
    """One GRU step whose hidden state `h` -> `h_out` is a recurrent state, and a small head `y`."""
    n, rng = helper.make_node, np.random.default_rng(1)   # its own seed: the same cell from either entry point
    g = helper.make_graph(
        [n("GRU", ["x", "W", "R", "B", "", "h"], ["", "h_out"], hidden_size=8),
         n("MatMul", ["h_out", "head"], ["m"]),
         n("Sigmoid", ["m"], ["y"])], "gru_cell",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 6]),
         helper.make_tensor_value_info("h", TensorProto.FLOAT, [1, 1, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 3]),
         helper.make_tensor_value_info("h_out", TensorProto.FLOAT, [1, 1, 8])],
        [weight("W", 1, 24, 6, rng=rng), weight("R", 1, 24, 8, rng=rng), weight("B", 1, 48, rng=rng),
         weight("head", 8, 3, rng=rng)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)])


def write_state_seeds(out_dir: Path) -> list[Path]:
    """Mode-2 seeds of a GRU cell lowered with its hidden state kept (model input 1 -> output 1)."""
    model = gru_cell()
    onnx.checker.check_model(model, full_check=True)
    result = partition_model(model, 1 << 20, resident=("h",))
    (body,), (part,) = partition_bodies(result, model), result.plan.partitions
    second = {32: 1}   # by size: x (24 B) is input 0, h (32 B) input 1; y (12 B) output 0, h_out (32 B) output 1
    inputs = sorted(model_slots(body, 0x04), key=lambda slot: second.get(slot[1], 0))
    outputs = sorted(model_slots(body, 0x08), key=lambda slot: second.get(slot[1], 0))
    x, h, y, h_out = WRITE, WRITE | 1 << 3, READ, READ | 1 << 3
    seeds = {
        "plan_state_pinned": plan_case(
            body, part.body_offset, part.staging_offset, inputs, outputs,
            [h, x, LOAD, RUN, y, h_out, INFER, INFER, h, INFER, x, RUN, y, INFER | SHORT_OUTPUT, REOPEN, h, x,
             LOAD, INFER, INFER], pinned=True, states=((1, 1),)),
        "plan_state_streamed": plan_case(
            body, part.body_offset, part.staging_offset, inputs, outputs,
            [x, LOAD, RUN, y, x, LOAD, RUN, y, h, INFER, OPEN_IO, WRITE_SEALED, LOAD, RUN, READ_SEALED,
             WRITE_SEALED | 1 << 3, READ_SEALED | 1 << 3], states=((1, 1),)),
    }
    return write_seeds(out_dir, seeds)


def write_corpus(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = write_state_seeds(out_dir)
    for name, model in small_models().items():
        onnx.checker.check_model(model, full_check=True)
        result = partition_model(model, 1 << 20)
        bodies = partition_bodies(result, model)
        for k, (body, part) in enumerate(zip(bodies, result.plan.partitions)):
            body = bytearray(body)
            struct.pack_into("<HH", body, 8, 0, 1)          # partition 0 of 1
            case = CASE.pack(0, 6, 3, part.body_offset, part.staging_offset)   # 4 KiB chunks, top-3
            path = out_dir / f"body_{name}_{k}"
            path.write_bytes(case + bytes(body))
            written.append(path)
            if name == "conv_pool_gemm" and k == 0:
                written += write_plan_seeds(out_dir, bytes(body), part.body_offset, part.staging_offset)
        if name == "conv_pool_gemm":
            device = out_dir.parent / "envelope-tmp"
            seal_bundle(bodies, result, model, generate_key(), device)
            manifest = (device / MANIFEST_FILE).read_bytes()
            blob = (device / blob_file_name(0)).read_bytes()
            path = out_dir / "envelope_conv_pool_gemm"
            path.write_bytes(bytes([1]) + struct.pack("<H", len(manifest)) + manifest + blob)
            written.append(path)
            for f in device.iterdir():
                f.unlink()
            device.rmdir()
    return written


def plan_seeds_only(out_dir: Path) -> list[Path]:
    """Only the mode-2 seeds, from the committed conv_pool_gemm body seed."""
    seed = (out_dir / "body_conv_pool_gemm_0").read_bytes()
    _, _, _, body_offset, staging_offset = CASE.unpack_from(seed)
    return write_plan_seeds(out_dir, seed[CASE.size:], body_offset, staging_offset) + write_state_seeds(out_dir)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--plan-only"]
    target = Path(args[0]) if args else Path(__file__).resolve().parent / "corpus"
    for p in (plan_seeds_only(target) if "--plan-only" in sys.argv else write_corpus(target)):
        print(f"{p.stat().st_size:8d}  {p.name}")
