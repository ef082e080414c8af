/*
 * Secure storage objects of the TA (ids are at most 64 bytes, TEE_STORAGE_PRIVATE: only this TA
 * can open them):
 *   "model-key"          32-byte model key, written once by OT_CMD_PROVISION_KEY (provisioned-key TAs)
 *   "version-<hex id>"   8-byte little-endian highest model version accepted (rollback counter)
 * Key bytes pass through stack buffers only, which are zeroed before returning.
 *
 * Key mode (onnx_tee_ta.h): a TA build takes one key source, CFG_ONNX_TEE_KEY_MODE (make KEY_MODE=...):
 * OT_KEY_PROVISIONED (default) or OT_KEY_DEVICE.  The device-bound key leaves the TA only wrapped
 * (RSA-OAEP) for the vendor public key built in with make VENDOR_KEY=<header from `keygen --vendor`>.
 * The simulator stands in for those build options per simulated device (sim.h).
 */
#include <pta_system.h>
#include <string.h>
#include <tee_internal_api.h>

#include "secure_store.h"

#ifdef ONNX_TEE_SIM
#include "sim.h"
#elif defined(OT_VENDOR_KEY_HEADER)
#include OT_VENDOR_KEY_HEADER   /* static const uint8_t ot_vendor_modulus[OT_ENROL_WRAPPED_BYTES] */
#endif

#ifndef CFG_ONNX_TEE_KEY_MODE
#define CFG_ONNX_TEE_KEY_MODE OT_KEY_PROVISIONED
#endif

static const char key_object_id[] = "model-key";

uint32_t store_key_mode(void)
{
#ifdef ONNX_TEE_SIM
	return ot_sim_key_mode();
#else
	return CFG_ONNX_TEE_KEY_MODE;
#endif
}

/* The vendor's RSA public modulus (big-endian, OT_VENDOR_KEY_BITS), exponent 65537; NULL if none. */
static const uint8_t *vendor_modulus(void)
{
#ifdef ONNX_TEE_SIM
	return ot_sim_vendor_modulus();
#elif defined(OT_VENDOR_KEY_HEADER)
	return ot_vendor_modulus;
#else
	return NULL;
#endif
}

/* TEE_MemFill is an API call the compiler cannot drop as a dead store. */
static void zeroize(void *buffer, size_t size)
{
	TEE_MemFill(buffer, 0, size);
}

/* Create an object that must not exist yet (no TEE_DATA_FLAG_OVERWRITE: creation fails if it does). */
static TEE_Result create_once(const char *id, size_t id_len, const void *data, size_t size)
{
	TEE_ObjectHandle object = TEE_HANDLE_NULL;
	TEE_Result res = TEE_CreatePersistentObject(TEE_STORAGE_PRIVATE, id, id_len, TEE_DATA_FLAG_ACCESS_READ,
						    TEE_HANDLE_NULL, data, size, &object);

	if (res == TEE_ERROR_ACCESS_CONFLICT)
		return OT_ERR_ALREADY_PROVISIONED;
	if (res != TEE_SUCCESS)
		return res;
	TEE_CloseObject(object);
	return TEE_SUCCESS;
}

static TEE_Result read_exact(const char *id, size_t id_len, void *data, size_t size)
{
	TEE_ObjectHandle object = TEE_HANDLE_NULL;
	size_t count = 0;
	TEE_Result res = TEE_OpenPersistentObject(TEE_STORAGE_PRIVATE, id, id_len, TEE_DATA_FLAG_ACCESS_READ,
						  &object);

	if (res != TEE_SUCCESS)
		return res;
	res = TEE_ReadObjectData(object, data, size, &count);
	TEE_CloseObject(object);
	if (res == TEE_SUCCESS && count != size)
		res = TEE_ERROR_CORRUPT_OBJECT;
	return res;
}

TEE_Result store_provision_key(const uint8_t key[OT_KEY_BYTES])
{
	if (store_key_mode() != OT_KEY_PROVISIONED)
		return OT_ERR_KEY_MODE;
	return create_once(key_object_id, sizeof(key_object_id) - 1, key, OT_KEY_BYTES);
}

