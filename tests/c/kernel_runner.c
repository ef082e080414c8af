/*
 * kernel_runner.c - the kernels as a small RPC server, for running them on another ISA (AArch64 under
 * qemu-aarch64 user mode) from the Python test harness (tests/aarch64_harness.py).
 *
 * Requests on stdin, replies on stdout, all little-endian:
 *   request  u32 magic 'KRPC', u32 function, u32 nbuf, nbuf x (u64 size, size bytes),
 *            u32 narg, narg x (u8 kind, payload)
 *              kind 0 NULL pointer | 1 buffer: u32 index, u64 offset | 2 integer: u64 | 3 float32: 4 bytes
 *              kind 4 a pointer the caller cannot size: points into a PROT_NONE page, so any access
 *              crashes the runner (the test fails) - kernels must not touch such buffers
 *   reply    u32 magic, i64 return value, u32 guards (number of buffers whose guard bytes changed),
 *            then every buffer's bytes after the call
 * Every buffer sits between guard zones of GUARD bytes; a kernel writing outside the bytes it was given
 * shows in `guards`.  The dispatch switch (kernel_dispatch.h) is generated from the harness's signature
 * table, so the runner calls every kernel with its real C prototype.
 */
#define _DEFAULT_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "kernels.h"

#define MAGIC 0x4350524Bu
#define GUARD 256u
#define GUARD_BYTE 0xA5u
#define MAX_ARGS 20u /* kern_dqlstm takes 18 */
#define MAX_BUFS 64u

struct rpc_arg {
	void *p;
	uint64_t u;
	int64_t i;
	float f;
};

/* tests/c/kernel_shim.c */
void shim_expf(const float *x, float *y, size_t n);
void shim_logf(const float *x, float *y, size_t n);
void shim_sqrtf(const float *x, float *y, size_t n);
void shim_tanhf(const float *x, float *y, size_t n);
void shim_sigmoidf(const float *x, float *y, size_t n);
void shim_powf_pos(const float *x, const float *p, float *y, size_t n);
void shim_sinf(const float *x, float *y, size_t n);
void shim_cosf(const float *x, float *y, size_t n);
void shim_tanf(const float *x, float *y, size_t n);
void shim_asinf(const float *x, float *y, size_t n);
void shim_acosf(const float *x, float *y, size_t n);
void shim_atanf(const float *x, float *y, size_t n);
void shim_sinhf(const float *x, float *y, size_t n);
void shim_coshf(const float *x, float *y, size_t n);
void shim_asinhf(const float *x, float *y, size_t n);
void shim_acoshf(const float *x, float *y, size_t n);
void shim_atanhf(const float *x, float *y, size_t n);

#include "kernel_dispatch.h"   /* static int dispatch(uint32_t fn, const struct rpc_arg *a, int64_t *ret) */

static int read_exact(void *p, size_t n)
{
	return n == 0 || fread(p, 1, n, stdin) == n ? 0 : -1;
}

static int write_exact(const void *p, size_t n)
{
	return n == 0 || fwrite(p, 1, n, stdout) == n ? 0 : -1;
}

static void die(const char *what)
{
	fprintf(stderr, "kernel_runner: %s\n", what);
	exit(2);
}

int main(void)
{
	uint8_t *bufs[MAX_BUFS];
	uint64_t sizes[MAX_BUFS];
	struct rpc_arg args[MAX_ARGS];
	uint8_t *poison;
	uint32_t header[3], narg, i, j;

	poison = mmap(NULL, 65536, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (poison == MAP_FAILED)
		die("mmap");
	for (;;) {
		uint32_t magic = MAGIC, guards = 0;
		int64_t ret = 0;

		if (read_exact(header, sizeof(header)) != 0)
			return 0;   /* the harness closed the pipe */
		if (header[0] != MAGIC || header[2] > MAX_BUFS)
			die("bad request");
		for (i = 0; i < header[2]; i++) {
			if (read_exact(&sizes[i], 8) != 0)
				die("short request");
			/* 64-byte aligned payload between two guard zones */
			if (posix_memalign((void **)&bufs[i], 64, (size_t)sizes[i] + 2 * GUARD) != 0)
				die("out of memory");
			memset(bufs[i], GUARD_BYTE, (size_t)sizes[i] + 2 * GUARD);
			if (read_exact(bufs[i] + GUARD, (size_t)sizes[i]) != 0)
				die("short request");
		}
		if (read_exact(&narg, 4) != 0 || narg > MAX_ARGS)
			die("bad request");
		memset(args, 0, sizeof(args));
		for (j = 0; j < narg; j++) {
			uint8_t kind;
			uint32_t index;
			uint64_t value;

			if (read_exact(&kind, 1) != 0)
				die("short request");
			switch (kind) {
			case 0:
				break;
			case 1:
				if (read_exact(&index, 4) != 0 || read_exact(&value, 8) != 0 || index >= header[2] ||
				    value > sizes[index])
					die("bad buffer argument");
				args[j].p = bufs[index] + GUARD + value;
				break;
			case 2:
				if (read_exact(&value, 8) != 0)
					die("short request");
				args[j].u = value;
				args[j].i = (int64_t)value;
				break;
			case 3:
				if (read_exact(&args[j].f, 4) != 0)
					die("short request");
				break;
			case 4:
				args[j].p = poison + 32768;
				break;
			default:
				die("bad argument kind");
			}
		}
		if (dispatch(header[1], args, &ret) != 0)
			die("unknown function");
		for (i = 0; i < header[2]; i++) {
			const uint8_t *b = bufs[i];
			size_t k, end = (size_t)sizes[i] + GUARD;

			for (k = 0; k < GUARD; k++) {
				if (b[k] != GUARD_BYTE || b[end + k] != GUARD_BYTE) {
					guards++;
					break;
				}
			}
		}
		if (write_exact(&magic, 4) || write_exact(&ret, 8) || write_exact(&guards, 4))
			die("write");
		for (i = 0; i < header[2]; i++) {
			if (write_exact(bufs[i] + GUARD, (size_t)sizes[i]))
				die("write");
			free(bufs[i]);
		}
		fflush(stdout);
	}
}
