"""The Python body writer and the C header `runtime_ta/include/format.h` agree on every constant,
record size and field offset (the C side is compiled and asked), and serialised bodies round-trip."""
from __future__ import annotations

import re
import shutil
import subprocess
import struct
from pathlib import Path

import numpy as np
import pytest

from onnx_tee.passes.lower import format as fmt

ROOT = Path(__file__).resolve().parents[1]
HEADER = ROOT / "runtime_ta" / "include" / "format.h"

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")

PREFIXED = {"PAD_": fmt.PAD_MODES, "RESIZE_": fmt.RESIZE_MODES, "COORD_": fmt.COORD_MODES,
            "NEAREST_": fmt.NEAREST_MODES, "ROUND_": fmt.ROUND_MODES, "DEPTH_TO_SPACE_": fmt.DEPTH_TO_SPACE_MODES,
            "COMPARE_": fmt.COMPARE_MODES, "GRID_PADDING_": fmt.GRID_PADDING_MODES}
SCALARS = {"BODY_MAGIC": fmt.MAGIC, "FORMAT_VERSION": fmt.VERSION, "ALIGN": fmt.ALIGN, "MAX_RANK": fmt.MAX_RANK,
           "NUM_INTS": fmt.NUM_INTS, "NUM_FLOATS": fmt.NUM_FLOATS, "NO_TENSOR": fmt.NO_TENSOR,
           "HEADER_SIZE": fmt.HEADER.size, "TENSOR_DESC_SIZE": fmt.TENSOR.size, "OP_DESC_SIZE": fmt.OP.size,
           "DTYPE_FLOAT32": fmt.DTYPE_FLOAT32, "DTYPE_INT32": fmt.DTYPE_INT32, "DTYPE_INT8": fmt.DTYPE_INT8,
           "DTYPE_UINT8": fmt.DTYPE_UINT8,
           "LOC_WEIGHT": fmt.LOC_WEIGHT, "LOC_REGION": fmt.LOC_REGION,
           "TFLAG_PARTITION_INPUT": fmt.TFLAG_PARTITION_INPUT, "TFLAG_PARTITION_OUTPUT": fmt.TFLAG_PARTITION_OUTPUT,
           "TFLAG_MODEL_INPUT": fmt.TFLAG_MODEL_INPUT, "TFLAG_MODEL_OUTPUT": fmt.TFLAG_MODEL_OUTPUT}
IGNORED = {"TFLAG_ALL", "OP_MAX_CODE", "STATIC_ASSERT"}


def python_value(name: str) -> int:
    if name in SCALARS:
        return SCALARS[name]
    if name.startswith(("ATTR_", "FATTR_")) or name in ("PREPARED_OP_SIZE", "HEADER_RESERVED_WORDS"):
        if not hasattr(fmt, name):
            raise AssertionError(f"RT_{name} in format.h has no Python counterpart fmt.{name}")
        return getattr(fmt, name)
    if name.startswith("OP_"):
        return fmt.OP_CODES[name[3:]]
    for prefix, table in PREFIXED.items():
        if name.startswith(prefix):
            return table[name[len(prefix):].lower()]
    raise AssertionError(f"RT_{name} in format.h has no Python counterpart in passes/lower/format.py")


def struct_offsets(fields) -> list[tuple[str, int]]:
    offsets, pos = [], 0
    for name, code in fields:
        offsets.append((name, pos))
        pos += struct.calcsize("<" + code)
    return offsets


