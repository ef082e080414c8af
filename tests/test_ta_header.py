"""The Python envelope (passes/lower/envelope.py) and onnx_tee_ta.h agree on every size, offset and constant.

A small C program compiled against the header prints sizeof/offsetof of each envelope structure and
the constants; the Python struct layouts must give the same numbers.
"""
from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from onnx_tee.passes.lower import envelope as env
from onnx_tee.passes.lower.keys import KEY_BYTES

INCLUDE = Path(__file__).resolve().parents[1] / "runtime_ta" / "include"

FIELDS = {
    "ot_blob_header": (env.BLOB_HEADER, ["magic", "envelope_version", "format_version", "model_id", "model_version",
                                         "partition_index", "partition_count", "body_bytes", "region_bytes", "nonce",
                                         "reserved"]),
    "ot_manifest_header": (env.MANIFEST_HEADER, ["magic", "envelope_version", "format_version", "model_id",
                                                 "model_version", "partition_count", "input_count", "output_count",
                                                 "staging_bytes", "region_bytes", "nonce", "state_count"]),
    "ot_manifest_partition": (env.MANIFEST_PARTITION, ["blob_bytes", "body_bytes", "body_offset", "staging_offset",
                                                       "planned_bytes", "blob_tag", "flags", "reserved"]),
    "ot_manifest_state": (env.MANIFEST_STATE, ["input", "output"]),
    "ot_manifest_tensor": (env.MANIFEST_TENSOR, ["offset", "nbytes", "dtype", "rank", "dims"]),
}
CONSTANTS = {"OT_KEY_BYTES": KEY_BYTES, "OT_NONCE_BYTES": env.NONCE_BYTES, "OT_TAG_BYTES": env.TAG_BYTES,
             "OT_MODEL_ID_BYTES": env.MODEL_ID_BYTES, "OT_ENVELOPE_VERSION": env.ENVELOPE_VERSION,
             "OT_MAX_PARTITIONS": env.MAX_PARTITIONS, "OT_MAX_IO_TENSORS": env.MAX_IO_TENSORS,
             "OT_MAX_RANK": env.MAX_RANK, "OT_PART_PINNED": env.PART_PINNED}


def python_offsets(layout: struct.Struct, names: list[str]) -> dict[str, int]:
    """Offsets of the named fields: each field is one struct code (arrays of Q count as one field)."""
    codes = re.findall(r"\d*[a-zA-Z]", layout.format.lstrip("<"))
    offsets, pos = {}, 0
    for name, code in zip(names, codes):
        offsets[name] = pos
        pos += struct.calcsize("<" + code)
    return offsets


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_layouts_and_constants_match_the_header(tmp_path):
    lines = ['#include <stdio.h>', '#include <stddef.h>', '#include "onnx_tee_ta.h"', "int main(void) {"]
    for struct_name, (_, names) in FIELDS.items():
        lines.append(f'printf("{struct_name} size %zu\\n", sizeof(struct {struct_name}));')
        for name in names:
            lines.append(f'printf("{struct_name} {name} %zu\\n", offsetof(struct {struct_name}, {name}));')
    for name in CONSTANTS:
        lines.append(f'printf("const {name} %llu\\n", (unsigned long long)({name}));')
    lines.append('printf("magic manifest %s\\n", OT_MANIFEST_MAGIC);')
    lines.append('printf("magic blob %s\\n", OT_BLOB_MAGIC);')
    lines.append("return 0; }")
    (tmp_path / "layout.c").write_text("\n".join(lines))
    subprocess.run(["cc", "-std=c99", f"-I{INCLUDE}", str(tmp_path / "layout.c"), "-o", str(tmp_path / "layout")],
                   check=True)
    c_side = {}
    for line in subprocess.run([str(tmp_path / "layout")], capture_output=True, text=True, check=True).stdout.splitlines():
        a, b, value = line.split()
        c_side[(a, b)] = value
    for struct_name, (layout, names) in FIELDS.items():
        assert int(c_side[(struct_name, "size")]) == layout.size, struct_name
        for name, offset in python_offsets(layout, names).items():
            assert int(c_side[(struct_name, name)]) == offset, (struct_name, name)
    for name, value in CONSTANTS.items():
        assert int(c_side[("const", name)]) == value, name
    assert c_side[("magic", "manifest")].encode() == env.MANIFEST_MAGIC
    assert c_side[("magic", "blob")].encode() == env.BLOB_MAGIC
