#!/usr/bin/env bash
# Installs what skim needs to build and test on Debian 12, and upgrades what is installed to
# the current candidate, so that a machine set up long ago and a new one converge on the same
# package state (a green run on old packages can hide a failure on today's). Idempotent.
set -euo pipefail
pkgs=(build-essential cmake ninja-build clang libclang-rt-14-dev valgrind
      mesa-vulkan-drivers libvulkan-dev libvulkan-volk-dev glslc libshaderc-dev
      glslang-tools spirv-tools vulkan-validationlayers vulkan-tools python3-torch
      gcc-aarch64-linux-gnu g++-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
      qemu-user-static pkg-config
      gcc-mingw-w64-x86-64 g++-mingw-w64-x86-64 wine64)
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive

# Fresh package lists, at most once an hour (apt-get update takes seconds, not minutes).
lists=/var/lib/apt/lists
if [ -z "$(find "$lists" -maxdepth 1 -name '*_Packages*' -mmin -60 2>/dev/null | head -n 1)" ]; then
  $SUDO apt-get update -qq || echo "setup.sh: apt-get update failed; using the package lists there are" >&2
fi

# Missing packages, and installed ones older than the candidate.
todo=()
for p in "${pkgs[@]}"; do
  # dpkg-query fails for a package never installed: under pipefail that must not end the
  # script (it did, silently, on a machine without mesa-vulkan-drivers)
  inst=$(dpkg-query -W -f='${Status} ${Version}' "$p" 2>/dev/null | sed -n 's/^install ok installed //p' || true)
  cand=$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ {print $2}' || true)
  if [ -z "$inst" ]; then
    todo+=("$p")
  elif [ -n "$cand" ] && [ "$cand" != "(none)" ] && [ "$inst" != "$cand" ] &&
       dpkg --compare-versions "$inst" lt "$cand"; then
    echo "setup.sh: $p $inst -> $cand"
    todo+=("$p")
  fi
done
if [ ${#todo[@]} -gt 0 ]; then
  # apt-get install upgrades an installed package to the candidate, with what it depends on
  # (mesa-vulkan-drivers brings libgl1-mesa-dri along).
  $SUDO apt-get install -y -qq --no-install-recommends "${todo[@]}"
fi
