/*
 * onnx-tee client: run a lowered model's device bundle in the TA.
 *
 *   onnx_tee_client [options] DEVICE_DIR [INPUT.bin ...]
 *     DEVICE_DIR      manifest.bin + partition_NNN.blob (the `device/` directory `lower` writes)
 *     INPUT.bin       raw little-endian tensor bytes of each model input, in order (an int64 input the
 *                     TA holds as int32, e.g. token ids: int64 or int32 values; int64 ones outside
 *                     int32 are refused)
 *     --key-source provisioned|device   key the TA decrypts with (default provisioned)
 *     --provision KEY                   one-time: store the 32-byte key file in secure storage
 *     --enrol OUT                       one-time: write the device-bound key to OUT (enrolment)
 *     --output PREFIX                   write each output's raw bytes to PREFIX<i>.bin
 *     --repeat N                        run the model N times (load + run every partition each time)
 *     --top K                           read only the K largest elements of each output from the TA
 *   Built against the simulator it also takes --budget BYTES and --storage DIR (the simulated device).
 * Prints each float32 output, and per partition the highest region byte it touched.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "onnx_tee_ta.h"
#ifdef ONNX_TEE_SIM
#include "sim.h"
#endif

static void usage(void)
{
	fprintf(stderr,
		"usage: onnx_tee_client [--key-source provisioned|device] [--provision KEY] [--enrol OUT]\n"
		"                       [--output PREFIX] [--repeat N] [--top K]"
#ifdef ONNX_TEE_SIM
		" [--budget BYTES] [--storage DIR]"
#endif
		" DEVICE_DIR [INPUT.bin ...]\n");
}

static uint8_t *read_all(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data = NULL;
	long len;

	if (!f) {
		fprintf(stderr, "onnx_tee_client: cannot open %s: %s\n", path, strerror(errno));
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		data = malloc(len ? (size_t)len : 1);
		if (data && fread(data, 1, (size_t)len, f) == (size_t)len) {
			*size = (size_t)len;
		} else {
			free(data);
			data = NULL;
		}
	}
	fclose(f);
	if (!data)
		fprintf(stderr, "onnx_tee_client: cannot read %s\n", path);
	return data;
}

static int write_all(const char *path, const void *data, size_t size)
{
	FILE *f = fopen(path, "wb");
	int ok = f && fwrite(data, 1, size, f) == size;

	if (f)
		ok = (fclose(f) == 0) && ok;
	if (!ok)
		fprintf(stderr, "onnx_tee_client: cannot write %s\n", path);
	return ok ? 0 : -1;
}

static int fail(const char *what, TEEC_Result res, const struct ot_client *c)
{
	const char *name = ot_result_name(res);

	fprintf(stderr, "onnx_tee_client: %s failed: %s (0x%08x, origin %u)\n", what, name ? name : "unknown",
		res, c->origin);
	return 1;
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
};

static int parse(int argc, char **argv, struct options *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	o->key_source = OT_KEY_PROVISIONED;
	o->repeat = 1;
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *opt = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;

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
	return (o->device_dir || o->provision || o->enrol) ? 0 : -1;
}

/* One inference: inputs, then load + run of every partition, then outputs. */
static int run_model(struct ot_client *c, const struct options *o, const struct ot_manifest_header *h,
		     const struct ot_manifest_tensor *slots, uint8_t **blobs, const size_t *blob_sizes,
		     uint8_t **inputs, int print)
{
	TEEC_Result res;
	uint32_t k, detail = 0, touched = 0, failed_op = 0;
	char path[4096];

	for (k = 0; k < h->input_count; k++) {
		res = ot_client_write_input(c, k, inputs[k], (size_t)slots[k].nbytes);
		if (res != TEEC_SUCCESS)
			return fail("write input", res, c);
	}
	for (k = 0; k < h->partition_count; k++) {
		res = ot_client_load_partition(c, k, blobs[k], blob_sizes[k], h->chunk_bytes, &detail);
		if (res != TEEC_SUCCESS) {
			fprintf(stderr, "onnx_tee_client: partition %u refused (detail %u)\n", k, detail);
			return fail("load partition", res, c);
		}
		res = ot_client_run(c, k, &touched, &detail, &failed_op);
		if (res != TEEC_SUCCESS) {
			fprintf(stderr, "onnx_tee_client: partition %u stopped at op %u (detail %u)\n", k, failed_op,
				detail);
			return fail("run partition", res, c);
		}
		if (print)
			printf("partition %u: %u region bytes touched\n", k, touched);
	}
	for (k = 0; o->top && k < h->output_count; k++) {
		struct ot_topk_entry entries[OT_MAX_TOPK];
		size_t count = 0, i;

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
		uint8_t *out = malloc((size_t)t->nbytes);
		size_t i;

		if (!out)
			return 1;
		res = ot_client_read_output(c, k, out, (size_t)t->nbytes);
		if (res != TEEC_SUCCESS) {
			free(out);
			return fail("read output", res, c);
		}
		if (print) {
			printf("output %u:", k);
			for (i = 0; t->dtype == 1 && i < t->nbytes / 4; i++) {
				float v;

				memcpy(&v, out + 4 * i, 4);
				printf(" %.9g", v);
			}
			printf("\n");
			if (o->output) {
				snprintf(path, sizeof(path), "%s%u.bin", o->output, k);
				if (write_all(path, out, (size_t)t->nbytes) != 0) {
					free(out);
					return 1;
				}
			}
		}
		free(out);
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

static int run_bundle(struct ot_client *c, const struct options *o)
{
	char path[4096];
	uint8_t *manifest, **blobs = NULL, **inputs = NULL;
	size_t manifest_size = 0, *blob_sizes = NULL, size = 0;
	const struct ot_manifest_header *h;
	const struct ot_manifest_tensor *slots;
	TEEC_Result res;
	uint32_t k;
	long r;
	int rc = 1;

	snprintf(path, sizeof(path), "%s/manifest.bin", o->device_dir);
	manifest = read_all(path, &manifest_size);
	if (!manifest)
		return 1;
	h = (const struct ot_manifest_header *)(const void *)manifest;
	if (manifest_size < sizeof(*h) || h->partition_count > OT_MAX_PARTITIONS ||
	    manifest_size < sizeof(*h) + h->partition_count * sizeof(struct ot_manifest_partition) +
	    (h->input_count + h->output_count) * sizeof(struct ot_manifest_tensor)) {
		fprintf(stderr, "onnx_tee_client: %s is not a device manifest\n", path);
		goto out;
	}
	slots = (const struct ot_manifest_tensor *)(const void *)(manifest + sizeof(*h) +
								  h->partition_count *
								  sizeof(struct ot_manifest_partition));
	if ((int)h->input_count != o->input_count) {
		fprintf(stderr, "onnx_tee_client: the model has %u inputs, %d given\n", h->input_count,
			o->input_count);
		goto out;
	}
	blobs = calloc(h->partition_count, sizeof(*blobs));
	blob_sizes = calloc(h->partition_count, sizeof(*blob_sizes));
	inputs = calloc(h->input_count + 1, sizeof(*inputs));
	if (!blobs || !blob_sizes || !inputs)
		goto out;
	for (k = 0; k < h->input_count; k++) {
		inputs[k] = read_all(o->inputs[k], &size);
		if (!inputs[k])
			goto out;
		if (slots[k].dtype == 7 && slots[k].nbytes <= SIZE_MAX / 2 && size == 2 * slots[k].nbytes) {
			if (narrow_int64(o->inputs[k], inputs[k], size) != 0)
				goto out;
			size /= 2;
		}
		if (size != slots[k].nbytes) {
			fprintf(stderr, "onnx_tee_client: %s has %zu bytes, input %u needs %llu\n", o->inputs[k],
				size, k, (unsigned long long)slots[k].nbytes);
			goto out;
		}
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
	for (r = 0; r < o->repeat; r++) {
		rc = run_model(c, o, h, slots, blobs, blob_sizes, inputs, r == o->repeat - 1);
		if (rc != 0)
			break;
	}
out:
	for (k = 0; blobs && k < h->partition_count; k++)
		free(blobs[k]);
	for (k = 0; inputs && k < h->input_count; k++)
		free(inputs[k]);
	free(blobs);
	free(blob_sizes);
	free(inputs);
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
		return 2;
	}
	memset(&client, 0, sizeof(client));
	res = ot_client_open(&client);
	if (res != TEEC_SUCCESS)
		return fail("open session", res, &client);
	if (o.provision) {
		size_t size = 0;
		uint8_t *key = read_all(o.provision, &size);

		res = key ? ot_client_provision_key(&client, key, size) : TEEC_ERROR_ITEM_NOT_FOUND;
		if (key)
			memset(key, 0, size);
		free(key);
		rc = res == TEEC_SUCCESS ? 0 : fail("provision key", res, &client);
	}
	if (rc == 0 && o.enrol) {
		uint8_t key[OT_KEY_BYTES];

		res = ot_client_enrol_device(&client, key, sizeof(key));
		rc = res == TEEC_SUCCESS ? write_all(o.enrol, key, sizeof(key)) : fail("enrol device", res, &client);
		memset(key, 0, sizeof(key));
	}
	if (rc == 0 && o.device_dir)
		rc = run_bundle(&client, &o);
	ot_client_close(&client);
	return rc;
}
