/*
 * libFuzzer harness over the TA: blob loading (envelope, chunking, decryption, digest, manifest
 * binding), body validation and interpretation, through the TA's own entry points on the simulator.
 *
 * Input, first byte = mode:
 *   mode 0, "body": struct body_case, then a partition body.  The harness seals the body with the
 *     fuzzing key exactly as `lower` would (AES-256-GCM blob + authenticated manifest listing its
 *     SHA-256), so every mutation of the body reaches the validator and, if accepted, the interpreter.
 *     The region size is the body header's own (256 KiB when that is not in 64 B..2 MiB); offsets
 *     are taken modulo it.
 *   mode 1, "envelope": uint16 manifest length, the manifest, then the blob, all raw: the
 *     unauthenticated parsing of manifests, blob headers and chunk streams.
 *   In mode 0 the model inputs and outputs the body declares become manifest slots: the harness
 *   writes the inputs, runs, and reads every output whole and as its top-k (k = body_case.top_k).
 * The seed corpus (corpus/) holds real lowered partitions (make_corpus.py).  Build and run:
 *   make -C runtime_ta/sim fuzz FUZZ_SECONDS=60
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include <tee_internal_api.h>

#include "format.h"
#include "onnx_tee_ta.h"
#include "sim.h"

#define MAX_REGION (2u << 20)
#define MAX_BODY (2u << 20)
#define FALLBACK_REGION (256u << 10)

struct body_case {
	uint8_t mode;          /* 0 */
	uint8_t chunk_log2;    /* chunk = 64 << (chunk_log2 % 11) */
	uint16_t top_k;
	uint32_t body_offset;
	uint32_t staging_offset;
};

static const uint8_t fuzz_key[OT_KEY_BYTES] = "onnx-tee fuzzing key, not secret";

static TEE_Result invoke(void *session, uint32_t cmd, uint32_t types, TEE_Param params[4])
{
	return TA_InvokeCommandEntryPoint(session, cmd, types, params);
}

static void gcm_seal(const uint8_t nonce[OT_NONCE_BYTES], const void *aad, size_t aad_len, const uint8_t *in,
		     size_t len, uint8_t *out, uint8_t tag[OT_TAG_BYTES])
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0;

	if (!ctx || EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, fuzz_key, nonce) != 1 ||
	    EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1 ||
	    (len && EVP_EncryptUpdate(ctx, out, &n, in, (int)len) != 1) || EVP_EncryptFinal_ex(ctx, out, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, OT_TAG_BYTES, tag) != 1)
		abort();
	EVP_CIPHER_CTX_free(ctx);
}

#define MAX_SLOTS 8

/* The model inputs (flag RT_TFLAG_MODEL_INPUT) or outputs a body declares, as manifest slots. */
static uint32_t body_slots(const uint8_t *body, size_t len, uint32_t flag, uint64_t region,
			   struct ot_manifest_tensor *slots)
{
	rt_body_header h;
	uint32_t n = 0, i, d;

	if (len < sizeof(h))
		return 0;
	memcpy(&h, body, sizeof(h));
	for (i = 0; i < h.tensor_count && n < MAX_SLOTS; i++) {
		rt_tensor_desc t;
		uint64_t at = (uint64_t)h.tensor_table_offset + (uint64_t)i * sizeof(t);

		if (at + sizeof(t) > len)
			break;
		memcpy(&t, body + at, sizeof(t));
		if (!(t.flags & flag) || t.location != RT_LOC_REGION || t.nbytes == 0 || t.offset > region ||
		    t.nbytes > region - t.offset || t.rank > RT_MAX_RANK)
			continue;
		memset(&slots[n], 0, sizeof(slots[n]));
		slots[n].offset = t.offset;
		slots[n].nbytes = t.nbytes;
		slots[n].dtype = t.dtype;
		slots[n].rank = t.rank;
		for (d = 0; d < t.rank; d++)
			slots[n].dims[d] = t.dims[d];
		n++;
	}
	return n;
}

