#!/usr/bin/env bash
# Sets up, builds and runs the demo: the shipped gated model (assets/gated-shakespeare.gguf)
# writing 200 characters on the Vulkan backend (Mesa's lavapipe when there is no GPU),
# streamed with a live tokens-per-second figure, then the work its gates skipped.
# Arguments go to examples/generate (e.g. --backend cpu, --dense, -n 400, --seed 7,
# --prompt "JULIET:", --trace trace.svg); ./build/examples/hello/hello is the smaller
# demo with random weights.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build
gen=./build/examples/generate/generate
if [ ! -x "$gen" ]; then
  echo "demo: $gen was not built (it needs the models library)" >&2
  exit 1
fi
if ! "$gen" -n 200 "$@"; then
  echo "demo: generate failed on its default backend (Vulkan); trying the CPU" >&2
  "$gen" --backend cpu -n 200 "$@"
fi
