/* Files and printed outputs of the normal-world tools (see host_io.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host_io.h"

uint8_t *ot_read_file(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data = NULL;
	long len;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		data = malloc(len ? (size_t)len : 1);
		if (data && fread(data, 1, (size_t)len, f) == (size_t)len) {
			*size = (size_t)len;
		} else {
			free(data);
			data = NULL;
		}
	}
	fclose(f);
	return data;
}

int ot_write_file(const char *path, const void *data, size_t size)
{
	FILE *f = fopen(path, "wb");
	int ok = f && fwrite(data, 1, size, f) == size;

	if (f)
		ok = (fclose(f) == 0) && ok;
	return ok ? 0 : -1;
}

void ot_print_output(uint32_t k, uint32_t dtype, const uint8_t *data, size_t nbytes)
{
	size_t i;

	printf("output %u:", k);
	for (i = 0; i < nbytes / 4; i++) {
		if (dtype == OT_ONNX_FLOAT) {
			float v;

			memcpy(&v, data + 4 * i, 4);
			printf(" %.9g", v);
		} else if (dtype == OT_ONNX_INT32 || dtype == OT_ONNX_INT64 || dtype == OT_ONNX_BOOL) {
			int32_t v;

			memcpy(&v, data + 4 * i, 4);
			printf(" %ld", dtype == OT_ONNX_BOOL ? (long)(v != 0) : (long)v);
		}
	}
	printf("\n");
}
