/*
 * profile.h - per-op timing of rt_run_partition, compiled in only where RT_PROFILE is defined.
 *
 * The simulator build defines RT_PROFILE and provides the two functions below (sim/profile.c); the
 * TA, the host test library and the fuzzer do not, and there the macros expand to nothing: their
 * run loop is unchanged.  With RT_PROFILE, op k's time is the clock's difference around its eval,
 * recorded with its op code and prepared flags (an op a fused Conv applied runs nothing of its own:
 * RT_PREP_APPLIED, its time is in the Conv's).  The TA glue times the phases of a run command around
 * the ops, and the passes of a load command over the blob, the same way (RT_PROFILE_PHASE).
 */
#ifndef ONNX_TEE_PROFILE_H
#define ONNX_TEE_PROFILE_H

#include <stdint.h>

/* The phases of a run command outside the ops (the TA glue, ta/model.c). */
#define RT_PROFILE_REVALIDATE 0u /* the body's tables checked and its ops prepared again */
#define RT_PROFILE_WIPE 1u       /* a finished body wiped (models of several partitions) */
/* The passes of a load command over the blob's bytes (ta/model.c, model_load_chunk). */
#define RT_PROFILE_LOAD_COPY 2u     /* a chunk copied from shared memory into the staging buffer */
#define RT_PROFILE_LOAD_DECRYPT 3u  /* the staged chunk decrypted into the body's place */
#define RT_PROFILE_LOAD_VALIDATE 4u /* the authentic body validated, its ops prepared */
#define RT_PROFILE_PHASES 5u

#if defined(RT_PROFILE)
/* A monotonic clock in nanoseconds; 0 when profiling is switched off at run time. */
uint64_t rt_profile_clock(void);
/* Op `index` of the partition being run (op code, RT_PREP_* flags) took `ns` nanoseconds. */
void rt_profile_record(uint32_t index, uint32_t op, uint32_t flags, uint64_t ns);
/* A phase (RT_PROFILE_*) of the run command took `ns` nanoseconds. */
void rt_profile_phase(uint32_t phase, uint64_t ns);
#define RT_PROFILE_START(t0) const uint64_t t0 = rt_profile_clock()
#define RT_PROFILE_STOP(t0, index, op, flags) \
    rt_profile_record((index), (op), (flags), (t0) != 0 ? rt_profile_clock() - (t0) : 0)
#define RT_PROFILE_PHASE(t0, phase) rt_profile_phase((phase), (t0) != 0 ? rt_profile_clock() - (t0) : 0)
#else
#define RT_PROFILE_START(t0) ((void)0)
#define RT_PROFILE_STOP(t0, index, op, flags) ((void)0)
#define RT_PROFILE_PHASE(t0, phase) ((void)0)
#endif

#endif /* ONNX_TEE_PROFILE_H */
