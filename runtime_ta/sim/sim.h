/*
 * Control and counters of the onnx-tee simulator: the GP Internal Core API shim (gp_shim.c) and
 * the libteec shim (teec_shim.c) that runs the TA in-process.  Python drives it through ctypes
 * (passes/lower/sim.py); the CLI (sim_main.c) is the normal-world client linked against it.
 */
#ifndef ONNX_TEE_SIM_H
#define ONNX_TEE_SIM_H

#include <stddef.h>
#include <stdint.h>

/* Heap: TEE_Malloc fails past `ta_data_size` bytes in use, like OP-TEE's fixed TA heap. */
void ot_sim_set_heap_cap(size_t ta_data_size);
size_t ot_sim_heap_used(void);
size_t ot_sim_heap_peak(void);
void ot_sim_reset_heap_peak(void);

/* Page-granular access tracking of the region (page_watch.c): arm before loading a partition,
 * disarm after running it; returns the end of the highest page touched (offset from the region
 * start).  arm returns -1 when unavailable (AddressSanitizer builds, no region yet). */
int ot_sim_watch_arm(void);
size_t ot_sim_watch_disarm(void);
void ot_sim_watch_note_alloc(void *ptr, size_t size);
void ot_sim_watch_note_free(void *ptr);

/* The TA build options the simulated device stands for (onnx_tee_ta.h, "Key modes"): its key mode
 * (OT_KEY_PROVISIONED, the default, or OT_KEY_DEVICE) and the vendor public key enrolment wraps the
 * device key for (RSA modulus of OT_ENROL_WRAPPED_BYTES bytes, big-endian, exponent 65537; NULL:
 * none).  Defaults from the environment: ONNX_TEE_SIM_KEY_MODE=provisioned|device and
 * ONNX_TEE_SIM_VENDOR_KEY=<file holding the modulus bytes> (the onnx_tee_sim CLI uses those). */
void ot_sim_set_key_mode(uint32_t mode);
uint32_t ot_sim_key_mode(void);
int ot_sim_set_vendor_modulus(const uint8_t *modulus, size_t size);
const uint8_t *ot_sim_vendor_modulus(void);

/* Directory of the simulated device's secure storage (objects, hardware unique key). */
int ot_sim_set_storage(const char *dir);

/* Traffic across the simulated shared-memory boundary. */
struct ot_sim_traffic {
	uint64_t invocations;     /* TEEC_InvokeCommand calls that reached the TA */
	uint64_t sessions;        /* TEEC_OpenSession calls that reached the TA */
	uint64_t bytes_in;        /* memref bytes handed to the TA */
	uint64_t bytes_out;       /* memref bytes the TA returned */
};
void ot_sim_traffic(struct ot_sim_traffic *out);
void ot_sim_reset_traffic(void);

/* Per-op timing of the interpreter (profile.c, interp/profile.h): enable (which also forgets the
 * last records), then after each run read one record per op of the partition that ran, in op order;
 * returns the number of ops recorded (copies at most `max`).  Partitions of more than
 * OT_SIM_PROFILE_MAX_OPS ops have only their first ops recorded. */
#define OT_SIM_PROFILE_MAX_OPS 65536u
struct ot_sim_op_time {
	uint64_t ns;       /* wall time of the op's eval */
	uint16_t op;       /* RT_OP_* */
	uint16_t flags;    /* RT_PREP_* (fused into the Conv before it: RT_PREP_APPLIED) */
	uint32_t reserved;
};
void ot_sim_profile_enable(int on);
size_t ot_sim_profile_read(struct ot_sim_op_time *out, size_t max);
/* ns per phase (the run command's RT_PROFILE_REVALIDATE, RT_PROFILE_WIPE and the load command's
 * passes RT_PROFILE_LOAD_*: interp/profile.h) since the last read, into out[RT_PROFILE_PHASES];
 * resets them. */
void ot_sim_profile_read_phases(uint64_t *out);

/* Wall and thread CPU nanoseconds OpenSSL's AES-256-GCM takes to decrypt `bytes` bytes in pieces
 * of `chunk_bytes`, in place in one cache-resident buffer: the cipher alone (gcm_pace.c); 0, or -1
 * when it cannot run. */
int ot_sim_gcm_decrypt_ns(size_t bytes, size_t chunk_bytes, uint64_t *wall_ns, uint64_t *cpu_ns);

/* Append every byte that crosses the boundary (both directions) to `path`; NULL stops. */
int ot_sim_set_trace(const char *path);

#endif /* ONNX_TEE_SIM_H */
