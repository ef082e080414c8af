/* Files and printed outputs of the normal-world tools (the client and the test tools). */
#ifndef ONNX_TEE_HOST_IO_H
#define ONNX_TEE_HOST_IO_H

#include <stddef.h>
#include <stdint.h>

/* The whole file at `path` in a malloc'ed buffer (at least one byte, so an empty file is not NULL),
 * its length in *size; NULL when it cannot be opened or read (errno tells why). */
uint8_t *ot_read_file(const char *path, size_t *size);

/* Writes `size` bytes to `path` (created or truncated); 0 on success, -1 otherwise. */
int ot_write_file(const char *path, const void *data, size_t size);

/* ONNX element types of model inputs and outputs (the device manifest's `dtype`): float32 crosses as
 * it is; int32, int64 and bool are held as int32 in the TA (4 bytes an element). */
#define OT_ONNX_FLOAT 1u
#define OT_ONNX_INT32 6u
#define OT_ONNX_INT64 7u
#define OT_ONNX_BOOL 9u

/* Prints "output K: v0 v1 ..." to stdout: the values of an output as the TA holds it (`nbytes` bytes
 * of float32, or of int32 for the int32, int64 and bool types; bools printed 0/1), only the label
 * for any other dtype. */
void ot_print_output(uint32_t k, uint32_t dtype, const uint8_t *data, size_t nbytes);

#endif
