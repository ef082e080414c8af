/*
 * sealed_source - the trusted data source/sink of sealed I/O, for tests in a real OP-TEE guest.
 *
 *   sealed_source MODE KEY DEVICE_DIR INPUT.bin
 *
 * Holds the model key (KEY, 32 bytes), opens the model through the normal-world client library,
 * opens an I/O session, derives K_io from the TA's session nonce and seals the input / opens the
 * output exactly as passes/lower/sealed_io.py does:
 *   K_io    = HMAC-SHA256(model key, OT_IO_LABEL || session nonce || 0x01)   (HKDF-Expand, L = 32)
 *   message = counter (u64 LE) || nonce[12] || AES-256-GCM(tensor) || tag[16], AAD = struct ot_io_aad
 * The AAD follows the header's struct ot_io_aad: 40 bytes, or 72 when it ends with the inputs digest
 * that binds an output to its inference's sealed inputs (d_0 = 0^32, d_(j+1) = SHA-256(d_j || index
 * (u32) || counter (u64) || tag), zero in input messages).
 * The guest has no crypto library, so SHA-256, HMAC and AES-256-GCM are written out below (test code,
 * checked by interoperating with the TA's GP crypto).  MODE:
 *   ok          seal the input, run, open the sealed output; prints "output 0: ..." like the client
 *   tamper      flip one ciphertext byte of the sealed input        (expects OT_ERR_IO_AUTH)
 *   replay      send the accepted sealed input a second time         (expects OT_ERR_IO_REPLAYED)
 *   plain-read  run sealed, then ask for the output in the clear     (expects OT_ERR_IO_SEALED)
 *   plain-write open the I/O session, then write a plain input       (expects OT_ERR_IO_SEALED)
 *   no-session  write a sealed input without an I/O session          (expects OT_ERR_IO_NO_SESSION)
 *   plain-first write the input in the clear before opening the I/O session, then run with no sealed
 *               input: the session starts a new inference               (expects OT_ERR_INPUT_MISSING)
 *   read-twice  as ok, then ask for the sealed output once more        (expects OT_ERR_OUTPUT_READ)
 * A refused command prints "sealed_source: <command> failed: <NAME> (0x..., origin N)" and exits 8.
 * Single-input, single-output models only.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "host_io.h"
#include "onnx_tee_ta.h"

/* ------------------------------------------------------------------------------------ SHA-256 */

struct sha256 {
	uint32_t h[8];
	uint8_t block[64];
	size_t fill;
	uint64_t bytes;
};

static const uint32_t K256[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(struct sha256 *s, const uint8_t *p)
{
	uint32_t w[64], a, b, c, d, e, f, g, h, t1, t2;
	int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (i = 16; i < 64; i++)
		w[i] = (ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10)) + w[i - 7] +
		       (ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3)) + w[i - 16];
	a = s->h[0]; b = s->h[1]; c = s->h[2]; d = s->h[3]; e = s->h[4]; f = s->h[5]; g = s->h[6]; h = s->h[7];
	for (i = 0; i < 64; i++) {
		t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i];
		t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
		h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
	}
	s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d; s->h[4] += e; s->h[5] += f; s->h[6] += g; s->h[7] += h;
}

static void sha256_init(struct sha256 *s)
{
	static const uint32_t iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c,
					0x1f83d9ab, 0x5be0cd19 };
	memcpy(s->h, iv, sizeof(iv));
	s->fill = 0;
	s->bytes = 0;
}

static void sha256_update(struct sha256 *s, const void *data, size_t n)
{
	const uint8_t *p = data;

	s->bytes += n;
	while (n--) {
		s->block[s->fill++] = *p++;
		if (s->fill == 64) {
			sha256_block(s, s->block);
			s->fill = 0;
		}
	}
}

