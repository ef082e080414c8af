"""The interpreter's checks of a recurrent op record (ops/recurrent.c and prepare.c): absent outputs
only where the op allows them, attribute ranges, unused slots, shapes, aliasing, scratch; and the
C and Python scratch formulas agree."""
from __future__ import annotations

import ctypes
import re
import struct

import pytest
from hypothesis import given, settings, strategies as st

from kernel_harness import INTERP, RnnAttr, kernels
from lower_harness import lower
from onnx_tee.passes.lower import format as fmt
from onnx_tee.passes.target import scratch
from test_interp_validation import header, op_at, patch, run, tensor_at
from test_lower_recurrent import recurrent_model


@pytest.fixture(scope="module")
def sample():
    """LSTM (Y absent, Y_h, Y_c) -> Relu, Relu: one body."""
    lowered = lower(recurrent_model("LSTM", hidden=6, seq=9, batch=2, outputs=("Y_h", "Y_c"), init="const",
                                    peep=True))
    assert len(lowered.bodies) == 1
    return lowered


def pool_at(body: bytes, op: int, k: int) -> int:
    """Byte offset of op `op`'s pool entry k (inputs, then outputs)."""
    h = header(body)
    start = struct.unpack_from("<I", body, op_at(body, op, "inputs_start"))[0]
    return h["index_pool_offset"] + (start + k) * 4


def counts(body: bytes, op: int) -> tuple[int, int]:
    return (struct.unpack_from("<H", body, op_at(body, op, "input_count"))[0],
            struct.unpack_from("<H", body, op_at(body, op, "output_count"))[0])


def pool_entry(body: bytes, op: int, k: int) -> int:
    return struct.unpack_from("<I", body, pool_at(body, op, k))[0]


def test_the_sample_runs(sample):
    body = sample.bodies[0]
    assert struct.unpack_from("<H", body, op_at(body, 0, "op"))[0] == fmt.OP_CODES["LSTM"]
    n_in, n_out = counts(body, 0)
    assert (n_in, n_out) == (7, 3) and pool_entry(body, 0, n_in) == fmt.NO_TENSOR
    assert run(sample, body).status == "RT_OK"


def test_malformed_recurrent_records_are_refused(sample):
    body = sample.bodies[0]
    n_in, _ = counts(body, 0)
    ints, floats = op_at(body, 0, "i"), op_at(body, 0, "f")
    y_h, y_c = pool_entry(body, 0, n_in + 1), pool_entry(body, 0, n_in + 2)
    relu_out = pool_at(body, 1, 1)
    dims = tensor_at(body, y_h, "dims")
    cases = {
        "no output at all": (patch(patch(body, pool_at(body, 0, n_in + 1), "I", fmt.NO_TENSOR),
                                   pool_at(body, 0, n_in + 2), "I", fmt.NO_TENSOR), "RT_ERR_OP_TENSOR_INDEX"),
        "absent output of a Relu": (patch(body, relu_out, "I", fmt.NO_TENSOR), "RT_ERR_OP_TENSOR_INDEX"),
        "absent X": (patch(body, pool_at(body, 0, 0), "I", fmt.NO_TENSOR), "RT_ERR_OP_TENSOR_INDEX"),
        "direction 3": (patch(body, ints + 4 * fmt.ATTR_RNN_DIRECTION, "i", 3), "RT_ERR_OP_ATTRIBUTE"),
        "layout 2": (patch(body, ints + 4 * fmt.ATTR_RNN_LAYOUT, "i", 2), "RT_ERR_OP_ATTRIBUTE"),
        "linear_before_reset on an LSTM": (patch(body, ints + 4 * fmt.ATTR_RNN_LINEAR_BEFORE_RESET, "i", 1),
                                           "RT_ERR_OP_ATTRIBUTE"),
        "negative clip": (patch(body, floats + 4 * fmt.FATTR_RNN_CLIP, "f", -1.0), "RT_ERR_OP_ATTRIBUTE"),
        "NaN clip": (patch(body, floats + 4 * fmt.FATTR_RNN_CLIP, "f", float("nan")), "RT_ERR_OP_ATTRIBUTE"),
        "unused int slot": (patch(body, ints + 4 * fmt.ATTR_RNN_COUNT, "i", 1), "RT_ERR_OP_RESERVED"),
        "unused float slot": (patch(body, floats + 4 * fmt.FATTR_RNN_COUNT, "f", 1.0), "RT_ERR_OP_RESERVED"),
        "bidirectional with one direction of weights": (patch(body, ints + 4 * fmt.ATTR_RNN_DIRECTION, "i", 2),
                                                        "RT_ERR_OP_SHAPE"),
        "Y_h dims permuted": (patch(patch(body, dims + 4, "I", 6), dims + 8, "I", 2), "RT_ERR_OP_SHAPE"),
        "Y_c on Y_h's bytes": (patch(body, tensor_at(body, y_c, "offset"), "I",
                                     struct.unpack_from("<I", body, tensor_at(body, y_h, "offset"))[0]),
                               "RT_ERR_TENSOR_OVERLAP"),
        "too little scratch": (patch(body, 56, "I", 64), "RT_ERR_SCRATCH_TOO_SMALL"),
    }
    for what, (bad, expected) in cases.items():
        result = run(sample, bad)
        assert result.status == expected, f"{what}: {result.status}"
        assert result.ops_run == 0


def test_tiling_constant_mirrors_the_c_header():
    defines = {m[0]: int(m[1]) for m in re.findall(r"#define KERN_(\w+) (\d+)", (INTERP / "kernels.h").read_text())}
    assert defines["RNN_TC"] == scratch.RNN_TC


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(["LSTM", "GRU", "RNN"]), t=st.integers(1, 5000), b=st.integers(1, 8),
       i=st.integers(1, 4096), h=st.integers(1, 4096), dirs=st.integers(1, 2), layout=st.integers(0, 1))
def test_rnn_scratch_python_equals_c(kind, t, b, i, h, dirs, layout):
    attr = RnnAttr({"LSTM": 0, "GRU": 1, "RNN": 2}[kind], t, b, i, h, dirs, 0, layout, 0, 0.0)
    c_bytes = kernels().kern_scratch_bytes_rnn(ctypes.byref(attr))
    assert c_bytes == scratch.rnn_scratch_bytes(scratch.RNN_GATES[kind], t, i, h)
    assert c_bytes <= (scratch.RNN_TC * (i + 4 * h) + 6 * h) * 4  # bounded in the sequence length
