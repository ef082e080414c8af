/*
 * onnx-tee Trusted Application interface: the one header shared by the TA, the normal-world
 * client and the simulator.  It fixes the TA's UUID, its command IDs and their parameters,
 * its result codes, and the two plaintext structures of the crypto envelope:
 *
 *   device manifest = ot_manifest_header || partition_count x ot_manifest_partition
 *                     || (input_count + output_count) x ot_manifest_tensor
 *                     || state_count x ot_manifest_state || tag[16]
 *       authenticated with AES-256-GCM over an empty plaintext (everything before the tag is
 *       AAD, nonce in the header): the manifest is public but cannot be altered.
 *
 *   partition blob  = ot_blob_header || AES-256-GCM(body) || tag[16]
 *       the header is the AAD; the body is the interpreter's partition body (format.h).
 *
 * All integers are little-endian; every structure is naturally aligned with no implicit padding
 * (checked below), so Python writes them with struct.pack and both worlds read them in place.
 */
#ifndef ONNX_TEE_TA_H
#define ONNX_TEE_TA_H

#include <stdint.h>

/* abf9bcde-c41d-48bf-b7bc-5873da78f43b */
#define TA_ONNX_TEE_UUID \
	{ 0xabf9bcde, 0xc41d, 0x48bf, \
		{ 0xb7, 0xbc, 0x58, 0x73, 0xda, 0x78, 0xf4, 0x3b } }

/*
 * Commands.  Every command checks its exact TEE_PARAM_TYPES and returns
 * TEE_ERROR_BAD_PARAMETERS on any mismatch.  The order of one inference is
 *   OPEN_MODEL, then for each run: WRITE_INPUT (every input, OT_ERR_INPUT_MISSING otherwise),
 *   LOAD_CHUNK... + RUN for partition 0, 1, ..., n-1, then READ_OUTPUT (each output at most once,
 *   OT_ERR_OUTPUT_READ otherwise).  The first WRITE_INPUT after the last partition ran starts the next
 *   inference: the region is wiped except the pinned bodies (OT_PART_PINNED), which stay loaded, and the
 *   recurrent state (ot_manifest_state).  Once every partition is pinned and loaded, OT_CMD_INFER does a
 *   whole inference in one command.
 *
 * Key modes.  A TA build accepts exactly one key source (make KEY_MODE=provisioned|device, see
 * runtime_ta/README.md): the commands and key sources of the other mode answer OT_ERR_KEY_MODE.  So on
 * a device-key TA the normal world cannot provision a key of its own and open manifests it wrote.
 */

/* [in] memref[0] key (32 bytes).  Provisioned-key TAs only.  Stores the model key in TEE secure
 * storage, once: a second call returns OT_ERR_ALREADY_PROVISIONED. */
#define OT_CMD_PROVISION_KEY   0

/* [out] memref[0] wrapped key (OT_ENROL_WRAPPED_BYTES).  Device-key TAs only.  Returns the device-bound
 * key (system PTA: derived from the hardware unique key) encrypted with RSA-OAEP (SHA-256, MGF1-SHA-256,
 * empty label) for the vendor public key built into the TA: only the vendor's private key opens it, so
 * it may be asked for again (the normal world never sees the key).  A TA built without a vendor key
 * answers OT_ERR_NO_KEY. */
#define OT_CMD_ENROL_DEVICE    1
#define OT_VENDOR_KEY_BITS     3072u
#define OT_ENROL_WRAPPED_BYTES (OT_VENDOR_KEY_BITS / 8u)

/* [in] memref[0] device manifest, [in] value[1].a key source (OT_KEY_*).
 * Authenticates the manifest, checks and advances the model's rollback counter, allocates
 * the one planned region of region_bytes. */
#define OT_CMD_OPEN_MODEL      2

/* [in] memref[0] chunk, [in] value[1].a partition index, value[1].b byte offset of the chunk
 * in the blob.  Chunks arrive in order; each is copied into the secure staging buffer and
 * decrypted into the region.  The chunk that completes the blob verifies tag and digest and
 * validates the body. */
#define OT_CMD_LOAD_CHUNK      3

/* [in] value[0].a partition index.  Runs the loaded partition. */
#define OT_CMD_RUN             4

