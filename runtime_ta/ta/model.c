/*
 * Opening a model, streaming its partitions in, running them.
 *
 * Shared memory is read exactly once per byte: the manifest is copied into the TA heap and every
 * blob chunk into the secure staging buffer (in the region, at the offset the plan gives) before
 * anything looks at it.  Blob chunk -> staging -> AES-256-GCM decryption straight into the body's
 * planned place (two passes over the bytes: the copy and the decryption) -> on the last byte: the
 * tag, the tag against the manifest's entry (the binding, onnx_tee_ta.h), body validation.  A body
 * is used only after all three passed; a refused body is wiped.
 *
 * Checks of a blob header, each with its own code, in this order:
 *   magic, envelope version, reserved      OT_ERR_BLOB_FORMAT
 *   model id != manifest's                 OT_ERR_SWAPPED
 *   model version < manifest's             OT_ERR_ROLLBACK      (> or other format: UNSUPPORTED_VERSION)
 *   partition index != next expected       OT_ERR_REORDERED
 *   count, body or region size differ      OT_ERR_NOT_IN_MANIFEST
 *   GCM tag (header is the AAD)            OT_ERR_BLOB_AUTH
 *   tag != manifest entry                  OT_ERR_NOT_IN_MANIFEST
 *   body validation (interp.h)             OT_ERR_BODY_INVALID
 * Header fields are acted on before the tag is checked only to refuse early; nothing of the body
 * is used before the tag, the binding and the validator all accepted it.
 *
 * Logging (EMSG/DMSG, behind the dev kit's CFG_TEE_TA_LOG_LEVEL): entry_point.c logs every refused
 * command with its result code; here a refused body adds the validator's status and the op index, a
 * failed run the op index and status.  No key, weight or tensor byte is ever logged.
 */
#include <string.h>
#include <tee_internal_api.h>

#include "model.h"
#include "profile.h"
#include "secure_store.h"

#define BLOB_HEADER_BYTES ((uint64_t)sizeof(struct ot_blob_header))

/* Wipe secrets and plaintext.  TEE_MemFill is an API call the compiler cannot drop as a dead store. */
static void zeroize(void *buffer, size_t size)
{
	TEE_MemFill(buffer, 0, size);
}

/* off + len <= limit, without overflow. */
static bool range_ok(uint64_t off, uint64_t len, uint64_t limit)
{
	return off <= limit && len <= limit - off;
}

/* Both ranges lie inside the region (<= 4 GiB), so the sums cannot overflow. */
static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* The staging bytes a load of p can have written: no tile is longer than staging_bytes or the blob. */
static size_t staged_extent(const struct model_session *s, const struct ot_manifest_partition *p)
{
	return (size_t)min_u64(p->blob_bytes, s->header->staging_bytes);
}

static void load_abort(struct model_session *s)
{
	struct partition_load *l = &s->load;

	if (l->decrypt != TEE_HANDLE_NULL)
		TEE_FreeOperation(l->decrypt);
	if (l->active && s->region) {
		const struct ot_manifest_partition *p = &s->partitions[l->index];

		zeroize(s->region + p->body_offset, (size_t)l->produced);
		zeroize(s->region + p->staging_offset, staged_extent(s, p));
	}
	memset(l, 0, sizeof(*l));
	l->decrypt = TEE_HANDLE_NULL;
}

void model_close(struct model_session *s)
{
	load_abort(s);
	if (s->region) {
		zeroize(s->region, s->region_bytes);
		TEE_Free(s->region);
	}
	if (s->key != TEE_HANDLE_NULL)
		TEE_FreeTransientObject(s->key);
	if (s->io.key != TEE_HANDLE_NULL)
		TEE_FreeTransientObject(s->io.key);
	zeroize(&s->io, sizeof(s->io));
	if (s->manifest)
		TEE_Free(s->manifest);
	if (s->loaded)
		TEE_Free(s->loaded);
	memset(s, 0, sizeof(*s));
	s->key = TEE_HANDLE_NULL;
	s->io.key = TEE_HANDLE_NULL;
	s->load.decrypt = TEE_HANDLE_NULL;
}

/* AES-256-GCM decryption keyed with the session key, nonce and AAD length as given. */
static TEE_Result gcm_begin(TEE_ObjectHandle key, const uint8_t nonce[OT_NONCE_BYTES], size_t aad_len,
			    size_t payload_len, TEE_OperationHandle *op)
{
	TEE_Result res = TEE_AllocateOperation(op, TEE_ALG_AES_GCM, TEE_MODE_DECRYPT, OT_KEY_BYTES * 8);

	if (res != TEE_SUCCESS) {
		*op = TEE_HANDLE_NULL;
		return res;
	}
	res = TEE_SetOperationKey(*op, key);
	if (res == TEE_SUCCESS)
		res = TEE_AEInit(*op, nonce, OT_NONCE_BYTES, OT_TAG_BYTES * 8, aad_len, payload_len);
	if (res != TEE_SUCCESS) {
		TEE_FreeOperation(*op);
		*op = TEE_HANDLE_NULL;
	}
	return res;
}

/* The manifest is GMAC-authenticated: everything before the tag is AAD, the plaintext is empty. */
static TEE_Result manifest_authenticate(TEE_ObjectHandle key, uint8_t *manifest, size_t size)
{
	const struct ot_manifest_header *h = (const struct ot_manifest_header *)(const void *)manifest;
	TEE_OperationHandle op = TEE_HANDLE_NULL;
	uint8_t tag[OT_TAG_BYTES];
	size_t out = 0;
	TEE_Result res = gcm_begin(key, h->nonce, size - OT_TAG_BYTES, 0, &op);

	if (res != TEE_SUCCESS)
		return res;
	memcpy(tag, manifest + size - OT_TAG_BYTES, sizeof(tag));
	TEE_AEUpdateAAD(op, manifest, size - OT_TAG_BYTES);
	res = TEE_AEDecryptFinal(op, NULL, 0, NULL, &out, tag, sizeof(tag));
	TEE_FreeOperation(op);
	if (res == TEE_ERROR_MAC_INVALID)
		return OT_ERR_MANIFEST_AUTH;
	return res;
}

