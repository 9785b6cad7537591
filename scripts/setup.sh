#!/usr/bin/env bash
# Installs what skim needs to build and test on Debian 12 (idempotent).
set -euo pipefail
pkgs=(build-essential cmake ninja-build clang libclang-rt-14-dev valgrind
      mesa-vulkan-drivers libvulkan-dev libvulkan-volk-dev glslc libshaderc-dev
      glslang-tools spirv-tools vulkan-validationlayers vulkan-tools python3-torch
      gcc-aarch64-linux-gnu g++-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
      qemu-user-static pkg-config)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
