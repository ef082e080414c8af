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
 *   mode 2, "plan": struct plan_case, (n_in + n_out) x {u32 offset, u32 nbytes} manifest slots chosen
 *     independently of the body, (plan_case.kept >> 2) x {u8 input, u8 output} state pairs, a command
 *     script of script_len bytes, then a partition body.  The
 *     harness seals body and manifest (authentic: the plan check and everything after it is reached)
 *     and runs the script: each byte is a command (low 3 bits) and its argument (high 5 bits):
 *     write input, load the blob, run, read output (whole or top-k), open an I/O session, write a
 *     correctly sealed input (or a replayed one), read a sealed output, reopen the model; a run
 *     command whose argument has bit 1 set is a whole OT_CMD_INFER instead (every non-state input from
 *     the blob's bytes, input or output buffer of the right size or not).  plan_case.kept marks the
 *     partition pinned (stream session) and gives recurrent state pairs {u8 input, u8 output} that
 *     follow the slots.  So slots over bodies and staging, commands in any order, repeated reads,
 *     sealed sessions, resident bodies across inferences and states carried by INFER are explored.
 * The seed corpus (corpus/) holds real lowered partitions (make_corpus.py).  Build and run:
 *   make -C runtime_ta/sim fuzz FUZZ_SECONDS=60
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <tee_internal_api.h>

#include "format.h"
#include "onnx_tee_ta.h"
#include "sim.h"

#define MAX_REGION (2u << 20)
#define MAX_BODY (2u << 20)
#define FALLBACK_REGION (256u << 10)

struct body_case {
	uint8_t mode;          /* 0 */
	uint8_t chunk_log2;    /* staging = 64 << (chunk_log2 % 11), chunk sent = 64 << (chunk_log2 / 11 % 16) */
	uint16_t top_k;
	uint32_t body_offset;
	uint32_t staging_offset;
};

struct plan_case {
	uint8_t mode;          /* 2 */
	uint8_t chunk_log2;
	uint8_t n_in;          /* % (MAX_SLOTS + 1) */
	uint8_t n_out;         /* % (MAX_SLOTS + 1) */
	uint32_t body_offset;
	uint32_t staging_offset;
	uint16_t top_k;
	uint8_t script_len;
	uint8_t kept;          /* bit 0: partition flags |= OT_PART_PINNED, bit 1: an unknown flag;
				  kept >> 2 (% (MAX_SLOTS + 1)): state pairs, 2 bytes each after the slots */
};

static const uint8_t fuzz_key[OT_KEY_BYTES] = "onnx-tee fuzzing key, not secret";

static TEE_Result invoke(void *session, uint32_t cmd, uint32_t types, TEE_Param params[4])
{
	return TA_InvokeCommandEntryPoint(session, cmd, types, params);
}

static void gcm_seal(const uint8_t *key, const uint8_t nonce[OT_NONCE_BYTES], const void *aad, size_t aad_len,
		     const uint8_t *in, size_t len, uint8_t *out, uint8_t tag[OT_TAG_BYTES])
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0;

	if (!ctx || EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce) != 1 ||
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

/* The region a body asks for (its header's region_size), or FALLBACK_REGION when out of range. */
static uint64_t body_region(const uint8_t *body, size_t body_len)
{
	uint64_t region = body_len >= 52 ? read_u32(body + 48) : 0;   /* rt_body_header.region_size */

	region = (region + 63) & ~63ull;
	return region < 64 || region > MAX_REGION ? FALLBACK_REGION : region;
}

/* Seal `body` as partition 0 of 1 (blob, partition `flags`) and a manifest listing it with `slots` and
 * `states`, both authentic under the fuzzing key, exactly as `lower` would.  The caller frees *manifest
 * and *blob. */
static void seal_case(const uint8_t *body, size_t body_len, uint64_t region, size_t staging, uint32_t body_offset,
		      uint32_t staging_offset, const struct ot_manifest_tensor *slots, uint32_t n_in, uint32_t n_out,
		      uint32_t flags, const struct ot_manifest_state *states, uint32_t n_state, uint8_t **manifest_out,
		      size_t *manifest_len_out, uint8_t **blob_out, size_t *blob_len_out)
{
	struct ot_manifest_header *mh;
	struct ot_manifest_partition *mp;
	struct ot_blob_header *bh;
	size_t blob_len = sizeof(*bh) + body_len + OT_TAG_BYTES;
	size_t slots_len = (n_in + n_out) * sizeof(slots[0]);
	size_t manifest_len = sizeof(*mh) + sizeof(*mp) + slots_len + n_state * sizeof(states[0]) + OT_TAG_BYTES;
	uint8_t *blob = calloc(1, blob_len), *manifest = calloc(1, manifest_len);

	if (!blob || !manifest)
		abort();
	bh = (struct ot_blob_header *)(void *)blob;
	memcpy(bh->magic, OT_BLOB_MAGIC, 8);
	bh->envelope_version = OT_ENVELOPE_VERSION;
	bh->format_version = RT_FORMAT_VERSION;
	memcpy(bh->model_id, "fuzzing model id", OT_MODEL_ID_BYTES);
	bh->model_version = 1;
	bh->partition_index = 0;
	bh->partition_count = 1;
	bh->body_bytes = body_len;
	bh->region_bytes = region;
	memcpy(bh->nonce, "blob nonce 0", OT_NONCE_BYTES);
	gcm_seal(fuzz_key, bh->nonce, bh, sizeof(*bh), body, body_len, blob + sizeof(*bh), blob + sizeof(*bh) + body_len);

	mh = (struct ot_manifest_header *)(void *)manifest;
	mp = (struct ot_manifest_partition *)(void *)(manifest + sizeof(*mh));
	memcpy(mh->magic, OT_MANIFEST_MAGIC, 8);
	mh->envelope_version = OT_ENVELOPE_VERSION;
	mh->format_version = RT_FORMAT_VERSION;
	memcpy(mh->model_id, bh->model_id, OT_MODEL_ID_BYTES);
	mh->model_version = 1;
	mh->partition_count = 1;
	mh->input_count = n_in;
	mh->output_count = n_out;
	mh->state_count = n_state;
	mh->staging_bytes = (uint32_t)staging;
	mh->region_bytes = region;
	memcpy(mh->nonce, "manifest non", OT_NONCE_BYTES);
	mp->blob_bytes = blob_len;
	mp->body_bytes = body_len;
	mp->body_offset = (body_offset % region) & ~63ull;
	mp->staging_offset = (staging_offset % region) & ~63ull;
	mp->planned_bytes = region;
	memcpy(mp->blob_tag, blob + blob_len - OT_TAG_BYTES, OT_TAG_BYTES);
	mp->flags = flags;
	memcpy(manifest + sizeof(*mh) + sizeof(*mp), slots, slots_len);
	if (n_state)
		memcpy(manifest + sizeof(*mh) + sizeof(*mp) + slots_len, states, n_state * sizeof(states[0]));
	gcm_seal(fuzz_key, mh->nonce, manifest, manifest_len - OT_TAG_BYTES, NULL, 0, NULL,
		 manifest + manifest_len - OT_TAG_BYTES);
	*manifest_out = manifest;
	*manifest_len_out = manifest_len;
	*blob_out = blob;
	*blob_len_out = blob_len;
}

static void fuzz_body(const uint8_t *data, size_t size)
{
	struct body_case c;
	const uint8_t *body = data + sizeof(c);
	size_t body_len = size - sizeof(c);
	size_t staging, chunk, manifest_len, blob_len;
	uint64_t region;
	struct ot_manifest_tensor slots[2 * MAX_SLOTS];
	uint32_t n_in, n_out;
	uint8_t *manifest, *blob;

	memcpy(&c, data, sizeof(c));
	if (body_len == 0 || body_len > MAX_BODY)
		return;
	region = body_region(body, body_len);
	staging = (size_t)64 << (c.chunk_log2 % 11);
	if (staging > region)
		staging = (size_t)region;
	chunk = (size_t)64 << (c.chunk_log2 / 11 % 16);   /* shorter or longer than the staging buffer */
	n_in = body_slots(body, body_len, RT_TFLAG_MODEL_INPUT, region, slots);
	n_out = body_slots(body, body_len, RT_TFLAG_MODEL_OUTPUT, region, slots + n_in);
	seal_case(body, body_len, region, staging, c.body_offset, c.staging_offset, slots, n_in, n_out, 0, NULL, 0,
		  &manifest, &manifest_len, &blob, &blob_len);
	drive(manifest, manifest_len, blob, blob_len, chunk, c.top_k);
	free(blob);
	free(manifest);
}

/* ---- mode 2: independent slots and a command script, sealed I/O included --------------------- */

struct io_state {
	int open;
	uint8_t nonce[OT_IO_SESSION_NONCE_BYTES];
	uint8_t key[OT_KEY_BYTES];
	uint64_t counter;
};

static void io_derive(struct io_state *io)
{
	uint8_t info[sizeof(OT_IO_LABEL) - 1 + OT_IO_SESSION_NONCE_BYTES + 1];
	unsigned int len = 0;

	memcpy(info, OT_IO_LABEL, sizeof(OT_IO_LABEL) - 1);
	memcpy(info + sizeof(OT_IO_LABEL) - 1, io->nonce, OT_IO_SESSION_NONCE_BYTES);
	info[sizeof(info) - 1] = 1;
	if (!HMAC(EVP_sha256(), fuzz_key, OT_KEY_BYTES, info, sizeof(info), io->key, &len) || len != OT_KEY_BYTES)
		abort();
}

/* A sealed input message for `index` of nbytes (plaintext from `src`), counter as given. */
static size_t io_seal(const struct io_state *io, uint32_t index, uint64_t counter, const uint8_t *src, size_t nbytes,
		      uint8_t *msg)
{
	struct ot_io_aad aad;
	uint8_t nonce[OT_NONCE_BYTES] = "input nonce";

	memset(&aad, 0, sizeof(aad));
	memcpy(aad.session_nonce, io->nonce, sizeof(aad.session_nonce));
	aad.direction = OT_IO_INPUT;
	aad.index = index;
	aad.counter = counter;
	aad.nbytes = nbytes;
	memcpy(msg, &counter, 8);
	memcpy(msg + 8, nonce, OT_NONCE_BYTES);
	gcm_seal(io->key, nonce, &aad, sizeof(aad), src, nbytes, msg + 8 + OT_NONCE_BYTES,
		 msg + 8 + OT_NONCE_BYTES + nbytes);
	return OT_IO_OVERHEAD + nbytes;
}

/* Bit i: model input (outputs = 0) or output (outputs = 1) i is one of the `states`. */
static uint32_t state_bits(const struct ot_manifest_state *states, uint32_t n_state, int outputs)
{
	uint32_t bits = 0, i;

	for (i = 0; i < n_state; i++)
		bits |= 1u << ((outputs ? states[i].output : states[i].input) % 32);
	return bits;
}

/* Bytes of the slots [first, first + n) not in `skip`, each capped at MAX_REGION, the sum too. */
static size_t plain_bytes(const struct ot_manifest_tensor *slots, uint32_t first, uint32_t n, uint32_t skip)
{
	uint64_t total = 0;
	uint32_t i;

	for (i = 0; i < n; i++)
		if (!(skip & (1u << i)))
			total += slots[first + i].nbytes < MAX_REGION ? slots[first + i].nbytes : MAX_REGION;
	return total < MAX_REGION ? (size_t)total : MAX_REGION;
}

/* OT_CMD_INFER with every non-state input made of the blob's bytes and room for the non-state outputs
 * and the one partition's figure; arg bit 2: an input one byte short, bit 3: an output buffer one byte
 * short. */
static void infer(void *session, const uint8_t *blob, size_t blob_len, const struct ot_manifest_tensor *slots,
		  uint32_t n_in, uint32_t n_out, const struct ot_manifest_state *states, uint32_t n_state,
		  uint32_t arg)
{
	static uint8_t in[MAX_REGION], out[MAX_REGION + sizeof(uint32_t)];
	size_t in_bytes = plain_bytes(slots, 0, n_in, state_bits(states, n_state, 0));
	size_t out_bytes = plain_bytes(slots, n_in, n_out, state_bits(states, n_state, 1)) + sizeof(uint32_t);
	TEE_Param p[4];

	memset(in, 0, in_bytes);
	memcpy(in, blob, in_bytes < blob_len ? in_bytes : blob_len);
	memset(p, 0, sizeof(p));
	p[0].memref.buffer = in;
	p[0].memref.size = (arg & 4) && in_bytes ? in_bytes - 1 : in_bytes;
	p[1].memref.buffer = out;
	p[1].memref.size = (arg & 8) && out_bytes ? out_bytes - 1 : out_bytes;
	invoke(session, OT_CMD_INFER, TEE_PARAM_TYPES(5, 6, 2, 2), p);
}

static void run_script(const uint8_t *manifest, size_t manifest_len, const uint8_t *blob, size_t blob_len,
		       size_t chunk, const struct ot_manifest_tensor *slots, uint32_t n_in, uint32_t n_out,
		       const struct ot_manifest_state *states, uint32_t n_state, const uint8_t *script,
		       size_t script_len, uint32_t top_k)
{
	static uint8_t io_buf[MAX_REGION + OT_IO_OVERHEAD];
	struct io_state io;
	void *session = NULL;
	TEE_Param p[4];
	size_t step, offset, n;

	memset(&io, 0, sizeof(io));
	if (TA_OpenSessionEntryPoint(0, p, &session) != TEE_SUCCESS)
		abort();
	memset(p, 0, sizeof(p));
	p[0].memref.buffer = (void *)manifest;
	p[0].memref.size = manifest_len;
	p[1].value.a = OT_KEY_PROVISIONED;
	if (invoke(session, OT_CMD_OPEN_MODEL, TEE_PARAM_TYPES(5, 1, 0, 0), p) != TEE_SUCCESS)
		goto out;
	for (step = 0; step < script_len; step++) {
		uint32_t cmd = script[step] & 7, arg = script[step] >> 3;
		uint32_t in = n_in ? arg % n_in : arg, outi = n_out ? arg % n_out : arg;
		size_t in_bytes = n_in ? (size_t)slots[in].nbytes : 16;
		size_t out_bytes = n_out ? (size_t)slots[n_in + outi].nbytes : 16;
		TEE_Result res;

		if (in_bytes > MAX_REGION)
			in_bytes = MAX_REGION;
		if (out_bytes > MAX_REGION)
			out_bytes = MAX_REGION;
		memset(p, 0, sizeof(p));
		switch (cmd) {
		case 0:   /* plain input: bytes of the blob (a layout attack writes body-like bytes) */
			memset(io_buf, 0, in_bytes);
			memcpy(io_buf, blob, in_bytes < blob_len ? in_bytes : blob_len);
			p[0].memref.buffer = io_buf;
			p[0].memref.size = in_bytes;
			p[1].value.a = in;
			invoke(session, OT_CMD_WRITE_INPUT, TEE_PARAM_TYPES(5, 1, 0, 0), p);
			break;
		case 1:   /* load the blob */
			res = TEE_SUCCESS;
			for (offset = 0; offset < blob_len && res == TEE_SUCCESS; offset += n) {
				n = blob_len - offset < chunk ? blob_len - offset : chunk;
				memset(p, 0, sizeof(p));
				p[0].memref.buffer = (void *)(blob + offset);
				p[0].memref.size = n;
				p[1].value.b = (uint32_t)offset;
				res = invoke(session, OT_CMD_LOAD_CHUNK, TEE_PARAM_TYPES(5, 1, 2, 0), p);
			}
			break;
		case 2:   /* run partition 0 (or the absent partition 1), or (arg & 2) a whole INFER */
			if (arg & 2) {
				infer(session, blob, blob_len, slots, n_in, n_out, states, n_state, arg);
				break;
			}
			p[0].value.a = arg & 1;
			invoke(session, OT_CMD_RUN, TEE_PARAM_TYPES(1, 2, 2, 0), p);
			break;
		case 3:
			p[0].memref.buffer = io_buf;
			p[0].memref.size = (arg & 2) ? out_bytes / 2 : sizeof(io_buf);
			p[1].value.a = (arg & 4) ? arg : outi;
			p[1].value.b = (arg & 1) ? top_k : 0;
			invoke(session, OT_CMD_READ_OUTPUT, TEE_PARAM_TYPES(6, 1, 0, 0), p);
			break;
		case 4:
			p[0].memref.buffer = io.nonce;
			p[0].memref.size = sizeof(io.nonce);
			if (invoke(session, OT_CMD_OPEN_IO_SESSION, TEE_PARAM_TYPES(6, 0, 0, 0), p) == TEE_SUCCESS) {
				io.open = 1;
				io.counter = 0;
				io_derive(&io);
			}
			break;
		case 5: { /* a sealed input: right counter, or (arg & 16) the previous one (a replay) */
			static uint8_t plain[MAX_REGION];
			uint64_t counter = (arg & 16) && io.counter ? io.counter - 1 : io.counter;

			memset(plain, 0, in_bytes);
			memcpy(plain, blob, in_bytes < blob_len ? in_bytes : blob_len);
			p[0].memref.buffer = io_buf;
			p[0].memref.size = io_seal(&io, in, counter, plain, in_bytes, io_buf);
			p[1].value.a = in;
			if (invoke(session, OT_CMD_WRITE_INPUT_SEALED, TEE_PARAM_TYPES(5, 1, 0, 0), p) == TEE_SUCCESS)
				io.counter++;
			break;
		}
		case 6:
			p[0].memref.buffer = io_buf;
			p[0].memref.size = (arg & 2) ? out_bytes : out_bytes + OT_IO_OVERHEAD;
			p[1].value.a = outi;
			if (invoke(session, OT_CMD_READ_OUTPUT_SEALED, TEE_PARAM_TYPES(6, 1, 0, 0), p) == TEE_SUCCESS)
				io.counter++;
			break;
		default:  /* reopen the model: a fresh state, I/O session closed */
			p[0].memref.buffer = (void *)manifest;
			p[0].memref.size = manifest_len;
			p[1].value.a = (arg & 1) ? OT_KEY_DEVICE : OT_KEY_PROVISIONED;
			invoke(session, OT_CMD_OPEN_MODEL, TEE_PARAM_TYPES(5, 1, 0, 0), p);
			io.open = 0;
			break;
		}
	}
out:
	TA_CloseSessionEntryPoint(session);
}

static void fuzz_plan(const uint8_t *data, size_t size)
{
	struct plan_case c;
	struct ot_manifest_tensor slots[2 * MAX_SLOTS];
	struct ot_manifest_state states[MAX_SLOTS];
	uint32_t n_in, n_out, n_state, i;
	const uint8_t *at = data + sizeof(c), *script, *body;
	size_t rest = size - sizeof(c), chunk, body_len, manifest_len, blob_len, head;
	uint64_t region;
	uint8_t *manifest, *blob;

	memcpy(&c, data, sizeof(c));
	n_in = c.n_in % (MAX_SLOTS + 1);
	n_out = c.n_out % (MAX_SLOTS + 1);
	n_state = (uint32_t)(c.kept >> 2) % (MAX_SLOTS + 1);
	head = (n_in + n_out) * 8u + n_state * 2u;
	if (rest < head + c.script_len)
		return;
	memset(slots, 0, sizeof(slots));
	for (i = 0; i < n_in + n_out; i++) {
		uint32_t nbytes = read_u32(at + 8 * i + 4) % (MAX_REGION + 1);

		slots[i].offset = read_u32(at + 8 * i);
		slots[i].nbytes = nbytes;
		slots[i].dtype = 1;
		slots[i].rank = 1;
		slots[i].dims[0] = nbytes / 4;
	}
	for (i = 0; i < n_state; i++) {   /* indices as given: the TA must refuse those out of range */
		states[i].input = at[(n_in + n_out) * 8u + 2 * i];
		states[i].output = at[(n_in + n_out) * 8u + 2 * i + 1];
	}
	script = at + head;
	body = script + c.script_len;
	body_len = rest - head - c.script_len;
	if (body_len == 0 || body_len > MAX_BODY)
		return;
	region = body_region(body, body_len);
	chunk = (size_t)64 << (c.chunk_log2 % 11);
	if (chunk > region)
		chunk = (size_t)region;
	seal_case(body, body_len, region, chunk, c.body_offset, c.staging_offset, slots, n_in, n_out, c.kept & 3u,
		  states, n_state, &manifest, &manifest_len, &blob, &blob_len);
	run_script(manifest, manifest_len, blob, blob_len, chunk, slots, n_in, n_out, states, n_state, script,
		   c.script_len, c.top_k);
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
	else if (data[0] == 2 && size >= sizeof(struct plan_case))
		fuzz_plan(data, size);
	return 0;
}
