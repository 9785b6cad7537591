#!/usr/bin/env bash
# Prints the versions of what the test results depend on, so that a failure can be matched
# to a package state: the Vulkan driver (Mesa's lavapipe here) as the loader reports it, the
# loader, the validation layer, the shader compiler, the compilers.
set -u
pkg() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "not installed"; }
echo "versions: mesa-vulkan-drivers $(pkg mesa-vulkan-drivers), libvulkan1 (loader) $(pkg libvulkan1)," \
     "vulkan-validationlayers $(pkg vulkan-validationlayers), glslc $(pkg glslc)," \
     "clang $(pkg clang-14), gcc $(pkg gcc-12), cmake $(pkg cmake)"
if command -v vulkaninfo >/dev/null 2>&1; then
  vulkaninfo --summary 2>/dev/null |
    awk -F'= ' '/deviceName/ {d=$2} /driverInfo/ {printf "versions: vulkan device %s, driverInfo %s\n", d, $2}'
else
  echo "versions: vulkaninfo not installed"
fi
exit 0
