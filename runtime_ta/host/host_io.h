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

/* Prints "output K: v0 v1 ..." to stdout: the values of a float32 output (dtype 1, as the manifest
 * gives it), only the label for any other dtype. */
void ot_print_output(uint32_t k, uint32_t dtype, const uint8_t *data, size_t nbytes);

#endif
