/*
 * Sealed I/O: model inputs and outputs encrypted under a per-session key, so that only a holder of
 * the model key (e.g. the model owner's backend) sees them; the normal world carries ciphertext.
 * Message format, key derivation and AAD: onnx_tee_ta.h.
 */
#ifndef ONNX_TEE_SEALED_IO_H
#define ONNX_TEE_SEALED_IO_H

#include <stddef.h>
#include <stdint.h>
#include <tee_internal_api.h>

#include "model.h"

/* Draws a fresh session nonce, derives K_io, resets the counter; writes the nonce to shared_nonce. */
TEE_Result io_open_session(struct model_session *s, void *shared_nonce, size_t *size);

/* Authenticates and decrypts a sealed input into its planned place. */
TEE_Result io_write_input(struct model_session *s, const void *shared_msg, size_t size, uint32_t index);

/* Encrypts output `index` into a sealed message; *size = bytes written (or needed). */
TEE_Result io_read_output(struct model_session *s, void *shared_msg, size_t *size, uint32_t index);

#endif /* ONNX_TEE_SEALED_IO_H */