/* Structure checks needing no key: sizes, magic, counts. */
static TEE_Result manifest_check_layout(const uint8_t *manifest, size_t size)
{
	const struct ot_manifest_header *h = (const struct ot_manifest_header *)(const void *)manifest;
	uint64_t expected;

	if (size < sizeof(*h) + OT_TAG_BYTES || size > OT_MANIFEST_MAX_BYTES)
		return OT_ERR_MANIFEST_FORMAT;
	if (memcmp(h->magic, OT_MANIFEST_MAGIC, sizeof(h->magic)) != 0)
		return OT_ERR_MANIFEST_FORMAT;
	if (h->envelope_version != OT_ENVELOPE_VERSION)
		return OT_ERR_UNSUPPORTED_VERSION;
	if (h->partition_count == 0 || h->partition_count > OT_MAX_PARTITIONS ||
	    h->input_count > OT_MAX_IO_TENSORS || h->output_count > OT_MAX_IO_TENSORS ||
	    h->input_count + h->output_count > OT_MAX_IO_TENSORS || h->state_count > h->input_count ||
	    h->state_count > h->output_count)
		return OT_ERR_MANIFEST_FORMAT;
	expected = sizeof(*h) + (uint64_t)h->partition_count * sizeof(struct ot_manifest_partition) +
		   (uint64_t)(h->input_count + h->output_count) * sizeof(struct ot_manifest_tensor) +
		   (uint64_t)h->state_count * sizeof(struct ot_manifest_state) + OT_TAG_BYTES;
	return expected == size ? TEE_SUCCESS : OT_ERR_MANIFEST_FORMAT;
}

/* Slot t shares no byte with partition p's body (nor, for an input, its staging buffer). */
static bool slot_clear_of(const struct ot_manifest_tensor *t, const struct ot_manifest_partition *p,
			  uint32_t staging_bytes, bool input)
{
	return !overlaps(t->offset, t->nbytes, p->body_offset, p->body_bytes) &&
	       !(input && overlaps(t->offset, t->nbytes, p->staging_offset, staging_bytes));
}

static bool pinned(const struct ot_manifest_partition *p)
{
	return (p->flags & OT_PART_PINNED) != 0;
}

/* Pinned bodies stay in the region for the whole session and state inputs between inferences: none
 * may share a byte with another pinned body, a staging buffer (written while they are kept), a model
 * input or output slot other than the state's own input, or another state's output (the copies that
 * carry the states run one after another). */
static TEE_Result check_kept(const struct ot_manifest_header *h, const struct ot_manifest_partition *parts,
			     const struct ot_manifest_tensor *slots, const struct ot_manifest_state *states)
{
	uint32_t n_io = h->input_count + h->output_count;
	uint32_t i, j;

	for (i = 0; i < h->partition_count; i++) {
		const struct ot_manifest_partition *p = &parts[i];

		if (p->reserved != 0 || (p->flags & ~OT_PART_PINNED) != 0)
			return OT_ERR_MANIFEST_FORMAT;
		if (!pinned(p))
			continue;
		for (j = 0; j < h->partition_count; j++)
			if ((j != i && pinned(&parts[j]) && overlaps(p->body_offset, p->body_bytes, parts[j].body_offset,
								      parts[j].body_bytes)) ||
			    overlaps(p->body_offset, p->body_bytes, parts[j].staging_offset, h->staging_bytes))
				return OT_ERR_MANIFEST_FORMAT;
		for (j = 0; j < n_io; j++)
			if (overlaps(p->body_offset, p->body_bytes, slots[j].offset, slots[j].nbytes))
				return OT_ERR_MANIFEST_FORMAT;
	}
	for (i = 0; i < h->state_count; i++) {
		const struct ot_manifest_tensor *in, *out;

		if (states[i].input >= h->input_count || states[i].output >= h->output_count)
			return OT_ERR_MANIFEST_FORMAT;
		in = &slots[states[i].input];
		out = &slots[h->input_count + states[i].output];
		if (in->nbytes != out->nbytes || in->dtype != out->dtype)
			return OT_ERR_MANIFEST_FORMAT;
		for (j = 0; j < h->partition_count; j++)
			if (overlaps(in->offset, in->nbytes, parts[j].staging_offset, h->staging_bytes))
				return OT_ERR_MANIFEST_FORMAT;
		for (j = 0; j < h->output_count; j++)
			if (j != states[i].output &&
			    overlaps(in->offset, in->nbytes, slots[h->input_count + j].offset,
				     slots[h->input_count + j].nbytes))
				return OT_ERR_MANIFEST_FORMAT;
		for (j = 0; j < i; j++)
			if (states[j].input == states[i].input || states[j].output == states[i].output)
				return OT_ERR_MANIFEST_FORMAT;
	}
	return TEE_SUCCESS;
}

/* Plan checks of an authentic manifest: everything inside the region, staging apart from the body,
 * and every model input/output slot against the bodies and buffers it meets.  Inputs are written
 * before partition 0 is loaded and while it stays loaded, so no input may share a byte with
 * partition 0's body or staging buffer: a write there would rewrite a validated body.  Outputs are
 * read after the last partition ran, so none may lie on the last body (it would hand out body bytes);
 * the staging buffer holds only blob bytes and may hold an output produced later.  Inputs do not
 * overlap each other, nor outputs each other.  Pinned bodies and states: check_kept. */
