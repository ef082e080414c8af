"""The partition body format, written from Python (mirror of `runtime_ta/include/format.h`).

A body is what the TA decrypts into its region and runs in place (spec: `runtime_ta/FORMAT.md`)::

    header (128) | tensor table (48 per tensor) | op table (128 per op) | index pool (4 per entry)
        | prepared section (PREPARED_OP_SIZE per op, zero; the TA's validator fills it) | weights

every section starting on a 64-byte boundary, every weight tensor 64-byte aligned inside the weights.
All records have fixed width, so a body's size is known from its counts and weight sizes alone —
before the memory plan assigns any offset (`body_size`).  The layouts below are checked against the C
header by compiling it (tests/test_format_*.py): change both together.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

ALIGN = 64
MAGIC = 0x59444254  # "TBDY" as a little-endian uint32
VERSION = 3
MAX_RANK = 6
NUM_INTS = 20
NUM_FLOATS = 8
NO_TENSOR = 0xFFFFFFFF
PREPARED_OP_SIZE = 96  # bytes per op of the prepared section (rt_prepared_op in runtime_ta/interp/ops/ops.h)
HEADER_RESERVED_WORDS = 15

# Element types (ONNX TensorProto codes), each sized exactly; which op takes which is its type signature
# (passes/target/signature.py, the C registrations).  int64 model inputs (token ids) are narrowed to int32.
DTYPE_FLOAT32 = 1
DTYPE_UINT8 = 2
DTYPE_INT8 = 3
DTYPE_INT32 = 6   # also indices, arg-reduction results, booleans (0/1); int64 and bool are held as it
DTYPES = {DTYPE_FLOAT32: np.dtype("<f4"), DTYPE_UINT8: np.dtype("u1"), DTYPE_INT8: np.dtype("i1"),
          DTYPE_INT32: np.dtype("<i4")}  # the little-endian layout of each in a body and the region
LOC_WEIGHT = 1
LOC_REGION = 2

TFLAG_PARTITION_INPUT = 0x01
TFLAG_PARTITION_OUTPUT = 0x02
TFLAG_MODEL_INPUT = 0x04
TFLAG_MODEL_OUTPUT = 0x08

OP_CODES = {
    "CONV": 1, "CONV_TRANSPOSE": 2, "GEMM": 3, "MATMUL": 4, "RELU": 5, "LEAKY_RELU": 6, "CLIP": 7,
    "SIGMOID": 8, "HARD_SIGMOID": 9, "HARD_SWISH": 10, "TANH": 11, "SOFTMAX": 12, "LRN": 13,
    "BATCH_NORM": 14, "MAX_POOL": 15, "AVERAGE_POOL": 16, "GLOBAL_AVERAGE_POOL": 17, "GLOBAL_MAX_POOL": 18,
    "ADD": 19, "SUB": 20, "MUL": 21, "DIV": 22, "SUM": 23, "CONCAT": 24, "SPLIT": 25, "SLICE": 26, "COPY": 27,
    "TRANSPOSE": 28, "PAD": 29, "RESIZE": 30,
    # elementwise math
    "POW": 31, "SQRT": 32, "RECIPROCAL": 33, "EXP": 34, "LOG": 35, "ABS": 36, "NEG": 37, "ROUND": 38, "ERF": 39,
    "GELU": 40, "SOFTPLUS": 41, "SOFTSIGN": 42, "ELU": 43, "PRELU": 44, "MISH": 45, "THRESHOLDED_RELU": 46,
    "MAX": 47, "MIN": 48, "QUICK_GELU": 49,
    # reductions and normalizations (50-69)
    "REDUCE_MEAN": 50, "REDUCE_SUM": 51, "REDUCE_MAX": 52, "REDUCE_MIN": 53, "REDUCE_PROD": 54, "REDUCE_L1": 55,
    "REDUCE_L2": 56, "REDUCE_LOG_SUM_EXP": 57, "REDUCE_SUM_SQUARE": 58, "LAYER_NORM": 59, "INSTANCE_NORM": 60,
    "GROUP_NORM": 61, "LOG_SOFTMAX": 62,
    # 70-89: indexing and data layout
    "GATHER": 70, "GATHER_ELEMENTS": 71, "DEPTH_TO_SPACE": 72, "SPACE_TO_DEPTH": 73, "EXPAND": 74, "TILE": 75,
    "GRID_SAMPLE": 76,
    "LSTM": 90, "GRU": 91, "RNN": 92,  # recurrent family: codes 90-99
    # 100-119: arg-reductions, trigonometry, booleans (int32 0/1 tensors)
    "ARG_MAX": 100, "ARG_MIN": 101, "SIN": 102, "COS": 103, "TAN": 104, "ASIN": 105, "ACOS": 106, "ATAN": 107,
    "SINH": 108, "COSH": 109, "ASINH": 110, "ACOSH": 111, "ATANH": 112, "COMPARE": 113, "NOT": 114, "AND": 115,
    "OR": 116, "XOR": 117, "WHERE": 118,
    # 120-159: quantized (int8 / uint8) ops
    "QUANTIZE_LINEAR": 120, "DEQUANTIZE_LINEAR": 121, "DYNAMIC_QUANTIZE_LINEAR": 122, "QLINEAR_CONV": 123,
    "CONV_INTEGER": 124, "QLINEAR_MATMUL": 125, "MATMUL_INTEGER": 126, "QLINEAR_ADD": 127, "QLINEAR_MUL": 128,
    "QLINEAR_GLOBAL_AVERAGE_POOL": 129, "QLINEAR_CONCAT": 130, "QLINEAR_SIGMOID": 131, "QLINEAR_LEAKY_RELU": 132,
    "CAST": 133,  # type conversion between the held types (float32, int32, int8, uint8; bool as int32)
    "DYNAMIC_QUANTIZE_LSTM": 134,  # onnxruntime's com.microsoft DynamicQuantizeLSTM (int8 / uint8 W and R)
}

PAD_MODES = {"constant": 0, "reflect": 1, "edge": 2}
RESIZE_MODES = {"nearest": 0, "linear": 1, "cubic": 2}
DEPTH_TO_SPACE_MODES = {"dcr": 0, "crd": 1}
COORD_MODES = {"half_pixel": 0, "pytorch_half_pixel": 1, "align_corners": 2, "asymmetric": 3,
               "half_pixel_symmetric": 4}
NEAREST_MODES = {"round_prefer_floor": 0, "round_prefer_ceil": 1, "floor": 2, "ceil": 3}
ROUND_MODES = {"floor": 0, "ceil": 1, "half_even": 2}
GRID_PADDING_MODES = {"zeros": 0, "border": 1, "reflection": 2}
COMPARE_MODES = {"equal": 0, "greater": 1, "greater_or_equal": 2, "less": 3, "less_or_equal": 4}

# Attribute slots (RT_ATTR_* / RT_FATTR_* in format.h): the index of each attribute in an op record's
# integer array i[] (ATTR_*) or float array f[] (FATTR_*); an array attribute names its first slot (one
# per dim).  *_COUNT = slots the op uses (every later slot is 0).  Window ops (Conv, ConvTranspose,
# MaxPool, AveragePool) share slots 0-10.
ATTR_CONV_GROUP = 0
ATTR_CONV_KERNEL_H = 1
ATTR_CONV_KERNEL_W = 2
ATTR_CONV_STRIDE_H = 3
ATTR_CONV_STRIDE_W = 4
ATTR_CONV_PAD_TOP = 5
ATTR_CONV_PAD_LEFT = 6
ATTR_CONV_PAD_BOTTOM = 7
ATTR_CONV_PAD_RIGHT = 8
ATTR_CONV_DILATION_H = 9
ATTR_CONV_DILATION_W = 10
ATTR_CONV_COUNT = 11
ATTR_CONV_W_LAYOUT = 11
ATTR_CONV_OP_COUNT = 12
ATTR_CONV_TRANSPOSE_OUTPUT_PADDING_H = 11
ATTR_CONV_TRANSPOSE_OUTPUT_PADDING_W = 12
ATTR_CONV_TRANSPOSE_COUNT = 13
ATTR_POOL_CEIL_MODE = 11
ATTR_POOL_COUNT_INCLUDE_PAD = 12
ATTR_POOL_COUNT = 13
ATTR_GEMM_TRANS_A = 0
ATTR_GEMM_TRANS_B = 1
ATTR_GEMM_COUNT = 2
FATTR_GEMM_ALPHA = 0
FATTR_GEMM_BETA = 1
FATTR_GEMM_COUNT = 2
FATTR_LEAKY_RELU_ALPHA = 0
FATTR_LEAKY_RELU_COUNT = 1
FATTR_CLIP_MIN = 0
FATTR_CLIP_MAX = 1
FATTR_CLIP_COUNT = 2
FATTR_HARD_SIGMOID_ALPHA = 0
FATTR_HARD_SIGMOID_BETA = 1
FATTR_HARD_SIGMOID_COUNT = 2
FATTR_QUICK_GELU_ALPHA = 0
FATTR_QUICK_GELU_COUNT = 1
ATTR_SOFTMAX_AXIS = 0
ATTR_SOFTMAX_COERCE_2D = 1
ATTR_SOFTMAX_COUNT = 2
ATTR_LRN_SIZE = 0
ATTR_LRN_COUNT = 1
FATTR_LRN_ALPHA = 0
FATTR_LRN_BETA = 1
FATTR_LRN_BIAS = 2
FATTR_LRN_COUNT = 3
FATTR_BATCH_NORM_EPSILON = 0
FATTR_BATCH_NORM_COUNT = 1
ATTR_CONCAT_AXIS = 0
ATTR_CONCAT_COUNT = 1
ATTR_SPLIT_AXIS = 0
ATTR_SPLIT_COUNT = 1
ATTR_SLICE_START = 0
ATTR_SLICE_STEP = MAX_RANK
ATTR_SLICE_COUNT = 2 * MAX_RANK
ATTR_TRANSPOSE_PERM = 0
ATTR_TRANSPOSE_COUNT = MAX_RANK
ATTR_PAD_BEGIN = 0
ATTR_PAD_END = MAX_RANK
ATTR_PAD_MODE = 2 * MAX_RANK
ATTR_PAD_COUNT = 2 * MAX_RANK + 1
FATTR_PAD_VALUE = 0
FATTR_PAD_COUNT = 1
ATTR_RESIZE_MODE = 0
ATTR_RESIZE_COORD = 1
ATTR_RESIZE_NEAREST = 2
ATTR_RESIZE_EXCLUDE_OUTSIDE = 3
ATTR_RESIZE_COUNT = 4
FATTR_RESIZE_SCALE = 0
# elementwise math
ATTR_ROUND_MODE = 0
ATTR_ROUND_COUNT = 1
ATTR_GELU_TANH = 0
ATTR_GELU_COUNT = 1
ATTR_ELU_CELU = 0
ATTR_ELU_COUNT = 1
FATTR_ELU_ALPHA = 0
FATTR_ELU_GAMMA = 1
FATTR_ELU_COUNT = 2
FATTR_THRESHOLDED_RELU_ALPHA = 0
FATTR_THRESHOLDED_RELU_COUNT = 1
ATTR_REDUCE_AXES = 0
ATTR_REDUCE_KEEPDIMS = MAX_RANK
ATTR_REDUCE_COUNT = MAX_RANK + 1
ATTR_LAYER_NORM_AXIS = 0
ATTR_LAYER_NORM_COUNT = 1
FATTR_LAYER_NORM_EPSILON = 0
FATTR_LAYER_NORM_COUNT = 1
FATTR_INSTANCE_NORM_EPSILON = 0
FATTR_INSTANCE_NORM_COUNT = 1
ATTR_GROUP_NORM_GROUPS = 0
ATTR_GROUP_NORM_PER_CHANNEL = 1
ATTR_GROUP_NORM_COUNT = 2
FATTR_GROUP_NORM_EPSILON = 0
FATTR_GROUP_NORM_COUNT = 1
ATTR_LOG_SOFTMAX_AXIS = 0
ATTR_LOG_SOFTMAX_COERCE_2D = 1
ATTR_LOG_SOFTMAX_COUNT = 2
FATTR_RESIZE_CUBIC_A = MAX_RANK
FATTR_RESIZE_COUNT = MAX_RANK + 1
ATTR_GATHER_AXIS = 0
ATTR_GATHER_COUNT = 1
ATTR_DEPTH_TO_SPACE_BLOCKSIZE = 0
ATTR_DEPTH_TO_SPACE_MODE = 1
ATTR_DEPTH_TO_SPACE_COUNT = 2
ATTR_SPACE_TO_DEPTH_BLOCKSIZE = 0
ATTR_SPACE_TO_DEPTH_MODE = 1
ATTR_SPACE_TO_DEPTH_COUNT = 2
ATTR_RNN_DIRECTION = 0
ATTR_RNN_LAYOUT = 1
ATTR_RNN_LINEAR_BEFORE_RESET = 2
ATTR_RNN_COUNT = 3
FATTR_RNN_CLIP = 0
FATTR_RNN_COUNT = 1
RNN_DIRECTIONS = {"forward": 0, "reverse": 1, "bidirectional": 2}
ATTR_ARG_AXIS = 0
ATTR_ARG_KEEPDIMS = 1
ATTR_ARG_SELECT_LAST = 2
ATTR_ARG_COUNT = 3
ATTR_COMPARE_MODE = 0
ATTR_COMPARE_COUNT = 1
ATTR_QUANT_AXIS = 0
ATTR_QUANT_COUNT = 1
ATTR_CAST_TO_BOOL = 0
ATTR_CAST_COUNT = 1
ATTR_GRID_SAMPLE_MODE = 0
ATTR_GRID_SAMPLE_PADDING = 1
ATTR_GRID_SAMPLE_ALIGN_CORNERS = 2
ATTR_GRID_SAMPLE_COUNT = 3

# (field, struct code) in declaration order; "<" = little-endian, no implicit padding.
HEADER_FIELDS = [
    ("magic", "I"), ("version", "H"), ("header_size", "H"), ("partition_index", "H"), ("partition_count", "H"),
    ("tensor_count", "I"), ("op_count", "I"), ("index_pool_count", "I"), ("tensor_table_offset", "I"),
    ("op_table_offset", "I"), ("index_pool_offset", "I"), ("weights_offset", "I"), ("weights_size", "I"),
    ("body_size", "I"), ("region_size", "I"), ("scratch_offset", "I"), ("scratch_size", "I"),
    ("prepared_offset", "I"), ("prepared_size", "I"), ("reserved", f"{HEADER_RESERVED_WORDS}I"),
]
TENSOR_FIELDS = [
    ("dtype", "B"), ("rank", "B"), ("location", "B"), ("flags", "B"), ("io_index", "H"), ("reserved", "H"),
    ("offset", "I"), ("nbytes", "I"), ("dims", f"{MAX_RANK}I"), ("reserved2", "2I"),
]
OP_FIELDS = [
    ("op", "H"), ("reserved", "H"), ("input_count", "H"), ("output_count", "H"), ("inputs_start", "I"),
    ("reserved2", "I"), ("i", f"{NUM_INTS}i"), ("f", f"{NUM_FLOATS}f"),
]
HEADER = struct.Struct("<" + "".join(code for _, code in HEADER_FIELDS))
TENSOR = struct.Struct("<" + "".join(code for _, code in TENSOR_FIELDS))
OP = struct.Struct("<" + "".join(code for _, code in OP_FIELDS))
assert (HEADER.size, TENSOR.size, OP.size) == (128, 48, 128)

U32_MAX = 0xFFFFFFFF


def align(n: int) -> int:
    """`n` rounded up to a multiple of ALIGN."""
    return -(-n // ALIGN) * ALIGN


@dataclass
class Tensor:
    """One tensor table entry.  `offset` is relative to the body (WEIGHT) or absolute (REGION);
    nbytes = elements x the dtype's size (DTYPES)."""

    dims: tuple[int, ...]
    location: int
    offset: int = 0
    flags: int = 0
    io_index: int = 0
    dtype: int = DTYPE_FLOAT32

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.dims, dtype=np.int64)) * DTYPES[self.dtype].itemsize


