/*
 * A small GlobalPlatform TEE Internal Core API for Linux, enough to run the onnx-tee TA unchanged:
 *
 *   TEE_Malloc/TEE_Free   capped at TA_DATA_SIZE like OP-TEE's fixed TA heap (an allocation past
 *                         the cap returns NULL), with the current use and the high-water mark
 *   TEE_AE* / TEE_Digest* AES-GCM decryption and SHA-256 on OpenSSL EVP (nothing hand-rolled)
 *   persistent objects    one file per object in the simulated device's storage directory
 *   system PTA            the per-TA unique key: HMAC-SHA256(hardware unique key, TA UUID || extra),
 *                         the hardware unique key being <storage>/huk.bin (made once, random)
 *   TEE_MemCompare        constant time, as OP-TEE's
 *   trace_printf          the TA's EMSG/IMSG/DMSG/FMSG (include/trace.h): to stderr up to the level in
 *                         ONNX_TEE_TA_LOG_LEVEL (default 0: silent)
 *   TEE_AsymmetricEncrypt RSA-OAEP (SHA-256) with a public key object (enrolment), on OpenSSL
 *   build options         the key mode and vendor public key a TA build fixes, per simulated device
 * Misuse that OP-TEE answers with TEE_Panic (an uninitialised operation, a bad handle) aborts.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include <pta_system.h>
#include <tee_internal_api.h>

#include "onnx_tee_ta.h"
#include "sim.h"

/* ---- trace ----------------------------------------------------------------------------------- */

#ifndef ONNX_TEE_TA_LOG_LEVEL
#define ONNX_TEE_TA_LOG_LEVEL 0
#endif