static TEE_Result manifest_check_plan(const struct ot_manifest_header *h,
				      const struct ot_manifest_partition *parts,
				      const struct ot_manifest_tensor *slots,
				      const struct ot_manifest_state *states)
{
	uint64_t region = h->region_bytes;
	uint32_t n_io = h->input_count + h->output_count;
	uint32_t i, j, d;

	if (region == 0 || region > UINT32_MAX - 2 * RT_ALIGN || region % RT_ALIGN != 0)
		return OT_ERR_MANIFEST_FORMAT;
	if (h->staging_bytes == 0 || h->staging_bytes > region)
		return OT_ERR_MANIFEST_FORMAT;
	for (i = 0; i < h->partition_count; i++) {
		const struct ot_manifest_partition *p = &parts[i];

		if (!range_ok(p->body_offset, p->body_bytes, region) ||
		    !range_ok(p->staging_offset, h->staging_bytes, region) ||
		    p->blob_bytes != BLOB_HEADER_BYTES + p->body_bytes + OT_TAG_BYTES ||
		    overlaps(p->body_offset, p->body_bytes, p->staging_offset, h->staging_bytes) ||
		    p->planned_bytes > region)
			return OT_ERR_MANIFEST_FORMAT;
	}
	for (i = 0; i < n_io; i++) {
		const struct ot_manifest_tensor *t = &slots[i];
		bool input = i < h->input_count;

		if (t->rank > OT_MAX_RANK || t->nbytes == 0 || !range_ok(t->offset, t->nbytes, region))
			return OT_ERR_MANIFEST_FORMAT;
		for (d = t->rank; d < OT_MAX_RANK; d++)
			if (t->dims[d] != 0)
				return OT_ERR_MANIFEST_FORMAT;
		if (!slot_clear_of(t, &parts[input ? 0 : h->partition_count - 1], h->staging_bytes, input))
			return OT_ERR_MANIFEST_FORMAT;
		for (j = input ? 0 : h->input_count; j < i; j++)
			if (overlaps(t->offset, t->nbytes, slots[j].offset, slots[j].nbytes))
				return OT_ERR_MANIFEST_FORMAT;
	}
	return check_kept(h, parts, slots, states);
}

/* Bit i: model input (or output) i is a recurrent state the TA keeps. */
static uint64_t state_input_bits(const struct model_session *s)
{
	uint64_t bits = 0;
	uint32_t i;

	for (i = 0; i < s->header->state_count; i++)
		bits |= (uint64_t)1 << s->states[i].input;
	return bits;
}

static bool state_output(const struct model_session *s, uint32_t index)
{
	uint32_t i;

	for (i = 0; i < s->header->state_count; i++)
		if (s->states[i].output == index)
			return true;
	return false;
}

TEE_Result model_open(struct model_session *s, const void *shared_manifest, size_t size, uint32_t key_source)
{
	struct model_session fresh;
	const struct ot_manifest_header *h;
	uint64_t accepted = 0;
	TEE_Result res;

	if (key_source != OT_KEY_PROVISIONED && key_source != OT_KEY_DEVICE)
		return TEE_ERROR_BAD_PARAMETERS;
	model_close(s);
	memset(&fresh, 0, sizeof(fresh));
	fresh.key = TEE_HANDLE_NULL;
	fresh.io.key = TEE_HANDLE_NULL;
	fresh.key_source = key_source;
	fresh.load.decrypt = TEE_HANDLE_NULL;
	if (size < sizeof(struct ot_manifest_header) + OT_TAG_BYTES || size > OT_MANIFEST_MAX_BYTES)
		return OT_ERR_MANIFEST_FORMAT;

	fresh.manifest = TEE_Malloc(size, TEE_MALLOC_FILL_ZERO);
	if (!fresh.manifest)
		return TEE_ERROR_OUT_OF_MEMORY;
	TEE_MemMove(fresh.manifest, shared_manifest, size);   /* the one read of shared memory */
	fresh.manifest_bytes = size;
	h = (const struct ot_manifest_header *)(const void *)fresh.manifest;
	fresh.header = h;
	fresh.partitions = (const struct ot_manifest_partition *)(const void *)(fresh.manifest + sizeof(*h));

	res = manifest_check_layout(fresh.manifest, size);
	if (res != TEE_SUCCESS)
		goto fail;
	fresh.slots = (const struct ot_manifest_tensor *)(fresh.partitions + h->partition_count);
	fresh.states = (const struct ot_manifest_state *)(fresh.slots + h->input_count + h->output_count);
	res = store_load_key(key_source, &fresh.key);
	if (res != TEE_SUCCESS)
		goto fail;
	res = manifest_authenticate(fresh.key, fresh.manifest, size);
	if (res != TEE_SUCCESS)
		goto fail;
	res = manifest_check_plan(h, fresh.partitions, fresh.slots, fresh.states);
	if (res != TEE_SUCCESS)
		goto fail;
	if (h->format_version != RT_FORMAT_VERSION) {
		res = OT_ERR_UNSUPPORTED_VERSION;
		goto fail;
	}
	res = store_read_version(h->model_id, &accepted);
	if (res != TEE_SUCCESS)
		goto fail;
	if (h->model_version < accepted) {
		res = OT_ERR_ROLLBACK;
		goto fail;
	}
	fresh.loaded = TEE_Malloc(h->partition_count, TEE_MALLOC_FILL_ZERO);
	fresh.region_bytes = (size_t)h->region_bytes;
	fresh.region = TEE_Malloc(fresh.region_bytes, TEE_MALLOC_FILL_ZERO);   /* zero: every state starts at 0 */
	if (!fresh.region || !fresh.loaded) {
		res = TEE_ERROR_OUT_OF_MEMORY;
		goto fail;
	}
	fresh.inputs_written = state_input_bits(&fresh);
	if (h->model_version > accepted) {
		res = store_write_version(h->model_id, h->model_version);
		if (res != TEE_SUCCESS)
			goto fail;
	}
	*s = fresh;
	DMSG("model opened: %u partitions, region %u bytes", (unsigned)h->partition_count,
	     (unsigned)h->region_bytes);
	return TEE_SUCCESS;
fail:
	model_close(&fresh);
	return res;
}

