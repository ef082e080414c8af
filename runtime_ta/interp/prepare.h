/*
 * prepare.h - op preparation, called by the validator (private to the interpreter).
 */
#ifndef ONNX_TEE_PREPARE_H
#define ONNX_TEE_PREPARE_H

#include "interp.h"

/* Prepare every op of a partition whose header, sections and tensors validated: the generic checks,
 * each op's registration prepare, fusion marks; fills the body's prepared section.  On failure
 * *failed_op is the op's index. */
rt_status rt_prepare_ops(const rt_partition *part, uint32_t *failed_op);

#endif
