/*
 * protocol_probe - drive the TA's plain inference protocol out of the usual order, for tests in a real
 * OP-TEE guest (what a hostile normal world can do with the commands; runtime_ta/README.md, threat model).
 *
 *   protocol_probe MODE DEVICE_DIR INPUT0.bin [INPUT1.bin ...]
 *
 * Opens the model with the provisioned key and runs one step sequence:
 *   missing-input  write every input but the last, load and run      (expects OT_ERR_INPUT_MISSING),
 *                  then write the last input and run again: completes and prints the outputs
 *   stale-input    one complete inference (outputs printed), then the next one with every input but the
 *                  last: the earlier inference's last input must not stand in (expects OT_ERR_INPUT_MISSING)
 *   read-twice     one complete inference (outputs printed), then read output 0 again (expects
 *                  OT_ERR_OUTPUT_READ)
 * Prints "output K: v0 v1 ..." like the client.  A refused command prints
 * "protocol_probe: <command> failed: <NAME> (0x..., origin N)" and exits 8; an attack step the TA accepts
 * exits 1; usage and file errors exit 2.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "host_io.h"
#include "onnx_tee_ta.h"

static int refused(const char *what, TEEC_Result res, const struct ot_client *c)
{
	const char *name = ot_result_name(res);

	fprintf(stderr, "protocol_probe: %s failed: %s (0x%08x, origin %u)\n", what, name ? name : "unknown", res,
		c->origin);
	return 8;
}

struct model {
	const char *dir;
	const struct ot_manifest_header *h;
	const struct ot_manifest_tensor *slots;
	uint8_t **inputs;
	size_t chunk;
};

static TEEC_Result write_inputs(struct ot_client *c, const struct model *m, uint32_t count)
{
	TEEC_Result res = TEEC_SUCCESS;
	uint32_t k;

	for (k = 0; k < count && res == TEEC_SUCCESS; k++)
		res = ot_client_write_input(c, k, m->inputs[k], (size_t)m->slots[k].nbytes);
	return res;
}

/* Load and run every partition; *rc = 2 when a blob cannot be read. */
static TEEC_Result load_and_run(struct ot_client *c, const struct model *m, uint32_t first, int *rc)
{
	TEEC_Result res = TEEC_SUCCESS;
	uint32_t k, detail = 0, touched = 0, failed_op = 0;
	uint8_t *blob;
	size_t blob_size = 0, chunk = m->chunk;
	char path[4096];

	for (k = first; k < m->h->partition_count && res == TEEC_SUCCESS; k++) {
		snprintf(path, sizeof(path), "%s/partition_%03u.blob", m->dir, k);
		blob = ot_read_file(path, &blob_size);
		if (!blob) {
			*rc = 2;
			return TEEC_ERROR_ITEM_NOT_FOUND;
		}
		res = ot_client_load_partition(c, k, blob, blob_size, &chunk, &detail);
		free(blob);
		if (res == TEEC_SUCCESS)
			res = ot_client_run(c, k, &touched, &detail, &failed_op);
	}
	return res;
}

static TEEC_Result print_outputs(struct ot_client *c, const struct model *m)
{
	TEEC_Result res = TEEC_SUCCESS;
	uint32_t k;

	for (k = 0; k < m->h->output_count && res == TEEC_SUCCESS; k++) {
		const struct ot_manifest_tensor *t = &m->slots[m->h->input_count + k];
		uint8_t *out = malloc((size_t)t->nbytes ? (size_t)t->nbytes : 1);

		if (!out)
			return TEEC_ERROR_OUT_OF_MEMORY;
		res = ot_client_read_output(c, k, out, (size_t)t->nbytes);
		if (res == TEEC_SUCCESS)
			ot_print_output(k, t->dtype, out, (size_t)t->nbytes);
		free(out);
	}
	return res;
}

