/*
 * Properties of the onnx-tee TA.  TA_DATA_SIZE (the TA heap, a .bss array in OP-TEE) is the memory
 * budget the models were lowered for plus a reserve for the session state, the manifest copy and
 * the crypto handles.  Set the budget at build time: make ... BUDGET=<bytes> (the Makefile passes it
 * as CFG_ONNX_TEE_BUDGET).
 */
#ifndef USER_TA_HEADER_DEFINES_H
#define USER_TA_HEADER_DEFINES_H

#include "onnx_tee_ta.h"

#ifndef CFG_ONNX_TEE_BUDGET
#define CFG_ONNX_TEE_BUDGET (8u * 1024u * 1024u)
#endif

#define TA_UUID          TA_ONNX_TEE_UUID
/* One instance, one session at a time: the heap holds one planned region. */
#define TA_FLAGS         TA_FLAG_SINGLE_INSTANCE
#define TA_STACK_SIZE    (16 * 1024)
#define TA_DATA_SIZE     (CFG_ONNX_TEE_BUDGET + OT_HEAP_RESERVE)

#define TA_VERSION       "0.1"
#define TA_DESCRIPTION   "onnx-tee: runs partitioned ONNX models inside the TEE"

#endif /* USER_TA_HEADER_DEFINES_H */
