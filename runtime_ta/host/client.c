/* The TA protocol on libteec (see client.h and runtime_ta/include/onnx_tee_ta.h). */
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "onnx_tee_ta.h"

struct ot_client *ot_client_new(void)
{
	return calloc(1, sizeof(struct ot_client));
}

void ot_client_free(struct ot_client *c)
{
	if (!c)
		return;
	ot_client_close(c);
	free(c);
}

TEEC_Result ot_client_open(struct ot_client *c)
{
	static const TEEC_UUID uuid = TA_ONNX_TEE_UUID;
	TEEC_Result res;

	ot_client_close(c);
	c->context_failed = 0;
	res = TEEC_InitializeContext(NULL, &c->context);
	if (res != TEEC_SUCCESS) {
		c->context_failed = 1;
		return res;
	}
	c->has_context = 1;
	res = TEEC_OpenSession(&c->context, &c->session, &uuid, TEEC_LOGIN_PUBLIC, NULL, NULL, &c->origin);
	if (res != TEEC_SUCCESS) {
		ot_client_close(c);
		return res;
	}
	c->has_session = 1;
	return TEEC_SUCCESS;
}

void ot_client_close(struct ot_client *c)
{
	if (c->has_session)
		TEEC_CloseSession(&c->session);
	if (c->has_context)
		TEEC_FinalizeContext(&c->context);
	c->has_session = 0;
	c->has_context = 0;
}

static TEEC_Result invoke(struct ot_client *c, uint32_t cmd, TEEC_Operation *op)
{
	if (!c->has_session)
		return TEEC_ERROR_BAD_STATE;
	return TEEC_InvokeCommand(&c->session, cmd, op, &c->origin);
}

/* A command whose only parameter is one temporary memref (TEEC_MEMREF_TEMP_INPUT or _OUTPUT). */
static TEEC_Result invoke_with_buffer(struct ot_client *c, uint32_t cmd, uint32_t memref_type, void *buffer,
				      size_t size)
{
	TEEC_Operation op;

	memset(&op, 0, sizeof(op));
	op.paramTypes = TEEC_PARAM_TYPES(memref_type, TEEC_NONE, TEEC_NONE, TEEC_NONE);
	op.params[0].tmpref.buffer = buffer;
	op.params[0].tmpref.size = size;
	return invoke(c, cmd, &op);
}

TEEC_Result ot_client_null_command(struct ot_client *c, uint32_t cmd)
{
	TEEC_Operation op;

	memset(&op, 0, sizeof(op));
	op.paramTypes = TEEC_PARAM_TYPES(TEEC_NONE, TEEC_NONE, TEEC_NONE, TEEC_NONE);
	return invoke(c, cmd, &op);
}

TEEC_Result ot_client_provision_key(struct ot_client *c, const uint8_t *key, size_t key_len)
{
	return invoke_with_buffer(c, OT_CMD_PROVISION_KEY, TEEC_MEMREF_TEMP_INPUT, (void *)key, key_len);
}

TEEC_Result ot_client_enrol_device(struct ot_client *c, uint8_t *key, size_t key_len)
{
	return invoke_with_buffer(c, OT_CMD_ENROL_DEVICE, TEEC_MEMREF_TEMP_OUTPUT, key, key_len);
}

TEEC_Result ot_client_open_model(struct ot_client *c, const void *manifest, size_t size, uint32_t key_source)
{
	TEEC_Operation op;

	memset(&op, 0, sizeof(op));
	op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_TEMP_INPUT, TEEC_VALUE_INPUT, TEEC_NONE, TEEC_NONE);
	op.params[0].tmpref.buffer = (void *)manifest;
	op.params[0].tmpref.size = size;
	op.params[1].value.a = key_source;
	return invoke(c, OT_CMD_OPEN_MODEL, &op);
}