/* The blob header is complete: refuse it early if it cannot belong here, else start decrypting. */
static TEE_Result load_begin_body(struct model_session *s)
{
	struct partition_load *l = &s->load;
	const struct ot_blob_header *b = &l->header;
	const struct ot_manifest_header *m = s->header;
	const struct ot_manifest_partition *p = &s->partitions[l->index];
	TEE_Result res;

	if (memcmp(b->magic, OT_BLOB_MAGIC, sizeof(b->magic)) != 0 || b->reserved != 0)
		return OT_ERR_BLOB_FORMAT;
	if (b->envelope_version != OT_ENVELOPE_VERSION)
		return OT_ERR_UNSUPPORTED_VERSION;
	if (TEE_MemCompare(b->model_id, m->model_id, OT_MODEL_ID_BYTES) != 0)
		return OT_ERR_SWAPPED;
	if (b->model_version < m->model_version)
		return OT_ERR_ROLLBACK;
	if (b->model_version != m->model_version || b->format_version != m->format_version)
		return OT_ERR_UNSUPPORTED_VERSION;
	if (b->partition_index != l->index)
		return OT_ERR_REORDERED;
	if (b->partition_count != m->partition_count || b->body_bytes != p->body_bytes ||
	    b->region_bytes != m->region_bytes)
		return OT_ERR_NOT_IN_MANIFEST;
	res = gcm_begin(s->key, b->nonce, sizeof(*b), (size_t)p->body_bytes, &l->decrypt);
	if (res != TEE_SUCCESS)
		return res;
	TEE_AEUpdateAAD(l->decrypt, b, sizeof(*b));
	return TEE_SUCCESS;
}

/* Model inputs and outputs a body declares must sit exactly where the manifest says. */
static TEE_Result check_io_slots(const struct model_session *s)
{
	const struct ot_manifest_header *m = s->header;
	uint32_t i, offset, nbytes;

	for (i = 0; i < m->input_count + m->output_count; i++) {
		bool input = i < m->input_count;
		uint32_t io = input ? i : i - m->input_count;
		const struct ot_manifest_tensor *t = &s->slots[i];

		if (rt_find_model_tensor(&s->part, input ? RT_TFLAG_MODEL_INPUT : RT_TFLAG_MODEL_OUTPUT, io,
					 &offset, &nbytes) == 0 &&
		    (offset != t->offset || nbytes != t->nbytes))
			return OT_ERR_BODY_INVALID;
	}
	return TEE_SUCCESS;
}

/* Nothing body k writes may land on what the session keeps: every region tensor and the scratch
 * buffer clear of the other pinned bodies, and of every state input slot (but the state input
 * itself, which k only reads). */
static TEE_Result check_clear_of_kept(const struct model_session *s, uint32_t index)
{
	const struct ot_manifest_header *m = s->header;
	const rt_body_header *b = s->part.header;
	uint32_t t, j;

	for (t = 0; t <= b->tensor_count; t++) {
		const rt_tensor_desc *d = t < b->tensor_count ? &s->part.tensors[t] : NULL;
		uint64_t off = d ? d->offset : b->scratch_offset, len = d ? d->nbytes : b->scratch_size;

		if (d && d->location != RT_LOC_REGION)
			continue;
		for (j = 0; j < m->partition_count; j++)
			if (j != index && pinned(&s->partitions[j]) &&
			    overlaps(off, len, s->partitions[j].body_offset, s->partitions[j].body_bytes))
				return OT_ERR_BODY_INVALID;
		for (j = 0; j < m->state_count; j++) {
			const struct ot_manifest_tensor *in = &s->slots[s->states[j].input];
			bool itself = d && (d->flags & RT_TFLAG_MODEL_INPUT) && d->io_index == s->states[j].input;

			if (!itself && overlaps(off, len, in->offset, in->nbytes))
				return OT_ERR_BODY_INVALID;
		}
	}
	return TEE_SUCCESS;
}

