/*
 * onnx-tee Trusted Application: GP entry points and command dispatch.
 *
 * Each command checks its exact parameter types (TEE_ERROR_BAD_PARAMETERS otherwise) and hands the
 * memrefs to model.c, which copies shared memory into secure memory before using it.  One session
 * at a time (the TA holds one planned region of the memory budget).  Every refused command is
 * logged (EMSG: command and result code; the size query of a short output buffer only with DMSG).
 */
#include <string.h>
#include <tee_internal_api.h>

#include "model.h"
#include "onnx_tee_ta.h"
#include "sealed_io.h"
#include "secure_store.h"

#define NONE TEE_PARAM_TYPE_NONE
#define MEM_IN TEE_PARAM_TYPE_MEMREF_INPUT
#define MEM_OUT TEE_PARAM_TYPE_MEMREF_OUTPUT
#define VAL_IN TEE_PARAM_TYPE_VALUE_INPUT
#define VAL_OUT TEE_PARAM_TYPE_VALUE_OUTPUT

TEE_Result TA_CreateEntryPoint(void)
{
	return TEE_SUCCESS;
}

void TA_DestroyEntryPoint(void)
{
}

TEE_Result TA_OpenSessionEntryPoint(uint32_t param_types, TEE_Param params[4], void **sess_ctx)
{
	struct model_session *s;

	(void)params;
	if (param_types != TEE_PARAM_TYPES(NONE, NONE, NONE, NONE)) {
		EMSG("open session refused: parameter types %#x", (unsigned)param_types);
		return TEE_ERROR_BAD_PARAMETERS;
	}
	s = TEE_Malloc(sizeof(*s), TEE_MALLOC_FILL_ZERO);
	if (!s)
		return TEE_ERROR_OUT_OF_MEMORY;
	model_close(s);   /* sets every handle to TEE_HANDLE_NULL */
	*sess_ctx = s;
	return TEE_SUCCESS;
}

void TA_CloseSessionEntryPoint(void *sess_ctx)
{
	struct model_session *s = sess_ctx;

	model_close(s);
	TEE_Free(s);
}

static TEE_Result cmd_provision_key(uint32_t types, TEE_Param params[4])
{
	uint8_t key[OT_KEY_BYTES];
	TEE_Result res;

	if (types != TEE_PARAM_TYPES(MEM_IN, NONE, NONE, NONE) || params[0].memref.size != OT_KEY_BYTES)
		return TEE_ERROR_BAD_PARAMETERS;
	TEE_MemMove(key, params[0].memref.buffer, sizeof(key));
	res = store_provision_key(key);
	TEE_MemFill(key, 0, sizeof(key));
	return res;
}

static TEE_Result cmd_enrol_device(uint32_t types, TEE_Param params[4])
{
	uint8_t wrapped[OT_ENROL_WRAPPED_BYTES];
	TEE_Result res;

	if (types != TEE_PARAM_TYPES(MEM_OUT, NONE, NONE, NONE) || params[0].memref.size < sizeof(wrapped))
		return TEE_ERROR_BAD_PARAMETERS;
	res = store_enrol_device(wrapped);   /* the device key wrapped for the vendor, in TA memory */
	if (res == TEE_SUCCESS) {
		TEE_MemMove(params[0].memref.buffer, wrapped, sizeof(wrapped));
		params[0].memref.size = sizeof(wrapped);
	}
	return res;
}

static TEE_Result cmd_open_model(struct model_session *s, uint32_t types, TEE_Param params[4])
{
	if (types != TEE_PARAM_TYPES(MEM_IN, VAL_IN, NONE, NONE))
		return TEE_ERROR_BAD_PARAMETERS;
	return model_open(s, params[0].memref.buffer, params[0].memref.size, params[1].value.a);
}

static TEE_Result cmd_load_chunk(struct model_session *s, uint32_t types, TEE_Param params[4])
{
	uint32_t detail = 0;
	TEE_Result res;

	if (types != TEE_PARAM_TYPES(MEM_IN, VAL_IN, VAL_OUT, NONE))
		return TEE_ERROR_BAD_PARAMETERS;
	res = model_load_chunk(s, params[0].memref.buffer, params[0].memref.size, params[1].value.a,
			       params[1].value.b, &detail);
	params[2].value.a = detail;
	params[2].value.b = 0;
	return res;
}

static TEE_Result cmd_run(struct model_session *s, uint32_t types, TEE_Param params[4])
{
	uint32_t touched = 0, detail = 0, failed_op = 0;
	TEE_Result res;

	if (types != TEE_PARAM_TYPES(VAL_IN, VAL_OUT, VAL_OUT, NONE))
		return TEE_ERROR_BAD_PARAMETERS;
	res = model_run(s, params[0].value.a, &touched, &detail, &failed_op);
	params[1].value.a = touched;
	params[1].value.b = 0;
	params[2].value.a = detail;
	params[2].value.b = failed_op;
	return res;
}