/* Open a session, hand over manifest and blob (in chunks), write inputs, run, read outputs, close. */
static void drive(const uint8_t *manifest, size_t manifest_len, const uint8_t *blob, size_t blob_len, size_t chunk,
		  uint32_t top_k)
{
	static uint8_t io[MAX_REGION];
	struct ot_manifest_header mh;
	struct ot_manifest_tensor slots[2 * MAX_SLOTS];
	uint32_t inputs = 0, outputs = 0, i;
	void *session = NULL;
	TEE_Param p[4];
	size_t offset = 0;

	/* the slots as the manifest lists them (copied: raw fuzz input is not aligned) */
	if (manifest_len >= sizeof(mh)) {
		memcpy(&mh, manifest, sizeof(mh));
		if (mh.partition_count == 1 && mh.input_count <= MAX_SLOTS && mh.output_count <= MAX_SLOTS &&
		    manifest_len >= sizeof(mh) + sizeof(struct ot_manifest_partition) +
				    (size_t)(mh.input_count + mh.output_count) * sizeof(slots[0])) {
			inputs = mh.input_count;
			outputs = mh.output_count;
			memcpy(slots, manifest + sizeof(mh) + sizeof(struct ot_manifest_partition),
			       (inputs + outputs) * sizeof(slots[0]));
		}
	}

	if (TA_OpenSessionEntryPoint(0, p, &session) != TEE_SUCCESS)
		abort();
	memset(p, 0, sizeof(p));
	p[0].memref.buffer = (void *)manifest;
	p[0].memref.size = manifest_len;
	p[1].value.a = OT_KEY_PROVISIONED;
	if (invoke(session, OT_CMD_OPEN_MODEL, TEE_PARAM_TYPES(5, 1, 0, 0), p) == TEE_SUCCESS) {
		TEE_Result res = TEE_SUCCESS;

		for (i = 0; i < inputs; i++) {
			memset(p, 0, sizeof(p));
			p[0].memref.buffer = io;
			p[0].memref.size = slots[i].nbytes <= sizeof(io) ? (size_t)slots[i].nbytes : sizeof(io);
			memcpy(io, blob, p[0].memref.size < blob_len ? p[0].memref.size : blob_len);
			p[1].value.a = i;
			invoke(session, OT_CMD_WRITE_INPUT, TEE_PARAM_TYPES(5, 1, 0, 0), p);
		}

		while (offset < blob_len && res == TEE_SUCCESS) {
			size_t n = blob_len - offset < chunk ? blob_len - offset : chunk;

			memset(p, 0, sizeof(p));
			p[0].memref.buffer = (void *)(blob + offset);
			p[0].memref.size = n;
			p[1].value.a = 0;
			p[1].value.b = (uint32_t)offset;
			res = invoke(session, OT_CMD_LOAD_CHUNK, TEE_PARAM_TYPES(5, 1, 2, 0), p);
			offset += n;
		}
		memset(p, 0, sizeof(p));
		invoke(session, OT_CMD_RUN, TEE_PARAM_TYPES(1, 2, 2, 0), p);
		for (i = 0; i < outputs; i++) {
			uint32_t k;

			for (k = 0; k <= 1; k++) {
				memset(p, 0, sizeof(p));
				p[0].memref.buffer = io;
				p[0].memref.size = sizeof(io);
				p[1].value.a = i;
				p[1].value.b = k ? top_k : 0;
				invoke(session, OT_CMD_READ_OUTPUT, TEE_PARAM_TYPES(6, 1, 0, 0), p);
			}
		}
	}
	TA_CloseSessionEntryPoint(session);
}

