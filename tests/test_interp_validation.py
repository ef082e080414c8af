"""The loader rejects every malformed body with its own error code, before any op runs, and never
writes outside the region, whatever the bytes (targeted corruptions of each field, then random ones)."""
from __future__ import annotations

import ctypes
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from onnx import helper, numpy_helper

from conftest import make_model
from lower_harness import feeds_for, library, lower
from onnx_tee.passes.lower import format as fmt
from onnx_tee.passes.lower.hostlib import Counters, Partition, Region


def offsets(fields) -> dict[str, int]:
    out, pos = {}, 0
    for name, code in fields:
        out[name] = pos
        pos += struct.calcsize("<" + code)
    return out


HEAD, TENSOR, OP = offsets(fmt.HEADER_FIELDS), offsets(fmt.TENSOR_FIELDS), offsets(fmt.OP_FIELDS)


@pytest.fixture(scope="module")
def sample():
    """A one-partition body with weights, scratch (3x3 conv), in-place ops, Concat and Gemm."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), n) for n, s in
             (("W", [8, 4, 3, 3]), ("B", [8]), ("G", [10, 12 * 36]))]
    inits.append(numpy_helper.from_array(np.array([1, -1], np.int64), "shape"))
    nodes = [helper.make_node("Conv", ["x", "W", "B"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("MaxPool", ["x"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Concat", ["r", "p"], ["cat"], axis=1),
             helper.make_node("Reshape", ["cat", "shape"], ["flat"]),
             helper.make_node("Gemm", ["flat", "G"], ["y"], transB=1)]
    model = make_model(nodes, [("x", [1, 4, 12, 12])], [("y", [1, 10])], inits)
    lowered = lower(model)
    assert len(lowered.bodies) == 1
    return lowered


def run(sample, body: bytes, *, body_offset=None, index=0, count=1, region_size=None):
    plan = sample.result.plan
    part = plan.partitions[0]
    region = Region(library(), plan.region_bytes)
    for name, value in feeds_for(sample).items():
        region.write(part.tensor_offsets[name], value)
    result = region.run_body(body, part.body_offset if body_offset is None else body_offset, index, count,
                             region_size)
    assert region.guards_intact(), "a write outside the region"
    return result


def patch(body: bytes, offset: int, code: str, value) -> bytes:
    data = bytearray(body)
    struct.pack_into("<" + code, data, offset, value)
    return bytes(data)


def header(body: bytes) -> dict:
    return fmt.parse_header(body)


def tensor_at(body: bytes, k: int, field: str) -> int:
    return header(body)["tensor_table_offset"] + k * fmt.TENSOR.size + TENSOR[field]


def op_at(body: bytes, k: int, field: str) -> int:
    return header(body)["op_table_offset"] + k * fmt.OP.size + OP[field]


def tensor_index(sample, body: bytes, location: int, *, flags: int | None = None) -> int:
    h = header(body)
    for k in range(h["tensor_count"]):
        base = h["tensor_table_offset"] + k * fmt.TENSOR.size
        if body[base + TENSOR["location"]] == location and (flags is None or body[base + TENSOR["flags"]] & flags):
            return k
    raise AssertionError("no such tensor")


def test_the_sample_runs(sample):
    result = run(sample, sample.bodies[0])
    assert result.status == "RT_OK" and result.ops_run == 6


def corruptions(sample):
    body = sample.bodies[0]
    h = header(body)
    weight = tensor_index(sample, body, fmt.LOC_WEIGHT)
    region_t = tensor_index(sample, body, fmt.LOC_REGION, flags=fmt.TFLAG_MODEL_INPUT)
    part = sample.result.plan.partitions[0]
    pool = h["index_pool_offset"]
    return {
        "RT_ERR_MAGIC": patch(body, HEAD["magic"], "I", 0x12345678),
        "RT_ERR_VERSION": patch(body, HEAD["version"], "H", fmt.VERSION + 1),
        "RT_ERR_HEADER_SIZE": patch(body, HEAD["header_size"], "H", 32),
        "RT_ERR_HEADER_RESERVED": patch(body, HEAD["reserved"], "I", 1),
        "RT_ERR_HEADER_MISMATCH": patch(body, HEAD["region_size"], "I", h["region_size"] + 64),
        "RT_ERR_SECTION_BOUNDS": patch(body, HEAD["op_table_offset"], "I", h["tensor_table_offset"]),
        "RT_ERR_SECTION_ALIGN": patch(body, HEAD["weights_offset"], "I", h["weights_offset"] + 4),
        "RT_ERR_SCRATCH_BOUNDS": patch(body, HEAD["scratch_offset"], "I", part.body_offset),
        "RT_ERR_SCRATCH_TOO_SMALL": patch(body, HEAD["scratch_size"], "I", 64),
        "RT_ERR_TENSOR_DTYPE": patch(body, tensor_at(body, weight, "dtype"), "B", 7),
        "RT_ERR_TENSOR_RANK": patch(body, tensor_at(body, weight, "rank"), "B", fmt.MAX_RANK + 1),
        "RT_ERR_TENSOR_DIMS": patch(body, tensor_at(body, weight, "dims"), "I", 0),
        "RT_ERR_TENSOR_SIZE": patch(body, tensor_at(body, weight, "nbytes"), "I", 4),
        "RT_ERR_TENSOR_LOCATION": patch(body, tensor_at(body, region_t, "location"), "B", 3),
        "RT_ERR_TENSOR_ALIGN": patch(body, tensor_at(body, region_t, "offset"), "I", 4),
        "RT_ERR_TENSOR_BOUNDS": patch(body, tensor_at(body, region_t, "offset"), "I", h["region_size"]),
        "RT_ERR_TENSOR_OVERLAP": patch(body, tensor_at(body, region_t, "offset"), "I", part.body_offset),
        "RT_ERR_TENSOR_FLAGS": patch(body, tensor_at(body, weight, "flags"), "B", fmt.TFLAG_MODEL_OUTPUT),
        "RT_ERR_OP_CODE": patch(body, op_at(body, 0, "op"), "H", 200),
        "RT_ERR_OP_ARITY": patch(body, op_at(body, 0, "input_count"), "H", 0),
        "RT_ERR_OP_POOL_BOUNDS": patch(body, op_at(body, 5, "inputs_start"), "I", h["index_pool_count"] - 1),
        "RT_ERR_OP_TENSOR_INDEX": patch(body, pool, "I", h["tensor_count"]),
        "RT_ERR_OP_WRITES_WEIGHT": patch(body, pool + 3 * 4, "I", weight),
        "RT_ERR_OP_ATTRIBUTE": patch(body, op_at(body, 0, "i") + 3 * 4, "i", 0),
        "RT_ERR_OP_SHAPE": patch(body, op_at(body, 0, "i") + 1 * 4, "i", 5),
        "RT_ERR_OP_RESERVED": patch(body, op_at(body, 1, "i") + 19 * 4, "i", 1),
        "RT_ERR_PREPARED_BOUNDS": patch(body, HEAD["prepared_offset"], "I", h["weights_offset"]),
    }


def test_each_malformed_field_has_its_own_code(sample):
    cases = corruptions(sample)
    seen = {}
    for expected, body in cases.items():
        result = run(sample, body)
        assert result.status == expected, f"{expected}: got {result.status}"
        assert result.ops_run == 0, f"{expected}: ops ran before the body was rejected"
        seen[expected] = result.status
    assert len(set(seen.values())) == len(cases)


def test_prepared_section_out_of_place_is_refused(sample):
    """The prepared section must be exactly op_count records between the index pool and the weights."""
    body = sample.bodies[0]
    h = header(body)
    ops, size = h["op_count"], h["prepared_size"]
    assert size == ops * fmt.PREPARED_OP_SIZE and h["prepared_offset"] + size <= h["weights_offset"]
    cases = {
        "overlaps the weights": patch(body, HEAD["prepared_offset"], "I", h["weights_offset"] - 64),
        "past the body": patch(body, HEAD["prepared_offset"], "I", 0xFFFFFFC0),
        "overlaps the index pool": patch(body, HEAD["prepared_offset"], "I", h["index_pool_offset"]),
        "overlaps the op table": patch(body, HEAD["prepared_offset"], "I", h["op_table_offset"]),
        "too small for the ops": patch(body, HEAD["prepared_size"], "I", size - fmt.PREPARED_OP_SIZE),
        "larger than op_count records": patch(body, HEAD["prepared_size"], "I", size + fmt.PREPARED_OP_SIZE),
        "size overflowing": patch(body, HEAD["prepared_size"], "I", 0xFFFFFFFF),
    }
    for what, bad in cases.items():
        result = run(sample, bad)
        assert result.status == "RT_ERR_PREPARED_BOUNDS", f"{what}: {result.status}"
        assert result.ops_run == 0
    misaligned = patch(body, HEAD["prepared_offset"], "I", h["prepared_offset"] + 4)
    assert run(sample, misaligned).status == "RT_ERR_SECTION_ALIGN"


def test_ops_are_prepared_once_into_the_body(sample):
    """Validation writes one record per op into the body's prepared section (the plaintext's zeros are
    overwritten); runs read it without preparing again, and give the same outputs every time."""
    lib = library().lib
    plan, body = sample.result.plan, sample.bodies[0]
    part = plan.partitions[0]
    h = header(body)
    assert not any(body[h["prepared_offset"]:h["prepared_offset"] + h["prepared_size"]])
    region = Region(library(), plan.region_bytes)
    for name, value in feeds_for(sample).items():
        region.write(part.tensor_offsets[name], value)
    region.bytes[part.body_offset:part.body_offset + len(body)] = np.frombuffer(body, np.uint8)
    handle = Partition()
    assert lib.rt_validate_partition(region.address, region.size, part.body_offset, len(body),
                                     ctypes.byref(fmt_expected(plan, body)), ctypes.byref(handle)) == 0
    start = part.body_offset + h["prepared_offset"]
    prepared = region.bytes[start:start + h["prepared_size"]].copy()
    for k in range(h["op_count"]):
        code = struct.unpack_from("<H", body, op_at(body, k, "op"))[0]
        assert struct.unpack_from("<H", prepared, k * fmt.PREPARED_OP_SIZE)[0] == code
    # only the prepared section of the body changed
    placed = region.bytes[part.body_offset:part.body_offset + len(body)].copy()
    placed[h["prepared_offset"]:h["prepared_offset"] + h["prepared_size"]] = 0
    assert bytes(placed) == body
    out = part.tensor_offsets["y"]
    results = []
    for _ in range(2):
        for name, value in feeds_for(sample).items():   # the arena may reuse the input's bytes
            region.write(part.tensor_offsets[name], value)
        counters = Counters()
        assert lib.rt_run_partition(ctypes.byref(handle), ctypes.byref(counters)) == 0
        assert counters.ops_run == h["op_count"]
        results.append(region.read(out, (1, 10)))
        assert np.array_equal(region.bytes[start:start + h["prepared_size"]], prepared)
    assert np.array_equal(results[0], results[1])


def test_placement_and_envelope_disagreements(sample):
    body = sample.bodies[0]
    part = sample.result.plan.partitions[0]
    assert run(sample, body, body_offset=part.body_offset - 8).status == "RT_ERR_BODY_ALIGN"
    assert run(sample, body, index=1, count=2).status == "RT_ERR_HEADER_MISMATCH"
    assert run(sample, body, region_size=sample.result.plan.region_bytes - 64).status == "RT_ERR_HEADER_MISMATCH"
    lib = library().lib
    region = Region(library(), 4096)
    status = lib.rt_validate_partition(region.address, 4096, 0, len(body) if len(body) > 4096 else 8192,
                                       None, ctypes.byref(Partition()))
    assert library().status_name(status) in ("RT_ERR_ARGUMENT", "RT_ERR_BODY_BOUNDS")


def test_running_an_unvalidated_partition_is_refused(sample):
    status = library().lib.rt_run_partition(ctypes.byref(Partition()), ctypes.byref(Counters()))
    assert library().status_name(status) == "RT_ERR_NOT_VALIDATED"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_corruption_is_rejected_or_harmless(sample, data):
    """Random words written into the metadata (header, tables, index pool): the body is rejected
    with a named code, or it still validates and runs inside the region."""
    body = bytearray(sample.bodies[0])
    meta_end = header(bytes(body))["weights_offset"]
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, meta_end - 4)) & ~3
        value = data.draw(st.one_of(st.integers(0, 2**32 - 1), st.integers(0, 64),
                                    st.sampled_from([0xFFFFFFFF, 0x80000000, 0x7FFFFFFF])))
        struct.pack_into("<I", body, pos, value)
    result = run(sample, bytes(body))
    assert result.status.startswith("RT_")
    assert result.status != "RT_ERR_UNKNOWN"


def test_model_tensor_lookup_and_scratch_twin(sample):
    """rt_find_model_tensor finds the model input/output where the plan put them, and
    rt_op_scratch_bytes (the C twin) equals passes.target.scratch_bytes for every op."""
    from onnx_tee.passes.target import scratch_bytes

    lib = library().lib
    lib.rt_find_model_tensor.argtypes = [ctypes.POINTER(Partition), ctypes.c_uint32, ctypes.c_uint32,
                                         ctypes.POINTER(ctypes.c_uint32), ctypes.POINTER(ctypes.c_uint32)]
    lib.rt_op_scratch_bytes.argtypes = [ctypes.POINTER(Partition), ctypes.c_uint32]
    lib.rt_op_scratch_bytes.restype = ctypes.c_uint64
    plan, body = sample.result.plan, sample.bodies[0]
    part = plan.partitions[0]
    region = Region(library(), plan.region_bytes)
    region.bytes[part.body_offset:part.body_offset + len(body)] = np.frombuffer(body, np.uint8)
    handle = Partition()
    expected = ctypes.byref(fmt_expected(plan, body))
    assert lib.rt_validate_partition(region.address, region.size, part.body_offset, len(body), expected,
                                     ctypes.byref(handle)) == 0
    offset, nbytes = ctypes.c_uint32(), ctypes.c_uint32()
    for flag, name in ((fmt.TFLAG_MODEL_INPUT, "x"), (fmt.TFLAG_MODEL_OUTPUT, "y")):
        assert lib.rt_find_model_tensor(ctypes.byref(handle), flag, 0, ctypes.byref(offset), ctypes.byref(nbytes)) == 0
        assert (offset.value, nbytes.value) == (part.tensor_offsets[name], sample.result.infos[name].nbytes)
        assert lib.rt_find_model_tensor(ctypes.byref(handle), flag, 1, ctypes.byref(offset), ctypes.byref(nbytes)) == -1
    by_label = {n.name or n.output[0]: n for n in sample.result.model.graph.node}
    nodes = [by_label[label] for label in part.node_order if by_label[label].op_type != "Constant"]
    needs = [lib.rt_op_scratch_bytes(ctypes.byref(handle), k) for k in range(len(nodes))]
    assert needs == [scratch_bytes(node, sample.result.infos) for node in nodes]
    assert max(needs) > 0


def fmt_expected(plan, body):
    from onnx_tee.passes.lower.hostlib import Expected
    return Expected(0, 1, len(body), plan.region_bytes)