/* [in] memref[0] tensor bytes, [in] value[1].a model input index. */
#define OT_CMD_WRITE_INPUT     5

/* [out] memref[0], [in] value[1].a model output index, value[1].b k.  Only after the last
 * partition ran.  k = 0: the output tensor's bytes.  k > 0: only its k largest float32 elements
 * (flattened), as k struct ot_topk_entry in descending order, ties by lower index, NaNs never
 * chosen; what leaves the TEE is then just the top-k and not the logits. */
#define OT_CMD_READ_OUTPUT     6
#define OT_MAX_TOPK            1024u

/*
 * Sealed I/O (optional): inputs and outputs cross shared memory encrypted under a per-session
 * key K_io that only the TA and a holder of the model key can compute:
 *   K_io = HKDF-Expand-SHA256(PRK = model key, info = OT_IO_LABEL || session nonce, L = 32)
 *        = HMAC-SHA256(model key, OT_IO_LABEL || session nonce || 0x01)
 * A sealed message is  counter (u64 LE) || nonce[12] || AES-256-GCM(tensor) || tag[16]  with AAD
 * struct ot_io_aad.  One counter per I/O session counts every sealed message (inputs and outputs)
 * from 0; the TA accepts only the next one.  Once an I/O session is open, plain WRITE_INPUT and
 * READ_OUTPUT are refused (OT_ERR_IO_SEALED) until the model is opened again.
 */
/* [out] memref[0] session nonce (OT_IO_SESSION_NONCE_BYTES).  After OPEN_MODEL: the TA draws a fresh
 * nonce (TEE_GenerateRandom), derives K_io, resets the counter and starts a new inference (the region is
 * wiped: nothing written in clear before survives).  Each inference then needs every input sealed; each
 * output is sealed once, bound to the inputs it was computed from (ot_io_aad.inputs_digest). */
#define OT_CMD_OPEN_IO_SESSION    7
/* [in] memref[0] sealed input, [in] value[1].a model input index. */
#define OT_CMD_WRITE_INPUT_SEALED 8
/* [out] memref[0] sealed output (OT_IO_OVERHEAD + nbytes), [in] value[1].a model output index. */
#define OT_CMD_READ_OUTPUT_SEALED 9

/* [in] memref[0] every non-state model input, concatenated in input order; [out] memref[1] every
 * non-state model output, concatenated in output order, then partition_count x u32: per partition the
 * highest region byte it touched (its load, when not yet loaded, and run: the figure OT_CMD_RUN gives,
 * so planned == measured is checked per partition in steady state too); [out] value[2].a highest
 * region byte touched over all partitions, value[2].b the interpreter's rt_status when it stops;
 * [out] value[3].a the partition and value[3].b the op it stopped at.  One whole inference in one
 * round trip: starts a new inference (wipe of the
 * transient region, state carried), writes the inputs, runs every partition, hands out every output
 * once.  Only when every partition is pinned and loaded (OT_ERR_NOT_RESIDENT otherwise) and without
 * sealed I/O (OT_ERR_IO_SEALED).  A too small output buffer answers TEE_ERROR_SHORT_BUFFER with the
 * size needed in memref[1].size before anything runs. */
#define OT_CMD_INFER              11

/* No parameters.  Does nothing and answers TEE_SUCCESS, without logging: the cheapest whole round trip
 * normal -> secure -> normal into this TA, to measure what a world switch costs on a device
 * (onnx_tee_client --ping N; scripts/bench_optee.py). */
#define OT_CMD_PING               10

#define OT_IO_LABEL               "onnx-tee io v2"
#define OT_IO_SESSION_NONCE_BYTES 16u
#define OT_IO_OVERHEAD            (8u + OT_NONCE_BYTES + OT_TAG_BYTES)
#define OT_IO_INPUT               1u
#define OT_IO_OUTPUT              2u

/* Key sources for OT_CMD_OPEN_MODEL. */
#define OT_KEY_PROVISIONED     1	/* key stored by OT_CMD_PROVISION_KEY */
#define OT_KEY_DEVICE          2	/* key derived from the hardware unique key */

