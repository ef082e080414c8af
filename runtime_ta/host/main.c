/*
 * onnx-tee client: run a lowered model's device bundle in the TA.
 *
 *   onnx_tee_client [options] DEVICE_DIR [INPUT.bin ...]
 *     DEVICE_DIR      manifest.bin + partition_NNN.blob (the `device/` directory `lower` writes)
 *     INPUT.bin       raw little-endian tensor bytes of each model input, in order (an int64 input the
 *                     TA holds as int32, e.g. token ids: int64 or int32 values; int64 ones outside
 *                     int32 are refused; a bool input: one byte or one int32 per element)
 *     --key-source provisioned|device   key the TA decrypts with (default provisioned)
 *     --provision KEY                   one-time: store the 32-byte key file in secure storage
 *     --enrol OUT                       write the device-bound key, wrapped for the vendor, to OUT (enrolment)
 *     --output PREFIX                   write each output's raw bytes to PREFIX<i>.bin, in the model's type
 *                                       (int64 outputs widened from the int32 the TA holds, bool as bytes)
 *     --repeat N                        run the model N times (load + run every partition each time)
 *     --batch, --stream                 each INPUT.bin holds N tensors back to back: run N inferences
 *                                       (one per tensor, in one stream session) and print every one's
 *                                       outputs; pinned bodies load once, a fully resident model takes
 *                                       one OT_CMD_INFER per inference after the first
 *   INPUT.bin are the model inputs the normal world gives: a recurrent state (`lower --state`) stays in
 *   the TA and is neither given nor printed.
 *     --top K                           read only the K largest elements of each output from the TA
 *     --times                           print load and run wall-clock times per partition
 *     --max-chunk BYTES                 send blob chunks of at most BYTES (default 1 MiB; 0: each blob
 *                                       in one command)
 *     --ping N                          time N round trips of a command that does nothing (OT_CMD_PING)
 *                                       and N of one refused at its parameter check (OT_CMD_RUN without
 *                                       parameters; the TA logs each refusal): median, min, mean, max
 *   Built against the simulator it also takes --budget BYTES and --storage DIR (the simulated device).
 * Prints each output (float32, integer and bool values), and per partition the highest region byte it touched.
 *
 * Exit codes, one per class of failure (runtime_ta/README.md):
 *   0 success, 1 other error, 2 usage or input files, 3 no TEE (driver or tee-supplicant missing),
 *   4 the TA cannot be opened (not installed, not signed for this device), 5 the TA does not fit this
 *   device's secure memory, 6 out of memory running the model (its region does not fit the TA's budget,
 *   or the secure world cannot map a chunk), 7 key (none provisioned, or a
 *   one-time step already done), 8 model refused (authentication, integrity, order, rollback),
 *   9 an operator stopped, 10 protocol misuse (state, parameters), 11 the TA crashed.
 */
#define _POSIX_C_SOURCE 200809L	/* clock_gettime */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "host_io.h"
#include "onnx_tee_ta.h"
#ifdef ONNX_TEE_SIM
#include "sim.h"
#endif

enum exit_code {
	EXIT_OK = 0,
	EXIT_OTHER = 1,
	EXIT_USAGE = 2,
	EXIT_NO_TEE = 3,
	EXIT_TA_OPEN = 4,
	EXIT_TA_MEMORY = 5,
	EXIT_MODEL_MEMORY = 6,
	EXIT_KEY = 7,
	EXIT_REFUSED = 8,
	EXIT_RUN = 9,
	EXIT_PROTOCOL = 10,
	EXIT_TA_DEAD = 11,
};

/*
 * Largest LOAD_CHUNK the client sends by default (the TA takes a chunk of any length through its
 * staging buffer, a tile at a time).  OP-TEE maps every memref into the TA's address space: on QEMU
 * v8's OP-TEE 4.10, beside a TA of BUDGET 4 or 8 MiB a whole 4.2 MiB blob maps, beside one of 12 MiB
 * 2 MiB does and 3 MiB runs out of translation tables ("alloc_pgt: Page tables are not available",
 * TEE_ERROR_OUT_OF_MEMORY).  The client then sends that chunk again in halves and keeps the size that
 * worked for the rest of the session (ot_client_load_partition).  --max-chunk 0 sends each blob in
 * one command.
 */
