/*
 * Normal-world side of the onnx-tee TA protocol, on the GP TEE Client API (libteec): one session,
 * blobs streamed through registered shared memory in chunks no larger than the TA's staging buffer.
 * Used by the CLI (main.c) on a device and, linked against the simulator, by tests and benchmarks.
 */
#ifndef ONNX_TEE_CLIENT_H
#define ONNX_TEE_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <tee_client_api.h>

struct ot_client {
	TEEC_Context context;
	TEEC_Session session;
	int has_context;
	int has_session;
	uint32_t origin;          /* return origin of the last call */
	int context_failed;       /* ot_client_open failed at TEEC_InitializeContext (no TEE reachable) */
};

struct ot_client *ot_client_new(void);
void ot_client_free(struct ot_client *c);

TEEC_Result ot_client_open(struct ot_client *c);
void ot_client_close(struct ot_client *c);

/* One invocation of `cmd` without parameters: OT_CMD_PING answers TEE_SUCCESS; any other command
 * refuses it at its parameter check (TEE_ERROR_BAD_PARAMETERS, which the TA logs).  A whole round
 * trip normal -> secure -> normal that does no work: what a world switch costs. */
TEEC_Result ot_client_null_command(struct ot_client *c, uint32_t cmd);
TEEC_Result ot_client_provision_key(struct ot_client *c, const uint8_t *key, size_t key_len);
TEEC_Result ot_client_enrol_device(struct ot_client *c, uint8_t *key, size_t key_len);
TEEC_Result ot_client_open_model(struct ot_client *c, const void *manifest, size_t size, uint32_t key_source);

/* Stream one blob in chunks of at most *chunk_bytes; *detail is the validator's status on refusal.  A
 * chunk refused with TEEC_ERROR_OUT_OF_MEMORY (OP-TEE maps every memref into the TA and may lack the
 * translation tables for a large one) goes again in halves, down to OT_CLIENT_MIN_CHUNK, and
 * *chunk_bytes keeps the size that worked, for the next blobs. */
#define OT_CLIENT_MIN_CHUNK (64u * 1024u)
TEEC_Result ot_client_load_partition(struct ot_client *c, uint32_t index, const void *blob, size_t size,
				     size_t *chunk_bytes, uint32_t *detail);
TEEC_Result ot_client_run(struct ot_client *c, uint32_t index, uint32_t *touched, uint32_t *detail,
			  uint32_t *failed_op);
/* OT_CMD_INFER: one whole inference of a fully resident model; inputs / outputs are the non-state model
 * inputs / outputs concatenated in order, outputs followed by one u32 per partition (the highest region
 * byte it touched); *out_size = bytes written (or needed: TEEC_ERROR_SHORT_BUFFER). */
TEEC_Result ot_client_infer(struct ot_client *c, const void *inputs, size_t in_size, void *outputs,
			    size_t *out_size, uint32_t *touched, uint32_t *detail, uint32_t *failed_part,
			    uint32_t *failed_op);
TEEC_Result ot_client_write_input(struct ot_client *c, uint32_t index, const void *data, size_t size);
TEEC_Result ot_client_read_output(struct ot_client *c, uint32_t index, void *data, size_t size);
/* Sealed I/O (onnx_tee_ta.h): the client only carries messages sealed and opened by a holder of
 * the model key.  open_io_session returns the TA's session nonce. */
TEEC_Result ot_client_open_io_session(struct ot_client *c, uint8_t *nonce, size_t size);
TEEC_Result ot_client_write_input_sealed(struct ot_client *c, uint32_t index, const void *msg, size_t size);
TEEC_Result ot_client_read_output_sealed(struct ot_client *c, uint32_t index, void *msg, size_t size,
					 size_t *written);
/* The k largest elements of output `index` (struct ot_topk_entry each); *count = entries returned. */
TEEC_Result ot_client_read_topk(struct ot_client *c, uint32_t index, uint32_t k, void *entries, size_t *count);

/* "OT_ERR_ROLLBACK", "TEE_ERROR_BAD_PARAMETERS", ... (the TA's codes and the GlobalPlatform TEE
 * result codes, by their GP names) or NULL for an unknown code. */
const char *ot_result_name(uint32_t result);

#endif /* ONNX_TEE_CLIENT_H */
