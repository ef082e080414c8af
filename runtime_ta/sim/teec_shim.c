/*
 * The GP TEE Client API for the in-process simulator: TEEC_* calls become calls of the TA's entry
 * points, with the parameter translation OP-TEE does (registered/partial memrefs -> TEE_Param memrefs,
 * output sizes and values copied back).  It counts what crosses the boundary and, when asked, logs
 * those bytes so tests can search them.  One TA instance, one session at a time, like the real TA
 * (TA_FLAG_SINGLE_INSTANCE without multi-session).
 */
#include <stdio.h>
#include <string.h>

#include <tee_client_api.h>
#include <tee_internal_api.h>

#include "onnx_tee_ta.h"
#include "sim.h"

static struct ot_sim_traffic traffic;
static FILE *trace;
static int ta_created;
static int session_open;

void ot_sim_traffic(struct ot_sim_traffic *out)
{
	*out = traffic;
}

void ot_sim_reset_traffic(void)
{
	memset(&traffic, 0, sizeof(traffic));
}

int ot_sim_set_trace(const char *path)
{
	if (trace)
		fclose(trace);
	trace = NULL;
	if (!path)
		return 0;
	trace = fopen(path, "ab");
	return trace ? 0 : -1;
}

static void record(const void *data, size_t size, uint64_t *counter)
{
	*counter += size;
	if (trace && size)
		fwrite(data, 1, size, trace);
}

TEEC_Result TEEC_InitializeContext(const char *name, TEEC_Context *context)
{
	(void)name;
	memset(context, 0, sizeof(*context));
	if (!ta_created) {
		if (TA_CreateEntryPoint() != TEE_SUCCESS)
			return TEEC_ERROR_TARGET_DEAD;
		ta_created = 1;
	}
	return TEEC_SUCCESS;
}

void TEEC_FinalizeContext(TEEC_Context *context)
{
	(void)context;
	if (ta_created && !session_open) {
		TA_DestroyEntryPoint();
		ta_created = 0;
	}
}

TEEC_Result TEEC_RegisterSharedMemory(TEEC_Context *context, TEEC_SharedMemory *shm)
{
	(void)context;
	if (!shm || (!shm->buffer && shm->size) || !(shm->flags & (TEEC_MEM_INPUT | TEEC_MEM_OUTPUT)))
		return TEEC_ERROR_BAD_PARAMETERS;
	return TEEC_SUCCESS;
}

void TEEC_ReleaseSharedMemory(TEEC_SharedMemory *shm)
{
	(void)shm;
}

/* TEEC parameter types -> TEE parameter types and TEE_Params, as OP-TEE's driver does. */
static TEEC_Result to_ta_params(const TEEC_Operation *op, uint32_t *types, TEE_Param params[4])
{
	uint32_t i;

	*types = 0;
	memset(params, 0, 4 * sizeof(TEE_Param));
	if (!op)
		return TEEC_SUCCESS;
	for (i = 0; i < 4; i++) {
		uint32_t t = TEEC_PARAM_TYPE_GET(op->paramTypes, i);
		const TEEC_Parameter *p = &op->params[i];
		uint32_t ta_type;

		switch (t) {
		case TEEC_NONE:
			ta_type = TEE_PARAM_TYPE_NONE;
			break;
		case TEEC_VALUE_INPUT:
		case TEEC_VALUE_OUTPUT:
		case TEEC_VALUE_INOUT:
			ta_type = t;
			params[i].value.a = p->value.a;
			params[i].value.b = p->value.b;
			break;
		case TEEC_MEMREF_TEMP_INPUT:
		case TEEC_MEMREF_TEMP_OUTPUT:
		case TEEC_MEMREF_TEMP_INOUT:
			ta_type = t;
			params[i].memref.buffer = p->tmpref.buffer;
			params[i].memref.size = p->tmpref.size;
			break;
		case TEEC_MEMREF_WHOLE:
			if (!p->memref.parent)
				return TEEC_ERROR_BAD_PARAMETERS;
			ta_type = (p->memref.parent->flags & TEEC_MEM_INPUT) ?
				  ((p->memref.parent->flags & TEEC_MEM_OUTPUT) ? TEE_PARAM_TYPE_MEMREF_INOUT :
									      TEE_PARAM_TYPE_MEMREF_INPUT) :
				  TEE_PARAM_TYPE_MEMREF_OUTPUT;
			params[i].memref.buffer = p->memref.parent->buffer;
			params[i].memref.size = p->memref.parent->size;
			break;
		case TEEC_MEMREF_PARTIAL_INPUT:
		case TEEC_MEMREF_PARTIAL_OUTPUT:
		case TEEC_MEMREF_PARTIAL_INOUT:
			if (!p->memref.parent || p->memref.offset > p->memref.parent->size ||
			    p->memref.size > p->memref.parent->size - p->memref.offset)
				return TEEC_ERROR_BAD_PARAMETERS;
			ta_type = t - (TEEC_MEMREF_PARTIAL_INPUT - TEE_PARAM_TYPE_MEMREF_INPUT);
			params[i].memref.buffer = (uint8_t *)p->memref.parent->buffer + p->memref.offset;
			params[i].memref.size = p->memref.size;
			break;
		default:
			return TEEC_ERROR_BAD_PARAMETERS;
		}
		*types |= ta_type << (4 * i);
		if (ta_type == TEE_PARAM_TYPE_MEMREF_INPUT || ta_type == TEE_PARAM_TYPE_MEMREF_INOUT)
			record(params[i].memref.buffer, params[i].memref.size, &traffic.bytes_in);
	}
	return TEEC_SUCCESS;
}