int main(int argc, char **argv)
{
	const char *mode;
	uint8_t *manifest, *again;
	size_t manifest_size = 0, size = 0;
	struct ot_client c;
	struct model m;
	TEEC_Result res;
	uint32_t k, n, touched = 0, detail = 0, failed_op = 0;
	char path[4096];
	int rc = 0;

	if (argc < 4) {
		fprintf(stderr, "usage: protocol_probe missing-input|stale-input|read-twice DEVICE_DIR INPUT.bin...\n");
		return 2;
	}
	mode = argv[1];
	m.dir = argv[2];
	snprintf(path, sizeof(path), "%s/manifest.bin", m.dir);
	manifest = ot_read_file(path, &manifest_size);
	if (!manifest || manifest_size < sizeof(*m.h)) {
		fprintf(stderr, "protocol_probe: cannot read %s\n", path);
		return 2;
	}
	m.h = (const struct ot_manifest_header *)(const void *)manifest;
	m.slots = (const struct ot_manifest_tensor *)(const void *)(manifest + sizeof(*m.h) + m.h->partition_count *
								     sizeof(struct ot_manifest_partition));
	n = m.h->input_count;
	if (n == 0 || (int)n != argc - 3) {
		fprintf(stderr, "protocol_probe: the model has %u inputs, %d given\n", n, argc - 3);
		return 2;
	}
	m.inputs = calloc(n, sizeof(*m.inputs));
	for (k = 0; m.inputs && k < n; k++) {
		m.inputs[k] = ot_read_file(argv[3 + k], &size);
		if (!m.inputs[k] || size != m.slots[k].nbytes) {
			fprintf(stderr, "protocol_probe: %s: input %u needs %llu bytes\n", argv[3 + k], k,
				(unsigned long long)m.slots[k].nbytes);
			return 2;
		}
	}
	if (!m.inputs)
		return 1;
	m.chunk = 1u << 20;
	memset(&c, 0, sizeof(c));
	res = ot_client_open(&c);
	if (res != TEEC_SUCCESS)
		return refused("open session", res, &c);
	res = ot_client_open_model(&c, manifest, manifest_size, OT_KEY_PROVISIONED);
	if (res != TEEC_SUCCESS)
		return refused("open model", res, &c);

	if (!strcmp(mode, "missing-input")) {
		res = write_inputs(&c, &m, n - 1);
		if (res != TEEC_SUCCESS)
			return refused("write input", res, &c);
		res = load_and_run(&c, &m, 0, &rc);
		if (rc)
			return rc;
		if (res == TEEC_SUCCESS) {
			fprintf(stderr, "protocol_probe: ran with input %u missing\n", n - 1);
			return 1;
		}
		rc = refused("run without every input", res, &c);
		/* the refusal leaves the inference open: the last input completes it */
		res = ot_client_write_input(&c, n - 1, m.inputs[n - 1], (size_t)m.slots[n - 1].nbytes);
		if (res == TEEC_SUCCESS)
			res = ot_client_run(&c, 0, &touched, &detail, &failed_op);
		if (res == TEEC_SUCCESS && m.h->partition_count > 1) {
			int load_rc = 0;

			res = load_and_run(&c, &m, 1, &load_rc);
		}
		if (res == TEEC_SUCCESS)
			res = print_outputs(&c, &m);
		if (res != TEEC_SUCCESS)
			refused("complete the inference", res, &c);
	} else if (!strcmp(mode, "stale-input") || !strcmp(mode, "read-twice")) {
		res = write_inputs(&c, &m, n);
		if (res == TEEC_SUCCESS)
			res = load_and_run(&c, &m, 0, &rc);
		if (rc)
			return rc;
		if (res == TEEC_SUCCESS)
			res = print_outputs(&c, &m);
		if (res != TEEC_SUCCESS)
			return refused("first inference", res, &c);
		if (!strcmp(mode, "read-twice")) {
			again = malloc((size_t)m.slots[n].nbytes);
			if (!again)
				return 1;
			res = ot_client_read_output(&c, 0, again, (size_t)m.slots[n].nbytes);
			free(again);
			if (res == TEEC_SUCCESS) {
				fprintf(stderr, "protocol_probe: output 0 read a second time\n");
				return 1;
			}
			rc = refused("read output again", res, &c);
		} else {
			res = write_inputs(&c, &m, n - 1);
			if (res != TEEC_SUCCESS)
				return refused("write input", res, &c);
			/* a single-partition body stays loaded between inferences; a multi-partition one is loaded again */
			if (m.h->partition_count > 1)
				res = load_and_run(&c, &m, 0, &rc);
			else
				res = ot_client_run(&c, 0, &touched, &detail, &failed_op);
			if (rc)
				return rc;
			if (res == TEEC_SUCCESS) {
				fprintf(stderr, "protocol_probe: the next inference ran on the last one's input %u\n", n - 1);
				return 1;
			}
			rc = refused("run the next inference without every input", res, &c);
		}
	} else {
		fprintf(stderr, "protocol_probe: unknown mode %s\n", mode);
		return 2;
	}
	ot_client_close(&c);
	return rc;
}
