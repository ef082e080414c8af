# Sources of the TA: its own glue and the portable interpreter (compiled exactly as in the simulator).
global-incdirs-y += . ../include ../interp
cflags-y += -ffp-contract=off
# Exact float compares are meant: NaN tests (x != x) in mathf.c and identity fast paths (alpha == 1, beta == 0).
cflags-y += -Wno-float-equal
# The vendor public key enrolment wraps the device key for (Makefile: VENDOR_KEY=...).
ifneq ($(OT_VENDOR_KEY_PATH),)
# written \"...\" (not '"..."'): the dev kit records each command in a .cmd file through echo "...", and
# only this quoting survives it unchanged, so an unchanged build is not recompiled on every make
cflags-y += -DOT_VENDOR_KEY_HEADER=\"$(OT_VENDOR_KEY_PATH)\"
endif

srcs-y += entry_point.c
srcs-y += model.c
srcs-y += secure_store.c
srcs-y += sealed_io.c

# ../interp/x.c is built as <out>/interp/x.o
interp-srcs := $(sort $(wildcard ../interp/*.c ../interp/ops/*.c ../interp/kernels/*.c))
$(foreach f,$(interp-srcs),$(eval srcs-y += $(f))$(eval oname-$(f)-y := interp/$(patsubst ../interp/%.c,%,$(f)).o))
