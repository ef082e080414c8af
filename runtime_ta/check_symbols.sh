#!/usr/bin/env bash
# Freestanding AArch64 link check of the TA: compile the TA glue and the interpreter exactly as the
# TA build does, but freestanding against declaration-only GP headers (sim/include), link the
# objects into one relocatable object, and require that every symbol left undefined is a GP
# Internal Core API function (TEE_*), a mem*/str* function the TA dev kit's libc provides or
# trace_printf (libutils' EMSG/IMSG/DMSG backend): no libm, no malloc, no stdio.  Also requires the five GP entry points to be defined.
#
#   runtime_ta/check_symbols.sh [CROSS_COMPILE [EXTRA.c ...]]   (default aarch64-linux-gnu-)
# EXTRA.c files are checked together with the TA (the test suite uses this to prove it can fail).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cross="${1:-aarch64-linux-gnu-}"
shift $(( $# > 0 ? 1 : 0 ))
cc="${cross}gcc"
command -v "$cc" >/dev/null || { echo "check_symbols: $cc not found" >&2; exit 2; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

sources=("$here"/ta/entry_point.c "$here"/ta/model.c "$here"/ta/secure_store.c "$here"/ta/sealed_io.c
         "$here"/interp/*.c "$here"/interp/ops/*.c "$here"/interp/kernels/*.c "$@")
flags=(-std=c99 -O2 -ffreestanding -fno-builtin -fno-stack-protector -ffp-contract=off -fPIC
       -Werror=implicit-function-declaration -Werror=vla
       -I"$here"/sim/include -I"$here"/include -I"$here"/interp -I"$here"/ta)
objects=()
for src in "${sources[@]}"; do
  obj="$work/$(basename "$(dirname "$src")")_$(basename "${src%.c}").o"
  "$cc" "${flags[@]}" -c "$src" -o "$obj" || { echo "check_symbols: $src does not compile" >&2; exit 2; }
  objects+=("$obj")
done
"${cross}ld" -r -o "$work/ta.o" "${objects[@]}"

undefined="$("${cross}nm" -u "$work/ta.o" | awk '{print $NF}' | sort -u)"
defined="$("${cross}nm" --defined-only "$work/ta.o" | awk '{print $NF}' | sort -u)"
bad="$(printf '%s\n' "$undefined" | grep -Ev '^(TEE_[A-Za-z0-9_]+|(mem|str)[a-z]*|trace_printf)$' | grep -v '^$' || true)"
missing=""
for entry in TA_CreateEntryPoint TA_DestroyEntryPoint TA_OpenSessionEntryPoint TA_CloseSessionEntryPoint \
             TA_InvokeCommandEntryPoint; do
  grep -qx "$entry" <<<"$defined" || missing="$missing $entry"
done

echo "undefined symbols:" $undefined
if [ -n "$bad" ] || [ -n "$missing" ]; then
  [ -n "$bad" ] && echo "check_symbols: not provided by the TA dev kit:" $bad >&2
  [ -n "$missing" ] && echo "check_symbols: entry points not defined:$missing" >&2
  exit 1
fi
echo "check_symbols: OK (${#objects[@]} sources, only GP API, mem*/str* and trace_printf left undefined)"