/* The last byte arrived: tag, then the manifest's binding, then the body itself. */
static TEE_Result load_finish(struct model_session *s, uint32_t *detail)
{
	struct partition_load *l = &s->load;
	const struct ot_manifest_partition *p = &s->partitions[l->index];
	uint8_t *body = s->region + p->body_offset;
	size_t out = (size_t)(p->body_bytes - l->produced);
	rt_expected want;
	rt_status status;
	uint32_t failed_op = RT_NO_TENSOR;
	TEE_Result res;

	res = TEE_AEDecryptFinal(l->decrypt, NULL, 0, body + l->produced, &out, l->tag, sizeof(l->tag));
	if (res == TEE_ERROR_MAC_INVALID)
		return OT_ERR_BLOB_AUTH;
	if (res != TEE_SUCCESS)
		return res;
	l->produced += out;
	if (l->produced != p->body_bytes)
		return OT_ERR_BLOB_AUTH;
	if (TEE_MemCompare(l->tag, p->blob_tag, OT_TAG_BYTES) != 0)
		return OT_ERR_NOT_IN_MANIFEST;

	RT_PROFILE_START(validate_t0);
	want.partition_index = l->index;
	want.partition_count = s->header->partition_count;
	want.body_size = (uint32_t)p->body_bytes;
	want.region_size = (uint32_t)s->region_bytes;
	status = rt_validate_partition_ex(s->region, s->region_bytes, (size_t)p->body_offset,
					  (size_t)p->body_bytes, &want, &s->part, &failed_op);
	if (status != RT_OK) {
		*detail = (uint32_t)status;
		if (failed_op != RT_NO_TENSOR)
			EMSG("partition %u: body refused: %s at op %u", (unsigned)l->index, rt_status_name(status),
			     (unsigned)failed_op);
		else
			EMSG("partition %u: body refused: %s", (unsigned)l->index, rt_status_name(status));
		return OT_ERR_BODY_INVALID;
	}
	res = check_io_slots(s);
	if (res != TEE_SUCCESS) {
		EMSG("partition %u: model inputs/outputs not where the manifest puts them", (unsigned)l->index);
		return res;
	}
	res = check_clear_of_kept(s, l->index);
	if (res != TEE_SUCCESS)
		EMSG("partition %u: a tensor lies on a pinned body or a recurrent state", (unsigned)l->index);
	RT_PROFILE_PHASE(validate_t0, RT_PROFILE_LOAD_VALIDATE);
	return res;
}

/* Route the staged bytes of blob range [at, at + n): header copy, body decryption, tag copy. */
static TEE_Result load_consume(struct model_session *s, const uint8_t *staged, uint64_t at, size_t n)
{
	struct partition_load *l = &s->load;
	const struct ot_manifest_partition *p = &s->partitions[l->index];
	uint64_t body_end = BLOB_HEADER_BYTES + p->body_bytes;
	size_t pos = 0;
	TEE_Result res;

	while (pos < n) {
		uint64_t here = at + pos;
		size_t take;

		if (here < BLOB_HEADER_BYTES) {
			take = (size_t)(BLOB_HEADER_BYTES - here < n - pos ? BLOB_HEADER_BYTES - here : n - pos);
			memcpy((uint8_t *)&l->header + here, staged + pos, take);
			if (here + take == BLOB_HEADER_BYTES) {
				res = load_begin_body(s);
				if (res != TEE_SUCCESS)
					return res;
			}
		} else if (here < body_end) {
			size_t out = (size_t)(p->body_bytes - l->produced);

			take = (size_t)(body_end - here < n - pos ? body_end - here : n - pos);
			res = TEE_AEUpdate(l->decrypt, staged + pos, take, s->region + p->body_offset + l->produced,
					   &out);
			if (res != TEE_SUCCESS)
				return res;
			l->produced += out;
			s->touched = max_u64(s->touched, p->body_offset + l->produced);
		} else {
			take = n - pos;   /* the caller bounded the chunk by the blob's end */
			memcpy(l->tag + (here - body_end), staged + pos, take);
		}
		pos += take;
	}
	return TEE_SUCCESS;
}

/*
 * Copy a chunk from shared memory into the staging buffer and decrypt it from there, a tile of
 * staging_bytes at a time: every shared byte is read exactly once, into staging, before anything
 * looks at it, and each tile is decrypted while the copy left it in the cache.  So the staging
 * buffer bounds only the secure memory loading needs, not the bytes one command may carry: a chunk
 * is as long as the normal world can map in one call, which saves world switches.
 */
static TEE_Result stage_and_consume(struct model_session *s, uint8_t *staging, const uint8_t *shared,
				    uint32_t offset, size_t size)
{
	size_t tile = s->header->staging_bytes, pos, take;
	TEE_Result res = TEE_SUCCESS;

	for (pos = 0; pos < size && res == TEE_SUCCESS; pos += take) {
		take = size - pos < tile ? size - pos : tile;
		{
			RT_PROFILE_START(copy_t0);
			TEE_MemMove(staging, shared + pos, take);   /* the one read of these shared bytes */
			RT_PROFILE_PHASE(copy_t0, RT_PROFILE_LOAD_COPY);
		}
		{
			RT_PROFILE_START(decrypt_t0);
			res = load_consume(s, staging, (uint64_t)offset + pos, take);
			RT_PROFILE_PHASE(decrypt_t0, RT_PROFILE_LOAD_DECRYPT);
		}
	}
	return res;
}

TEE_Result model_load_chunk(struct model_session *s, const void *shared_chunk, size_t size, uint32_t index,
			    uint32_t offset, uint32_t *detail)
{
	struct partition_load *l = &s->load;
	const struct ot_manifest_partition *p;
	uint8_t *staging;
	TEE_Result res;

	if (!s->region)
		return OT_ERR_STATE;
	if (size == 0)
		return TEE_ERROR_BAD_PARAMETERS;
	if (index != s->next || s->done) {
		load_abort(s);
		return OT_ERR_REORDERED;
	}
	p = &s->partitions[index];
	if (s->loaded[index] && pinned(p))
		return OT_ERR_STATE;   /* a pinned body stays loaded: it is never loaded twice in a session */
	if (offset == 0) {
		load_abort(s);
		s->touched = 0;
		l->active = true;
		l->index = index;
	} else if (!l->active || l->index != index || offset != l->received) {
		load_abort(s);
		return OT_ERR_STATE;
	}
	if (!range_ok(offset, size, p->blob_bytes)) {
		res = OT_ERR_BLOB_FORMAT;
		goto fail;
	}
	staging = s->region + p->staging_offset;
	s->touched = max_u64(s->touched, p->staging_offset + min_u64(size, s->header->staging_bytes));
	s->dirty_end = max_u64(s->dirty_end, s->touched);
	res = stage_and_consume(s, staging, (const uint8_t *)shared_chunk, offset, size);
	if (res != TEE_SUCCESS)
		goto fail;
	l->received = (uint64_t)offset + size;
	if (l->received < p->blob_bytes)
		return TEE_SUCCESS;
	res = load_finish(s, detail);
	if (res != TEE_SUCCESS)
		goto fail;
	/* The staging buffer is not wiped: it only ever held the blob's own bytes (header, ciphertext, tag),
	 * which the normal world supplied; plaintext goes straight into the body.  Whatever lies on it next
	 * (this partition's arena, an output) is written before it is read. */
	l->active = false;   /* keep the body: load_abort below wipes only unfinished loads */
	load_abort(s);
	s->loaded[index] = 1;
	s->dirty_end = max_u64(s->dirty_end, p->body_offset + p->body_bytes);
	DMSG("partition %u loaded and validated (%u ops prepared)", (unsigned)index,
	     (unsigned)s->part.header->op_count);
	return TEE_SUCCESS;
fail:
	load_abort(s);
	return res;
}

