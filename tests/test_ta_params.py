"""Every TA command checks its exact TEE_PARAM_TYPES: anything else is TEE_ERROR_BAD_PARAMETERS.

Drives the TA through the GP Client API of the simulator (TEEC_InvokeCommand), so the types reach
TA_InvokeCommandEntryPoint as OP-TEE would deliver them.
"""
from __future__ import annotations

import ctypes
import itertools

import pytest

from onnx_tee.passes.lower.sim import HEAP_RESERVE, RESULT_CODES, load_library

NONE, VAL_IN, VAL_OUT, VAL_INOUT, MEM_IN, MEM_OUT, MEM_INOUT = 0, 1, 2, 3, 5, 6, 7
EXPECTED = {   # command -> its parameter types (onnx_tee_ta.h)
    0: (MEM_IN, NONE, NONE, NONE),          # PROVISION_KEY
    1: (MEM_OUT, NONE, NONE, NONE),         # ENROL_DEVICE
    2: (MEM_IN, VAL_IN, NONE, NONE),        # OPEN_MODEL
    3: (MEM_IN, VAL_IN, VAL_OUT, NONE),     # LOAD_CHUNK
    4: (VAL_IN, VAL_OUT, VAL_OUT, NONE),    # RUN
    5: (MEM_IN, VAL_IN, NONE, NONE),        # WRITE_INPUT
    6: (MEM_OUT, VAL_IN, NONE, NONE),       # READ_OUTPUT
    10: (NONE, NONE, NONE, NONE),           # PING
}


class Context(ctypes.Structure):
    _fields_ = [("fd", ctypes.c_int)]


class Session(ctypes.Structure):
    _fields_ = [("ctx", ctypes.POINTER(Context)), ("session_id", ctypes.c_uint32), ("ta_session", ctypes.c_void_p)]


class Param(ctypes.Union):
    class Tmp(ctypes.Structure):
        _fields_ = [("buffer", ctypes.c_void_p), ("size", ctypes.c_size_t)]

    class Value(ctypes.Structure):
        _fields_ = [("a", ctypes.c_uint32), ("b", ctypes.c_uint32)]

    _fields_ = [("tmpref", Tmp), ("value", Value), ("pad", ctypes.c_uint8 * 24)]


class Operation(ctypes.Structure):
    _fields_ = [("started", ctypes.c_uint32), ("paramTypes", ctypes.c_uint32), ("params", Param * 4),
                ("session", ctypes.POINTER(Session))]


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    lib = load_library()
    for name in ("TEEC_InitializeContext", "TEEC_OpenSession", "TEEC_InvokeCommand"):
        getattr(lib, name).restype = ctypes.c_uint32
    lib.ot_sim_set_heap_cap(HEAP_RESERVE)
    lib.ot_sim_set_storage(str(tmp_path_factory.mktemp("storage")).encode())
    ctx, sess = Context(), Session()
    # TEEC_UUID abf9bcde-c41d-48bf-b7bc-5873da78f43b: its first three fields are native integers
    uuid = (ctypes.c_uint8 * 16)(*bytes.fromhex("debcf9ab1dc4bf48b7bc5873da78f43b"))
    assert lib.TEEC_InitializeContext(None, ctypes.byref(ctx)) == 0
    assert lib.TEEC_OpenSession(ctypes.byref(ctx), ctypes.byref(sess), uuid, 0, None, None, None) == 0
    yield lib, sess
    lib.TEEC_CloseSession(ctypes.byref(sess))
    lib.TEEC_FinalizeContext(ctypes.byref(ctx))


def invoke(lib, sess, cmd, types):
    buffers = [ctypes.create_string_buffer(64) for _ in range(4)]
    op = Operation()
    op.paramTypes = sum(t << (4 * i) for i, t in enumerate(types))
    for i, t in enumerate(types):
        if t in (MEM_IN, MEM_OUT, MEM_INOUT):
            op.params[i].tmpref.buffer = ctypes.cast(buffers[i], ctypes.c_void_p)
            op.params[i].tmpref.size = 32
        elif t == VAL_IN:
            op.params[i].value.a = 1   # a valid key source for OPEN_MODEL
    return lib.TEEC_InvokeCommand(ctypes.byref(sess), cmd, ctypes.byref(op), None)


def wrong_types(expected):
    """Every single-slot change of the expected types, plus all-NONE (unless that is the expected)."""
    kinds = (NONE, VAL_IN, VAL_OUT, VAL_INOUT, MEM_IN, MEM_OUT, MEM_INOUT)
    for slot, kind in itertools.product(range(4), kinds):
        if kind != expected[slot]:
            yield tuple(kind if i == slot else t for i, t in enumerate(expected))
    if expected != (NONE,) * 4:
        yield (NONE,) * 4


@pytest.mark.parametrize("cmd", sorted(EXPECTED))
def test_wrong_parameter_types_are_refused(session, cmd):
    lib, sess = session
    bad = RESULT_CODES["TEE_ERROR_BAD_PARAMETERS"]
    for types in wrong_types(EXPECTED[cmd]):
        assert invoke(lib, sess, cmd, types) == bad, (cmd, types)


def test_right_types_reach_the_command(session):
    """With its exact types a command gets past the check (here: refused for its state instead)."""
    lib, sess = session
    assert invoke(lib, sess, 4, EXPECTED[4]) == RESULT_CODES["OT_ERR_STATE"]        # RUN, no model
    assert invoke(lib, sess, 6, EXPECTED[6]) == RESULT_CODES["OT_ERR_STATE"]        # READ_OUTPUT
    assert invoke(lib, sess, 2, EXPECTED[2]) == RESULT_CODES["OT_ERR_MANIFEST_FORMAT"]   # 32 bytes
    assert invoke(lib, sess, 10, EXPECTED[10]) == 0                                 # PING: nothing to do


def test_unknown_command(session):
    lib, sess = session
    assert invoke(lib, sess, 99, (NONE,) * 4) == RESULT_CODES["TEE_ERROR_NOT_SUPPORTED"]
