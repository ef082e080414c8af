/*
 * Sealed I/O (onnx_tee_ta.h): one I/O session per opened model.
 *
 *   open:   nonce <- TEE_GenerateRandom; K_io = HKDF-Expand(model key, OT_IO_LABEL || nonce); counter = 0;
 *           a new inference starts (model_inference_begin: the region is wiped, so an input written in
 *           clear before the session cannot survive into it)
 *   input:  counter || n || c || tag  ->  counter must equal the session's (else OT_ERR_IO_REPLAYED);
 *           the message is copied into the input's planned place, then decrypted there in place under
 *           AAD (nonce, OT_IO_INPUT, index, counter, size, zero digest); a wrong tag wipes it
 *           (OT_ERR_IO_AUTH); an accepted input extends the inference's inputs digest with its tag
 *   output: once per output and inference; the TA draws n, encrypts the output under AAD (nonce,
 *           OT_IO_OUTPUT, index, counter, size, inputs digest) into a bounce buffer in TA memory and
 *           copies that out (shared memory is written, never read back)
 * Every accepted message advances the counter, so a replayed, reordered or dropped message fails, and
 * an output names the inputs it was computed from: the sink accepts it only for its own request.
 * GCM nonces: outputs use random 96-bit nonces under a key fresh per session.
 */
#include <string.h>
#include <tee_internal_api.h>

#include "sealed_io.h"
#include "secure_store.h"

struct io_prefix {
	uint64_t counter;
	uint8_t nonce[OT_NONCE_BYTES];
};

#define PREFIX_BYTES (8u + OT_NONCE_BYTES)
#define BOUNCE_BYTES 4096u   /* encryption buffer in TA memory; a multiple of the AES block */

static void io_aad(const struct model_session *s, uint32_t direction, uint32_t index, uint64_t nbytes,
		   struct ot_io_aad *aad)
{
	memset(aad, 0, sizeof(*aad));
	memcpy(aad->session_nonce, s->io.nonce, sizeof(aad->session_nonce));
	aad->direction = direction;
	aad->index = index;
	aad->counter = s->io.counter;
	aad->nbytes = nbytes;
	if (direction == OT_IO_OUTPUT)
		memcpy(aad->inputs_digest, s->io.inputs_digest, sizeof(aad->inputs_digest));
}

/* inputs_digest = SHA-256(inputs_digest || index || counter || tag) (onnx_tee_ta.h). */
static TEE_Result extend_inputs_digest(struct model_session *s, uint32_t index, uint64_t counter,
				       const uint8_t tag[OT_TAG_BYTES])
{
	uint8_t item[4 + 8];
	size_t len = sizeof(s->io.inputs_digest);
	TEE_OperationHandle op = TEE_HANDLE_NULL;
	TEE_Result res = TEE_AllocateOperation(&op, TEE_ALG_SHA256, TEE_MODE_DIGEST, 0);
	int i;

	if (res != TEE_SUCCESS)
		return res;
	for (i = 0; i < 4; i++)
		item[i] = (uint8_t)(index >> (8 * i));
	for (i = 0; i < 8; i++)
		item[4 + i] = (uint8_t)(counter >> (8 * i));
	TEE_DigestUpdate(op, s->io.inputs_digest, sizeof(s->io.inputs_digest));
	TEE_DigestUpdate(op, item, sizeof(item));
	res = TEE_DigestDoFinal(op, tag, OT_TAG_BYTES, s->io.inputs_digest, &len);
	TEE_FreeOperation(op);
	if (res == TEE_SUCCESS && len != sizeof(s->io.inputs_digest))
		res = TEE_ERROR_GENERIC;
	return res;
}

static TEE_Result gcm_start(const struct model_session *s, uint32_t mode, const uint8_t nonce[OT_NONCE_BYTES],
			    const struct ot_io_aad *aad, size_t payload, TEE_OperationHandle *op)
{
	TEE_Result res = TEE_AllocateOperation(op, TEE_ALG_AES_GCM, mode, OT_KEY_BYTES * 8);

	if (res != TEE_SUCCESS) {
		*op = TEE_HANDLE_NULL;
		return res;
	}
	res = TEE_SetOperationKey(*op, s->io.key);
	if (res == TEE_SUCCESS)
		res = TEE_AEInit(*op, nonce, OT_NONCE_BYTES, OT_TAG_BYTES * 8, sizeof(*aad), payload);
	if (res != TEE_SUCCESS) {
		TEE_FreeOperation(*op);
		*op = TEE_HANDLE_NULL;
		return res;
	}
	TEE_AEUpdateAAD(*op, aad, sizeof(*aad));
	return TEE_SUCCESS;
}

TEE_Result io_open_session(struct model_session *s, void *shared_nonce, size_t *size)
{
	uint8_t nonce[OT_IO_SESSION_NONCE_BYTES];
	TEE_ObjectHandle key = TEE_HANDLE_NULL;
	TEE_Result res;

	if (!s->region)
		return OT_ERR_STATE;
	if (*size < sizeof(nonce)) {
		*size = sizeof(nonce);
		return TEE_ERROR_SHORT_BUFFER;
	}
	TEE_GenerateRandom(nonce, sizeof(nonce));
	res = store_derive_io_key(s->key_source, nonce, &key);
	if (res != TEE_SUCCESS)
		return res;
	if (s->io.key != TEE_HANDLE_NULL)
		TEE_FreeTransientObject(s->io.key);
	s->io.key = key;
	memcpy(s->io.nonce, nonce, sizeof(nonce));
	s->io.counter = 0;
	s->io.open = true;
	model_inference_begin(s);
	TEE_MemMove(shared_nonce, nonce, sizeof(nonce));
	*size = sizeof(nonce);
	return TEE_SUCCESS;
}