static uint32_t read_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void fuzz_body(const uint8_t *data, size_t size)
{
	struct body_case c;
	const uint8_t *body = data + sizeof(c);
	size_t body_len = size - sizeof(c);
	size_t chunk, manifest_len, blob_len;
	uint64_t region;
	struct ot_manifest_header *mh;
	struct ot_manifest_partition *mp;
	struct ot_blob_header *bh;
	struct ot_manifest_tensor slots[2 * MAX_SLOTS];
	uint32_t n_in, n_out;
	uint8_t *manifest, *blob;

	memcpy(&c, data, sizeof(c));
	if (body_len == 0 || body_len > MAX_BODY)
		return;
	region = body_len >= 52 ? read_u32(body + 48) : 0;   /* rt_body_header.region_size */
	region = (region + 63) & ~63ull;
	if (region < 64 || region > MAX_REGION)
		region = FALLBACK_REGION;
	chunk = (size_t)64 << (c.chunk_log2 % 11);
	if (chunk > region)
		chunk = (size_t)region;

	n_in = body_slots(body, body_len, RT_TFLAG_MODEL_INPUT, region, slots);
	n_out = body_slots(body, body_len, RT_TFLAG_MODEL_OUTPUT, region, slots + n_in);
	blob_len = sizeof(*bh) + body_len + OT_TAG_BYTES;
	blob = calloc(1, blob_len);
	manifest_len = sizeof(*mh) + sizeof(*mp) + (n_in + n_out) * sizeof(slots[0]) + OT_TAG_BYTES;
	manifest = calloc(1, manifest_len);
	if (!blob || !manifest)
		abort();
	bh = (struct ot_blob_header *)(void *)blob;
	memcpy(bh->magic, OT_BLOB_MAGIC, 8);
	bh->envelope_version = OT_ENVELOPE_VERSION;
	bh->format_version = 1;
	memcpy(bh->model_id, "fuzzing model id", OT_MODEL_ID_BYTES);
	bh->model_version = 1;
	bh->partition_index = 0;
	bh->partition_count = 1;
	bh->body_bytes = body_len;
	bh->region_bytes = region;
	memcpy(bh->nonce, "blob nonce 0", OT_NONCE_BYTES);
	gcm_seal(bh->nonce, bh, sizeof(*bh), body, body_len, blob + sizeof(*bh), blob + sizeof(*bh) + body_len);

	mh = (struct ot_manifest_header *)(void *)manifest;
	mp = (struct ot_manifest_partition *)(void *)(manifest + sizeof(*mh));
	memcpy(mh->magic, OT_MANIFEST_MAGIC, 8);
	mh->envelope_version = OT_ENVELOPE_VERSION;
	mh->format_version = 1;
	memcpy(mh->model_id, bh->model_id, OT_MODEL_ID_BYTES);
	mh->model_version = 1;
	mh->partition_count = 1;
	mh->input_count = n_in;
	mh->output_count = n_out;
	mh->chunk_bytes = (uint32_t)chunk;
	mh->region_bytes = region;
	memcpy(mh->nonce, "manifest non", OT_NONCE_BYTES);
	mp->blob_bytes = blob_len;
	mp->body_bytes = body_len;
	mp->body_offset = (c.body_offset % region) & ~63ull;
	mp->staging_offset = (c.staging_offset % region) & ~63ull;
	mp->planned_bytes = region;
	if (EVP_Digest(blob, blob_len, mp->sha256, NULL, EVP_sha256(), NULL) != 1)
		abort();
	memcpy(manifest + sizeof(*mh) + sizeof(*mp), slots, (n_in + n_out) * sizeof(slots[0]));
	gcm_seal(mh->nonce, manifest, manifest_len - OT_TAG_BYTES, NULL, 0, NULL,
		 manifest + manifest_len - OT_TAG_BYTES);

	drive(manifest, manifest_len, blob, blob_len, chunk, c.top_k);
	free(blob);
	free(manifest);
}

static void fuzz_envelope(const uint8_t *data, size_t size)
{
	size_t manifest_len;

	if (size < 3)
		return;
	manifest_len = (size_t)data[1] | (size_t)data[2] << 8;
	if (manifest_len > size - 3)
		manifest_len = size - 3;
	drive(data + 3, manifest_len, data + 3 + manifest_len, size - 3 - manifest_len, 4096, 5);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char dir[] = "/tmp/onnx-tee-fuzz-XXXXXX";
	void *session = NULL;
	TEE_Param p[4];

	(void)argc;
	(void)argv;
	if (!mkdtemp(dir) || ot_sim_set_storage(dir) != 0)
		abort();
	ot_sim_set_heap_cap(MAX_REGION + OT_HEAP_RESERVE);
	if (TA_CreateEntryPoint() != TEE_SUCCESS || TA_OpenSessionEntryPoint(0, p, &session) != TEE_SUCCESS)
		abort();
	memset(p, 0, sizeof(p));
	p[0].memref.buffer = (void *)fuzz_key;
	p[0].memref.size = sizeof(fuzz_key);
	if (invoke(session, OT_CMD_PROVISION_KEY, TEE_PARAM_TYPES(5, 0, 0, 0), p) != TEE_SUCCESS)
		abort();
	TA_CloseSessionEntryPoint(session);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < sizeof(struct body_case))
		return 0;
	if (data[0] == 0)
		fuzz_body(data, size);
	else if (data[0] == 1)
		fuzz_envelope(data, size);
	return 0;
}