/* OP-TEE prints "E/TA:  func:line message" on the secure console; the simulator the same on stderr. */
void trace_printf(const char *func, int line, int level, bool level_ok, const char *fmt, ...)
{
	static const char tags[] = "MEIDF";
	const char *env = getenv("ONNX_TEE_TA_LOG_LEVEL");
	int wanted = env && *env ? atoi(env) : ONNX_TEE_TA_LOG_LEVEL;
	va_list ap;

	if (level_ok && level > wanted)
		return;
	if (!level_ok && wanted <= 0)
		return;
	fprintf(stderr, "%c/TA:  %s:%d ", tags[level >= 0 && level <= 4 ? level : 0], func ? func : "", line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- heap ------------------------------------------------------------------------------------ */

#define HEAP_ALIGN 64u          /* every allocation is at least 64-byte aligned */
#define PAGE_ALIGNED_FROM 65536u /* larger ones (the region) start on a page and own whole pages */

static struct {
	size_t cap;
	size_t used;
	size_t peak;
} heap = { OT_HEAP_RESERVE + 8u * 1024u * 1024u, 0, 0 };

/* Layout: [lead bytes, the last 16 of which hold {lead, size}] [size bytes returned] [padding].
 * Hints as OP-TEE's libutee takes them: FILL_ZERO, NO_SHARE, NO_FILL | NO_SHARE; any other hint
 * (NO_FILL alone included) is a TEE_Panic there, so it is one here. */
void *TEE_Malloc(size_t size, uint32_t hint)
{
	if (hint != TEE_MALLOC_FILL_ZERO && hint != TEE_MALLOC_NO_SHARE &&
	    hint != (TEE_MALLOC_NO_FILL | TEE_MALLOC_NO_SHARE))
		TEE_Panic(TEE_ERROR_BAD_PARAMETERS);
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t lead = size >= PAGE_ALIGNED_FROM ? page : HEAP_ALIGN;
	size_t body = lead == page ? (size + page - 1) / page * page : (size ? size : 1);
	void *block = NULL;
	uint8_t *user;

	if (size > heap.cap - heap.used)
		return NULL;
	if (posix_memalign(&block, lead, lead + body) != 0)
		return NULL;
	user = (uint8_t *)block + lead;
	((size_t *)(void *)user)[-2] = lead;
	((size_t *)(void *)user)[-1] = size;
	heap.used += size;
	if (heap.used > heap.peak)
		heap.peak = heap.used;
	if (!(hint & TEE_MALLOC_NO_FILL))
		memset(user, 0, size);
	ot_sim_watch_note_alloc(user, size);
	return user;
}

void TEE_Free(void *buffer)
{
	size_t lead, size;

	if (!buffer)
		return;
	ot_sim_watch_note_free(buffer);
	lead = ((size_t *)buffer)[-2];
	size = ((size_t *)buffer)[-1];
	heap.used -= size;
	free((uint8_t *)buffer - lead);
}

void TEE_MemMove(void *dest, const void *src, size_t size)
{
	memmove(dest, src, size);
}

void TEE_MemFill(void *buff, uint32_t x, size_t size)
{
	memset(buff, (int)(uint8_t)x, size);
}

int32_t TEE_MemCompare(const void *buffer1, const void *buffer2, size_t size)
{
	const uint8_t *a = buffer1, *b = buffer2;
	int32_t result = 0;
	size_t i;

	/* the first difference decides; every byte is read whatever the contents */
	for (i = 0; i < size; i++) {
		int32_t diff = (int32_t)a[i] - (int32_t)b[i];
		int32_t undecided = -(int32_t)(result == 0);

		result |= diff & undecided;
	}
	return result;
}

void TEE_Panic(TEE_Result code)
{
	fprintf(stderr, "onnx-tee simulator: TEE_Panic(0x%08x)\n", code);
	abort();
}

void ot_sim_set_heap_cap(size_t ta_data_size)
{
	heap.cap = ta_data_size;
	heap.peak = heap.used;
}

size_t ot_sim_heap_used(void)
{
	return heap.used;
}

size_t ot_sim_heap_peak(void)
{
	return heap.peak;
}

void ot_sim_reset_heap_peak(void)
{
	heap.peak = heap.used;
}

/* ---- objects --------------------------------------------------------------------------------- */

enum object_kind { OBJECT_TRANSIENT_AES = 1, OBJECT_PERSISTENT, OBJECT_RSA_PUBLIC };

struct __TEE_ObjectHandle {
	enum object_kind kind;
	uint32_t max_bits;
	EVP_PKEY *pkey;       /* OBJECT_RSA_PUBLIC */
	uint8_t key[OT_KEY_BYTES];
	size_t key_len;
	uint8_t *data;        /* persistent object content */
	size_t size;
	size_t pos;
};

TEE_Result TEE_AllocateTransientObject(TEE_ObjectType type, uint32_t max_bits, TEE_ObjectHandle *object)
{
	TEE_ObjectHandle o;

	if (!(type == TEE_TYPE_AES && (max_bits == 128 || max_bits == 192 || max_bits == 256)) &&
	    !(type == TEE_TYPE_HMAC_SHA256 && max_bits == 256) &&
	    !(type == TEE_TYPE_RSA_PUBLIC_KEY && max_bits >= 2048 && max_bits <= 4096))
		return TEE_ERROR_NOT_SUPPORTED;
	o = calloc(1, sizeof(*o));
	if (!o)
		return TEE_ERROR_OUT_OF_MEMORY;
	o->kind = type == TEE_TYPE_RSA_PUBLIC_KEY ? OBJECT_RSA_PUBLIC : OBJECT_TRANSIENT_AES;
	o->max_bits = max_bits;
	*object = o;
	return TEE_SUCCESS;
}

static void object_free(TEE_ObjectHandle o)
{
	EVP_PKEY_free(o->pkey);
	OPENSSL_cleanse(o->key, sizeof(o->key));
	if (o->data) {
		OPENSSL_cleanse(o->data, o->size);
		free(o->data);
	}
	free(o);
}

void TEE_FreeTransientObject(TEE_ObjectHandle object)
{
	if (object == TEE_HANDLE_NULL)
		return;
	if (object->kind != OBJECT_TRANSIENT_AES && object->kind != OBJECT_RSA_PUBLIC)
		TEE_Panic(TEE_ERROR_BAD_PARAMETERS);
	object_free(object);
}

void TEE_InitRefAttribute(TEE_Attribute *attr, uint32_t id, const void *buffer, size_t length)
{
	attr->attributeID = id;
	attr->content.ref.buffer = (void *)buffer;
	attr->content.ref.length = length;
}

/* An RSA public key from its modulus and exponent attributes (big-endian). */
static TEE_Result populate_rsa_public(TEE_ObjectHandle object, const TEE_Attribute *attrs, uint32_t count)
{
	const TEE_Attribute *n = NULL, *e = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	BIGNUM *bn_n = NULL, *bn_e = NULL;
	TEE_Result res = TEE_ERROR_BAD_PARAMETERS;
	uint32_t i;

	for (i = 0; i < count; i++) {
		if (attrs[i].attributeID == TEE_ATTR_RSA_MODULUS)
			n = &attrs[i];
		else if (attrs[i].attributeID == TEE_ATTR_RSA_PUBLIC_EXPONENT)
			e = &attrs[i];
		else
			return TEE_ERROR_BAD_PARAMETERS;
	}
	if (!n || !e || n->content.ref.length * 8 > object->max_bits || object->pkey)
		return TEE_ERROR_BAD_PARAMETERS;
	bn_n = BN_bin2bn(n->content.ref.buffer, (int)n->content.ref.length, NULL);
	bn_e = BN_bin2bn(e->content.ref.buffer, (int)e->content.ref.length, NULL);
	bld = OSSL_PARAM_BLD_new();
	if (bn_n && bn_e && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) == 1 &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) == 1 &&
	    (params = OSSL_PARAM_BLD_to_param(bld)) != NULL &&
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) != NULL && EVP_PKEY_fromdata_init(ctx) == 1 &&
	    EVP_PKEY_fromdata(ctx, &object->pkey, EVP_PKEY_PUBLIC_KEY, params) == 1)
		res = TEE_SUCCESS;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn_n);
	BN_free(bn_e);
	return res;
}