@dataclass
class Op:
    """One op table entry; `inputs` may hold NO_TENSOR for an absent optional input."""

    code: int
    inputs: list[int]
    outputs: list[int]
    ints: list[int] = field(default_factory=list)
    floats: list[float] = field(default_factory=list)


@dataclass
class Body:
    """A partition body before serialisation.  `weights[t]` holds the data of WEIGHT tensor t (written as
    its tensor's dtype)."""

    partition_index: int
    partition_count: int
    tensors: list[Tensor]
    ops: list[Op]
    weights: dict[int, np.ndarray]
    region_size: int = 0
    scratch_offset: int = 0
    scratch_size: int = 0

    @property
    def pool_count(self) -> int:
        return sum(len(op.inputs) + len(op.outputs) for op in self.ops)

    @property
    def size(self) -> int:
        return body_size(len(self.tensors), len(self.ops), self.pool_count,
                         [self.tensors[t].nbytes for t in self.weights])


def _layout(tensor_count: int, op_count: int, pool_count: int, weight_nbytes: list[int]) -> tuple[int, ...]:
    tensor_table = align(HEADER.size)
    op_table = tensor_table + align(tensor_count * TENSOR.size)
    pool = op_table + align(op_count * OP.size)
    prepared = pool + align(pool_count * 4)
    weights = prepared + align(op_count * PREPARED_OP_SIZE)
    weights_size = sum(align(n) for n in weight_nbytes)
    return tensor_table, op_table, pool, prepared, weights, weights_size