/* Copy output values and memref sizes back into the operation; count the bytes a successful
 * command wrote into output memrefs. */
static void from_ta_params(TEEC_Operation *op, uint32_t types, const TEE_Param params[4], size_t sizes_in[4],
			   TEEC_Result res)
{
	uint32_t i;

	if (!op)
		return;
	for (i = 0; i < 4; i++) {
		uint32_t t = TEE_PARAM_TYPE_GET(types, i);
		uint32_t teec_t = TEEC_PARAM_TYPE_GET(op->paramTypes, i);
		TEEC_Parameter *p = &op->params[i];

		if (t == TEE_PARAM_TYPE_VALUE_OUTPUT || t == TEE_PARAM_TYPE_VALUE_INOUT) {
			p->value.a = params[i].value.a;
			p->value.b = params[i].value.b;
		} else if (t == TEE_PARAM_TYPE_MEMREF_OUTPUT || t == TEE_PARAM_TYPE_MEMREF_INOUT) {
			size_t returned = params[i].memref.size;

			/* a size larger than the buffer only reports the size needed */
			if (res == TEEC_SUCCESS && returned <= sizes_in[i])
				record(params[i].memref.buffer, returned, &traffic.bytes_out);
			if (teec_t == TEEC_MEMREF_TEMP_OUTPUT || teec_t == TEEC_MEMREF_TEMP_INOUT)
				p->tmpref.size = returned;
			else
				p->memref.size = returned;
		}
	}
}

TEEC_Result TEEC_OpenSession(TEEC_Context *context, TEEC_Session *session, const TEEC_UUID *destination,
			     uint32_t connection_method, const void *connection_data, TEEC_Operation *operation,
			     uint32_t *origin)
{
	static const TEEC_UUID ta_uuid = TA_ONNX_TEE_UUID;
	TEE_Param params[4];
	uint32_t types = 0;
	TEEC_Result res;

	(void)connection_data;
	if (origin)
		*origin = TEEC_ORIGIN_API;
	if (!context || !session || !destination || connection_method != TEEC_LOGIN_PUBLIC)
		return TEEC_ERROR_BAD_PARAMETERS;
	if (memcmp(destination, &ta_uuid, sizeof(ta_uuid)) != 0) {
		if (origin)
			*origin = TEEC_ORIGIN_TEE;
		return TEEC_ERROR_ITEM_NOT_FOUND;
	}
	if (!ta_created)
		return TEEC_ERROR_BAD_STATE;
	if (session_open) {
		if (origin)
			*origin = TEEC_ORIGIN_TEE;
		return TEEC_ERROR_BUSY;
	}
	res = to_ta_params(operation, &types, params);
	if (res != TEEC_SUCCESS)
		return res;
	memset(session, 0, sizeof(*session));
	session->ctx = context;
	traffic.sessions++;
	res = TA_OpenSessionEntryPoint(types, params, &session->ta_session);
	if (origin)
		*origin = TEEC_ORIGIN_TRUSTED_APP;
	if (res == TEEC_SUCCESS)
		session_open = 1;
	return res;
}

void TEEC_CloseSession(TEEC_Session *session)
{
	if (!session || !session_open)
		return;
	TA_CloseSessionEntryPoint(session->ta_session);
	session->ta_session = NULL;
	session_open = 0;
}

TEEC_Result TEEC_InvokeCommand(TEEC_Session *session, uint32_t command, TEEC_Operation *operation,
			       uint32_t *origin)
{
	TEE_Param params[4];
	size_t sizes_in[4];
	uint32_t types = 0, i;
	TEEC_Result res;

	if (origin)
		*origin = TEEC_ORIGIN_API;
	if (!session || !session_open)
		return TEEC_ERROR_BAD_PARAMETERS;
	res = to_ta_params(operation, &types, params);
	if (res != TEEC_SUCCESS)
		return res;
	for (i = 0; i < 4; i++)
		sizes_in[i] = params[i].memref.size;
	traffic.invocations++;
	res = TA_InvokeCommandEntryPoint(session->ta_session, command, types, params);
	from_ta_params(operation, types, params, sizes_in, res);
	if (origin)
		*origin = TEEC_ORIGIN_TRUSTED_APP;
	return res;
}
