/*
 * Secrets and counters the TA keeps in TEE secure storage (TEE_STORAGE_PRIVATE) or derives from the
 * device: the provisioned model key, the device-bound key, and the per-model rollback counter.
 */
#ifndef ONNX_TEE_SECURE_STORE_H
#define ONNX_TEE_SECURE_STORE_H

#include <stdint.h>
#include <tee_internal_api.h>

#include "onnx_tee_ta.h"

/* The one key source (OT_KEY_*) this TA build accepts. */
uint32_t store_key_mode(void);

/* Store `key` as the model key (provisioned-key TAs); OT_ERR_ALREADY_PROVISIONED if one is stored
 * already, OT_ERR_KEY_MODE on a device-key TA. */
TEE_Result store_provision_key(const uint8_t key[OT_KEY_BYTES]);

/* Derive the device-bound key and wrap it for the vendor (device-key TAs): `wrapped` = RSA-OAEP-SHA256
 * of the key for the built-in vendor public key.  The key itself never leaves the TA. */
TEE_Result store_enrol_device(uint8_t wrapped[OT_ENROL_WRAPPED_BYTES]);

/* Load the key of `source` (OT_KEY_*) into a fresh transient AES-256 key object; OT_ERR_KEY_MODE when
 * `source` is not the TA's key mode. */
TEE_Result store_load_key(uint32_t source, TEE_ObjectHandle *key_object);

/* The sealed-I/O key of a session (onnx_tee_ta.h): HKDF-Expand-SHA256 of the model key with info
 * OT_IO_LABEL || nonce, as an AES-256 object. */
TEE_Result store_derive_io_key(uint32_t source, const uint8_t nonce[OT_IO_SESSION_NONCE_BYTES],
			       TEE_ObjectHandle *key_object);

/* The highest model version this device accepted for `model_id` (0 if none). */
TEE_Result store_read_version(const uint8_t model_id[OT_MODEL_ID_BYTES], uint64_t *version);

/* Record `version` as the highest accepted for `model_id`. */
TEE_Result store_write_version(const uint8_t model_id[OT_MODEL_ID_BYTES], uint64_t version);

#endif /* ONNX_TEE_SECURE_STORE_H */