TEEC_Result ot_client_load_partition(struct ot_client *c, uint32_t index, const void *blob, size_t size,
				     size_t *chunk_bytes, uint32_t *detail)
{
	TEEC_SharedMemory shm;
	TEEC_Operation op;
	TEEC_Result res;
	size_t offset = 0;

	*detail = 0;
	if (!c->has_session)
		return TEEC_ERROR_BAD_STATE;
	if (*chunk_bytes == 0 || size == 0 || size > UINT32_MAX)
		return TEEC_ERROR_BAD_PARAMETERS;
	memset(&shm, 0, sizeof(shm));
	shm.buffer = (void *)blob;
	shm.size = size;
	shm.flags = TEEC_MEM_INPUT;
	res = TEEC_RegisterSharedMemory(&c->context, &shm);
	if (res != TEEC_SUCCESS)
		return res;
	while (offset < size) {
		size_t n = size - offset < *chunk_bytes ? size - offset : *chunk_bytes;

		memset(&op, 0, sizeof(op));
		op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_PARTIAL_INPUT, TEEC_VALUE_INPUT, TEEC_VALUE_OUTPUT,
						 TEEC_NONE);
		op.params[0].memref.parent = &shm;
		op.params[0].memref.offset = offset;
		op.params[0].memref.size = n;
		op.params[1].value.a = index;
		op.params[1].value.b = (uint32_t)offset;
		res = invoke(c, OT_CMD_LOAD_CHUNK, &op);
		*detail = op.params[2].value.a;
		/* OP-TEE reports a memref it cannot map with origin TEEC_ORIGIN_TRUSTED_APP, like the TA's own
		 * refusals: the TA allocates nothing after a blob's first chunk, and a first chunk sent again
		 * restarts the load, so this offset goes again, halved, whichever it was. */
		if (res == TEEC_ERROR_OUT_OF_MEMORY && n / 2 >= OT_CLIENT_MIN_CHUNK) {
			*chunk_bytes = n / 2;
			continue;
		}
		if (res != TEEC_SUCCESS)
			break;
		offset += n;
	}
	TEEC_ReleaseSharedMemory(&shm);
	return res;
}

TEEC_Result ot_client_run(struct ot_client *c, uint32_t index, uint32_t *touched, uint32_t *detail,
			  uint32_t *failed_op)
{
	TEEC_Operation op;
	TEEC_Result res;

	memset(&op, 0, sizeof(op));
	op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_INPUT, TEEC_VALUE_OUTPUT, TEEC_VALUE_OUTPUT, TEEC_NONE);
	op.params[0].value.a = index;
	res = invoke(c, OT_CMD_RUN, &op);
	*touched = op.params[1].value.a;
	*detail = op.params[2].value.a;
	*failed_op = op.params[2].value.b;
	return res;
}

TEEC_Result ot_client_infer(struct ot_client *c, const void *inputs, size_t in_size, void *outputs,
			    size_t *out_size, uint32_t *touched, uint32_t *detail, uint32_t *failed_part,
			    uint32_t *failed_op)
{
	TEEC_Operation op;
	TEEC_Result res;

	memset(&op, 0, sizeof(op));
	op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_TEMP_INPUT, TEEC_MEMREF_TEMP_OUTPUT, TEEC_VALUE_OUTPUT,
					 TEEC_VALUE_OUTPUT);
	op.params[0].tmpref.buffer = (void *)inputs;
	op.params[0].tmpref.size = in_size;
	op.params[1].tmpref.buffer = outputs;
	op.params[1].tmpref.size = *out_size;
	res = invoke(c, OT_CMD_INFER, &op);
	*out_size = op.params[1].tmpref.size;
	*touched = op.params[2].value.a;
	*detail = op.params[2].value.b;
	*failed_part = op.params[3].value.a;
	*failed_op = op.params[3].value.b;
	return res;
}

static TEEC_Result write_tensor(struct ot_client *c, uint32_t cmd, uint32_t index, const void *data, size_t size)
{
	TEEC_Operation op;

	memset(&op, 0, sizeof(op));
	op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_TEMP_INPUT, TEEC_VALUE_INPUT, TEEC_NONE, TEEC_NONE);
	op.params[0].tmpref.buffer = (void *)data;
	op.params[0].tmpref.size = size;
	op.params[1].value.a = index;
	return invoke(c, cmd, &op);
}

TEEC_Result ot_client_write_input(struct ot_client *c, uint32_t index, const void *data, size_t size)
{
	return write_tensor(c, OT_CMD_WRITE_INPUT, index, data, size);
}