/* The validated tables of the loaded body are checked again right before they are used: nothing
 * else in the TA writes the body, and this keeps every tensor bound true at RUN time even if a
 * plan left a way to (a refused body is wiped and must be loaded again). */
static TEE_Result revalidate(struct model_session *s, uint32_t index, uint32_t *detail)
{
	const struct ot_manifest_partition *p = &s->partitions[index];
	rt_expected want;
	rt_status status;

	want.partition_index = index;
	want.partition_count = s->header->partition_count;
	want.body_size = (uint32_t)p->body_bytes;
	want.region_size = (uint32_t)s->region_bytes;
	status = rt_validate_partition(s->region, s->region_bytes, (size_t)p->body_offset, (size_t)p->body_bytes,
				       &want, &s->part);
	if (status == RT_OK)
		return TEE_SUCCESS;
	zeroize(s->region + p->body_offset, (size_t)p->body_bytes);
	s->loaded[index] = 0;
	*detail = (uint32_t)status;
	return OT_ERR_BODY_INVALID;
}

static uint64_t all_bits(uint32_t count)
{
	return count >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << count) - 1;
}

TEE_Result model_run(struct model_session *s, uint32_t index, uint32_t *touched, uint32_t *detail,
		     uint32_t *failed_op)
{
	const struct ot_manifest_partition *p;
	rt_counters counters;
	rt_status status;
	TEE_Result res;

	if (!s->region)
		return OT_ERR_STATE;
	if (index != s->next || s->done)
		return OT_ERR_REORDERED;
	if (!s->loaded[index])
		return OT_ERR_TRUNCATED;
	if (index == 0 && s->inputs_written != all_bits(s->header->input_count))
		return OT_ERR_INPUT_MISSING;
	{
		RT_PROFILE_START(t0); /* simulator builds only (interp/profile.h) */
		res = revalidate(s, index, detail);
		RT_PROFILE_PHASE(t0, RT_PROFILE_REVALIDATE);
	}
	if (res != TEE_SUCCESS)
		return res;
	p = &s->partitions[index];
	s->started = true;
	status = rt_run_partition(&s->part, &counters);
	s->touched = max_u64(s->touched, counters.max_region_end);
	s->dirty_end = max_u64(s->dirty_end, s->touched);
	*touched = (uint32_t)s->touched;
	s->touched = 0;   /* the next partition's count starts at its load (or its run, when pinned) */
	if (status != RT_OK) {
		*detail = (uint32_t)status;
		*failed_op = counters.failed_op;
		zeroize(s->region + p->body_offset, (size_t)p->body_bytes);
		s->loaded[index] = 0;
		EMSG("partition %u: run stopped at op %u: %s", (unsigned)index, (unsigned)counters.failed_op,
		     rt_status_name(status));
		return OT_ERR_RUN_FAILED;
	}
	DMSG("partition %u ran: %u ops, highest byte %u", (unsigned)index, (unsigned)counters.ops_run,
	     (unsigned)*touched);
	s->next = index + 1;
	if (s->next == s->header->partition_count)
		s->done = true;
	if (!pinned(p)) {
		/* A finished streamed body is wiped (no tensor of this partition lies on it); a pinned one
		 * stays loaded for the next inference. */
		RT_PROFILE_START(t0);
		zeroize(s->region + p->body_offset, (size_t)p->body_bytes);
		RT_PROFILE_PHASE(t0, RT_PROFILE_WIPE);
		s->loaded[index] = 0;
	}
	return TEE_SUCCESS;
}

/* Byte range [off, off + len) is kept across inferences when it is a loaded body that stays (a
 * pinned one, or partition 0's loaded before its inputs came) or a state input slot. */
static bool kept_range(const struct model_session *s, uint32_t k, uint64_t *off, uint64_t *len)
{
	uint32_t n = s->header->partition_count;

	if (k < n) {
		const struct ot_manifest_partition *p = &s->partitions[k];

		*off = p->body_offset;
		*len = p->body_bytes;
		return s->loaded[k] && (pinned(p) || (k == 0 && s->next == 0));
	}
	*off = s->slots[s->states[k - n].input].offset;
	*len = s->slots[s->states[k - n].input].nbytes;
	return true;
}

/* Wipe [0, dirty_end) except the kept ranges: from the cursor, the nearest kept range that starts at
 * or after it bounds the next wipe.  O(kept^2) per inference; bytes above dirty_end were never written
 * since the last wipe. */