@pytest.fixture(scope="module")
def c_facts(tmp_path_factory) -> dict[str, int]:
    """Every RT_ macro value and every struct size / field offset, as the C compiler sees them."""
    names = [n for n in re.findall(r"^#define RT_(\w+)\s", HEADER.read_text(), re.M) if n not in IGNORED]
    lines = [f'printf("RT_{n} %lld\\n", (long long)(RT_{n}));' for n in names]
    for struct_name, fields in (("rt_body_header", fmt.HEADER_FIELDS), ("rt_tensor_desc", fmt.TENSOR_FIELDS),
                                ("rt_op_desc", fmt.OP_FIELDS)):
        lines.append(f'printf("sizeof.{struct_name} %zu\\n", sizeof({struct_name}));')
        for field, _ in fields:
            lines.append(f'printf("{struct_name}.{field} %zu\\n", offsetof({struct_name}, {field}));')
    src = tmp_path_factory.mktemp("fmt") / "facts.c"
    src.write_text('#include <stdio.h>\n#include "format.h"\nint main(void){\n' + "\n".join(lines) + "\nreturn 0;}\n")
    exe = src.with_suffix("")
    subprocess.run(["cc", "-std=c99", "-Wall", "-Werror", "-I", str(HEADER.parent), str(src), "-o", str(exe)],
                   check=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    return {key: int(value) for key, value in (line.split() for line in out.splitlines())}


def test_every_constant_matches(c_facts):
    constants = {k[3:]: v for k, v in c_facts.items() if k.startswith("RT_")}
    assert constants, "no constants read from format.h"
    for name, value in constants.items():
        assert python_value(name) == value, f"RT_{name}: C {value}, Python {python_value(name)}"
    assert {f"OP_{k}" for k in fmt.OP_CODES} <= set(constants), "an op code exists only in Python"
    slots = {name for name in dir(fmt) if name.startswith(("ATTR_", "FATTR_"))}
    assert slots and slots <= set(constants), f"attribute slots only in Python: {sorted(slots - set(constants))}"


@pytest.mark.parametrize("struct_name,fields,packer", [("rt_body_header", fmt.HEADER_FIELDS, fmt.HEADER),
                                                        ("rt_tensor_desc", fmt.TENSOR_FIELDS, fmt.TENSOR),
                                                        ("rt_op_desc", fmt.OP_FIELDS, fmt.OP)])
def test_record_layouts_match(c_facts, struct_name, fields, packer):
    assert c_facts[f"sizeof.{struct_name}"] == packer.size
    for field, offset in struct_offsets(fields):
        assert c_facts[f"{struct_name}.{field}"] == offset, f"{struct_name}.{field}"


def test_serialised_body_has_the_predicted_size_and_layout():
    tensors = [fmt.Tensor((1, 3, 4, 4), fmt.LOC_REGION, 128), fmt.Tensor((5, 3, 1, 1), fmt.LOC_WEIGHT),
               fmt.Tensor((5,), fmt.LOC_WEIGHT), fmt.Tensor((1, 5, 4, 4), fmt.LOC_REGION, 640)]
    w = np.arange(15, dtype=np.float32).reshape(5, 3, 1, 1)
    b = np.ones(5, np.float32)
    ops = [fmt.Op(fmt.OP_CODES["CONV"], [0, 1, 2], [3], [1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1])]
    body = fmt.Body(0, 1, tensors, ops, {1: w, 2: b}, region_size=4096, scratch_offset=1024, scratch_size=64)
    data = fmt.serialize(body)
    # header, 4 tensors, 1 op, 4 pool entries, 1 prepared record, 2 weights (each padded to 64)
    assert len(data) == body.size == fmt.body_size(4, 1, 4, [60, 20]) == 128 + 192 + 128 + 64 + 128 + 64 + 64
    head = fmt.parse_header(data)
    assert head["magic"] == fmt.MAGIC and head["body_size"] == len(data) and head["index_pool_count"] == 4
    assert head["prepared_offset"] == head["index_pool_offset"] + 64 and head["prepared_size"] == fmt.PREPARED_OP_SIZE
    assert head["prepared_offset"] + 128 == head["weights_offset"]
    assert not any(data[head["prepared_offset"]:head["weights_offset"]]), "the prepared section is written as zeros"
    for t, array in ((1, w), (2, b)):
        off = tensors[t].offset
        assert off % fmt.ALIGN == 0 and off >= head["weights_offset"]
        assert np.array_equal(np.frombuffer(data, "<f4", array.size, off), array.ravel())
    pool = struct.unpack_from("<4I", data, head["index_pool_offset"])
    assert pool == (0, 1, 2, 3)


def spec_tables() -> dict[str, list[tuple[int, str]]]:
    """(offset, field) rows of FORMAT.md's three record tables, by section title."""
    text = (ROOT / "runtime_ta" / "FORMAT.md").read_text()
    tables, current = {}, None
    for line in text.splitlines():
        if line.startswith("## "):
            current = line[3:].strip()
        match = re.match(r"\|\s*(\d+)\s*\|\s*[a-z0-9\[\]]+\s*\|\s*(\w+)\s*\|", line)
        if match and current:
            tables.setdefault(current, []).append((int(match.group(1)), match.group(2)))
    return tables


@pytest.mark.parametrize("title,fields", [("Header (`rt_body_header`, 128 bytes)", fmt.HEADER_FIELDS),
                                          ("Tensor record (`rt_tensor_desc`, 48 bytes)", fmt.TENSOR_FIELDS),
                                          ("Op record (`rt_op_desc`, 128 bytes)", fmt.OP_FIELDS)])
def test_format_md_tables_match_the_layout(title, fields):
    rows = spec_tables().get(title)
    assert rows, f"FORMAT.md has no table under '{title}'"
    assert rows == [(offset, name) for name, offset in struct_offsets(fields)]


def test_format_md_slot_table_matches_the_header(c_facts):
    """FORMAT.md's "Attribute slots" table lists every RT_ATTR_* / RT_FATTR_* slot of format.h (counts
    aside) at the header's index, and nothing else."""
    text = (ROOT / "runtime_ta" / "FORMAT.md").read_text()
    section = text.split("## Attribute slots", 1)[1].split("\n## ", 1)[0]
    rows = {name: (kind, int(slot)) for name, kind, slot in
            re.findall(r"^\|\s*`RT_(F?ATTR_\w+)`\s*\|\s*([if])(\d+)\s*\|", section, re.M)}
    header = {k[3:]: v for k, v in c_facts.items()
              if k.startswith(("RT_ATTR_", "RT_FATTR_")) and not k.endswith("_COUNT")}
    assert header, "no attribute slots read from format.h"
    assert set(rows) == set(header), (sorted(set(header) - set(rows)), sorted(set(rows) - set(header)))
    for name, (kind, slot) in rows.items():
        assert kind == ("f" if name.startswith("FATTR_") else "i"), name
        assert slot == header[name], f"RT_{name}: FORMAT.md {kind}{slot}, format.h {header[name]}"


@pytest.mark.parametrize("target", [["cc", "-m64"], ["cc", "-m32"], ["aarch64-linux-gnu-gcc"]],
                         ids=["x86-64", "i386", "aarch64"])
def test_prepared_record_has_one_size_on_every_target(tmp_path, target):
    """rt_prepared_op (runtime_ta/interp/ops/ops.h) is fixed-width: its static asserts hold, i.e. it is
    exactly RT_PREPARED_OP_SIZE bytes, on 32- and 64-bit targets alike."""
    if shutil.which(target[0]) is None:
        pytest.skip(f"{target[0]} not installed")
    flags = target + ["-std=c99", "-ffreestanding", "-fsyntax-only", "-Wall", "-Werror"]
    probe = tmp_path / "probe.c"
    probe.write_text("#include <stdint.h>\nint x;\n")
    if subprocess.run(flags + [str(probe)], capture_output=True).returncode != 0:
        pytest.skip(f"{' '.join(target)} cannot build for this target here")
    src = tmp_path / "prepared.c"
    src.write_text('#include "ops/ops.h"\n'
                   f"typedef char fixed[sizeof(rt_prepared_op) == {fmt.PREPARED_OP_SIZE} ? 1 : -1];\n")
    interp = ROOT / "runtime_ta" / "interp"
    done = subprocess.run(flags + ["-I", str(interp), "-I", str(HEADER.parent), str(src)], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr


def test_slots_places_numbers_and_arrays_by_name_and_refuses_overflow():
    from onnx_tee.passes.target.op import slots
    assert slots(fmt.ATTR_PAD_COUNT, {fmt.ATTR_PAD_BEGIN: [1, 2], fmt.ATTR_PAD_END: [3, 4], fmt.ATTR_PAD_MODE: 2}) == \
        [1, 2, 0, 0, 0, 0, 3, 4, 0, 0, 0, 0, 2]
    assert slots(fmt.FATTR_CLIP_COUNT, {fmt.FATTR_CLIP_MAX: 6.0}) == [0, 6.0]
    with pytest.raises(ValueError):
        slots(fmt.ATTR_REDUCE_COUNT, {fmt.ATTR_REDUCE_KEEPDIMS: [1, 1]})