static TEE_Result cmd_write_input(struct model_session *s, uint32_t types, TEE_Param params[4])
{
	if (types != TEE_PARAM_TYPES(MEM_IN, VAL_IN, NONE, NONE))
		return TEE_ERROR_BAD_PARAMETERS;
	return model_write_input(s, params[0].memref.buffer, params[0].memref.size, params[1].value.a);
}

static TEE_Result cmd_read_output(struct model_session *s, uint32_t types, TEE_Param params[4])
{
	if (types != TEE_PARAM_TYPES(MEM_OUT, VAL_IN, NONE, NONE))
		return TEE_ERROR_BAD_PARAMETERS;
	return model_read_output(s, params[0].memref.buffer, &params[0].memref.size, params[1].value.a,
				 params[1].value.b);
}

static TEE_Result cmd_open_io_session(struct model_session *s, uint32_t types, TEE_Param params[4])
{
	if (types != TEE_PARAM_TYPES(MEM_OUT, NONE, NONE, NONE))
		return TEE_ERROR_BAD_PARAMETERS;
	return io_open_session(s, params[0].memref.buffer, &params[0].memref.size);
}

static TEE_Result cmd_write_input_sealed(struct model_session *s, uint32_t types, TEE_Param params[4])
{
	if (types != TEE_PARAM_TYPES(MEM_IN, VAL_IN, NONE, NONE))
		return TEE_ERROR_BAD_PARAMETERS;
	return io_write_input(s, params[0].memref.buffer, params[0].memref.size, params[1].value.a);
}

static TEE_Result cmd_read_output_sealed(struct model_session *s, uint32_t types, TEE_Param params[4])
{
	if (types != TEE_PARAM_TYPES(MEM_OUT, VAL_IN, NONE, NONE))
		return TEE_ERROR_BAD_PARAMETERS;
	return io_read_output(s, params[0].memref.buffer, &params[0].memref.size, params[1].value.a);
}

static TEE_Result cmd_infer(struct model_session *s, uint32_t types, TEE_Param params[4])
{
	uint32_t touched = 0, detail = 0, failed_part = 0, failed_op = 0;
	size_t size;
	TEE_Result res;

	if (types != TEE_PARAM_TYPES(MEM_IN, MEM_OUT, VAL_OUT, VAL_OUT))
		return TEE_ERROR_BAD_PARAMETERS;
	size = params[1].memref.size;
	res = model_infer(s, params[0].memref.buffer, params[0].memref.size, params[1].memref.buffer, &size,
			  &touched, &detail, &failed_part, &failed_op);
	params[1].memref.size = size;
	params[2].value.a = touched;
	params[2].value.b = detail;
	params[3].value.a = failed_part;
	params[3].value.b = failed_op;
	return res;
}

static TEE_Result cmd_ping(uint32_t types)
{
	return types == TEE_PARAM_TYPES(NONE, NONE, NONE, NONE) ? TEE_SUCCESS : TEE_ERROR_BAD_PARAMETERS;
}

static TEE_Result dispatch(struct model_session *s, uint32_t cmd_id, uint32_t param_types, TEE_Param params[4])
{
	switch (cmd_id) {
	case OT_CMD_PROVISION_KEY:
		return cmd_provision_key(param_types, params);
	case OT_CMD_ENROL_DEVICE:
		return cmd_enrol_device(param_types, params);
	case OT_CMD_OPEN_MODEL:
		return cmd_open_model(s, param_types, params);
	case OT_CMD_LOAD_CHUNK:
		return cmd_load_chunk(s, param_types, params);
	case OT_CMD_RUN:
		return cmd_run(s, param_types, params);
	case OT_CMD_WRITE_INPUT:
		return cmd_write_input(s, param_types, params);
	case OT_CMD_READ_OUTPUT:
		return cmd_read_output(s, param_types, params);
	case OT_CMD_OPEN_IO_SESSION:
		return cmd_open_io_session(s, param_types, params);
	case OT_CMD_WRITE_INPUT_SEALED:
		return cmd_write_input_sealed(s, param_types, params);
	case OT_CMD_READ_OUTPUT_SEALED:
		return cmd_read_output_sealed(s, param_types, params);
	case OT_CMD_INFER:
		return cmd_infer(s, param_types, params);
	case OT_CMD_PING:
		return cmd_ping(param_types);
	default:
		return TEE_ERROR_NOT_SUPPORTED;
	}
}

TEE_Result TA_InvokeCommandEntryPoint(void *sess_ctx, uint32_t cmd_id, uint32_t param_types,
				      TEE_Param params[4])
{
	TEE_Result res = dispatch(sess_ctx, cmd_id, param_types, params);

	if (res == TEE_ERROR_SHORT_BUFFER)
		DMSG("command %#x: output buffer too short", (unsigned)cmd_id);
	else if (res != TEE_SUCCESS)
		EMSG("command %#x refused: %#x", (unsigned)cmd_id, (unsigned)res);
	return res;
}