static void wipe_transient(struct model_session *s)
{
	uint32_t count = s->header->partition_count + s->header->state_count, k;
	uint64_t at = 0, end = s->dirty_end < s->region_bytes ? s->dirty_end : s->region_bytes;

	while (at < end) {
		uint64_t next_start = end, next_end = end, off, len;

		for (k = 0; k < count; k++) {
			if (!kept_range(s, k, &off, &len) || len == 0 || off + len <= at)
				continue;
			if (off <= at) {   /* the cursor is inside a kept range: skip past it */
				next_start = at;
				next_end = off + len;
				break;
			}
			if (off < next_start) {
				next_start = off;
				next_end = off + len;
			}
		}
		if (next_start > at)
			zeroize(s->region + at, (size_t)(next_start - at));
		at = next_end;
	}
	s->dirty_end = 0;
	for (k = 0; k < count; k++) {
		uint64_t off, len;

		if (kept_range(s, k, &off, &len) && len)
			s->dirty_end = max_u64(s->dirty_end, off + len);
	}
}

void model_inference_begin(struct model_session *s)
{
	uint32_t i, k;

	load_abort(s);
	if (s->done) {   /* a completed inference hands its states on; an abandoned one leaves them */
		for (i = 0; i < s->header->state_count; i++) {
			const struct ot_manifest_tensor *in = &s->slots[s->states[i].input];
			const struct ot_manifest_tensor *out = &s->slots[s->header->input_count + s->states[i].output];

			TEE_MemMove(s->region + in->offset, s->region + out->offset, (size_t)in->nbytes);
		}
	}
	wipe_transient(s);
	for (k = 0; k < s->header->partition_count; k++)
		if (s->loaded[k] && !pinned(&s->partitions[k]) && !(k == 0 && s->next == 0))
			s->loaded[k] = 0;   /* wiped above */
	s->next = 0;
	s->done = false;
	s->inputs_written = state_input_bits(s);
	s->outputs_read = 0;
	memset(s->io.inputs_digest, 0, sizeof(s->io.inputs_digest));
}

TEE_Result model_input_slot(struct model_session *s, uint32_t index, size_t nbytes,
			    const struct ot_manifest_tensor **slot)
{
	const struct ot_manifest_tensor *t;

	if (!s->region)
		return OT_ERR_STATE;
	if (index >= s->header->input_count)
		return TEE_ERROR_BAD_PARAMETERS;
	t = &s->slots[index];
	if ((state_input_bits(s) & ((uint64_t)1 << index)) && s->started)
		return OT_ERR_STATE_TENSOR;   /* only an initial state, before the session's first run */
	if (nbytes != t->nbytes)
		return TEE_ERROR_BAD_PARAMETERS;
	if (s->done)
		model_inference_begin(s);
	else if (s->next != 0 || s->load.active)
		return OT_ERR_STATE;
	/* The plan check keeps inputs off partition 0's body; refuse anyway rather than touch a loaded body. */
	if (s->loaded[0] && overlaps(t->offset, t->nbytes, s->partitions[0].body_offset, s->partitions[0].body_bytes))
		return OT_ERR_STATE;
	s->dirty_end = max_u64(s->dirty_end, t->offset + t->nbytes);
	*slot = t;
	return TEE_SUCCESS;
}

void model_input_written(struct model_session *s, uint32_t index)
{
	s->inputs_written |= (uint64_t)1 << index;
}

TEE_Result model_write_input(struct model_session *s, const void *shared_data, size_t size, uint32_t index)
{
	const struct ot_manifest_tensor *t;
	TEE_Result res;

	if (s->io.open)
		return OT_ERR_IO_SEALED;
	res = model_input_slot(s, index, size, &t);
	if (res != TEE_SUCCESS)
		return res;
	TEE_MemMove(s->region + t->offset, shared_data, size);
	model_input_written(s, index);
	return TEE_SUCCESS;
}

/* a ranks before b: larger value, ties by lower index (neither is NaN). */
static bool ranks_before(float a, uint32_t ai, float b, uint32_t bi)
{
	return a > b || (!(a < b) && ai < bi);
}

/* The k best elements ranking after `after` (all elements when NULL): each pick is the best one
 * ranking after the previous pick.  O(n k) time, no memory beyond `out`. */
static size_t top_k(const uint8_t *data, uint32_t count, uint32_t k, const struct ot_topk_entry *after,
		    struct ot_topk_entry *out)
{
	size_t picked = 0;
	uint32_t i;

	while (picked < k) {
		const struct ot_topk_entry *prev = picked ? &out[picked - 1] : after;
		struct ot_topk_entry best = { 0, 0.0f };
		bool found = false;

		for (i = 0; i < count; i++) {
			uint32_t bits;
			float v;

			memcpy(&bits, data + 4 * (size_t)i, sizeof(bits));
			if ((bits & 0x7f800000u) == 0x7f800000u && (bits & 0x007fffffu))
				continue;   /* NaN */
			memcpy(&v, &bits, sizeof(v));
			if (prev && !ranks_before(prev->value, prev->index, v, i))
				continue;
			if (!found || ranks_before(v, i, best.value, best.index)) {
				best.index = i;
				best.value = v;
				found = true;
			}
		}
		if (!found)
			break;
		out[picked++] = best;
	}
	return picked;
}

TEE_Result model_output_slot(struct model_session *s, uint32_t index, const struct ot_manifest_tensor **slot)
{
	if (!s->region)
		return OT_ERR_STATE;
	if (index >= s->header->output_count)
		return TEE_ERROR_BAD_PARAMETERS;
	if (state_output(s, index))
		return OT_ERR_STATE_TENSOR;
	if (!s->done)
		return OT_ERR_TRUNCATED;
	if (s->outputs_read & ((uint64_t)1 << index))
		return OT_ERR_OUTPUT_READ;
	*slot = &s->slots[s->header->input_count + index];
	return TEE_SUCCESS;
}

