#!/usr/bin/env bash
# device-check.sh - on a machine with a real GPU: installs what is missing (scripts/setup.sh),
# builds, runs the Vulkan suite on the GPU (lavapipe not allowed to stand in), generates the
# TinyLlama-shaped model in Q8_0 and Q4_0 and runs the 1B-shape figures on it: generate
# with a prompt of about 512 tokens (load, prefill and decode tokens/s, memory held) on Vulkan and
# on the CPU, bench_scale's Vulkan row and its device time per op (--profile), and the decode
# benchmark. Prints every figure; nothing is written outside
# BUILD (default build-device) and MODELS (default /tmp/skim-device-check).
#
#   bash scripts/device-check.sh [--dry-run] [--quick]
#
# --dry-run prints the steps and the commands without running any (no GPU, no build
# needed: ctest runs it). --quick: Q8_0 only and 16 decode tokens.
set -euo pipefail
cd "$(dirname "$0")/.."
DRY=0
QUICK=0
for a in "$@"; do
  case "$a" in
    --dry-run) DRY=1 ;;
    --quick) QUICK=1 ;;
    *) echo "device-check: unknown option $a (--dry-run, --quick)" >&2; exit 2 ;;
  esac
done
BUILD=${BUILD:-build-device}
MODELS=${MODELS:-/tmp/skim-device-check}
TYPES="q8_0 q4_0"
NTOK=64
if [ "$QUICK" = 1 ]; then TYPES="q8_0"; NTOK=16; fi

step() { echo "device-check: == $*"; }
run() { # prints the command (long arguments cut at 60 characters), then runs it
  local shown="" a
  for a in "$@"; do
    if [ ${#a} -gt 60 ]; then a="${a:0:60}...(${#a} characters)"; fi
    shown="$shown $a"
  done
  echo "device-check: \$$shown"
  if [ "$DRY" = 0 ]; then "$@"; fi
}

step "the device"
if [ "$DRY" = 0 ]; then
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
  fi
  command -v vulkaninfo >/dev/null || bash scripts/setup.sh
  # The GPU must be there: a machine where only lavapipe answers is not a device check.
  if ! vulkaninfo --summary 2>/dev/null | grep -E "deviceType += PHYSICAL_DEVICE_TYPE_(DISCRETE|INTEGRATED)_GPU" >/dev/null; then
    echo "device-check: no discrete or integrated GPU in vulkaninfo --summary" >&2
    vulkaninfo --summary 2>&1 | grep -E "deviceName|deviceType|driverInfo" >&2 || true
    exit 1
  fi
  vulkaninfo --summary 2>/dev/null | grep -E "deviceName|deviceType|driverInfo|apiVersion" || true
fi

step "what is missing, and the versions"
run bash scripts/setup.sh
run bash scripts/versions.sh

step "build ($BUILD)"
run cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSKIM_WERROR=ON
run cmake --build "$BUILD" -j"$(nproc)"

step "the Vulkan suite on the GPU (the first GPU, as the backend picks it)"
run env SKIM_TEST_VK_REQUIRE=1 ctest --test-dir "$BUILD" -L vulkan -j4 --output-on-failure

step "the 1B-shape figures (TinyLlama: d 2048, 22 layers, vocab 32000)"
run mkdir -p "$MODELS"
PROMPT=$(printf 'the quick brown fox jumps over the lazy dog %.0s' $(seq 1 57))
for t in $TYPES; do
  f="$MODELS/tinyllama-$t.gguf"
  if [ "$DRY" = 1 ] || [ ! -f "$f" ]; then
    run "$BUILD/models/gen_model/gen_model" --preset tinyllama-1.1b --type "$t" "$f"
  fi
  for be in vulkan cpu; do
    step "generate, $t, $be, a prompt of about 512 tokens, $NTOK tokens"
    run /usr/bin/time -v "$BUILD/examples/generate/generate" -m "$f" --backend "$be" \
        -n "$NTOK" --temp 0 --prompt "$PROMPT"
  done
  step "golden, $t: CPU against Vulkan, layer by layer"
  run "$BUILD/examples/golden/golden" -m "$f" --prompt "$PROMPT"
  step "bench_scale, $t: the table's Vulkan row, then the device time per op (profiled)"
  run "$BUILD/examples/bench_scale/bench_scale" "$f" --backend vulkan --prompt 512 \
      --decode "$NTOK" --header
  run "$BUILD/examples/bench_scale/bench_scale" "$f" --backend vulkan --prompt 512 \
      --decode "$NTOK" --profile
done
step "the decode benchmark (both backends)"
run "$BUILD/examples/bench_vulkan/bench_vulkan" --only decode
step "done"