TEE_Result TEE_PopulateTransientObject(TEE_ObjectHandle object, const TEE_Attribute *attrs, uint32_t count)
{
	if (object != TEE_HANDLE_NULL && object->kind == OBJECT_RSA_PUBLIC)
		return populate_rsa_public(object, attrs, count);
	if (object == TEE_HANDLE_NULL || object->kind != OBJECT_TRANSIENT_AES)
		TEE_Panic(TEE_ERROR_BAD_PARAMETERS);
	if (count != 1 || attrs[0].attributeID != TEE_ATTR_SECRET_VALUE ||
	    attrs[0].content.ref.length * 8 > object->max_bits ||
	    (attrs[0].content.ref.length != 16 && attrs[0].content.ref.length != 24 &&
	     attrs[0].content.ref.length != 32))
		return TEE_ERROR_BAD_PARAMETERS;
	memcpy(object->key, attrs[0].content.ref.buffer, attrs[0].content.ref.length);
	object->key_len = attrs[0].content.ref.length;
	return TEE_SUCCESS;
}

/* ---- persistent storage: <dir>/<hex object id> ------------------------------------------------ */

static char storage_dir[PATH_MAX] = "";

int ot_sim_set_storage(const char *dir)
{
	if (!dir || strlen(dir) >= sizeof(storage_dir) - 2 * TEE_OBJECT_ID_MAX_LEN - 8)
		return -1;
	strcpy(storage_dir, dir);
	return 0;
}

static int object_path(const void *id, size_t id_len, char *path, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *p = id;
	size_t n, i;

	if (!storage_dir[0] || id_len == 0 || id_len > TEE_OBJECT_ID_MAX_LEN)
		return -1;
	n = (size_t)snprintf(path, size, "%s/", storage_dir);
	for (i = 0; i < id_len && n + 3 < size; i++) {
		path[n++] = hex[p[i] >> 4];
		path[n++] = hex[p[i] & 15];
	}
	path[n] = 0;
	return 0;
}

static int read_file(const char *path, uint8_t **data, size_t *size)
{
	FILE *f = fopen(path, "rb");
	long len;

	if (!f)
		return errno == ENOENT ? 1 : -1;
	if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return -1;
	}
	*data = malloc((size_t)len + 1);
	if (!*data || fread(*data, 1, (size_t)len, f) != (size_t)len) {
		free(*data);
		fclose(f);
		return -1;
	}
	fclose(f);
	*size = (size_t)len;
	return 0;
}

/* Write via a temporary file and rename: an object is replaced whole or not at all. */
static int write_file(const char *path, const void *data, size_t size)
{
	char tmp[PATH_MAX + 8];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "wb");
	if (!f)
		return -1;
	if ((size && fwrite(data, 1, size, f) != size) || fflush(f) != 0 || fsync(fileno(f)) != 0) {
		fclose(f);
		unlink(tmp);
		return -1;
	}
	fclose(f);
	return rename(tmp, path);
}

TEE_Result TEE_OpenPersistentObject(uint32_t storage, const void *id, size_t id_len, uint32_t flags,
				    TEE_ObjectHandle *object)
{
	char path[PATH_MAX];
	TEE_ObjectHandle o;
	int rc;

	(void)flags;
	*object = TEE_HANDLE_NULL;
	if (storage != TEE_STORAGE_PRIVATE || object_path(id, id_len, path, sizeof(path)) != 0)
		return TEE_ERROR_ITEM_NOT_FOUND;
	o = calloc(1, sizeof(*o));
	if (!o)
		return TEE_ERROR_OUT_OF_MEMORY;
	o->kind = OBJECT_PERSISTENT;
	rc = read_file(path, &o->data, &o->size);
	if (rc != 0) {
		free(o);
		return rc > 0 ? TEE_ERROR_ITEM_NOT_FOUND : TEE_ERROR_CORRUPT_OBJECT;
	}
	*object = o;
	return TEE_SUCCESS;
}

