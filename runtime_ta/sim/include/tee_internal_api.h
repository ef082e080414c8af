/*
 * The subset of the GlobalPlatform TEE Internal Core API (v1.3 signatures, as in OP-TEE 4.x's
 * libutee) that the onnx-tee TA uses, for building the very same TA sources on Linux.
 * Implemented in runtime_ta/sim/gp_shim.c on OpenSSL.  Values and layouts are the GP ones.
 */
#ifndef ONNX_TEE_SIM_TEE_INTERNAL_API_H
#define ONNX_TEE_SIM_TEE_INTERNAL_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <trace.h>   /* EMSG, IMSG, DMSG, FMSG: OP-TEE's tee_internal_api.h includes it too */

typedef uint32_t TEE_Result;

typedef struct {
	uint32_t timeLow;
	uint16_t timeMid;
	uint16_t timeHiAndVersion;
	uint8_t clockSeqAndNode[8];
} TEE_UUID;

typedef union {
	struct {
		void *buffer;
		size_t size;
	} memref;
	struct {
		uint32_t a;
		uint32_t b;
	} value;
} TEE_Param;

typedef struct {
	uint32_t attributeID;
	union {
		struct {
			void *buffer;
			size_t length;
		} ref;
		struct {
			uint32_t a, b;
		} value;
	} content;
} TEE_Attribute;

typedef struct __TEE_TASessionHandle *TEE_TASessionHandle;
typedef struct __TEE_ObjectHandle *TEE_ObjectHandle;
typedef struct __TEE_OperationHandle *TEE_OperationHandle;
typedef uint32_t TEE_ObjectType;

#define TEE_SUCCESS                       0x00000000
#define TEE_ERROR_CORRUPT_OBJECT          0xF0100001
#define TEE_ERROR_GENERIC                 0xFFFF0000
#define TEE_ERROR_ACCESS_DENIED           0xFFFF0001
#define TEE_ERROR_ACCESS_CONFLICT         0xFFFF0003
#define TEE_ERROR_BAD_FORMAT              0xFFFF0005
#define TEE_ERROR_BAD_PARAMETERS          0xFFFF0006
#define TEE_ERROR_BAD_STATE               0xFFFF0007
#define TEE_ERROR_ITEM_NOT_FOUND          0xFFFF0008
#define TEE_ERROR_NOT_IMPLEMENTED         0xFFFF0009
#define TEE_ERROR_NOT_SUPPORTED           0xFFFF000A
#define TEE_ERROR_OUT_OF_MEMORY           0xFFFF000C
#define TEE_ERROR_SECURITY                0xFFFF000F
#define TEE_ERROR_SHORT_BUFFER            0xFFFF0010
#define TEE_ERROR_OVERFLOW                0xFFFF300F
#define TEE_ERROR_STORAGE_NO_SPACE        0xFFFF3041
#define TEE_ERROR_MAC_INVALID             0xFFFF3071

#define TEE_HANDLE_NULL                   0
#define TEE_TIMEOUT_INFINITE              0xFFFFFFFF

#define TEE_PARAM_TYPE_NONE               0
#define TEE_PARAM_TYPE_VALUE_INPUT        1
#define TEE_PARAM_TYPE_VALUE_OUTPUT       2
#define TEE_PARAM_TYPE_VALUE_INOUT        3
#define TEE_PARAM_TYPE_MEMREF_INPUT       5
#define TEE_PARAM_TYPE_MEMREF_OUTPUT      6
#define TEE_PARAM_TYPE_MEMREF_INOUT       7
#define TEE_PARAM_TYPES(t0, t1, t2, t3) \
	((t0) | ((t1) << 4) | ((t2) << 8) | ((t3) << 12))
#define TEE_PARAM_TYPE_GET(t, i) ((((uint32_t)t) >> ((i) * 4)) & 0xF)

#define TEE_MALLOC_FILL_ZERO              0x00000000
#define TEE_MALLOC_NO_FILL                0x00000001
#define TEE_MALLOC_NO_SHARE               0x00000002

#define TEE_MODE_ENCRYPT                  0x00000000
#define TEE_MODE_DECRYPT                  0x00000001
#define TEE_MODE_MAC                      0x00000004
#define TEE_MODE_DIGEST                   0x00000005

#define TEE_STORAGE_PRIVATE               0x00000001
#define TEE_DATA_FLAG_ACCESS_READ         0x00000001
#define TEE_DATA_FLAG_ACCESS_WRITE        0x00000002
#define TEE_DATA_FLAG_ACCESS_WRITE_META   0x00000004
#define TEE_DATA_FLAG_OVERWRITE           0x00000400
#define TEE_OBJECT_ID_MAX_LEN             64

#define TEE_ALG_AES_GCM                   0x40000810
#define TEE_ALG_SHA256                    0x50000004
#define TEE_TYPE_AES                      0xA0000010
#define TEE_ALG_HMAC_SHA256               0x30000004
#define TEE_TYPE_HMAC_SHA256              0xA0000004
#define TEE_ATTR_SECRET_VALUE             0xC0000000
#define TEE_ALG_RSAES_PKCS1_OAEP_MGF1_SHA256 0x60410230
#define TEE_TYPE_RSA_PUBLIC_KEY           0xA0000030
#define TEE_ATTR_RSA_MODULUS              0xD0000130
#define TEE_ATTR_RSA_PUBLIC_EXPONENT      0xD0000230

