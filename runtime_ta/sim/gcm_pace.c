/*
 * The machine's AES-256-GCM pace, the yardstick of the load path (benchmarks report load throughput
 * as a fraction of it, measured in the same run).
 *
 * ot_sim_gcm_decrypt_ns(bytes, chunk_bytes) decrypts `bytes` bytes with OpenSSL EVP AES-256-GCM --
 * the library behind the GP shim's TEE_AE* calls -- in pieces of `chunk_bytes`, in place over one
 * buffer of `chunk_bytes` (so it stays in the cache, like `openssl speed -evp aes-256-gcm`): the
 * cipher alone, without the load path's copy out of shared memory, its writes to the region or its
 * validation.  Writes the elapsed wall (CLOCK_MONOTONIC) and thread CPU (CLOCK_THREAD_CPUTIME_ID)
 * nanoseconds; returns 0, or -1 when it could not run.
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "sim.h"

static uint64_t now_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int ot_sim_gcm_decrypt_ns(size_t bytes, size_t chunk_bytes, uint64_t *wall_ns, uint64_t *cpu_ns)
{
	static const unsigned char key[32] = {1}, nonce[12] = {2};
	EVP_CIPHER_CTX *ctx;
	unsigned char *buffer;
	uint64_t wall0, cpu0;
	size_t done = 0;
	int ok, produced;

	if (bytes == 0 || chunk_bytes == 0 || chunk_bytes > INT_MAX)
		return -1;
	buffer = calloc(1, chunk_bytes);
	ctx = EVP_CIPHER_CTX_new();
	ok = buffer != NULL && ctx != NULL && EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce) == 1;
	wall0 = now_ns(CLOCK_MONOTONIC);
	cpu0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
	while (ok && done < bytes) {
		size_t piece = bytes - done < chunk_bytes ? bytes - done : chunk_bytes;

		ok = EVP_DecryptUpdate(ctx, buffer, &produced, buffer, (int)piece) == 1 && (size_t)produced == piece;
		done += piece;
	}
	*cpu_ns = now_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0;
	*wall_ns = now_ns(CLOCK_MONOTONIC) - wall0;
	EVP_CIPHER_CTX_free(ctx);
	free(buffer);
	return ok ? 0 : -1;
}