TEE_Result TEE_CreatePersistentObject(uint32_t storage, const void *id, size_t id_len, uint32_t flags,
				      TEE_ObjectHandle attributes, const void *data, size_t size,
				      TEE_ObjectHandle *object)
{
	char path[PATH_MAX];
	TEE_ObjectHandle o;

	*object = TEE_HANDLE_NULL;
	if (attributes != TEE_HANDLE_NULL)
		return TEE_ERROR_NOT_SUPPORTED;
	if (storage != TEE_STORAGE_PRIVATE || object_path(id, id_len, path, sizeof(path)) != 0)
		return TEE_ERROR_ITEM_NOT_FOUND;
	if (!(flags & TEE_DATA_FLAG_OVERWRITE) && access(path, F_OK) == 0)
		return TEE_ERROR_ACCESS_CONFLICT;
	if (write_file(path, data, size) != 0)
		return TEE_ERROR_STORAGE_NO_SPACE;
	o = calloc(1, sizeof(*o));
	if (!o)
		return TEE_ERROR_OUT_OF_MEMORY;
	o->kind = OBJECT_PERSISTENT;
	o->data = malloc(size ? size : 1);
	if (!o->data) {
		free(o);
		return TEE_ERROR_OUT_OF_MEMORY;
	}
	memcpy(o->data, data, size);
	o->size = size;
	*object = o;
	return TEE_SUCCESS;
}

TEE_Result TEE_ReadObjectData(TEE_ObjectHandle object, void *buffer, size_t size, size_t *count)
{
	size_t n;

	if (object == TEE_HANDLE_NULL || object->kind != OBJECT_PERSISTENT)
		TEE_Panic(TEE_ERROR_BAD_PARAMETERS);
	n = object->size - object->pos < size ? object->size - object->pos : size;
	memcpy(buffer, object->data + object->pos, n);
	object->pos += n;
	*count = n;
	return TEE_SUCCESS;
}

void TEE_CloseObject(TEE_ObjectHandle object)
{
	if (object == TEE_HANDLE_NULL)
		return;
	if (object->kind != OBJECT_PERSISTENT)
		TEE_Panic(TEE_ERROR_BAD_PARAMETERS);
	object_free(object);
}

/* ---- operations: AES-GCM decryption and SHA-256 on OpenSSL ----------------------------------- */

struct __TEE_OperationHandle {
	uint32_t algorithm;
	uint32_t mode;
	EVP_CIPHER_CTX *cipher;
	EVP_MD_CTX *md;
	uint8_t message[256];  /* HMAC-SHA256: the (short) message, MACed on TEE_MACComputeFinal */
	size_t message_len;
	uint8_t key[OT_KEY_BYTES];
	size_t key_len;
	size_t tag_len;
	EVP_PKEY *pkey;        /* RSA-OAEP: the public key */
	int initialized;
};

TEE_Result TEE_AllocateOperation(TEE_OperationHandle *operation, uint32_t algorithm, uint32_t mode,
				 uint32_t max_key_bits)
{
	TEE_OperationHandle op;

	*operation = TEE_HANDLE_NULL;
	if (!((algorithm == TEE_ALG_AES_GCM && (mode == TEE_MODE_DECRYPT || mode == TEE_MODE_ENCRYPT) &&
	       max_key_bits <= 256) ||
	      (algorithm == TEE_ALG_HMAC_SHA256 && mode == TEE_MODE_MAC && max_key_bits == 256) ||
	      (algorithm == TEE_ALG_SHA256 && mode == TEE_MODE_DIGEST) ||
	      (algorithm == TEE_ALG_RSAES_PKCS1_OAEP_MGF1_SHA256 && mode == TEE_MODE_ENCRYPT)))
		return TEE_ERROR_NOT_SUPPORTED;
	op = calloc(1, sizeof(*op));
	if (!op)
		return TEE_ERROR_OUT_OF_MEMORY;
	op->algorithm = algorithm;
	op->mode = mode;
	if (algorithm == TEE_ALG_SHA256) {
		op->md = EVP_MD_CTX_new();
		if (!op->md || EVP_DigestInit_ex(op->md, EVP_sha256(), NULL) != 1) {
			EVP_MD_CTX_free(op->md);
			free(op);
			return TEE_ERROR_OUT_OF_MEMORY;
		}
		op->initialized = 1;
	} else if (algorithm == TEE_ALG_AES_GCM) {
		op->cipher = EVP_CIPHER_CTX_new();
		if (!op->cipher) {
			free(op);
			return TEE_ERROR_OUT_OF_MEMORY;
		}
	}
	*operation = op;
	return TEE_SUCCESS;
}