#define DEFAULT_MAX_CHUNK (4u * 1024u * 1024u)

#define RES_OUT_OF_MEMORY 0xFFFF000Cu
#define RES_TARGET_DEAD   0xFFFF3024u

/* The class of a failed command's result (stage: which command failed). */
static int exit_class(const char *stage, TEEC_Result res)
{
	switch (res) {
	case OT_ERR_MANIFEST_FORMAT: case OT_ERR_MANIFEST_AUTH: case OT_ERR_BLOB_FORMAT: case OT_ERR_BLOB_AUTH:
	case OT_ERR_TRUNCATED: case OT_ERR_REORDERED: case OT_ERR_SWAPPED: case OT_ERR_ROLLBACK:
	case OT_ERR_NOT_IN_MANIFEST: case OT_ERR_UNSUPPORTED_VERSION: case OT_ERR_BODY_INVALID:
	case OT_ERR_IO_AUTH: case OT_ERR_IO_REPLAYED:
		return EXIT_REFUSED;
	case OT_ERR_NO_KEY: case OT_ERR_ALREADY_PROVISIONED:
#ifdef OT_ERR_KEY_MODE
	case OT_ERR_KEY_MODE:
#endif
		return EXIT_KEY;
	case OT_ERR_RUN_FAILED:
		return EXIT_RUN;
	case OT_ERR_STATE: case OT_ERR_IO_SEALED: case OT_ERR_IO_NO_SESSION:
#ifdef OT_ERR_INPUT_MISSING
	case OT_ERR_INPUT_MISSING:
#endif
#ifdef OT_ERR_OUTPUT_READ
	case OT_ERR_OUTPUT_READ:
#endif
#ifdef OT_ERR_NOT_RESIDENT
	case OT_ERR_NOT_RESIDENT: case OT_ERR_STATE_TENSOR:
#endif
		return EXIT_PROTOCOL;
	case RES_TARGET_DEAD:
		return EXIT_TA_DEAD;
	default:
		break;
	}
	if (!strcmp(stage, "open session"))
		return res == RES_OUT_OF_MEMORY ? EXIT_TA_MEMORY : EXIT_TA_OPEN;
	if (res == RES_OUT_OF_MEMORY)
		return EXIT_MODEL_MEMORY;
	if (res == TEEC_ERROR_BAD_PARAMETERS || res == TEEC_ERROR_BAD_STATE || res == TEEC_ERROR_SHORT_BUFFER)
		return EXIT_PROTOCOL;
	return EXIT_OTHER;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: onnx_tee_client [--key-source provisioned|device] [--provision KEY] [--enrol OUT]\n"
		"                       [--output PREFIX] [--repeat N | --batch] [--top K] [--times]\n"
		"                       [--max-chunk BYTES] [--ping N]"
#ifdef ONNX_TEE_SIM
		" [--budget BYTES] [--storage DIR]"
#endif
		" DEVICE_DIR [INPUT.bin ...]\n");
}

static uint8_t *read_all(const char *path, size_t *size)
{
	uint8_t *data = ot_read_file(path, size);

	if (!data)
		fprintf(stderr, "onnx_tee_client: cannot read %s: %s\n", path, strerror(errno));
	return data;
}

static int write_all(const char *path, const void *data, size_t size)
{
	if (ot_write_file(path, data, size) == 0)
		return 0;
	fprintf(stderr, "onnx_tee_client: cannot write %s: %s\n", path, strerror(errno));
	return -1;
}