/* Result codes of this TA (TA-defined range), one per reason a model is refused. */
#define OT_ERR_MANIFEST_FORMAT     0x80A70001u /* malformed manifest: size, magic, counts, bounds */
#define OT_ERR_MANIFEST_AUTH       0x80A70002u /* manifest tag invalid: altered, or another key */
#define OT_ERR_BLOB_FORMAT         0x80A70003u /* malformed blob header or a chunk past its end */
#define OT_ERR_BLOB_AUTH           0x80A70004u /* blob tag invalid: tampered header or ciphertext */
#define OT_ERR_TRUNCATED           0x80A70005u /* partition or model incomplete */
#define OT_ERR_REORDERED           0x80A70006u /* not the partition expected next */
#define OT_ERR_SWAPPED             0x80A70007u /* partition of another model (model id) */
#define OT_ERR_ROLLBACK            0x80A70008u /* model version older than the device accepts */
#define OT_ERR_NOT_IN_MANIFEST     0x80A70009u /* blob sizes or tag differ from the manifest */
#define OT_ERR_UNSUPPORTED_VERSION 0x80A7000Au /* envelope/body format or newer blob version */
#define OT_ERR_BODY_INVALID        0x80A7000Bu /* authentic body refused by the validator */
#define OT_ERR_RUN_FAILED          0x80A7000Cu /* the interpreter stopped on an operator */
#define OT_ERR_STATE               0x80A7000Du /* command out of order (no model, not loaded) */
#define OT_ERR_NO_KEY              0x80A7000Eu /* no provisioned key / key source unavailable */
#define OT_ERR_ALREADY_PROVISIONED 0x80A7000Fu /* one-time provisioning already done */
#define OT_ERR_IO_AUTH             0x80A70010u /* sealed input tag invalid: tampered, other session/key */
#define OT_ERR_IO_REPLAYED         0x80A70011u /* sealed message counter not the next one */
#define OT_ERR_IO_SEALED           0x80A70012u /* plain I/O refused: this session's I/O is sealed */
#define OT_ERR_IO_NO_SESSION       0x80A70013u /* sealed I/O without an open I/O session */
#define OT_ERR_INPUT_MISSING       0x80A70014u /* run before every model input of this inference was written */
#define OT_ERR_OUTPUT_READ         0x80A70015u /* output already read in this inference */
#define OT_ERR_KEY_MODE            0x80A70016u /* key source or command of the other key mode than the TA's */
#define OT_ERR_NOT_RESIDENT        0x80A70017u /* OT_CMD_INFER while a partition is streamed or not loaded yet */
#define OT_ERR_STATE_TENSOR        0x80A70018u /* a state output read, or a state input written after the first run */

#define OT_KEY_BYTES       32u
#define OT_NONCE_BYTES     12u
#define OT_TAG_BYTES       16u
#define OT_MODEL_ID_BYTES  16u
#define OT_SHA256_BYTES    32u
#define OT_ENVELOPE_VERSION 2u

#define OT_MANIFEST_MAGIC  "OTEEMAN1"
#define OT_BLOB_MAGIC      "OTEEBLB1"

/* Limits the TA enforces before trusting any count. */
#define OT_MAX_PARTITIONS     4096u
#define OT_MAX_IO_TENSORS     64u
#define OT_MAX_RANK           8u
#define OT_MANIFEST_MAX_BYTES (64u * 1024u + OT_MAX_PARTITIONS * 64u)

/* Heap the TA keeps beside the region (session state, manifest copy, crypto handles):
 * TA_DATA_SIZE = budget + OT_HEAP_RESERVE. */
#define OT_HEAP_RESERVE    (384u * 1024u)

/* Extra data mixed into the device-bound key derivation (system PTA). */
#define OT_DEVICE_KEY_LABEL "onnx-tee model key v1"

struct ot_manifest_header {
	uint8_t  magic[8];           /* OT_MANIFEST_MAGIC */
	uint32_t envelope_version;   /* OT_ENVELOPE_VERSION */
	uint32_t format_version;     /* body format version (format.h) */
	uint8_t  model_id[16];
	uint64_t model_version;      /* monotonic; the device refuses older ones */
	uint32_t partition_count;
	uint32_t input_count;
	uint32_t output_count;
	uint32_t staging_bytes;      /* staging buffer size: a chunk goes through it a tile at a time */
	uint64_t region_bytes;       /* the one planned region */
	uint8_t  nonce[12];
	uint32_t state_count;        /* recurrent state pairs (ot_manifest_state) after the slots */
};                               /* 80 bytes */