void TEE_FreeOperation(TEE_OperationHandle op)
{
	if (op == TEE_HANDLE_NULL)
		return;
	EVP_CIPHER_CTX_free(op->cipher);
	EVP_MD_CTX_free(op->md);
	EVP_PKEY_free(op->pkey);
	OPENSSL_cleanse(op->key, sizeof(op->key));
	OPENSSL_cleanse(op->message, sizeof(op->message));
	free(op);
}

TEE_Result TEE_SetOperationKey(TEE_OperationHandle op, TEE_ObjectHandle key)
{
	if (op != TEE_HANDLE_NULL && op->algorithm == TEE_ALG_RSAES_PKCS1_OAEP_MGF1_SHA256) {
		if (key == TEE_HANDLE_NULL || key->kind != OBJECT_RSA_PUBLIC || !key->pkey ||
		    EVP_PKEY_up_ref(key->pkey) != 1)
			TEE_Panic(TEE_ERROR_BAD_PARAMETERS);
		EVP_PKEY_free(op->pkey);
		op->pkey = key->pkey;
		op->initialized = 1;
		return TEE_SUCCESS;
	}
	if (op == TEE_HANDLE_NULL || key == TEE_HANDLE_NULL || key->kind != OBJECT_TRANSIENT_AES ||
	    key->key_len == 0 || (op->algorithm != TEE_ALG_AES_GCM && op->algorithm != TEE_ALG_HMAC_SHA256))
		TEE_Panic(TEE_ERROR_BAD_PARAMETERS);
	memcpy(op->key, key->key, key->key_len);
	op->key_len = key->key_len;
	return TEE_SUCCESS;
}

static const EVP_CIPHER *gcm_cipher(size_t key_len)
{
	return key_len == 16 ? EVP_aes_128_gcm() : key_len == 24 ? EVP_aes_192_gcm() : EVP_aes_256_gcm();
}