TEE_Result io_write_input(struct model_session *s, const void *shared_msg, size_t size, uint32_t index)
{
	const struct ot_manifest_tensor *t;
	struct io_prefix prefix;
	uint8_t tag[OT_TAG_BYTES];
	struct ot_io_aad aad;
	TEE_OperationHandle op = TEE_HANDLE_NULL;
	uint8_t *slot;
	size_t nbytes, out;
	TEE_Result res;

	if (!s->region)
		return OT_ERR_STATE;
	if (!s->io.open)
		return OT_ERR_IO_NO_SESSION;
	if (size < OT_IO_OVERHEAD)
		return TEE_ERROR_BAD_PARAMETERS;
	nbytes = size - OT_IO_OVERHEAD;
	res = model_input_slot(s, index, nbytes, &t);
	if (res != TEE_SUCCESS)
		return res;
	slot = s->region + t->offset;
	/* The one read of shared memory: prefix, ciphertext (into the slot) and tag. */
	TEE_MemMove(&prefix, shared_msg, PREFIX_BYTES);
	TEE_MemMove(slot, (const uint8_t *)shared_msg + PREFIX_BYTES, nbytes);
	TEE_MemMove(tag, (const uint8_t *)shared_msg + PREFIX_BYTES + nbytes, sizeof(tag));
	if (prefix.counter != s->io.counter) {
		res = OT_ERR_IO_REPLAYED;
		goto fail;
	}
	io_aad(s, OT_IO_INPUT, index, nbytes, &aad);
	res = gcm_start(s, TEE_MODE_DECRYPT, prefix.nonce, &aad, nbytes, &op);
	if (res != TEE_SUCCESS)
		goto fail;
	out = nbytes;
	res = TEE_AEDecryptFinal(op, slot, nbytes, slot, &out, tag, sizeof(tag));
	TEE_FreeOperation(op);
	if (res == TEE_ERROR_MAC_INVALID)
		res = OT_ERR_IO_AUTH;
	if (res == TEE_SUCCESS && out != nbytes)
		res = OT_ERR_IO_AUTH;
	if (res != TEE_SUCCESS)
		goto fail;
	res = extend_inputs_digest(s, index, s->io.counter, tag);
	if (res != TEE_SUCCESS)
		goto fail;
	model_input_written(s, index);
	s->io.counter++;
	return TEE_SUCCESS;
fail:
	TEE_MemFill(slot, 0, nbytes);
	return res;
}

TEE_Result io_read_output(struct model_session *s, void *shared_msg, size_t *size, uint32_t index)
{
	const struct ot_manifest_tensor *t;
	struct io_prefix prefix;
	uint8_t tag[OT_TAG_BYTES];
	size_t tag_len = sizeof(tag), nbytes, pos = 0, out;
	struct ot_io_aad aad;
	TEE_OperationHandle op = TEE_HANDLE_NULL;
	uint8_t *msg = shared_msg, *bounce = NULL;
	TEE_Result res;

	if (!s->region)
		return OT_ERR_STATE;
	if (!s->io.open)
		return OT_ERR_IO_NO_SESSION;
	res = model_output_slot(s, index, &t);
	if (res != TEE_SUCCESS)
		return res;
	nbytes = (size_t)t->nbytes;
	if (*size < OT_IO_OVERHEAD + nbytes) {
		*size = OT_IO_OVERHEAD + nbytes;
		return TEE_ERROR_SHORT_BUFFER;
	}
	bounce = TEE_Malloc(BOUNCE_BYTES, TEE_MALLOC_FILL_ZERO);
	if (!bounce)
		return TEE_ERROR_OUT_OF_MEMORY;
	prefix.counter = s->io.counter;
	TEE_GenerateRandom(prefix.nonce, sizeof(prefix.nonce));
	io_aad(s, OT_IO_OUTPUT, index, nbytes, &aad);
	res = gcm_start(s, TEE_MODE_ENCRYPT, prefix.nonce, &aad, nbytes, &op);
	if (res != TEE_SUCCESS)
		goto done;
	/* Encrypted in TA memory, then copied out: the ciphertext is never computed in shared memory. */
	while (nbytes - pos > BOUNCE_BYTES) {
		out = BOUNCE_BYTES;
		res = TEE_AEUpdate(op, s->region + t->offset + pos, BOUNCE_BYTES, bounce, &out);
		if (res != TEE_SUCCESS || out != BOUNCE_BYTES) {
			res = res != TEE_SUCCESS ? res : TEE_ERROR_GENERIC;
			goto done;
		}
		TEE_MemMove(msg + PREFIX_BYTES + pos, bounce, out);
		pos += out;
	}
	out = BOUNCE_BYTES;
	res = TEE_AEEncryptFinal(op, s->region + t->offset + pos, nbytes - pos, bounce, &out, tag, &tag_len);
	if (res != TEE_SUCCESS)
		goto done;
	if (out != nbytes - pos || tag_len != sizeof(tag)) {
		res = TEE_ERROR_GENERIC;
		goto done;
	}
	TEE_MemMove(msg + PREFIX_BYTES + pos, bounce, out);
	TEE_MemMove(msg, &prefix, PREFIX_BYTES);
	TEE_MemMove(msg + PREFIX_BYTES + nbytes, tag, sizeof(tag));
	*size = OT_IO_OVERHEAD + nbytes;
	s->io.counter++;
	model_output_taken(s, index);
done:
	if (op != TEE_HANDLE_NULL)
		TEE_FreeOperation(op);
	TEE_MemFill(bounce, 0, BOUNCE_BYTES);
	TEE_Free(bounce);
	return res;
}