/* Report a failed command and return its exit code (its class). */
static int fail(const char *what, TEEC_Result res, const struct ot_client *c)
{
	const char *name = ot_result_name(res);
	int code = exit_class(what, res);

	fprintf(stderr, "onnx_tee_client: %s failed: %s (0x%08x, origin %u)\n", what, name ? name : "unknown",
		res, c->origin);
	if (code == EXIT_TA_MEMORY)
		fprintf(stderr, "onnx_tee_client: hint: this device's TA memory is smaller than BUDGET + reserve "
			"(TA_DATA_SIZE = BUDGET + %u KiB, plus code and stack); lower with a smaller --budget and "
			"rebuild the TA with that BUDGET\n", OT_HEAP_RESERVE / 1024u);
	else if (code == EXIT_MODEL_MEMORY && !strcmp(what, "open model"))
		fprintf(stderr, "onnx_tee_client: hint: the model's region is larger than the budget this TA was "
			"built for; rebuild the TA with the BUDGET the model was lowered for (lower --budget)\n");
	else if (code == EXIT_MODEL_MEMORY)
		fprintf(stderr, "onnx_tee_client: hint: the secure world ran out of memory for this command; with "
			"large chunks OP-TEE may lack translation tables to map them: try a smaller --max-chunk\n");
	else if (code == EXIT_TA_OPEN)
		fprintf(stderr, "onnx_tee_client: hint: is the TA installed in /lib/optee_armtz/ and signed with a "
			"key this OP-TEE accepts?\n");
	else if (code == EXIT_TA_DEAD)
		fprintf(stderr, "onnx_tee_client: hint: the TA panicked; the secure world's console has the reason\n");
	return code;
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct options {
	uint32_t key_source;
	const char *provision;
	const char *enrol;
	const char *output;
	const char *device_dir;
	char **inputs;
	int input_count;
	long repeat;
	long top;
	int batch;
	int times;
	size_t max_chunk;
	long ping;
};

static int parse(int argc, char **argv, struct options *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	o->key_source = OT_KEY_PROVISIONED;
	o->repeat = 1;
	o->max_chunk = DEFAULT_MAX_CHUNK;
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *opt = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(opt, "--batch") || !strcmp(opt, "--stream")) {
			o->batch = 1;
			continue;
		}
		if (!strcmp(opt, "--times")) {
			o->times = 1;
			continue;
		}
		if (!val)
			return -1;
		if (!strcmp(opt, "--key-source")) {
			if (!strcmp(val, "provisioned"))
				o->key_source = OT_KEY_PROVISIONED;
			else if (!strcmp(val, "device"))
				o->key_source = OT_KEY_DEVICE;
			else
				return -1;
		} else if (!strcmp(opt, "--provision")) {
			o->provision = val;
		} else if (!strcmp(opt, "--enrol")) {
			o->enrol = val;
		} else if (!strcmp(opt, "--output")) {
			o->output = val;
		} else if (!strcmp(opt, "--max-chunk")) {
			char *end = NULL;
			unsigned long long v = strtoull(val, &end, 10);

			if (!end || *end || v > UINT32_MAX)
				return -1;
			o->max_chunk = (size_t)v;
		} else if (!strcmp(opt, "--ping")) {
			o->ping = strtol(val, NULL, 10);
			if (o->ping < 1 || o->ping > 10000000L)
				return -1;
		} else if (!strcmp(opt, "--top")) {
			o->top = strtol(val, NULL, 10);
			if (o->top < 1 || o->top > (long)OT_MAX_TOPK)
				return -1;
		} else if (!strcmp(opt, "--repeat")) {
			o->repeat = strtol(val, NULL, 10);
			if (o->repeat < 1)
				return -1;
#ifdef ONNX_TEE_SIM
		} else if (!strcmp(opt, "--budget")) {
			ot_sim_set_heap_cap(strtoull(val, NULL, 10) + OT_HEAP_RESERVE);
		} else if (!strcmp(opt, "--storage")) {
			if (ot_sim_set_storage(val) != 0)
				return -1;
#endif
		} else {
			return -1;
		}
		i++;
	}
	if (i < argc) {
		o->device_dir = argv[i++];
		o->inputs = argv + i;
		o->input_count = argc - i;
	}
	if (o->batch && o->repeat != 1)
		return -1;
	return (o->device_dir || o->provision || o->enrol || o->ping) ? 0 : -1;
}