/* Partition flags. */
#define OT_PART_PINNED 1u        /* the body stays loaded for the whole session once loaded */

/* A partition entry binds its blob by the blob's GCM tag.  The tag is a MAC under the model key over
 * the header (AAD, with the nonce) and the ciphertext, and the manifest is authenticated under the
 * same key: without the key no other blob passes the tag check with this tag (that would be a GCM
 * forgery), and whoever holds the key could rewrite the manifest anyway.  So the binding is as
 * strong as a digest of the blob, and costs no pass over the bytes besides the decryption. */
struct ot_manifest_partition {
	uint64_t blob_bytes;         /* sizeof(ot_blob_header) + body_bytes + OT_TAG_BYTES */
	uint64_t body_bytes;
	uint64_t body_offset;        /* region offset the body is decrypted to */
	uint64_t staging_offset;     /* region offset of the staging buffer (staging_bytes) */
	uint64_t planned_bytes;      /* planned highest region byte of this partition */
	uint8_t  blob_tag[16];       /* the blob's GCM tag: binds exactly this blob (above) */
	uint32_t flags;              /* OT_PART_* */
	uint32_t reserved;           /* zero */
};                               /* 64 bytes */

struct ot_manifest_tensor {
	uint64_t offset;             /* region offset of a model input or output */
	uint64_t nbytes;
	uint32_t dtype;              /* ONNX TensorProto data type */
	uint32_t rank;
	uint64_t dims[OT_MAX_RANK];
};                               /* 88 bytes */

/* A recurrent state kept in secure memory: model input `input` is the state the model reads, model
 * output `output` the state it makes (same size).  The TA zero-fills the input at OPEN_MODEL, copies
 * the output onto it when the next inference starts, and refuses to hand the output to the normal world
 * (OT_ERR_STATE_TENSOR).  The input may be written (WRITE_INPUT, WRITE_INPUT_SEALED) only at session
 * start, before the first partition runs: a user-given initial state; later, OT_ERR_STATE_TENSOR. */
struct ot_manifest_state {
	uint32_t input;              /* model input index */
	uint32_t output;             /* model output index */
};                               /* 8 bytes */

struct ot_blob_header {
	uint8_t  magic[8];           /* OT_BLOB_MAGIC */
	uint32_t envelope_version;
	uint32_t format_version;
	uint8_t  model_id[16];
	uint64_t model_version;
	uint32_t partition_index;
	uint32_t partition_count;
	uint64_t body_bytes;
	uint64_t region_bytes;
	uint8_t  nonce[12];
	uint32_t reserved;           /* zero */
};                               /* 80 bytes */

struct ot_topk_entry {
	uint32_t index;              /* flat element index */
	float value;
};

/* The AAD of a sealed message.  inputs_digest binds an output to the sealed inputs of its inference:
 *   d_0 = 32 zero bytes;  d_(j+1) = SHA-256(d_j || index (u32 LE) || counter (u64 LE) || tag[16])
 * over the inputs accepted since the inference started, in order; zero in input messages. */
struct ot_io_aad {
	uint8_t  session_nonce[16];
	uint32_t direction;          /* OT_IO_INPUT or OT_IO_OUTPUT */
	uint32_t index;              /* model input or output index */
	uint64_t counter;
	uint64_t nbytes;             /* plaintext size */
	uint8_t  inputs_digest[32];
};                               /* 72 bytes */

#define OT_STATIC_ASSERT(cond, name) typedef char ot_static_assert_##name[(cond) ? 1 : -1]
OT_STATIC_ASSERT(sizeof(struct ot_manifest_header) == 80, manifest_header_size);
OT_STATIC_ASSERT(sizeof(struct ot_manifest_partition) == 64, manifest_partition_size);
OT_STATIC_ASSERT(sizeof(struct ot_manifest_state) == 8, manifest_state_size);
OT_STATIC_ASSERT(sizeof(struct ot_manifest_tensor) == 88, manifest_tensor_size);
OT_STATIC_ASSERT(sizeof(struct ot_blob_header) == 80, blob_header_size);
OT_STATIC_ASSERT(sizeof(struct ot_io_aad) == 72, io_aad_size);

#endif /* ONNX_TEE_TA_H */
