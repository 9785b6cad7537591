#!/usr/bin/env bash
# Prints, one per line, the Vulkan driver (ICD) libraries that the Vulkan loader would load
# in this environment: the manifests named by VK_DRIVER_FILES (or the older VK_ICD_FILENAMES)
# when set, else those in the loader's search folders, plus VK_ADD_DRIVER_FILES. Only
# libraries of this machine's ELF class and architecture are printed.
#
# scripts/test-sanitizers.sh preloads them (LD_PRELOAD) so that they stay resident for the
# whole process. Why: the loader dlcloses a driver at vkDestroyInstance; a block that the
# driver keeps in a global (lavapipe of Mesa 22.3.6-1+deb12u2 keeps one of 128 bytes) is then
# unreachable in an unmapped module, and LeakSanitizer reports it with an "<unknown module>"
# frame that no suppression can name. Resident, the block stays reachable and its frames have
# names. Leaks in skim's own code, and Vulkan objects skim creates and never destroys, are
# still reported: preloading changes only when the driver is unmapped.
set -euo pipefail

manifests=()
add_from() { # a colon-separated list of manifest files or folders of manifests
  local IFS=:
  local item f
  for item in $1; do
    [ -n "$item" ] || continue
    if [ -d "$item" ]; then
      for f in "$item"/*.json; do [ -f "$f" ] && manifests+=("$f"); done
    elif [ -f "$item" ]; then
      manifests+=("$item")
    fi
  done
  return 0
}

override=${VK_DRIVER_FILES:-${VK_ICD_FILENAMES:-}}
if [ -n "$override" ]; then
  add_from "$override"
else
  # The loader's search order on Linux (XDG config, sysconf, XDG data), each + /vulkan/icd.d.
  dirs="${XDG_CONFIG_HOME:-$HOME/.config}:${XDG_CONFIG_DIRS:-/etc/xdg}:/etc:/usr/local/etc"
  dirs="$dirs:${XDG_DATA_HOME:-$HOME/.local/share}:${XDG_DATA_DIRS:-/usr/local/share:/usr/share}"
  IFS=: read -r -a roots <<<"$dirs"
  for r in "${roots[@]}"; do [ -z "$r" ] || add_from "$r/vulkan/icd.d"; done
fi
add_from "${VK_ADD_DRIVER_FILES:-}"

# ELF identification of this shell's own binary: class, byte order (bytes 4-5), machine (18-19).
elf_id() { od -An -tx1 -j4 -N2 "$1" 2>/dev/null | tr -d ' \n'; od -An -tx1 -j18 -N2 "$1" 2>/dev/null | tr -d ' \n'; }
self=$(elf_id "/proc/$$/exe")

declare -A seen=()
for m in ${manifests[@]+"${manifests[@]}"}; do
  lib=$(tr -d '\n' <"$m" | sed -n 's/.*"library_path"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')
  [ -n "$lib" ] || continue
  case "$lib" in
    /*) ;;
    */*) lib="$(cd "$(dirname "$m")" && pwd)/$lib" ;;
    *) # a bare name: the dynamic linker's search, as the loader's dlopen does
       found=$(ldconfig -p 2>/dev/null | awk -v n="$lib" '$1 == n {print $NF}' | while read -r p; do
                 [ "$(elf_id "$p")" = "$self" ] && { echo "$p"; break; }; done)
       [ -n "$found" ] || continue
       lib=$found ;;
  esac
  [ -f "$lib" ] && [ "$(elf_id "$lib")" = "$self" ] || continue
  [ -n "${seen[$lib]:-}" ] && continue
  seen[$lib]=1
  echo "$lib"
done
