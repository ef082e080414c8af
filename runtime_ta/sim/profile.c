/*
 * Per-op timing of the interpreter in the simulator (interp/profile.h): the interpreter calls
 * rt_profile_clock() before and rt_profile_record() after each op's eval; this file keeps the
 * records of the last partition run, which Python reads after each OT_CMD_RUN (ot_sim_profile_read),
 * and the time of the run command's phases around them (ot_sim_profile_read_phases).
 *
 * Off by default: then the clock returns 0 without reading the time and nothing is recorded, so a
 * run costs one call and one branch per op more than the TA's loop.  The clock is CLOCK_MONOTONIC
 * (a vDSO read, tens of nanoseconds): wall time, like the compute time Python measures around a run.
 */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "profile.h"
#include "sim.h"

static struct {
	int enabled;
	size_t count;                          /* ops recorded by the last run: index of the last + 1 */
	struct ot_sim_op_time ops[OT_SIM_PROFILE_MAX_OPS];
	uint64_t phases[RT_PROFILE_PHASES];    /* ns per phase since the last read */
} prof;

void ot_sim_profile_enable(int on)
{
	prof.enabled = on != 0;
	prof.count = 0;
	memset(prof.phases, 0, sizeof(prof.phases));
}

uint64_t rt_profile_clock(void)
{
	struct timespec ts;

	if (!prof.enabled)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void rt_profile_record(uint32_t index, uint32_t op, uint32_t flags, uint64_t ns)
{
	if (!prof.enabled)
		return;
	if (index == 0)
		prof.count = 0;             /* a new run starts */
	if (index >= OT_SIM_PROFILE_MAX_OPS)
		return;
	prof.ops[index].ns = ns;
	prof.ops[index].op = (uint16_t)op;
	prof.ops[index].flags = (uint16_t)flags;
	prof.count = index + 1;
}

void rt_profile_phase(uint32_t phase, uint64_t ns)
{
	if (prof.enabled && phase < RT_PROFILE_PHASES)
		prof.phases[phase] += ns;
}

void ot_sim_profile_read_phases(uint64_t *out)
{
	memcpy(out, prof.phases, sizeof(prof.phases));
	memset(prof.phases, 0, sizeof(prof.phases));
}

size_t ot_sim_profile_read(struct ot_sim_op_time *out, size_t max)
{
	size_t n = prof.count < max ? prof.count : max;

	if (out != NULL && n > 0)
		memcpy(out, prof.ops, n * sizeof(*out));
	return prof.count;
}
