#!/usr/bin/env bash
# Set up this checkout: the system packages onnx-tee needs (a C compiler and OpenSSL headers for the TEE
# simulator; with --test also what the tests use: clang + libFuzzer, the AArch64 cross compiler, QEMU,
# Fashion-MNIST), then a virtual environment .venv with the package installed in editable mode.
# Idempotent: packages already installed are not touched; runs apt-get as root, through sudo otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential libssl-dev)
extras="."
if [ "${1:-}" = "--test" ]; then
  # clang + libFuzzer (fuzzing, sanitizers); the AArch64 cross compiler and qemu-aarch64 (AArch64 conformance);
  # QEMU's system emulator, cpio/xz (the optee-kit's run.sh) and python3-cryptography (the dev kit's TA signing)
  packages+=(clang libclang-rt-14-dev make gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user qemu-system-arm
             cpio xz-utils python3-cryptography dataset-fashion-mnist)
  extras=".[test]"
fi

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then as_root=(); elif command -v sudo >/dev/null 2>&1; then as_root=(sudo); else
    echo "setup: cannot install ${missing[*]} (not root, no sudo): install them, then run this again" >&2
    exit 2
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e "$extras"