TEE_Result TEE_AEInit(TEE_OperationHandle op, const void *nonce, size_t nonce_len, uint32_t tag_bits,
		      size_t aad_len, size_t payload_len)
{
	int enc = op != TEE_HANDLE_NULL && op->mode == TEE_MODE_ENCRYPT;

	(void)aad_len;
	(void)payload_len;
	if (op == TEE_HANDLE_NULL || op->algorithm != TEE_ALG_AES_GCM || op->key_len == 0)
		TEE_Panic(TEE_ERROR_BAD_PARAMETERS);
	if (tag_bits < 96 || tag_bits > 128 || tag_bits % 8 != 0)
		return TEE_ERROR_NOT_SUPPORTED;
	if (nonce_len == 0 || nonce_len > INT_MAX ||
	    EVP_CipherInit_ex(op->cipher, gcm_cipher(op->key_len), NULL, NULL, NULL, enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(op->cipher, EVP_CTRL_GCM_SET_IVLEN, (int)nonce_len, NULL) != 1 ||
	    EVP_CipherInit_ex(op->cipher, NULL, NULL, op->key, nonce, enc) != 1)
		return TEE_ERROR_BAD_PARAMETERS;
	op->tag_len = tag_bits / 8;
	op->initialized = 1;
	return TEE_SUCCESS;
}

/* EVP takes int lengths: feed in pieces. */
static int gcm_update(EVP_CIPHER_CTX *ctx, uint8_t *out, const uint8_t *in, size_t len)
{
	while (len) {
		int piece = len > (1u << 30) ? (1 << 30) : (int)len;
		int produced = 0;

		if (EVP_CipherUpdate(ctx, out, &produced, in, piece) != 1 || (out && produced != piece))
			return 0;
		in += piece;
		if (out)
			out += piece;
		len -= (size_t)piece;
	}
	return 1;
}

void TEE_AEUpdateAAD(TEE_OperationHandle op, const void *aad, size_t len)
{
	if (op == TEE_HANDLE_NULL || op->algorithm != TEE_ALG_AES_GCM || !op->initialized ||
	    !gcm_update(op->cipher, NULL, aad, len))
		TEE_Panic(TEE_ERROR_BAD_STATE);
}

TEE_Result TEE_AEUpdate(TEE_OperationHandle op, const void *src, size_t src_len, void *dest, size_t *dest_len)
{
	if (op == TEE_HANDLE_NULL || op->algorithm != TEE_ALG_AES_GCM || !op->initialized)
		TEE_Panic(TEE_ERROR_BAD_STATE);
	if (*dest_len < src_len) {
		*dest_len = src_len;
		return TEE_ERROR_SHORT_BUFFER;
	}
	if (!gcm_update(op->cipher, dest, src, src_len))
		TEE_Panic(TEE_ERROR_GENERIC);
	*dest_len = src_len;
	return TEE_SUCCESS;
}

TEE_Result TEE_AEDecryptFinal(TEE_OperationHandle op, const void *src, size_t src_len, void *dest,
			      size_t *dest_len, void *tag, size_t tag_len)
{
	uint8_t last[16];
	int produced = 0;
	int ok;

	if (op == TEE_HANDLE_NULL || op->algorithm != TEE_ALG_AES_GCM || !op->initialized ||
	    op->mode != TEE_MODE_DECRYPT)
		TEE_Panic(TEE_ERROR_BAD_STATE);
	if (*dest_len < src_len) {
		*dest_len = src_len;
		return TEE_ERROR_SHORT_BUFFER;
	}
	if (src_len && !gcm_update(op->cipher, dest, src, src_len))
		TEE_Panic(TEE_ERROR_GENERIC);
	op->initialized = 0;
	*dest_len = src_len;
	if (tag_len != op->tag_len)
		return TEE_ERROR_MAC_INVALID;
	if (EVP_CIPHER_CTX_ctrl(op->cipher, EVP_CTRL_GCM_SET_TAG, (int)tag_len, tag) != 1)
		return TEE_ERROR_MAC_INVALID;
	ok = EVP_DecryptFinal_ex(op->cipher, last, &produced);
	return ok == 1 ? TEE_SUCCESS : TEE_ERROR_MAC_INVALID;
}

TEE_Result TEE_AEEncryptFinal(TEE_OperationHandle op, const void *src, size_t src_len, void *dest,
			      size_t *dest_len, void *tag, size_t *tag_len)
{
	uint8_t last[16];
	int produced = 0;

	if (op == TEE_HANDLE_NULL || op->algorithm != TEE_ALG_AES_GCM || !op->initialized ||
	    op->mode != TEE_MODE_ENCRYPT)
		TEE_Panic(TEE_ERROR_BAD_STATE);
	if (*dest_len < src_len || *tag_len < op->tag_len) {
		*dest_len = src_len;
		*tag_len = op->tag_len;
		return TEE_ERROR_SHORT_BUFFER;
	}
	if ((src_len && !gcm_update(op->cipher, dest, src, src_len)) ||
	    EVP_EncryptFinal_ex(op->cipher, last, &produced) != 1 || produced != 0 ||
	    EVP_CIPHER_CTX_ctrl(op->cipher, EVP_CTRL_GCM_GET_TAG, (int)op->tag_len, tag) != 1)
		TEE_Panic(TEE_ERROR_GENERIC);
	op->initialized = 0;
	*dest_len = src_len;
	*tag_len = op->tag_len;
	return TEE_SUCCESS;
}

/* HMAC-SHA256 over a short message kept in the operation (OpenSSL's one-shot HMAC at the end). */
void TEE_MACInit(TEE_OperationHandle op, const void *iv, size_t iv_len)
{
	(void)iv;
	if (op == TEE_HANDLE_NULL || op->algorithm != TEE_ALG_HMAC_SHA256 || op->key_len == 0 || iv_len != 0)
		TEE_Panic(TEE_ERROR_BAD_PARAMETERS);
	op->message_len = 0;
	op->initialized = 1;
}

void TEE_MACUpdate(TEE_OperationHandle op, const void *chunk, size_t size)
{
	if (op == TEE_HANDLE_NULL || op->algorithm != TEE_ALG_HMAC_SHA256 || !op->initialized ||
	    size > sizeof(op->message) - op->message_len)
		TEE_Panic(TEE_ERROR_BAD_STATE);
	memcpy(op->message + op->message_len, chunk, size);
	op->message_len += size;
}

TEE_Result TEE_MACComputeFinal(TEE_OperationHandle op, const void *message, size_t message_len, void *mac,
			       size_t *mac_len)
{
	unsigned int n = 0;

	if (message_len)
		TEE_MACUpdate(op, message, message_len);
	if (op == TEE_HANDLE_NULL || op->algorithm != TEE_ALG_HMAC_SHA256 || !op->initialized)
		TEE_Panic(TEE_ERROR_BAD_STATE);
	if (*mac_len < OT_SHA256_BYTES) {
		*mac_len = OT_SHA256_BYTES;
		return TEE_ERROR_SHORT_BUFFER;
	}
	if (!HMAC(EVP_sha256(), op->key, (int)op->key_len, op->message, op->message_len, mac, &n))
		TEE_Panic(TEE_ERROR_GENERIC);
	OPENSSL_cleanse(op->message, sizeof(op->message));
	op->initialized = 0;
	*mac_len = n;
	return TEE_SUCCESS;
}

void TEE_GenerateRandom(void *buffer, size_t size)
{
	if (size > INT_MAX || RAND_bytes(buffer, (int)size) != 1)
		TEE_Panic(TEE_ERROR_GENERIC);
}

void TEE_DigestUpdate(TEE_OperationHandle op, const void *chunk, size_t size)
{
	if (op == TEE_HANDLE_NULL || op->algorithm != TEE_ALG_SHA256 || !op->initialized ||
	    EVP_DigestUpdate(op->md, chunk, size) != 1)
		TEE_Panic(TEE_ERROR_BAD_STATE);
}

TEE_Result TEE_DigestDoFinal(TEE_OperationHandle op, const void *chunk, size_t chunk_len, void *hash,
			     size_t *hash_len)
{
	unsigned int n = 0;

	if (op == TEE_HANDLE_NULL || op->algorithm != TEE_ALG_SHA256 || !op->initialized)
		TEE_Panic(TEE_ERROR_BAD_STATE);
	if (*hash_len < OT_SHA256_BYTES) {
		*hash_len = OT_SHA256_BYTES;
		return TEE_ERROR_SHORT_BUFFER;
	}
	if ((chunk_len && EVP_DigestUpdate(op->md, chunk, chunk_len) != 1) ||
	    EVP_DigestFinal_ex(op->md, hash, &n) != 1 || EVP_DigestInit_ex(op->md, EVP_sha256(), NULL) != 1)
		TEE_Panic(TEE_ERROR_GENERIC);
	*hash_len = n;
	return TEE_SUCCESS;
}

/* ---- the system pseudo-TA: per-TA unique key ---------------------------------------------------- */

struct __TEE_TASessionHandle {
	int system_pta;
};

static const TEE_UUID system_pta_uuid = PTA_SYSTEM_UUID;
static const TEE_UUID this_ta_uuid = TA_ONNX_TEE_UUID;

/* The simulated device's hardware unique key: made once from the CSPRNG, kept in the storage dir. */
static int hardware_unique_key(uint8_t huk[32])
{
	char path[PATH_MAX + 16];
	uint8_t *data = NULL;
	size_t size = 0;
	int rc;

	if (!storage_dir[0])
		return -1;
	snprintf(path, sizeof(path), "%s/huk.bin", storage_dir);
	rc = read_file(path, &data, &size);
	if (rc == 0 && size == 32) {
		memcpy(huk, data, 32);
		OPENSSL_cleanse(data, size);
		free(data);
		return 0;
	}
	free(data);
	if (rc < 0 || (rc == 0 && size != 32))
		return -1;
	if (RAND_bytes(huk, 32) != 1 || write_file(path, huk, 32) != 0)
		return -1;
	return 0;
}

TEE_Result TEE_OpenTASession(const TEE_UUID *destination, uint32_t timeout, uint32_t types, TEE_Param params[4],
			     TEE_TASessionHandle *session, uint32_t *origin)
{
	(void)timeout;
	(void)params;
	*origin = 3; /* TEE */
	if (memcmp(destination, &system_pta_uuid, sizeof(*destination)) != 0)
		return TEE_ERROR_ITEM_NOT_FOUND;
	if (types != TEE_PARAM_TYPES(0, 0, 0, 0))
		return TEE_ERROR_BAD_PARAMETERS;
	*session = calloc(1, sizeof(**session));
	if (!*session)
		return TEE_ERROR_OUT_OF_MEMORY;
	(*session)->system_pta = 1;
	return TEE_SUCCESS;
}

void TEE_CloseTASession(TEE_TASessionHandle session)
{
	free(session);
}

TEE_Result TEE_InvokeTACommand(TEE_TASessionHandle session, uint32_t timeout, uint32_t command,
			       uint32_t types, TEE_Param params[4], uint32_t *origin)
{
	uint8_t huk[32], mac[32];
	unsigned int mac_len = 0;
	uint8_t message[sizeof(TEE_UUID) + TA_DERIVED_EXTRA_DATA_MAX_SIZE];
	size_t extra_len, key_len;

	(void)timeout;
	*origin = 3;
	if (!session || !session->system_pta || command != PTA_SYSTEM_DERIVE_TA_UNIQUE_KEY)
		return TEE_ERROR_NOT_SUPPORTED;
	if (types != TEE_PARAM_TYPES(TEE_PARAM_TYPE_MEMREF_INPUT, TEE_PARAM_TYPE_MEMREF_OUTPUT, 0, 0))
		return TEE_ERROR_BAD_PARAMETERS;
	extra_len = params[0].memref.size;
	key_len = params[1].memref.size;
	if (extra_len > TA_DERIVED_EXTRA_DATA_MAX_SIZE || key_len < TA_DERIVED_KEY_MIN_SIZE ||
	    key_len > TA_DERIVED_KEY_MAX_SIZE)
		return TEE_ERROR_BAD_PARAMETERS;
	if (hardware_unique_key(huk) != 0)
		return TEE_ERROR_GENERIC;
	memcpy(message, &this_ta_uuid, sizeof(TEE_UUID));
	memcpy(message + sizeof(TEE_UUID), params[0].memref.buffer, extra_len);
	if (!HMAC(EVP_sha256(), huk, sizeof(huk), message, sizeof(TEE_UUID) + extra_len, mac, &mac_len)) {
		OPENSSL_cleanse(huk, sizeof(huk));
		return TEE_ERROR_GENERIC;
	}
	memcpy(params[1].memref.buffer, mac, key_len);
	OPENSSL_cleanse(huk, sizeof(huk));
	OPENSSL_cleanse(mac, sizeof(mac));
	return TEE_SUCCESS;
}

/* ---- RSA-OAEP encryption (SHA-256, MGF1-SHA-256, empty label) -------------------------------- */

TEE_Result TEE_AsymmetricEncrypt(TEE_OperationHandle op, const TEE_Attribute *params, uint32_t count,
				 const void *src, size_t src_len, void *dest, size_t *dest_len)
{
	EVP_PKEY_CTX *ctx;
	size_t need = 0;
	TEE_Result res = TEE_ERROR_GENERIC;

	if (op == TEE_HANDLE_NULL || op->algorithm != TEE_ALG_RSAES_PKCS1_OAEP_MGF1_SHA256 || !op->initialized ||
	    count != 0 || params != NULL)
		TEE_Panic(TEE_ERROR_BAD_PARAMETERS);
	ctx = EVP_PKEY_CTX_new(op->pkey, NULL);
	if (ctx && EVP_PKEY_encrypt_init(ctx) == 1 && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1 &&
	    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) == 1 && EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) == 1 &&
	    EVP_PKEY_encrypt(ctx, NULL, &need, src, src_len) == 1) {
		if (*dest_len < need) {
			*dest_len = need;
			res = TEE_ERROR_SHORT_BUFFER;
		} else if (EVP_PKEY_encrypt(ctx, dest, dest_len, src, src_len) == 1) {
			res = TEE_SUCCESS;
		}
	}
	EVP_PKEY_CTX_free(ctx);
	return res;
}