void model_output_taken(struct model_session *s, uint32_t index)
{
	s->outputs_read |= (uint64_t)1 << index;
}

TEE_Result model_read_output(struct model_session *s, void *shared_data, size_t *size, uint32_t index,
			     uint32_t k)
{
	const struct ot_manifest_tensor *t;
	struct ot_topk_entry best[16], last = { 0, 0.0f };
	size_t need, done = 0;
	TEE_Result res;

	if (s->io.open)
		return OT_ERR_IO_SEALED;
	if (k > OT_MAX_TOPK)
		return TEE_ERROR_BAD_PARAMETERS;
	res = model_output_slot(s, index, &t);
	if (res != TEE_SUCCESS)
		return res;
	if (k == 0) {
		if (*size < t->nbytes) {
			*size = (size_t)t->nbytes;
			return TEE_ERROR_SHORT_BUFFER;
		}
		TEE_MemMove(shared_data, s->region + t->offset, (size_t)t->nbytes);
		*size = (size_t)t->nbytes;
		model_output_taken(s, index);
		return TEE_SUCCESS;
	}
	if (t->dtype != RT_DTYPE_FLOAT32 || t->nbytes % 4 != 0 || t->nbytes / 4 > UINT32_MAX)
		return TEE_ERROR_BAD_PARAMETERS;
	need = (size_t)k * sizeof(struct ot_topk_entry);
	if (*size < need) {
		*size = need;
		return TEE_ERROR_SHORT_BUFFER;
	}
	/* Ranked in secure memory 16 at a time, then copied out: shared memory is written, never read. */
	while (done < k) {
		uint32_t batch = k - done < 16 ? (uint32_t)(k - done) : 16;
		size_t got = top_k(s->region + t->offset, (uint32_t)(t->nbytes / 4), batch, done ? &last : NULL, best);

		TEE_MemMove((uint8_t *)shared_data + done * sizeof(best[0]), best, got * sizeof(best[0]));
		done += got;
		if (got < batch)
			break;
		last = best[got - 1];
	}
	*size = done * sizeof(struct ot_topk_entry);
	model_output_taken(s, index);
	return TEE_SUCCESS;
}

/* Sum of the non-state slots' bytes, inputs (first = 0) or outputs (first = input_count). */
static uint64_t plain_bytes(const struct model_session *s, bool inputs)
{
	uint32_t first = inputs ? 0 : s->header->input_count;
	uint32_t count = inputs ? s->header->input_count : s->header->output_count, i;
	uint64_t total = 0, states = state_input_bits(s);

	for (i = 0; i < count; i++)
		if (inputs ? !(states & ((uint64_t)1 << i)) : !state_output(s, i))
			total += s->slots[first + i].nbytes;
	return total;
}

TEE_Result model_infer(struct model_session *s, const void *inputs, size_t in_size, void *outputs,
		       size_t *out_size, uint32_t *touched, uint32_t *detail, uint32_t *failed_part,
		       uint32_t *failed_op)
{
	const struct ot_manifest_header *m;
	uint64_t need, outputs_end, states, at = 0;
	uint32_t i, k, part_touched = 0;
	uint8_t figure[sizeof(uint32_t)];
	TEE_Result res;

	if (!s->region)
		return OT_ERR_STATE;
	if (s->io.open)
		return OT_ERR_IO_SEALED;
	m = s->header;
	for (k = 0; k < m->partition_count; k++)
		if (!pinned(&s->partitions[k]) || !s->loaded[k])
			return OT_ERR_NOT_RESIDENT;
	if (in_size != plain_bytes(s, true))
		return TEE_ERROR_BAD_PARAMETERS;
	outputs_end = plain_bytes(s, false);
	need = outputs_end + (uint64_t)m->partition_count * sizeof(uint32_t);
	if (*out_size < need) {
		*out_size = (size_t)need;
		return TEE_ERROR_SHORT_BUFFER;
	}
	if (s->next != 0 && !s->done)
		return OT_ERR_STATE;   /* an inference of single commands is under way */
	model_inference_begin(s);
	states = state_input_bits(s);
	for (i = 0; i < m->input_count; i++) {
		const struct ot_manifest_tensor *t = &s->slots[i];

		if (states & ((uint64_t)1 << i))
			continue;
		TEE_MemMove(s->region + t->offset, (const uint8_t *)inputs + at, (size_t)t->nbytes);
		s->dirty_end = max_u64(s->dirty_end, t->offset + t->nbytes);
		model_input_written(s, i);
		at += t->nbytes;
	}
	*touched = 0;
	for (k = 0; k < m->partition_count; k++) {
		res = model_run(s, k, &part_touched, detail, failed_op);
		*touched = part_touched > *touched ? part_touched : *touched;
		if (res != TEE_SUCCESS) {
			*failed_part = k;
			return res;
		}
		figure[0] = (uint8_t)part_touched;
		figure[1] = (uint8_t)(part_touched >> 8);
		figure[2] = (uint8_t)(part_touched >> 16);
		figure[3] = (uint8_t)(part_touched >> 24);
		TEE_MemMove((uint8_t *)outputs + outputs_end + (uint64_t)k * sizeof(figure), figure, sizeof(figure));
	}
	at = 0;
	for (i = 0; i < m->output_count; i++) {
		const struct ot_manifest_tensor *t = &s->slots[m->input_count + i];

		if (state_output(s, i))
			continue;
		TEE_MemMove((uint8_t *)outputs + at, s->region + t->offset, (size_t)t->nbytes);
		model_output_taken(s, i);
		at += t->nbytes;
	}
	*out_size = (size_t)need;
	return TEE_SUCCESS;
}