static void sha256_final(struct sha256 *s, uint8_t out[32])
{
	uint64_t bits = s->bytes * 8;
	uint8_t pad = 0x80, zero = 0, len[8];
	int i;

	sha256_update(s, &pad, 1);
	while (s->fill != 56)
		sha256_update(s, &zero, 1);
	for (i = 0; i < 8; i++)
		len[i] = (uint8_t)(bits >> (56 - 8 * i));
	sha256_update(s, len, 8);
	for (i = 0; i < 8; i++) {
		out[4 * i] = (uint8_t)(s->h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
		out[4 * i + 3] = (uint8_t)s->h[i];
	}
}

/* HMAC-SHA256 with a 32-byte key over the concatenation of two parts. */
static void hmac_sha256(const uint8_t key[32], const void *a, size_t alen, const void *b, size_t blen,
			uint8_t out[32])
{
	uint8_t pad[64], inner[32];
	struct sha256 s;
	int i;

	for (i = 0; i < 64; i++)
		pad[i] = (uint8_t)((i < 32 ? key[i] : 0) ^ 0x36);
	sha256_init(&s);
	sha256_update(&s, pad, 64);
	sha256_update(&s, a, alen);
	sha256_update(&s, b, blen);
	sha256_final(&s, inner);
	for (i = 0; i < 64; i++)
		pad[i] = (uint8_t)((i < 32 ? key[i] : 0) ^ 0x5c);
	sha256_init(&s);
	sha256_update(&s, pad, 64);
	sha256_update(&s, inner, 32);
	sha256_final(&s, out);
}

/* ------------------------------------------------------------------------------ AES-256-GCM */

static uint8_t sbox[256];

static uint8_t xtime(uint8_t x)
{
	return (uint8_t)((x << 1) ^ ((x & 0x80) ? 0x1b : 0));
}

static void make_sbox(void)
{
	uint8_t p = 1, q = 1;

	do {   /* p runs over the multiplicative group by 3, q over its inverses by 1/3 */
		p = (uint8_t)(p ^ (p << 1) ^ ((p & 0x80) ? 0x1b : 0));
		q ^= (uint8_t)(q << 1);
		q ^= (uint8_t)(q << 2);
		q ^= (uint8_t)(q << 4);
		if (q & 0x80)
			q ^= 0x09;
		sbox[p] = (uint8_t)(q ^ (uint8_t)(q << 1 | q >> 7) ^ (uint8_t)(q << 2 | q >> 6) ^
				    (uint8_t)(q << 3 | q >> 5) ^ (uint8_t)(q << 4 | q >> 4) ^ 0x63);
	} while (p != 1);
	sbox[0] = 0x63;
}

struct aes256 {
	uint8_t rk[240];
};

static void aes256_init(struct aes256 *a, const uint8_t key[32])
{
	uint8_t rcon = 1, t[4];
	int i, j;

	memcpy(a->rk, key, 32);
	for (i = 8; i < 60; i++) {
		memcpy(t, a->rk + 4 * (i - 1), 4);
		if (i % 8 == 0) {
			uint8_t u = t[0];

			t[0] = (uint8_t)(sbox[t[1]] ^ rcon);
			t[1] = sbox[t[2]];
			t[2] = sbox[t[3]];
			t[3] = sbox[u];
			rcon = xtime(rcon);
		} else if (i % 8 == 4) {
			for (j = 0; j < 4; j++)
				t[j] = sbox[t[j]];
		}
		for (j = 0; j < 4; j++)
			a->rk[4 * i + j] = (uint8_t)(a->rk[4 * (i - 8) + j] ^ t[j]);
	}
}

static void aes256_encrypt(const struct aes256 *a, const uint8_t in[16], uint8_t out[16])
{
	uint8_t s[16], t[16];
	int r, i, c;

	for (i = 0; i < 16; i++)
		s[i] = (uint8_t)(in[i] ^ a->rk[i]);
	for (r = 1; r <= 14; r++) {
		for (i = 0; i < 16; i++)   /* SubBytes + ShiftRows (column-major state) */
			t[i] = sbox[s[(i + 4 * (i % 4)) % 16]];
		if (r < 14) {
			for (c = 0; c < 4; c++) {   /* MixColumns */
				uint8_t *col = t + 4 * c, x0 = col[0], x1 = col[1], x2 = col[2], x3 = col[3];
				uint8_t all = (uint8_t)(x0 ^ x1 ^ x2 ^ x3);

				col[0] = (uint8_t)(x0 ^ all ^ xtime((uint8_t)(x0 ^ x1)));
				col[1] = (uint8_t)(x1 ^ all ^ xtime((uint8_t)(x1 ^ x2)));
				col[2] = (uint8_t)(x2 ^ all ^ xtime((uint8_t)(x2 ^ x3)));
				col[3] = (uint8_t)(x3 ^ all ^ xtime((uint8_t)(x3 ^ x0)));
			}
		}
		for (i = 0; i < 16; i++)
			s[i] = (uint8_t)(t[i] ^ a->rk[16 * r + i]);
	}
	memcpy(out, s, 16);
}

/* X = X * H in GF(2^128), GCM's bit order (SP 800-38D, algorithm 1). */
static void gf_mult(uint8_t x[16], const uint8_t h[16])
{
	uint8_t z[16] = { 0 }, v[16];
	int i, j;

	memcpy(v, h, 16);
	for (i = 0; i < 128; i++) {
		int lsb;

		if (x[i / 8] & (0x80 >> (i % 8)))
			for (j = 0; j < 16; j++)
				z[j] ^= v[j];
		lsb = v[15] & 1;
		for (j = 15; j > 0; j--)
			v[j] = (uint8_t)(v[j] >> 1 | v[j - 1] << 7);
		v[0] >>= 1;
		if (lsb)
			v[0] ^= 0xe1;
	}
	memcpy(x, z, 16);
}

static void ghash_update(uint8_t x[16], const uint8_t h[16], const uint8_t *data, size_t n)
{
	size_t i, k;

	for (i = 0; i < n; i += 16) {
		for (k = 0; k < 16 && i + k < n; k++)
			x[k] ^= data[i + k];
		gf_mult(x, h);
	}
}

/* AES-256-GCM with a 96-bit nonce and a 128-bit tag.  decrypt: returns 0 when the tag matches. */
static int gcm(int decrypt, const uint8_t key[32], const uint8_t nonce[12], const uint8_t *aad, size_t aad_len,
	       const uint8_t *in, size_t n, uint8_t *out, uint8_t tag[16])
{
	struct aes256 a;
	uint8_t h[16] = { 0 }, j0[16], ctr[16], ks[16], x[16] = { 0 }, lens[16], full[16];
	size_t i, k;
	uint32_t c;
	int diff = 0;

	aes256_init(&a, key);
	aes256_encrypt(&a, h, h);
	memcpy(j0, nonce, 12);
	j0[12] = 0; j0[13] = 0; j0[14] = 0; j0[15] = 1;
	ghash_update(x, h, aad, aad_len);
	if (decrypt)
		ghash_update(x, h, in, n);
	memcpy(ctr, j0, 16);
	for (i = 0; i < n; i += 16) {
		c = (uint32_t)ctr[12] << 24 | (uint32_t)ctr[13] << 16 | (uint32_t)ctr[14] << 8 | ctr[15];
		c++;
		ctr[12] = (uint8_t)(c >> 24); ctr[13] = (uint8_t)(c >> 16); ctr[14] = (uint8_t)(c >> 8); ctr[15] = (uint8_t)c;
		aes256_encrypt(&a, ctr, ks);
		for (k = 0; k < 16 && i + k < n; k++)
			out[i + k] = (uint8_t)(in[i + k] ^ ks[k]);
	}
	if (!decrypt)
		ghash_update(x, h, out, n);
	for (k = 0; k < 8; k++) {
		lens[k] = (uint8_t)(((uint64_t)aad_len * 8) >> (56 - 8 * k));
		lens[8 + k] = (uint8_t)(((uint64_t)n * 8) >> (56 - 8 * k));
	}
	ghash_update(x, h, lens, 16);
	aes256_encrypt(&a, j0, full);
	for (k = 0; k < 16; k++) {
		full[k] ^= x[k];
		if (decrypt)
			diff |= full[k] ^ tag[k];
		else
			tag[k] = full[k];
	}
	return diff ? -1 : 0;
}

/* ------------------------------------------------------------------------------------ the source */

static void put_u32(uint8_t *p, uint32_t v)
{
	int i;

	for (i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

#define AAD_BYTES sizeof(struct ot_io_aad)   /* 40, or 72 with the inputs digest */
#define AAD_DIGEST_OFFSET 40u

static void aad(uint8_t out[AAD_BYTES], const uint8_t session_nonce[16], uint32_t direction, uint32_t index,
		uint64_t counter, uint64_t nbytes, const uint8_t inputs_digest[32])
{
	memset(out, 0, AAD_BYTES);
	memcpy(out, session_nonce, 16);
	put_u32(out + 16, direction);
	put_u32(out + 20, index);
	put_u64(out + 24, counter);
	put_u64(out + 32, nbytes);
	if (AAD_BYTES >= AAD_DIGEST_OFFSET + 32 && direction == OT_IO_OUTPUT)
		memcpy(out + AAD_DIGEST_OFFSET, inputs_digest, 32);
}

static int refused(const char *what, TEEC_Result res, const struct ot_client *c)
{
	const char *name = ot_result_name(res);

	fprintf(stderr, "sealed_source: %s failed: %s (0x%08x, origin %u)\n", what, name ? name : "unknown", res,
		c->origin);
	return 8;
}

static int random_bytes(uint8_t *out, size_t n)
{
	FILE *f = fopen("/dev/urandom", "rb");
	int ok = f && fread(out, 1, n, f) == n;

	if (f)
		fclose(f);
	return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
	const char *mode;
	uint8_t *key, *manifest, *input, *blob, *message, *out_message, *plain;
	size_t key_size = 0, manifest_size = 0, input_size = 0, blob_size = 0, written = 0;
	const struct ot_manifest_header *h;
	const struct ot_manifest_tensor *slots;
	uint8_t session_nonce[16], kio[32], info[sizeof(OT_IO_LABEL) - 1 + 16 + 1], a[AAD_BYTES];
	uint8_t inputs_digest[32], item[12];
	struct sha256 chain;
	struct ot_client c;
	TEEC_Result res;
	uint32_t k, detail = 0, touched = 0, failed_op = 0;
	size_t out_bytes, i, msg_size, chunk;
	char path[4096];
	int no_session, rc = 0;

	if (argc != 5) {
		fprintf(stderr, "usage: sealed_source ok|tamper|replay|plain-read|plain-write|no-session|plain-first|"
			"read-twice KEY DEVICE_DIR INPUT.bin\n");
		return 2;
	}
	mode = argv[1];
	no_session = !strcmp(mode, "no-session");
	make_sbox();
	key = ot_read_file(argv[2], &key_size);
	snprintf(path, sizeof(path), "%s/manifest.bin", argv[3]);
	manifest = ot_read_file(path, &manifest_size);
	input = ot_read_file(argv[4], &input_size);
	if (!key || key_size != 32 || !manifest || manifest_size < sizeof(*h) || !input) {
		fprintf(stderr, "sealed_source: cannot read the key, the manifest or the input\n");
		return 2;
	}
	h = (const struct ot_manifest_header *)(const void *)manifest;
	slots = (const struct ot_manifest_tensor *)(const void *)(manifest + sizeof(*h) +
								  h->partition_count *
								  sizeof(struct ot_manifest_partition));
	if (h->input_count != 1 || h->output_count != 1 || input_size != slots[0].nbytes) {
		fprintf(stderr, "sealed_source: one input of %llu bytes and one output only\n",
			(unsigned long long)slots[0].nbytes);
		return 2;
	}
	out_bytes = (size_t)slots[1].nbytes;
	memset(&c, 0, sizeof(c));
	res = ot_client_open(&c);
	if (res != TEEC_SUCCESS)
		return refused("open session", res, &c);
	res = ot_client_open_model(&c, manifest, manifest_size, OT_KEY_PROVISIONED);
	if (res != TEEC_SUCCESS)
		return refused("open model", res, &c);
	if (!strcmp(mode, "plain-first")) {
		/* the attacker's input, in the clear, before the trusted source opens its session */
		res = ot_client_write_input(&c, 0, input, input_size);
		if (res != TEEC_SUCCESS)
			return refused("write plain input", res, &c);
	}
	memset(session_nonce, 0, sizeof(session_nonce));
	if (!no_session) {
		res = ot_client_open_io_session(&c, session_nonce, sizeof(session_nonce));
		if (res != TEEC_SUCCESS)
			return refused("open I/O session", res, &c);
	}
	/* K_io = HKDF-Expand-SHA256(model key, label || session nonce, 32) = HMAC(key, label || nonce || 0x01) */
	memcpy(info, OT_IO_LABEL, sizeof(OT_IO_LABEL) - 1);
	memcpy(info + sizeof(OT_IO_LABEL) - 1, session_nonce, 16);
	info[sizeof(info) - 1] = 1;
	hmac_sha256(key, info, sizeof(info), NULL, 0, kio);

	if (!strcmp(mode, "plain-write")) {
		res = ot_client_write_input(&c, 0, input, input_size);
		return res == TEEC_SUCCESS ? 1 : refused("write input", res, &c);
	}
	/* input message: counter 0 */
	msg_size = 8 + OT_NONCE_BYTES + input_size + OT_TAG_BYTES;
	message = malloc(msg_size);
	if (!message || random_bytes(message + 8, OT_NONCE_BYTES) != 0)
		return 1;
	put_u64(message, 0);
	memset(inputs_digest, 0, sizeof(inputs_digest));
	aad(a, session_nonce, OT_IO_INPUT, 0, 0, input_size, inputs_digest);
	gcm(0, kio, message + 8, a, sizeof(a), input, input_size, message + 8 + OT_NONCE_BYTES,
	    message + msg_size - OT_TAG_BYTES);
	/* d_1 = SHA-256(d_0 || index || counter || tag) over this inference's one input */
	put_u32(item, 0);
	put_u64(item + 4, 0);
	sha256_init(&chain);
	sha256_update(&chain, inputs_digest, 32);
	sha256_update(&chain, item, sizeof(item));
	sha256_update(&chain, message + msg_size - OT_TAG_BYTES, OT_TAG_BYTES);
	sha256_final(&chain, inputs_digest);
	printf("sealed input: %s plaintext\n", memcmp(message + 8 + OT_NONCE_BYTES, input, input_size) ? "not the"
												 : "SAME AS");
	if (!strcmp(mode, "tamper"))
		message[8 + OT_NONCE_BYTES + input_size / 2] ^= 0x20;
	res = strcmp(mode, "plain-first") ? ot_client_write_input_sealed(&c, 0, message, msg_size) : TEEC_SUCCESS;
	if (res != TEEC_SUCCESS)
		return refused("write sealed input", res, &c);
	if (!strcmp(mode, "replay")) {
		res = ot_client_write_input_sealed(&c, 0, message, msg_size);
		return res == TEEC_SUCCESS ? 1 : refused("write sealed input again", res, &c);
	}
	chunk = 1u << 20;
	for (k = 0; k < h->partition_count; k++) {
		snprintf(path, sizeof(path), "%s/partition_%03u.blob", argv[3], k);
		blob = ot_read_file(path, &blob_size);
		if (!blob)
			return 2;
		res = ot_client_load_partition(&c, k, blob, blob_size, &chunk, &detail);
		free(blob);
		if (res != TEEC_SUCCESS)
			return refused("load partition", res, &c);
		res = ot_client_run(&c, k, &touched, &detail, &failed_op);
		if (res != TEEC_SUCCESS)
			return refused("run partition", res, &c);
	}
	if (!strcmp(mode, "plain-read")) {
		plain = malloc(out_bytes);
		res = plain ? ot_client_read_output(&c, 0, plain, out_bytes) : TEEC_ERROR_OUT_OF_MEMORY;
		return res == TEEC_SUCCESS ? 1 : refused("read output", res, &c);
	}
	out_message = malloc(out_bytes + OT_IO_OVERHEAD);
	plain = malloc(out_bytes);
	if (!out_message || !plain)
		return 1;
	res = ot_client_read_output_sealed(&c, 0, out_message, out_bytes + OT_IO_OVERHEAD, &written);
	if (res != TEEC_SUCCESS)
		return refused("read sealed output", res, &c);
	if (written != out_bytes + OT_IO_OVERHEAD || out_message[0] != 1) {
		fprintf(stderr, "sealed_source: sealed output of %zu bytes, counter %u\n", written, out_message[0]);
		return 1;
	}
	aad(a, session_nonce, OT_IO_OUTPUT, 0, 1, out_bytes, inputs_digest);
	if (gcm(1, kio, out_message + 8, a, sizeof(a), out_message + 8 + OT_NONCE_BYTES, out_bytes, plain,
		out_message + 8 + OT_NONCE_BYTES + out_bytes) != 0) {
		fprintf(stderr, "sealed_source: the sealed output is not authentic\n");
		return 1;
	}
	printf("output 0:");
	for (i = 0; i + 4 <= out_bytes; i += 4) {
		float v;

		memcpy(&v, plain + i, 4);
		printf(" %.9g", v);
	}
	printf("\n");
	if (!strcmp(mode, "read-twice")) {
		/* the same output sealed again (under the next counter) would be an old answer to a later request */
		res = ot_client_read_output_sealed(&c, 0, out_message, out_bytes + OT_IO_OVERHEAD, &written);
		return res == TEEC_SUCCESS ? 1 : refused("read sealed output again", res, &c);
	}
	/* what crossed shared memory is not the plaintext */
	printf("sealed output: %s plaintext\n",
	       memcmp(out_message + 8 + OT_NONCE_BYTES, plain, out_bytes) ? "not the" : "SAME AS");
	ot_client_close(&c);
	return rc;
}
