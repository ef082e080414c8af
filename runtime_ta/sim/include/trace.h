/*
 * The subset of OP-TEE's <trace.h> (libutils, as in the TA dev kit) the onnx-tee TA uses:
 * EMSG / IMSG / DMSG / FMSG, compiled in up to TRACE_LEVEL exactly as in the dev kit (which passes
 * -DTRACE_LEVEL=$(CFG_TEE_TA_LOG_LEVEL)).  In the simulator every level is compiled in and
 * trace_printf (gp_shim.c) prints to stderr only the messages at or below the level in the
 * environment variable ONNX_TEE_TA_LOG_LEVEL (0, the default: silent; 1 error, 2 info, 3 debug,
 * 4 flow), or -DONNX_TEE_TA_LOG_LEVEL=N at build time when the variable is unset.
 */
#ifndef ONNX_TEE_SIM_TRACE_H
#define ONNX_TEE_SIM_TRACE_H

#include <stdbool.h>

#define TRACE_MIN 0
#define TRACE_ERROR 1
#define TRACE_INFO 2
#define TRACE_DEBUG 3
#define TRACE_FLOW 4
#define TRACE_MAX TRACE_FLOW

#ifndef TRACE_LEVEL
#define TRACE_LEVEL TRACE_MAX
#endif

#if defined(__GNUC__)
#define OT_TRACE_PRINTF_ATTR __attribute__((format(printf, 5, 6)))
#else
#define OT_TRACE_PRINTF_ATTR
#endif

void trace_printf(const char *func, int line, int level, bool level_ok, const char *fmt, ...) OT_TRACE_PRINTF_ATTR;

#define trace_printf_helper(level, level_ok, ...) trace_printf(__func__, __LINE__, (level), (level_ok), __VA_ARGS__)

#if (TRACE_LEVEL < TRACE_ERROR)
#define EMSG(...) (void)0
#else
#define EMSG(...) trace_printf_helper(TRACE_ERROR, true, __VA_ARGS__)
#endif
#if (TRACE_LEVEL < TRACE_INFO)
#define IMSG(...) (void)0
#else
#define IMSG(...) trace_printf_helper(TRACE_INFO, true, __VA_ARGS__)
#endif
#if (TRACE_LEVEL < TRACE_DEBUG)
#define DMSG(...) (void)0
#else
#define DMSG(...) trace_printf_helper(TRACE_DEBUG, true, __VA_ARGS__)
#endif
#if (TRACE_LEVEL < TRACE_FLOW)
#define FMSG(...) (void)0
#else
#define FMSG(...) trace_printf_helper(TRACE_FLOW, true, __VA_ARGS__)
#endif

#endif /* ONNX_TEE_SIM_TRACE_H */
