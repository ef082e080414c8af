/*
 * An independent measurement of the memory a partition touches: page-granular access tracking of
 * the TA's largest live TEE_Malloc block (the planned region).
 *
 * The shim gives large blocks whole pages of their own, starting on a page boundary (gp_shim.c).
 * ot_sim_watch_arm() revokes access to every page of the region; each first access
 * (read or write, by the TA, the interpreter or OpenSSL) faults, the handler records the page and
 * restores access, and the instruction runs again.  ot_sim_watch_disarm() restores the region and
 * returns the end of the highest page touched, as an offset from the region start.  So the figure
 * does not come from the TA's own bookkeeping: it is what the MMU saw.  Not available under
 * AddressSanitizer, which owns SIGSEGV.
 */
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sim.h"

#if defined(__SANITIZE_ADDRESS__)
#define WATCH_AVAILABLE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WATCH_AVAILABLE 0
#endif
#endif
#ifndef WATCH_AVAILABLE
#define WATCH_AVAILABLE 1
#endif

static struct {
	uint8_t *block;            /* the largest live allocation (page-aligned, whole pages) */
	size_t size;
	uintptr_t first, last;     /* protected pages [first, last) while armed */
	size_t page;
	volatile size_t max_end;   /* highest touched page end, from block start */
	volatile int armed;
	struct sigaction previous;
	int installed;
} watch;

void ot_sim_watch_note_alloc(void *ptr, size_t size)
{
	if (size > watch.size && !watch.armed) {
		watch.block = ptr;
		watch.size = size;
	}
}

void ot_sim_watch_note_free(void *ptr)
{
	if (ptr == watch.block) {
		ot_sim_watch_disarm();
		watch.block = NULL;
		watch.size = 0;
	}
}

static void on_fault(int sig, siginfo_t *info, void *context)
{
	uintptr_t addr = (uintptr_t)info->si_addr;

	if (watch.armed && addr >= watch.first && addr < watch.last) {
		uintptr_t page = addr & ~(uintptr_t)(watch.page - 1);
		size_t end = page + watch.page - (uintptr_t)watch.block;

		mprotect((void *)page, watch.page, PROT_READ | PROT_WRITE);
		if (end > watch.max_end)
			watch.max_end = end > watch.size ? watch.size : end;
		return;
	}
	/* not ours: let the previous disposition handle it */
	sigaction(SIGSEGV, &watch.previous, NULL);
	if (watch.previous.sa_flags & SA_SIGINFO && watch.previous.sa_sigaction)
		watch.previous.sa_sigaction(sig, info, context);
	else if (watch.previous.sa_handler != SIG_DFL && watch.previous.sa_handler != SIG_IGN)
		watch.previous.sa_handler(sig);
}

int ot_sim_watch_arm(void)
{
	struct sigaction action;

	if (!WATCH_AVAILABLE || !watch.block)
		return -1;
	watch.page = (size_t)sysconf(_SC_PAGESIZE);
	watch.first = (uintptr_t)watch.block;
	watch.last = watch.first + (watch.size + watch.page - 1) / watch.page * watch.page;
	if (watch.first % watch.page != 0 || watch.size == 0)
		return -1;   /* not a page-aligned block: no region yet */
	if (!watch.installed) {
		memset(&action, 0, sizeof(action));
		action.sa_sigaction = on_fault;
		action.sa_flags = SA_SIGINFO | SA_NODEFER;
		sigemptyset(&action.sa_mask);
		if (sigaction(SIGSEGV, &action, &watch.previous) != 0)
			return -1;
		watch.installed = 1;
	}
	watch.max_end = 0;
	watch.armed = 1;
	if (mprotect((void *)watch.first, watch.last - watch.first, PROT_NONE) != 0) {
		watch.armed = 0;
		return -1;
	}
	return 0;
}

size_t ot_sim_watch_disarm(void)
{
	if (!watch.armed)
		return 0;
	mprotect((void *)watch.first, watch.last - watch.first, PROT_READ | PROT_WRITE);
	watch.armed = 0;
	return watch.max_end;
}