static int compare_doubles(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* n invocations of `cmd` without parameters, each timed: prints median, min, mean and max per call. */
static int time_round_trips(struct ot_client *c, const char *label, uint32_t cmd, TEEC_Result expect, long n)
{
	double *t = malloc((size_t)n * sizeof(*t)), sum = 0;
	TEEC_Result res = TEEC_SUCCESS;
	long i;

	if (!t) {
		fprintf(stderr, "onnx_tee_client: out of memory\n");
		return EXIT_OTHER;
	}
	for (i = 0; i < n; i++) {
		double t0 = now_seconds();

		res = ot_client_null_command(c, cmd);
		t[i] = now_seconds() - t0;
		sum += t[i];
		if (res != expect)
			break;
	}
	if (res != expect) {
		free(t);
		return fail(label, res, c);
	}
	qsort(t, (size_t)n, sizeof(*t), compare_doubles);
	printf("round trip %s: %ld calls, median %.1f us, min %.1f us, mean %.1f us, max %.1f us\n", label, n,
	       (n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2) * 1e6, t[0] * 1e6, sum / (double)n * 1e6,
	       t[n - 1] * 1e6);
	free(t);
	return 0;
}

/* Write an output in the model's own type: int64 widened from the int32 the TA holds (8 bytes an
 * element, little-endian), bool as one byte 0/1; float32 and int32 as they are. */
static int write_output(const char *path, uint32_t dtype, const uint8_t *held, size_t size)
{
	size_t n = size / 4, width = dtype == OT_ONNX_INT64 ? 8 : dtype == OT_ONNX_BOOL ? 1 : 0, i;
	uint8_t *out;
	int rc;

	if (!width)
		return write_all(path, held, size);
	if (n > SIZE_MAX / width || !(out = malloc(n ? n * width : 1))) {
		fprintf(stderr, "onnx_tee_client: out of memory for %s\n", path);
		return -1;
	}
	for (i = 0; i < n; i++) {
		int32_t v;

		memcpy(&v, held + 4 * i, 4);
		if (width == 8) {
			int64_t w = v;

			memcpy(out + 8 * i, &w, 8);
		} else {
			out[i] = v != 0;
		}
	}
	rc = write_all(path, out, n * width);
	free(out);
	return rc;
}

/* The manifest's partition entries and recurrent states, and which pinned bodies this session loaded. */
struct session_view {
	const struct ot_manifest_partition *parts;
	const struct ot_manifest_state *states;
	uint8_t *resident;
	size_t *chunk;        /* the chunk the secure world mapped so far (0: each blob whole) */
};

/* Model input (output = 0) or output (output = 1) `index` is a recurrent state the TA keeps. */
static int is_state(const struct ot_manifest_header *h, const struct session_view *v, uint32_t index, int output)
{
	uint32_t i;

	for (i = 0; i < h->state_count; i++)
		if ((output ? v->states[i].output : v->states[i].input) == index)
			return 1;
	return 0;
}

static int print_output(const struct options *o, uint32_t k, uint32_t dtype, const uint8_t *out, size_t nbytes)
{
	char path[4096];

	ot_print_output(k, dtype, out, nbytes);
	if (o->output) {
		snprintf(path, sizeof(path), "%s%u.bin", o->output, k);
		if (write_output(path, dtype, out, nbytes) != 0)
			return EXIT_OTHER;
	}
	return 0;
}

/* A fully resident model: the whole inference in one OT_CMD_INFER. */
static int infer_resident(struct ot_client *c, const struct options *o, const struct ot_manifest_header *h,
			  const struct ot_manifest_tensor *slots, const struct session_view *v, uint8_t **inputs,
			  int print)
{
	size_t in_size = 0, out_size = 0, figures, at = 0;
	uint32_t k, touched = 0, detail = 0, part = 0, op = 0;
	uint8_t *in, *out;
	TEEC_Result res;
	int rc = 0;

	for (k = 0; k < h->input_count; k++)
		in_size += is_state(h, v, k, 0) ? 0 : (size_t)slots[k].nbytes;
	for (k = 0; k < h->output_count; k++)
		out_size += is_state(h, v, k, 1) ? 0 : (size_t)slots[h->input_count + k].nbytes;
	figures = out_size;   /* then one u32 per partition: the highest region byte it touched */
	out_size += (size_t)h->partition_count * 4u;
	in = malloc(in_size ? in_size : 1);
	out = malloc(out_size);
	if (!in || !out) {
		free(in);
		free(out);
		return EXIT_OTHER;
	}
	for (k = 0; k < h->input_count; k++)
		if (!is_state(h, v, k, 0)) {
			memcpy(in + at, inputs[k], (size_t)slots[k].nbytes);
			at += (size_t)slots[k].nbytes;
		}
	res = ot_client_infer(c, in, in_size, out, &out_size, &touched, &detail, &part, &op);
	if (res != TEEC_SUCCESS) {
		fprintf(stderr, "onnx_tee_client: partition %u stopped at op %u (detail %u)\n", part, op, detail);
		rc = fail("infer", res, c);
	}
	if (rc == 0 && print)
		printf("resident model: one command, %u region bytes touched\n", touched);
	for (k = 0; rc == 0 && print && k < h->partition_count; k++) {
		const uint8_t *f = out + figures + 4u * k;

		printf("partition %u: %u region bytes touched\n", k,
		       (unsigned)(f[0] | f[1] << 8 | (uint32_t)f[2] << 16 | (uint32_t)f[3] << 24));
	}
	for (k = 0, at = 0; rc == 0 && print && k < h->output_count; k++) {
		const struct ot_manifest_tensor *t = &slots[h->input_count + k];

		if (is_state(h, v, k, 1))
			continue;
		rc = print_output(o, k, t->dtype, out + at, (size_t)t->nbytes);
		at += (size_t)t->nbytes;
	}
	free(in);
	free(out);
	return rc;
}

/* One inference: inputs, then load (unless pinned and loaded before in this session) + run of every
 * partition, then outputs; a fully resident model in one command (infer_resident). */
static int run_model(struct ot_client *c, const struct options *o, const struct ot_manifest_header *h,
		     const struct ot_manifest_tensor *slots, uint8_t **blobs, const size_t *blob_sizes,
		     uint8_t **inputs, int print, const struct session_view *v)
{
	TEEC_Result res;
	uint32_t k, detail = 0, touched = 0, failed_op = 0, resident = 0;
	size_t chunk;

	for (k = 0; k < h->partition_count; k++)
		resident += v->resident[k] && (v->parts[k].flags & OT_PART_PINNED);
	if (resident == h->partition_count && !o->top)
		return infer_resident(c, o, h, slots, v, inputs, print);
	for (k = 0; k < h->input_count; k++) {
		if (is_state(h, v, k, 0))
			continue;
		res = ot_client_write_input(c, k, inputs[k], (size_t)slots[k].nbytes);
		if (res != TEEC_SUCCESS)
			return fail("write input", res, c);
	}
	for (k = 0; k < h->partition_count; k++) {
		double t0 = now_seconds(), t1, t2;

		chunk = *v->chunk ? *v->chunk : blob_sizes[k];
		if (!v->resident[k]) {
			res = ot_client_load_partition(c, k, blobs[k], blob_sizes[k], &chunk, &detail);
			if (*v->chunk)
				*v->chunk = chunk;
			if (res != TEEC_SUCCESS) {
				fprintf(stderr, "onnx_tee_client: partition %u refused (detail %u)\n", k, detail);
				return fail("load partition", res, c);
			}
			v->resident[k] = (v->parts[k].flags & OT_PART_PINNED) != 0;
		}
		t1 = now_seconds();
		res = ot_client_run(c, k, &touched, &detail, &failed_op);
		if (res != TEEC_SUCCESS) {
			fprintf(stderr, "onnx_tee_client: partition %u stopped at op %u (detail %u)\n", k, failed_op,
				detail);
			return fail("run partition", res, c);
		}
		t2 = now_seconds();
		if (print)
			printf("partition %u: %u region bytes touched\n", k, touched);
		if (print && o->times)
			printf("time partition %u: load %.6f s (%zu bytes, %zu chunks), run %.6f s\n", k, t1 - t0,
			       blob_sizes[k], (blob_sizes[k] + chunk - 1) / chunk, t2 - t1);
	}
	for (k = 0; o->top && k < h->output_count; k++) {
		struct ot_topk_entry entries[OT_MAX_TOPK];
		size_t count = 0, i;

		if (is_state(h, v, k, 1))
			continue;
		res = ot_client_read_topk(c, k, (uint32_t)o->top, entries, &count);
		if (res != TEEC_SUCCESS)
			return fail("read top-k", res, c);
		if (print) {
			printf("output %u top-%ld:", k, o->top);
			for (i = 0; i < count; i++)
				printf(" %u:%.9g", entries[i].index, entries[i].value);
			printf("\n");
		}
	}
	for (k = 0; !o->top && k < h->output_count; k++) {
		const struct ot_manifest_tensor *t = &slots[h->input_count + k];
		uint8_t *out;
		int rc = 0;

		if (is_state(h, v, k, 1))
			continue;
		out = malloc((size_t)t->nbytes);
		if (!out)
			return EXIT_OTHER;
		res = ot_client_read_output(c, k, out, (size_t)t->nbytes);
		if (res != TEEC_SUCCESS) {
			free(out);
			return fail("read output", res, c);
		}
		if (print)
			rc = print_output(o, k, t->dtype, out, (size_t)t->nbytes);
		free(out);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* An int64 model input (ONNX type 7) is held as int32 in the TA (slot nbytes = 4 per element): narrow
 * `*data` (`size` bytes of little-endian int64) in place, refusing values outside int32. */
static int narrow_int64(const char *path, uint8_t *data, size_t size)
{
	size_t i;

	for (i = 0; i < size / 8; i++) {
		int64_t v;
		int32_t w;

		memcpy(&v, data + 8 * i, 8);
		if (v < INT32_MIN || v > INT32_MAX) {
			fprintf(stderr, "onnx_tee_client: %s: value %lld at %zu is outside int32\n", path, (long long)v, i);
			return -1;
		}
		w = (int32_t)v;
		memcpy(data + 4 * i, &w, 4);
	}
	return 0;
}

/* A bool model input (ONNX type 9) is held as int32 0/1 in the TA (slot nbytes = 4 per element): widen
 * `*data` (`*size` bytes, one per element) into a new buffer, each byte != 0 as 1. */
static int widen_bool(const char *path, uint8_t **data, size_t *size)
{
	size_t i;
	uint8_t *wide = *size <= SIZE_MAX / 4 ? malloc(*size ? 4 * *size : 1) : NULL;

	if (!wide) {
		fprintf(stderr, "onnx_tee_client: out of memory for %s\n", path);
		return -1;
	}
	for (i = 0; i < *size; i++) {
		int32_t v = (*data)[i] != 0;

		memcpy(wide + 4 * i, &v, 4);
	}
	free(*data);
	*data = wide;
	*size *= 4;
	return 0;
}

static int run_bundle(struct ot_client *c, const struct options *o)
{
	char path[4096];
	uint8_t *manifest, **blobs = NULL, **inputs = NULL, **current = NULL;
	size_t manifest_size = 0, *blob_sizes = NULL, size = 0, count = 1;
	const struct ot_manifest_header *h;
	const struct ot_manifest_tensor *slots;
	size_t chunk = o->max_chunk;
	struct session_view view = { NULL, NULL, NULL, &chunk };
	TEEC_Result res;
	uint32_t k, given = 0;
	long r;
	int rc = EXIT_USAGE;

	snprintf(path, sizeof(path), "%s/manifest.bin", o->device_dir);
	manifest = read_all(path, &manifest_size);
	if (!manifest)
		return EXIT_USAGE;
	h = (const struct ot_manifest_header *)(const void *)manifest;
	if (manifest_size < sizeof(*h) || h->partition_count > OT_MAX_PARTITIONS ||
	    h->input_count > OT_MAX_IO_TENSORS || h->output_count > OT_MAX_IO_TENSORS ||
	    h->state_count > h->input_count || h->state_count > h->output_count ||
	    manifest_size < sizeof(*h) + h->partition_count * sizeof(struct ot_manifest_partition) +
	    (h->input_count + h->output_count) * sizeof(struct ot_manifest_tensor) +
	    h->state_count * sizeof(struct ot_manifest_state)) {
		fprintf(stderr, "onnx_tee_client: %s is not a device manifest\n", path);
		goto out;
	}
	slots = (const struct ot_manifest_tensor *)(const void *)(manifest + sizeof(*h) +
								  h->partition_count *
								  sizeof(struct ot_manifest_partition));
	view.parts = (const struct ot_manifest_partition *)(const void *)(manifest + sizeof(*h));
	view.states = (const struct ot_manifest_state *)(const void *)(slots + h->input_count + h->output_count);
	for (k = 0; k < h->state_count; k++)
		if (view.states[k].input >= h->input_count || view.states[k].output >= h->output_count) {
			fprintf(stderr, "onnx_tee_client: %s is not a device manifest\n", path);
			goto out;
		}
	if ((int)(h->input_count - h->state_count) != o->input_count) {
		fprintf(stderr, "onnx_tee_client: the model takes %u inputs (besides %u recurrent states the TA keeps), "
			"%d given\n", h->input_count - h->state_count, h->state_count, o->input_count);
		goto out;
	}
	blobs = calloc(h->partition_count, sizeof(*blobs));
	blob_sizes = calloc(h->partition_count, sizeof(*blob_sizes));
	inputs = calloc(h->input_count + 1, sizeof(*inputs));
	current = calloc(h->input_count + 1, sizeof(*current));
	view.resident = calloc(h->partition_count, 1);
	if (!blobs || !blob_sizes || !inputs || !current || !view.resident) {
		rc = EXIT_OTHER;
		goto out;
	}
	for (k = 0; k < h->input_count; k++) {
		const char *file;
		size_t n;

		if (is_state(h, &view, k, 0))
			continue;   /* kept by the TA: no file */
		file = o->inputs[given++];
		inputs[k] = read_all(file, &size);
		if (!inputs[k])
			goto out;
		/* token ids (the model's dtype int64): an int64 file is narrowed to the int32 the TA holds, range-checked
		 * (with --batch, a file for such an input is always read as int64) */
		if (slots[k].dtype == OT_ONNX_INT64 && slots[k].nbytes && slots[k].nbytes <= SIZE_MAX / 2 &&
		    (o->batch ? size % (2 * slots[k].nbytes) == 0 : size == 2 * slots[k].nbytes)) {
			if (narrow_int64(file, inputs[k], size) != 0)
				goto out;
			size /= 2;
		}
		/* booleans: a file of one byte per element is widened to the int32 0/1 the TA holds */
		if (slots[k].dtype == OT_ONNX_BOOL && size <= SIZE_MAX / 4 && slots[k].nbytes &&
		    (o->batch ? (4 * size) % slots[k].nbytes == 0 : 4 * size == slots[k].nbytes) &&
		    widen_bool(file, &inputs[k], &size) != 0)
			goto out;
		/* --batch: the file holds n tensors of the slot's size back to back, the same n for every input */
		n = o->batch && slots[k].nbytes && size % slots[k].nbytes == 0 ? size / slots[k].nbytes : 1;
		if (size != n * slots[k].nbytes || n == 0 || (given > 1 && n != count)) {
			fprintf(stderr, "onnx_tee_client: %s has %zu bytes, input %u needs %s%llu\n", file,
				size, k, o->batch ? "a positive multiple of " : "", (unsigned long long)slots[k].nbytes);
			if (o->batch && given > 1 && n != count)
				fprintf(stderr, "onnx_tee_client: (and the same number of tensors as input 0: %zu)\n",
					count);
			goto out;
		}
		count = n;
	}
	for (k = 0; k < h->partition_count; k++) {
		snprintf(path, sizeof(path), "%s/partition_%03u.blob", o->device_dir, k);
		blobs[k] = read_all(path, &blob_sizes[k]);
		if (!blobs[k])
			goto out;
	}
	res = ot_client_open_model(c, manifest, manifest_size, o->key_source);
	if (res != TEEC_SUCCESS) {
		rc = fail("open model", res, c);
		goto out;
	}
	if (o->batch) {
		for (r = 0; r < (long)count; r++) {
			double t0 = now_seconds();

			for (k = 0; k < h->input_count; k++)
				current[k] = inputs[k] ? inputs[k] + (size_t)r * slots[k].nbytes : NULL;
			printf("inference %ld\n", r);
			rc = run_model(c, o, h, slots, blobs, blob_sizes, current, 1, &view);
			if (rc != 0)
				break;
			if (o->times)
				printf("time inference %ld: %.6f s\n", r, now_seconds() - t0);
		}
	} else {
		for (r = 0; r < o->repeat; r++) {
			memset(view.resident, 0, h->partition_count);   /* --repeat: a single shot each time */
			res = r ? ot_client_open_model(c, manifest, manifest_size, o->key_source) : TEEC_SUCCESS;
			rc = res == TEEC_SUCCESS ? run_model(c, o, h, slots, blobs, blob_sizes, inputs, r == o->repeat - 1,
							     &view)
						 : fail("open model", res, c);
			if (rc != 0)
				break;
		}
	}
out:
	for (k = 0; blobs && k < h->partition_count; k++)
		free(blobs[k]);
	for (k = 0; inputs && k < h->input_count; k++)
		free(inputs[k]);
	free(blobs);
	free(blob_sizes);
	free(inputs);
	free(current);
	free(view.resident);
	free(manifest);
	return rc;
}

int main(int argc, char **argv)
{
	struct options o;
	struct ot_client client;
	TEEC_Result res;
	int rc = 0;

	if (parse(argc, argv, &o) != 0) {
		usage();
		return EXIT_USAGE;
	}
	memset(&client, 0, sizeof(client));
	res = ot_client_open(&client);
	if (res != TEEC_SUCCESS && client.context_failed) {
		fprintf(stderr, "onnx_tee_client: no TEE: TEEC_InitializeContext failed: %s (0x%08x); is the OP-TEE "
			"driver loaded (/dev/tee0) and tee-supplicant running?\n",
			ot_result_name(res) ? ot_result_name(res) : "unknown", res);
		return EXIT_NO_TEE;
	}
	if (res != TEEC_SUCCESS)
		return fail("open session", res, &client);
	if (o.provision) {
		size_t size = 0;
		uint8_t *key = read_all(o.provision, &size);

		if (!key) {
			ot_client_close(&client);
			return EXIT_USAGE;
		}
		res = ot_client_provision_key(&client, key, size);
		memset(key, 0, size);
		free(key);
		rc = res == TEEC_SUCCESS ? 0 : fail("provision key", res, &client);
	}
	if (rc == 0 && o.enrol) {
		uint8_t key[OT_ENROL_WRAPPED_BYTES];

		res = ot_client_enrol_device(&client, key, sizeof(key));
		rc = res != TEEC_SUCCESS ? fail("enrol device", res, &client)
					 : write_all(o.enrol, key, sizeof(key)) ? EXIT_OTHER : 0;
		memset(key, 0, sizeof(key));
	}
	if (rc == 0 && o.ping)
		rc = time_round_trips(&client, "ping", OT_CMD_PING, TEEC_SUCCESS, o.ping);
	if (rc == 0 && o.ping)
		rc = time_round_trips(&client, "refused", OT_CMD_RUN, TEEC_ERROR_BAD_PARAMETERS, o.ping);
	if (rc == 0 && o.device_dir)
		rc = run_bundle(&client, &o);
	ot_client_close(&client);
	return rc;
}
