/*
 * The model a session has opened: its authenticated manifest, its key, the one planned region,
 * and the state of the partition being streamed in.  One inference is
 *   write inputs -> (load partition k in chunks, run k) for k = 0..n-1 -> read outputs.
 * Every command is refused with its own result code when it comes out of this order.  Partition 0
 * runs only once every model input of the inference was written; each output is read at most once.
 * A new inference (the first input after the last partition ran, a new I/O session, or
 * OT_CMD_INFER) carries every recurrent state (output slot -> input slot) when the last inference
 * completed, then wipes the region except the pinned bodies (OT_PART_PINNED) and the state inputs;
 * a streamed body is wiped as soon as it ran.  A stream session: pinned bodies are loaded (decrypted,
 * validated, prepared) once and only revalidated before each run; once all are loaded,
 * model_infer does a whole inference in one command.
 */
#ifndef ONNX_TEE_MODEL_H
#define ONNX_TEE_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <tee_internal_api.h>

#include "interp.h"
#include "onnx_tee_ta.h"

struct partition_load {
	bool active;                       /* a blob is being received */
	uint32_t index;
	uint64_t received;                 /* blob bytes received so far */
	uint64_t produced;                 /* plaintext bytes written to the body */
	struct ot_blob_header header;      /* secure copy of the blob header (the AAD) */
	uint8_t tag[OT_TAG_BYTES];
	TEE_OperationHandle decrypt;       /* AES-256-GCM, keyed from the session key */
};

/* Sealed I/O (onnx_tee_ta.h): open after OT_CMD_OPEN_IO_SESSION until the model is opened again. */
struct io_session {
	bool open;
	uint8_t nonce[OT_IO_SESSION_NONCE_BYTES];
	uint64_t counter;                  /* the next sealed message's counter */
	uint8_t inputs_digest[32];         /* chain over this inference's sealed inputs (onnx_tee_ta.h) */
	TEE_ObjectHandle key;              /* K_io, AES-256 */
};

struct model_session {
	uint8_t *manifest;                 /* secure copy, authenticated */
	size_t manifest_bytes;
	const struct ot_manifest_header *header;
	const struct ot_manifest_partition *partitions;
	const struct ot_manifest_tensor *slots;   /* inputs, then outputs */
	const struct ot_manifest_state *states;   /* recurrent state pairs */
	TEE_ObjectHandle key;
	uint32_t key_source;               /* OT_KEY_* the model was opened with */
	uint8_t *region;
	size_t region_bytes;
	uint32_t next;                     /* partition to load and run next in this inference */
	uint8_t *loaded;                   /* per partition: its body is decrypted and validated */
	uint64_t dirty_end;                /* no region byte at or above it was written since the last wipe */
	bool done;                         /* every partition ran since the inputs were written */
	bool started;                      /* a partition ran since the model was opened: states are sealed */
	uint64_t inputs_written;           /* bit i: model input i was written in this inference */
	uint64_t outputs_read;             /* bit i: model output i was read in this inference */
	uint64_t touched;                  /* highest region byte of the current partition */
	rt_partition part;
	struct partition_load load;
	struct io_session io;
};

void model_close(struct model_session *s);

TEE_Result model_open(struct model_session *s, const void *shared_manifest, size_t size, uint32_t key_source);

/* `detail` receives the validator's rt_status when a body is refused. */
TEE_Result model_load_chunk(struct model_session *s, const void *shared_chunk, size_t size, uint32_t index,
			    uint32_t offset, uint32_t *detail);

/* `touched` = highest region byte partition `index` used while loading and running; `detail` =
 * the interpreter's rt_status and `failed_op` the op it stopped at, when it stops. */
TEE_Result model_run(struct model_session *s, uint32_t index, uint32_t *touched, uint32_t *detail,
		     uint32_t *failed_op);

/* Start a new inference: abort a partial load, carry the states of a completed inference, wipe the
 * region except the bodies that stay loaded (pinned ones, or partition 0's before it ran) and the state
 * inputs, forget which inputs were written and outputs read, reset the sealed-input digest. */
void model_inference_begin(struct model_session *s);

/* Checks for writing model input `index` of nbytes and starts a new inference when the last one is
 * done; *slot = where the input goes.  Shared by plain and sealed input; model_input_written records
 * the input once its bytes are in place. */
TEE_Result model_input_slot(struct model_session *s, uint32_t index, size_t nbytes,
			    const struct ot_manifest_tensor **slot);
void model_input_written(struct model_session *s, uint32_t index);

/* Checks for reading model output `index` (the last partition ran, the output not read yet in this
 * inference); *slot = where it lies.  Shared by plain and sealed output; model_output_taken records
 * that it left the TA. */
TEE_Result model_output_slot(struct model_session *s, uint32_t index, const struct ot_manifest_tensor **slot);
void model_output_taken(struct model_session *s, uint32_t index);

TEE_Result model_write_input(struct model_session *s, const void *shared_data, size_t size, uint32_t index);

/* One whole inference of a fully resident model (OT_CMD_INFER): `inputs` = the non-state inputs
 * concatenated, `outputs` (of *out_size bytes) receives the non-state outputs, then partition_count
 * u32 (LE): each partition's highest region byte touched; on return *out_size is the size written or
 * needed.  *touched = the largest of them; detail / failed_part / failed_op as for model_run. */
TEE_Result model_infer(struct model_session *s, const void *inputs, size_t in_size, void *outputs,
		       size_t *out_size, uint32_t *touched, uint32_t *detail, uint32_t *failed_part,
		       uint32_t *failed_op);

/* k = 0: the whole output; k > 0: its top-k entries (onnx_tee_ta.h).  On return *size is the size
 * written (or needed, with TEE_ERROR_SHORT_BUFFER when the buffer was smaller). */
TEE_Result model_read_output(struct model_session *s, void *shared_data, size_t *size, uint32_t index,
			     uint32_t k);

#endif /* ONNX_TEE_MODEL_H */
