/*
 * interp.h - validate a decrypted partition body in place, then run its ops.
 *
 * Usage (the TA, the simulator and the host test library all do exactly this):
 *
 *   rt_expected want = { index, count, body_size, region_size };   // from the authenticated envelope
 *   rt_partition part;
 *   rt_status s = rt_validate_partition(region, region_size, body_offset, body_size, &want, &part);
 *   if (s == RT_OK) s = rt_run_partition(&part, &counters);
 *
 * Nothing is copied and nothing is allocated: the tables and weights are read where the body lies
 * in the region.  rt_validate_partition checks every field, offset, length, count, dtype, shape and
 * tensor location (overflow-safe) and the shape rule of every op, and prepares every op once: its
 * kernel arguments go to the body's own prepared section (format.h), so that rt_run_partition runs
 * from them without further checks, as often as the partition is run.  Each failure has its own
 * rt_status code.
 */
#ifndef ONNX_TEE_INTERP_H
#define ONNX_TEE_INTERP_H

#include <stddef.h>
#include <stdint.h>

#include "format.h"

typedef enum {
    RT_OK = 0,
    RT_ERR_ARGUMENT = 1,           /* NULL pointer or inconsistent call arguments */
    RT_ERR_BODY_BOUNDS = 2,        /* body_offset + body_size outside the region, or overflow */
    RT_ERR_BODY_ALIGN = 3,         /* body offset or size not a multiple of RT_ALIGN */
    RT_ERR_MAGIC = 4,
    RT_ERR_VERSION = 5,
    RT_ERR_HEADER_SIZE = 6,
    RT_ERR_HEADER_MISMATCH = 7,    /* index/count/body size/region size differ from the envelope's */
    RT_ERR_HEADER_RESERVED = 8,    /* a reserved field is not 0 */
    RT_ERR_SECTION_BOUNDS = 9,     /* a table or the weights lie outside the body or overlap */
    RT_ERR_SECTION_ALIGN = 10,
    RT_ERR_SCRATCH_BOUNDS = 11,    /* scratch outside the region, misaligned or overlapping the body */
    RT_ERR_TENSOR_DTYPE = 12,
    RT_ERR_TENSOR_RANK = 13,
    RT_ERR_TENSOR_DIMS = 14,       /* a zero dim, a dim past the rank not 0, or element count overflow */
    RT_ERR_TENSOR_SIZE = 15,       /* nbytes != product(dims) * element size */
    RT_ERR_TENSOR_LOCATION = 16,   /* unknown location kind */
    RT_ERR_TENSOR_ALIGN = 17,
    RT_ERR_TENSOR_BOUNDS = 18,     /* weight outside the weights section, or region tensor outside the region */
    RT_ERR_TENSOR_OVERLAP = 19,    /* region tensor overlapping the body or the scratch buffer */
    RT_ERR_TENSOR_FLAGS = 20,
    RT_ERR_OP_CODE = 21,           /* unknown or unsupported op code */
    RT_ERR_OP_ARITY = 22,          /* wrong number of inputs or outputs for the op */
    RT_ERR_OP_POOL_BOUNDS = 23,    /* inputs/outputs run past the index pool */
    RT_ERR_OP_TENSOR_INDEX = 24,   /* an index past the tensor table, or a missing required input */
    RT_ERR_OP_WRITES_WEIGHT = 25,  /* an op output located in the (read-only) weights */
    RT_ERR_OP_ATTRIBUTE = 26,      /* an attribute out of its legal range */
    RT_ERR_OP_SHAPE = 27,          /* declared output shape differs from the op's shape rule */
    RT_ERR_OP_RESERVED = 28,       /* a reserved op field or unused attribute is not 0 */
    RT_ERR_SCRATCH_TOO_SMALL = 29, /* an op needs more scratch than the partition provides */
    RT_ERR_NOT_VALIDATED = 30,     /* rt_run_partition on a partition that did not validate */
    RT_ERR_KERNEL = 31,            /* a kernel rejected its (validated) arguments at run time */
    RT_ERR_PREPARED_BOUNDS = 32,   /* the prepared section is not op_count records between the pool and weights */
    RT_ERR_INDEX_RANGE = 33,       /* at run time: an index input (Gather) holds a value outside its table */
    RT_ERR_COUNT
} rt_status;

/* What the authenticated envelope header says; the body's own copy must agree. */
typedef struct {
    uint32_t partition_index;
    uint32_t partition_count;
    uint32_t body_size;
    uint32_t region_size;
} rt_expected;

/* A validated partition: views into the body where it lies in the region. */
typedef struct {
    uint8_t *region;
    size_t region_size;
    size_t body_offset;
    const rt_body_header *header;
    const rt_tensor_desc *tensors;
    const rt_op_desc *ops;
    const uint32_t *pool;
    uint32_t validated; /* RT_BODY_MAGIC once rt_validate_partition succeeded */
} rt_partition;

/* Per-run counters. */
typedef struct {
    uint64_t max_region_end;  /* highest region byte (offset + size) touched: body, tensors, scratch used */
    uint32_t ops_run;         /* ops completed */
    uint32_t failed_op;       /* index of the op that failed, or RT_NO_TENSOR */
} rt_counters;

/* Validate the body at region[body_offset .. body_offset + body_size), prepare its ops (writing the
 * body's prepared section) and fill *out. */
rt_status rt_validate_partition(uint8_t *region, size_t region_size, size_t body_offset, size_t body_size,
                                const rt_expected *expected, rt_partition *out);

/* The same; *failed_op = the index of the op whose check failed, RT_NO_TENSOR when no op's did. */
rt_status rt_validate_partition_ex(uint8_t *region, size_t region_size, size_t body_offset, size_t body_size,
                                   const rt_expected *expected, rt_partition *out, uint32_t *failed_op);

/* Run every op in order from its prepared data.  counters may be NULL; when given they are reset first. */
rt_status rt_run_partition(const rt_partition *part, rt_counters *counters);

/* Look up a model input/output tensor of a validated partition: returns 0 and its absolute region
 * offset and byte size, or -1 when the partition has no such tensor.  `want_flag` is
 * RT_TFLAG_MODEL_INPUT or RT_TFLAG_MODEL_OUTPUT. */
int rt_find_model_tensor(const rt_partition *part, uint32_t want_flag, uint32_t io_index, uint32_t *offset,
                         uint32_t *nbytes);

/* Scratch bytes op `op_index` of a validated partition needs (the C twin of scratch_bytes). */
uint64_t rt_op_scratch_bytes(const rt_partition *part, uint32_t op_index);

/* The ONNX name of an op code ("Conv"; "?" for an unknown code), for logs. */
const char *rt_op_name(uint32_t code);

/* A short constant name for a status code ("RT_ERR_MAGIC"), for logs and tests. */
const char *rt_status_name(rt_status status);

#endif /* ONNX_TEE_INTERP_H */