static TEE_Result derive_device_key(uint8_t key[OT_KEY_BYTES])
{
	static const TEE_UUID system_uuid = PTA_SYSTEM_UUID;
	static const char label[] = OT_DEVICE_KEY_LABEL;
	uint8_t extra[sizeof(label) - 1];
	TEE_TASessionHandle session = TEE_HANDLE_NULL;
	TEE_Param params[4];
	uint32_t origin = 0;
	uint32_t types = TEE_PARAM_TYPES(TEE_PARAM_TYPE_MEMREF_INPUT, TEE_PARAM_TYPE_MEMREF_OUTPUT,
					 TEE_PARAM_TYPE_NONE, TEE_PARAM_TYPE_NONE);
	TEE_Result res;

	memset(params, 0, sizeof(params));
	res = TEE_OpenTASession(&system_uuid, TEE_TIMEOUT_INFINITE, TEE_PARAM_TYPES(0, 0, 0, 0), params,
				&session, &origin);
	if (res != TEE_SUCCESS)
		return OT_ERR_NO_KEY;
	/* Both buffers lie in TA memory, as the system PTA requires. */
	memcpy(extra, label, sizeof(extra));
	params[0].memref.buffer = extra;
	params[0].memref.size = sizeof(extra);
	params[1].memref.buffer = key;
	params[1].memref.size = OT_KEY_BYTES;
	res = TEE_InvokeTACommand(session, TEE_TIMEOUT_INFINITE, PTA_SYSTEM_DERIVE_TA_UNIQUE_KEY, types, params,
				  &origin);
	TEE_CloseTASession(session);
	if (res != TEE_SUCCESS || params[1].memref.size != OT_KEY_BYTES) {
		zeroize(key, OT_KEY_BYTES);
		return OT_ERR_NO_KEY;
	}
	return TEE_SUCCESS;
}

/* RSA-OAEP (SHA-256) of `key` for the vendor public key, into `wrapped` (TA memory). */
static TEE_Result wrap_for_vendor(const uint8_t *modulus, const uint8_t key[OT_KEY_BYTES],
				  uint8_t wrapped[OT_ENROL_WRAPPED_BYTES])
{
	static const uint8_t exponent[] = { 0x01, 0x00, 0x01 };
	TEE_ObjectHandle pub = TEE_HANDLE_NULL;
	TEE_OperationHandle op = TEE_HANDLE_NULL;
	TEE_Attribute attrs[2];
	size_t len = OT_ENROL_WRAPPED_BYTES;
	TEE_Result res = TEE_AllocateTransientObject(TEE_TYPE_RSA_PUBLIC_KEY, OT_VENDOR_KEY_BITS, &pub);

	if (res != TEE_SUCCESS)
		return res;
	TEE_InitRefAttribute(&attrs[0], TEE_ATTR_RSA_MODULUS, modulus, OT_ENROL_WRAPPED_BYTES);
	TEE_InitRefAttribute(&attrs[1], TEE_ATTR_RSA_PUBLIC_EXPONENT, exponent, sizeof(exponent));
	res = TEE_PopulateTransientObject(pub, attrs, 2);
	if (res == TEE_SUCCESS)
		res = TEE_AllocateOperation(&op, TEE_ALG_RSAES_PKCS1_OAEP_MGF1_SHA256, TEE_MODE_ENCRYPT,
					    OT_VENDOR_KEY_BITS);
	if (res == TEE_SUCCESS)
		res = TEE_SetOperationKey(op, pub);
	if (res == TEE_SUCCESS)
		res = TEE_AsymmetricEncrypt(op, NULL, 0, key, OT_KEY_BYTES, wrapped, &len);
	if (res == TEE_SUCCESS && len != OT_ENROL_WRAPPED_BYTES)
		res = TEE_ERROR_GENERIC;
	if (op != TEE_HANDLE_NULL)
		TEE_FreeOperation(op);
	TEE_FreeTransientObject(pub);
	return res;
}

TEE_Result store_enrol_device(uint8_t wrapped[OT_ENROL_WRAPPED_BYTES])
{
	const uint8_t *modulus = vendor_modulus();
	uint8_t key[OT_KEY_BYTES];
	TEE_Result res;

	if (store_key_mode() != OT_KEY_DEVICE)
		return OT_ERR_KEY_MODE;
	if (!modulus)
		return OT_ERR_NO_KEY;
	res = derive_device_key(key);
	if (res == TEE_SUCCESS)
		res = wrap_for_vendor(modulus, key, wrapped);
	zeroize(key, sizeof(key));
	return res;
}

/* The model key's bytes for a key source. */
static TEE_Result read_key(uint32_t source, uint8_t key[OT_KEY_BYTES])
{
	TEE_Result res;

	if (source != OT_KEY_PROVISIONED && source != OT_KEY_DEVICE)
		return TEE_ERROR_BAD_PARAMETERS;
	if (source != store_key_mode())
		return OT_ERR_KEY_MODE;

	if (source == OT_KEY_PROVISIONED) {
		res = read_exact(key_object_id, sizeof(key_object_id) - 1, key, OT_KEY_BYTES);
		return res == TEE_ERROR_ITEM_NOT_FOUND ? OT_ERR_NO_KEY : res;
	}
	if (source == OT_KEY_DEVICE)
		return derive_device_key(key);
	return TEE_ERROR_BAD_PARAMETERS;
}

/* A transient object of `type` holding `key`. */
static TEE_Result key_object_of(uint32_t type, const uint8_t key[OT_KEY_BYTES], TEE_ObjectHandle *key_object)
{
	TEE_Attribute attr;
	TEE_ObjectHandle object = TEE_HANDLE_NULL;
	TEE_Result res = TEE_AllocateTransientObject(type, OT_KEY_BYTES * 8, &object);

	if (res != TEE_SUCCESS)
		return res;
	TEE_InitRefAttribute(&attr, TEE_ATTR_SECRET_VALUE, key, OT_KEY_BYTES);
	res = TEE_PopulateTransientObject(object, &attr, 1);
	if (res != TEE_SUCCESS) {
		TEE_FreeTransientObject(object);
		return res;
	}
	*key_object = object;
	return TEE_SUCCESS;
}

