"""The target: what the TA interpreter can run and what it costs in the TA's region.

The one place the library keeps the interpreter's facts; `partition` and `lower` both read them
from here, and this package depends on neither (it reads the body format's constants from
`lower/format.py`, the mirror of the C header).

    OPS, SUPPORTED_OPS                 the op table: one OpTarget per ONNX op type (op.py, ops/*.py)
    translate, data_inputs, kept_outputs   a node as an op record of a body
    problems, check_supported          every node the interpreter cannot run, before anything is written
    check_op_types, missing_ops        the same for op types the interpreter lacks, before any shape is needed
    alias_source                       in-place rule: the input a node's output may overwrite
    scratch_bytes, node_scratch        the kernel's scratch (scratch.py mirrors the C formulas)
    body_bytes, BODY_*                 a body's exact size; the search's cheaper allowance
    blob_bytes                         a sealed blob's size (header + body + tag)
    ALIGN, align, STAGING_BYTES, RESERVE_BYTES   the region's alignment, staging buffer, TA heap reserve
    LOAD_CHUNK_BYTES                   the blob bytes one load command carries (the normal world's chunk)
    held_type, to_held, from_held      the TA's types (float32, int8, uint8; int32 for int32, int64, bool) and
                                       the host's conversions into and out of them (dtypes.py)
    narrow_indices, to_int32, body_dtype, index_bounds   int32 indices (dtypes.py): the model rewrite, the
                                       host's range-checked narrowing, the body's dtype code, sample bounds

Adding an op: its kernel in C and its registration in the C kernel table; here one `OpTarget` in
the `ops/` module of its kernel family (translate function, alias rule, scratch rule, parameter
inputs).  `kernel_args.py` holds the pure functions that turn ONNX attribute forms into the
numbers the kernels take.
"""
from .blob import BLOB_HEADER, NONCE_BYTES, TAG_BYTES, blob_bytes
from .body import BODY_HEADER_BYTES, BODY_NODE_BYTES, BODY_TENSOR_BYTES, body_bytes
from .dtypes import body_dtype, from_held, index_bounds, narrow_indices, to_held, to_int32
from .op import BINARY, UNARY, LoweredOp, OpContext, OpTarget, Unsupported
from .region import ALIGN, LOAD_CHUNK_BYTES, RESERVE_BYTES, STAGING_BYTES, align
from .support import check_op_types, check_supported, missing_ops, problems
from ..analysis.shapes import held_type
from .table import OPS, SUPPORTED_OPS, alias_source, data_inputs, kept_outputs, node_scratch, scratch_bytes, translate

__all__ = ["BLOB_HEADER", "NONCE_BYTES", "TAG_BYTES", "blob_bytes", "BODY_HEADER_BYTES", "BODY_NODE_BYTES",
           "BODY_TENSOR_BYTES", "body_bytes", "BINARY", "UNARY", "LoweredOp", "OpContext", "OpTarget", "Unsupported",
           "ALIGN", "LOAD_CHUNK_BYTES", "RESERVE_BYTES", "STAGING_BYTES", "align", "check_op_types", "check_supported", "missing_ops",
           "problems", "OPS", "SUPPORTED_OPS", "alias_source", "data_inputs", "kept_outputs", "node_scratch",
           "scratch_bytes", "translate", "body_dtype", "from_held", "held_type", "index_bounds", "narrow_indices",
           "to_held", "to_int32"]