/* ---- the TA build options of the simulated device -------------------------------------------- */

static struct {
	int set;
	uint32_t key_mode;
	int vendor_set;
	uint8_t modulus[OT_ENROL_WRAPPED_BYTES];
	int has_modulus;
} build;

void ot_sim_set_key_mode(uint32_t mode)
{
	build.key_mode = mode;
	build.set = 1;
}

uint32_t ot_sim_key_mode(void)
{
	const char *env;

	if (!build.set) {
		env = getenv("ONNX_TEE_SIM_KEY_MODE");
		build.key_mode = env && strcmp(env, "device") == 0 ? OT_KEY_DEVICE : OT_KEY_PROVISIONED;
		build.set = 1;
	}
	return build.key_mode;
}

int ot_sim_set_vendor_modulus(const uint8_t *modulus, size_t size)
{
	build.vendor_set = 1;
	build.has_modulus = 0;
	if (!modulus)
		return 0;
	if (size != sizeof(build.modulus))
		return -1;
	memcpy(build.modulus, modulus, size);
	build.has_modulus = 1;
	return 0;
}

const uint8_t *ot_sim_vendor_modulus(void)
{
	const char *env;
	uint8_t *data = NULL;
	size_t size = 0;

	if (!build.vendor_set) {
		build.vendor_set = 1;
		env = getenv("ONNX_TEE_SIM_VENDOR_KEY");
		if (env && read_file(env, &data, &size) == 0) {
			if (size == sizeof(build.modulus)) {
				memcpy(build.modulus, data, size);
				build.has_modulus = 1;
			}
			free(data);
		}
	}
	return build.has_modulus ? build.modulus : NULL;
}
