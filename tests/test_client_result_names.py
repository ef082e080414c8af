"""The client prints every result code by name: the TA's OT_ERR_* (from the one header that defines them)
and the GlobalPlatform TEE_ERROR_* codes (checked against an OP-TEE dev kit's tee_api_defines.h when one
is at hand)."""
import ctypes
import re

import pytest

from onnx_tee.passes.lower.sim import HEADER, load_library
from optee_harness import kit_dir


@pytest.fixture(scope="module")
def result_name():
    lib = load_library()
    lib.ot_result_name.argtypes = [ctypes.c_uint32]
    lib.ot_result_name.restype = ctypes.c_char_p
    return lambda code: (lib.ot_result_name(code) or b"").decode() or None


def test_every_ta_result_code_has_its_name(result_name):
    codes = re.findall(r"#define\s+(OT_ERR_\w+)\s+(0x[0-9A-Fa-f]+)u", HEADER.read_text())
    assert len(codes) >= 19
    for name, value in codes:
        assert result_name(int(value, 16)) == name


def test_gp_codes_by_their_gp_names(result_name):
    assert result_name(0) == "TEE_SUCCESS"
    assert result_name(0xFFFF000C) == "TEE_ERROR_OUT_OF_MEMORY"
    assert result_name(0xFFFF0006) == "TEE_ERROR_BAD_PARAMETERS"
    assert result_name(0xFFFF3024) == "TEE_ERROR_TARGET_DEAD"
    assert result_name(0xFFFF3071) == "TEE_ERROR_MAC_INVALID"
    assert result_name(0x12345678) is None


def test_gp_names_match_the_dev_kit(result_name):
    kit = kit_dir()
    defines = kit / "sdk" / "export-ta_arm64" / "include" / "tee_api_defines.h" if kit else None
    if defines is None or not defines.is_file():
        pytest.skip("no OP-TEE dev kit to compare the GP result codes with")
    codes = re.findall(r"#define\s+(TEE_(?:SUCCESS|ERROR_\w+))\s+(0x[0-9A-Fa-f]+)", defines.read_text())
    assert len(codes) > 20
    for name, value in codes:
        assert result_name(int(value, 16)) == name, name