/* Memory */
void *TEE_Malloc(size_t size, uint32_t hint);
void TEE_Free(void *buffer);
void TEE_MemMove(void *dest, const void *src, size_t size);
void TEE_MemFill(void *buff, uint32_t x, size_t size);
int32_t TEE_MemCompare(const void *buffer1, const void *buffer2, size_t size);
void TEE_Panic(TEE_Result panicCode) __attribute__((noreturn));

/* Transient objects */
TEE_Result TEE_AllocateTransientObject(TEE_ObjectType objectType, uint32_t maxObjectSize,
				       TEE_ObjectHandle *object);
void TEE_FreeTransientObject(TEE_ObjectHandle object);
void TEE_InitRefAttribute(TEE_Attribute *attr, uint32_t attributeID, const void *buffer, size_t length);
TEE_Result TEE_PopulateTransientObject(TEE_ObjectHandle object, const TEE_Attribute *attrs,
				       uint32_t attrCount);

/* Persistent objects */
TEE_Result TEE_OpenPersistentObject(uint32_t storageID, const void *objectID, size_t objectIDLen,
				    uint32_t flags, TEE_ObjectHandle *object);
TEE_Result TEE_CreatePersistentObject(uint32_t storageID, const void *objectID, size_t objectIDLen,
				      uint32_t flags, TEE_ObjectHandle attributes, const void *initialData,
				      size_t initialDataLen, TEE_ObjectHandle *object);
TEE_Result TEE_ReadObjectData(TEE_ObjectHandle object, void *buffer, size_t size, size_t *count);
void TEE_CloseObject(TEE_ObjectHandle object);

/* Operations */
TEE_Result TEE_AllocateOperation(TEE_OperationHandle *operation, uint32_t algorithm, uint32_t mode,
				 uint32_t maxKeySize);
void TEE_FreeOperation(TEE_OperationHandle operation);
TEE_Result TEE_SetOperationKey(TEE_OperationHandle operation, TEE_ObjectHandle key);
void TEE_DigestUpdate(TEE_OperationHandle operation, const void *chunk, size_t chunkSize);
TEE_Result TEE_DigestDoFinal(TEE_OperationHandle operation, const void *chunk, size_t chunkLen, void *hash,
			     size_t *hashLen);
TEE_Result TEE_AEInit(TEE_OperationHandle operation, const void *nonce, size_t nonceLen, uint32_t tagLen,
		      size_t AADLen, size_t payloadLen);
void TEE_AEUpdateAAD(TEE_OperationHandle operation, const void *AADdata, size_t AADdataLen);
TEE_Result TEE_AEUpdate(TEE_OperationHandle operation, const void *srcData, size_t srcLen, void *destData,
			size_t *destLen);
TEE_Result TEE_AEDecryptFinal(TEE_OperationHandle operation, const void *srcData, size_t srcLen,
			      void *destData, size_t *destLen, void *tag, size_t tagLen);
TEE_Result TEE_AEEncryptFinal(TEE_OperationHandle operation, const void *srcData, size_t srcLen,
			      void *destData, size_t *destLen, void *tag, size_t *tagLen);
void TEE_MACInit(TEE_OperationHandle operation, const void *IV, size_t IVLen);
void TEE_MACUpdate(TEE_OperationHandle operation, const void *chunk, size_t chunkSize);
TEE_Result TEE_MACComputeFinal(TEE_OperationHandle operation, const void *message, size_t messageLen,
			       void *mac, size_t *macLen);
void TEE_GenerateRandom(void *randomBuffer, size_t randomBufferLen);
TEE_Result TEE_AsymmetricEncrypt(TEE_OperationHandle operation, const TEE_Attribute *params, uint32_t paramCount,
				 const void *srcData, size_t srcLen, void *destData, size_t *destLen);

/* TA-to-TA (the system pseudo-TA only) */
TEE_Result TEE_OpenTASession(const TEE_UUID *destination, uint32_t cancellationRequestTimeout,
			     uint32_t paramTypes, TEE_Param params[4], TEE_TASessionHandle *session,
			     uint32_t *returnOrigin);
void TEE_CloseTASession(TEE_TASessionHandle session);
TEE_Result TEE_InvokeTACommand(TEE_TASessionHandle session, uint32_t cancellationRequestTimeout,
			       uint32_t commandID, uint32_t paramTypes, TEE_Param params[4],
			       uint32_t *returnOrigin);

/* Entry points the TA implements */
TEE_Result TA_CreateEntryPoint(void);
void TA_DestroyEntryPoint(void);
TEE_Result TA_OpenSessionEntryPoint(uint32_t paramTypes, TEE_Param params[4], void **sessionContext);
void TA_CloseSessionEntryPoint(void *sessionContext);
TEE_Result TA_InvokeCommandEntryPoint(void *sessionContext, uint32_t commandID, uint32_t paramTypes,
				      TEE_Param params[4]);

#endif /* ONNX_TEE_SIM_TEE_INTERNAL_API_H */