def body_size(tensor_count: int, op_count: int, pool_count: int, weight_nbytes: list[int]) -> int:
    """Exact size in bytes of a body with these counts and weight tensor sizes (a multiple of ALIGN)."""
    *_, weights, weights_size = _layout(tensor_count, op_count, pool_count, weight_nbytes)
    return weights + weights_size


def serialize(body: Body) -> bytes:
    """The body's bytes.  WEIGHT tensor offsets are assigned here (in tensor order); the caller has set
    every REGION offset and the scratch buffer from the memory plan."""
    tensor_table, op_table, pool_offset, prepared_offset, weights_offset, weights_size = _layout(
        len(body.tensors), len(body.ops), body.pool_count, [body.tensors[t].nbytes for t in body.weights])
    total = weights_offset + weights_size
    for value, name in ((total, "body size"), (body.region_size, "region size"), (len(body.tensors), "tensors"),
                        (body.scratch_offset + body.scratch_size, "scratch end")):
        if value > U32_MAX:
            raise ValueError(f"{name} {value} does not fit the format's 32-bit fields")
    out = bytearray(total)

    cursor = weights_offset
    for t in sorted(body.weights):
        data = np.ascontiguousarray(body.weights[t], dtype=DTYPES[body.tensors[t].dtype]).tobytes()
        if len(data) != body.tensors[t].nbytes:
            raise ValueError(f"weight tensor {t}: {len(data)} bytes of data for shape {body.tensors[t].dims}")
        body.tensors[t].offset = cursor
        out[cursor:cursor + len(data)] = data
        cursor += align(len(data))

    HEADER.pack_into(out, 0, MAGIC, VERSION, HEADER.size, body.partition_index, body.partition_count,
                     len(body.tensors), len(body.ops), body.pool_count, tensor_table, op_table, pool_offset,
                     weights_offset, weights_size, total, body.region_size, body.scratch_offset, body.scratch_size,
                     prepared_offset, len(body.ops) * PREPARED_OP_SIZE, *[0] * HEADER_RESERVED_WORDS)
    for k, t in enumerate(body.tensors):
        if len(t.dims) > MAX_RANK:
            raise ValueError(f"tensor {k}: rank {len(t.dims)} > {MAX_RANK}")
        dims = list(t.dims) + [0] * (MAX_RANK - len(t.dims))
        TENSOR.pack_into(out, tensor_table + k * TENSOR.size, t.dtype, len(t.dims), t.location, t.flags, t.io_index, 0,
                         t.offset, t.nbytes, *dims, 0, 0)
    pool: list[int] = []
    for k, op in enumerate(body.ops):
        if len(op.ints) > NUM_INTS or len(op.floats) > NUM_FLOATS:
            raise ValueError(f"op {k}: too many attributes")
        ints = list(op.ints) + [0] * (NUM_INTS - len(op.ints))
        floats = list(op.floats) + [0.0] * (NUM_FLOATS - len(op.floats))
        OP.pack_into(out, op_table + k * OP.size, op.code, 0, len(op.inputs), len(op.outputs), len(pool), 0,
                     *ints, *floats)
        pool.extend(op.inputs)
        pool.extend(op.outputs)
    struct.pack_into(f"<{len(pool)}I", out, pool_offset, *pool)
    return bytes(out)


def parse_header(data: bytes) -> dict[str, int]:
    """The header fields of a serialised body, by name (for tools and tests)."""
    return dict(zip((name for name, _ in HEADER_FIELDS), HEADER.unpack_from(data, 0)))