TEEC_Result ot_client_open_io_session(struct ot_client *c, uint8_t *nonce, size_t size)
{
	return invoke_with_buffer(c, OT_CMD_OPEN_IO_SESSION, TEEC_MEMREF_TEMP_OUTPUT, nonce, size);
}

TEEC_Result ot_client_write_input_sealed(struct ot_client *c, uint32_t index, const void *msg, size_t size)
{
	return write_tensor(c, OT_CMD_WRITE_INPUT_SEALED, index, msg, size);
}

TEEC_Result ot_client_read_output_sealed(struct ot_client *c, uint32_t index, void *msg, size_t size,
					 size_t *written)
{
	TEEC_Operation op;
	TEEC_Result res;

	memset(&op, 0, sizeof(op));
	op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_TEMP_OUTPUT, TEEC_VALUE_INPUT, TEEC_NONE, TEEC_NONE);
	op.params[0].tmpref.buffer = msg;
	op.params[0].tmpref.size = size;
	op.params[1].value.a = index;
	res = invoke(c, OT_CMD_READ_OUTPUT_SEALED, &op);
	*written = op.params[0].tmpref.size;
	return res;
}

TEEC_Result ot_client_read_output(struct ot_client *c, uint32_t index, void *data, size_t size)
{
	TEEC_Operation op;

	memset(&op, 0, sizeof(op));
	op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_TEMP_OUTPUT, TEEC_VALUE_INPUT, TEEC_NONE, TEEC_NONE);
	op.params[0].tmpref.buffer = data;
	op.params[0].tmpref.size = size;
	op.params[1].value.a = index;
	return invoke(c, OT_CMD_READ_OUTPUT, &op);
}

TEEC_Result ot_client_read_topk(struct ot_client *c, uint32_t index, uint32_t k, void *entries, size_t *count)
{
	TEEC_Operation op;
	TEEC_Result res;

	memset(&op, 0, sizeof(op));
	op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_TEMP_OUTPUT, TEEC_VALUE_INPUT, TEEC_NONE, TEEC_NONE);
	op.params[0].tmpref.buffer = entries;
	op.params[0].tmpref.size = (size_t)k * sizeof(struct ot_topk_entry);
	op.params[1].value.a = index;
	op.params[1].value.b = k;
	res = invoke(c, OT_CMD_READ_OUTPUT, &op);
	*count = res == TEEC_SUCCESS ? op.params[0].tmpref.size / sizeof(struct ot_topk_entry) : 0;
	return res;
}