TEE_Result store_load_key(uint32_t source, TEE_ObjectHandle *key_object)
{
	uint8_t key[OT_KEY_BYTES];
	TEE_Result res = read_key(source, key);

	if (res == TEE_SUCCESS)
		res = key_object_of(TEE_TYPE_AES, key, key_object);
	zeroize(key, sizeof(key));
	return res;
}

TEE_Result store_derive_io_key(uint32_t source, const uint8_t nonce[OT_IO_SESSION_NONCE_BYTES],
			       TEE_ObjectHandle *key_object)
{
	static const uint8_t block = 0x01;   /* HKDF-Expand's first (and only) block counter */
	uint8_t key[OT_KEY_BYTES], io_key[OT_KEY_BYTES];
	size_t io_len = sizeof(io_key);
	TEE_ObjectHandle mac_key = TEE_HANDLE_NULL;
	TEE_OperationHandle op = TEE_HANDLE_NULL;
	TEE_Result res = read_key(source, key);

	if (res == TEE_SUCCESS)
		res = key_object_of(TEE_TYPE_HMAC_SHA256, key, &mac_key);
	if (res == TEE_SUCCESS)
		res = TEE_AllocateOperation(&op, TEE_ALG_HMAC_SHA256, TEE_MODE_MAC, OT_KEY_BYTES * 8);
	if (res == TEE_SUCCESS)
		res = TEE_SetOperationKey(op, mac_key);
	if (res == TEE_SUCCESS) {
		TEE_MACInit(op, NULL, 0);
		TEE_MACUpdate(op, OT_IO_LABEL, sizeof(OT_IO_LABEL) - 1);
		TEE_MACUpdate(op, nonce, OT_IO_SESSION_NONCE_BYTES);
		res = TEE_MACComputeFinal(op, &block, 1, io_key, &io_len);
	}
	if (res == TEE_SUCCESS && io_len != sizeof(io_key))
		res = TEE_ERROR_GENERIC;
	if (res == TEE_SUCCESS)
		res = key_object_of(TEE_TYPE_AES, io_key, key_object);
	if (op != TEE_HANDLE_NULL)
		TEE_FreeOperation(op);
	if (mac_key != TEE_HANDLE_NULL)
		TEE_FreeTransientObject(mac_key);
	zeroize(key, sizeof(key));
	zeroize(io_key, sizeof(io_key));
	return res;
}

/* "version-" followed by the model id in hex: 8 + 32 characters. */
static size_t version_object_id(const uint8_t model_id[OT_MODEL_ID_BYTES], char id[48])
{
	static const char hex[] = "0123456789abcdef";
	static const char prefix[] = "version-";
	size_t n = sizeof(prefix) - 1;
	size_t i;

	memcpy(id, prefix, n);
	for (i = 0; i < OT_MODEL_ID_BYTES; i++) {
		id[n++] = hex[model_id[i] >> 4];
		id[n++] = hex[model_id[i] & 15];
	}
	return n;
}

TEE_Result store_read_version(const uint8_t model_id[OT_MODEL_ID_BYTES], uint64_t *version)
{
	char id[48];
	size_t id_len = version_object_id(model_id, id);
	uint8_t bytes[8];
	uint64_t v = 0;
	TEE_Result res = read_exact(id, id_len, bytes, sizeof(bytes));
	int i;

	if (res == TEE_ERROR_ITEM_NOT_FOUND) {
		*version = 0;
		return TEE_SUCCESS;
	}
	if (res != TEE_SUCCESS)
		return res;
	for (i = 7; i >= 0; i--)
		v = (v << 8) | bytes[i];
	*version = v;
	return TEE_SUCCESS;
}

TEE_Result store_write_version(const uint8_t model_id[OT_MODEL_ID_BYTES], uint64_t version)
{
	char id[48];
	size_t id_len = version_object_id(model_id, id);
	uint8_t bytes[8];
	TEE_ObjectHandle object = TEE_HANDLE_NULL;
	TEE_Result res;
	int i;

	for (i = 0; i < 8; i++)
		bytes[i] = (uint8_t)(version >> (8 * i));
	/* Creating with OVERWRITE replaces the object atomically in OP-TEE's secure storage. */
	res = TEE_CreatePersistentObject(TEE_STORAGE_PRIVATE, id, id_len,
					 TEE_DATA_FLAG_ACCESS_READ | TEE_DATA_FLAG_OVERWRITE, TEE_HANDLE_NULL,
					 bytes, sizeof(bytes), &object);
	if (res == TEE_SUCCESS)
		TEE_CloseObject(object);
	return res;
}