const char *ot_result_name(uint32_t result)
{
	/* GP TEE result codes by value (TEE Internal Core API / TEE Client API share them), so the
	 * table does not depend on which codes a libteec header happens to define. */
	switch (result) {
	case 0x00000000u: return "TEE_SUCCESS";
	case OT_ERR_MANIFEST_FORMAT: return "OT_ERR_MANIFEST_FORMAT";
	case OT_ERR_MANIFEST_AUTH: return "OT_ERR_MANIFEST_AUTH";
	case OT_ERR_BLOB_FORMAT: return "OT_ERR_BLOB_FORMAT";
	case OT_ERR_BLOB_AUTH: return "OT_ERR_BLOB_AUTH";
	case OT_ERR_TRUNCATED: return "OT_ERR_TRUNCATED";
	case OT_ERR_REORDERED: return "OT_ERR_REORDERED";
	case OT_ERR_SWAPPED: return "OT_ERR_SWAPPED";
	case OT_ERR_ROLLBACK: return "OT_ERR_ROLLBACK";
	case OT_ERR_NOT_IN_MANIFEST: return "OT_ERR_NOT_IN_MANIFEST";
	case OT_ERR_UNSUPPORTED_VERSION: return "OT_ERR_UNSUPPORTED_VERSION";
	case OT_ERR_BODY_INVALID: return "OT_ERR_BODY_INVALID";
	case OT_ERR_RUN_FAILED: return "OT_ERR_RUN_FAILED";
	case OT_ERR_STATE: return "OT_ERR_STATE";
	case OT_ERR_NO_KEY: return "OT_ERR_NO_KEY";
	case OT_ERR_ALREADY_PROVISIONED: return "OT_ERR_ALREADY_PROVISIONED";
	case OT_ERR_IO_AUTH: return "OT_ERR_IO_AUTH";
	case OT_ERR_IO_REPLAYED: return "OT_ERR_IO_REPLAYED";
	case OT_ERR_IO_SEALED: return "OT_ERR_IO_SEALED";
	case OT_ERR_IO_NO_SESSION: return "OT_ERR_IO_NO_SESSION";
#ifdef OT_ERR_INPUT_MISSING
	case OT_ERR_INPUT_MISSING: return "OT_ERR_INPUT_MISSING";
#endif
#ifdef OT_ERR_OUTPUT_READ
	case OT_ERR_OUTPUT_READ: return "OT_ERR_OUTPUT_READ";
#endif
#ifdef OT_ERR_KEY_MODE
	case OT_ERR_KEY_MODE: return "OT_ERR_KEY_MODE";
#endif
#ifdef OT_ERR_NOT_RESIDENT
	case OT_ERR_NOT_RESIDENT: return "OT_ERR_NOT_RESIDENT";
	case OT_ERR_STATE_TENSOR: return "OT_ERR_STATE_TENSOR";
#endif
	case 0xF0100001u: return "TEE_ERROR_CORRUPT_OBJECT";
	case 0xF0100002u: return "TEE_ERROR_CORRUPT_OBJECT_2";
	case 0xF0100003u: return "TEE_ERROR_STORAGE_NOT_AVAILABLE";
	case 0xF0100004u: return "TEE_ERROR_STORAGE_NOT_AVAILABLE_2";
	case 0xF0100005u: return "TEE_ERROR_UNSUPPORTED_VERSION";
	case 0xF0100006u: return "TEE_ERROR_CIPHERTEXT_INVALID";
	case 0xFFFF0000u: return "TEE_ERROR_GENERIC";
	case 0xFFFF0001u: return "TEE_ERROR_ACCESS_DENIED";
	case 0xFFFF0002u: return "TEE_ERROR_CANCEL";
	case 0xFFFF0003u: return "TEE_ERROR_ACCESS_CONFLICT";
	case 0xFFFF0004u: return "TEE_ERROR_EXCESS_DATA";
	case 0xFFFF0005u: return "TEE_ERROR_BAD_FORMAT";
	case 0xFFFF0006u: return "TEE_ERROR_BAD_PARAMETERS";
	case 0xFFFF0007u: return "TEE_ERROR_BAD_STATE";
	case 0xFFFF0008u: return "TEE_ERROR_ITEM_NOT_FOUND";
	case 0xFFFF0009u: return "TEE_ERROR_NOT_IMPLEMENTED";
	case 0xFFFF000Au: return "TEE_ERROR_NOT_SUPPORTED";
	case 0xFFFF000Bu: return "TEE_ERROR_NO_DATA";
	case 0xFFFF000Cu: return "TEE_ERROR_OUT_OF_MEMORY";
	case 0xFFFF000Du: return "TEE_ERROR_BUSY";
	case 0xFFFF000Eu: return "TEE_ERROR_COMMUNICATION";
	case 0xFFFF000Fu: return "TEE_ERROR_SECURITY";
	case 0xFFFF0010u: return "TEE_ERROR_SHORT_BUFFER";
	case 0xFFFF0011u: return "TEE_ERROR_EXTERNAL_CANCEL";
	case 0xFFFF3001u: return "TEE_ERROR_TIMEOUT";
	case 0xFFFF300Fu: return "TEE_ERROR_OVERFLOW";
	case 0xFFFF3024u: return "TEE_ERROR_TARGET_DEAD";
	case 0xFFFF3041u: return "TEE_ERROR_STORAGE_NO_SPACE";
	case 0xFFFF3071u: return "TEE_ERROR_MAC_INVALID";
	case 0xFFFF3072u: return "TEE_ERROR_SIGNATURE_INVALID";
	case 0xFFFF5000u: return "TEE_ERROR_TIME_NOT_SET";
	case 0xFFFF5001u: return "TEE_ERROR_TIME_NEEDS_RESET";
	default: return NULL;
	}
}
