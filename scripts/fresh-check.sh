#!/usr/bin/env bash
# A newcomer's run, as far as this machine allows: a clean clone of the committed HEAD into a
# scratch folder, with ../shared beside it (a link to the one beside this checkout), then the
# two commands of the README's "Try it" section, verbatim, each with its exit code and time.
# Uncommitted changes are not in the clone: commit first. Run it before every submission.
# Usage: scripts/fresh-check.sh [scratch-folder]   (default: a new folder under /tmp)
# The packages come from scripts/setup.sh, which upgrades them to the current candidates,
# so the machine is brought to the state a new one gets before anything is built.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
scratch=${1:-$(mktemp -d /tmp/skim-fresh.XXXXXX)}
mkdir -p "$scratch"
if [ -n "$(git -C "$root" status --porcelain --untracked-files=no)" ]; then
  echo "fresh-check: note: uncommitted changes in $root are not part of this check"
fi
rm -rf "$scratch/skim"
git clone -q "$root" "$scratch/skim" || { echo "fresh-check: clone failed"; exit 1; }
if [ -d "$root/../shared" ] && [ ! -e "$scratch/shared" ]; then
  ln -s "$(cd "$root/../shared" && pwd)" "$scratch/shared"
fi
[ -d "$scratch/shared/data" ] || echo "fresh-check: no ../shared/data beside the clone: tests that need it skip"

# The commands: the first two lines of the first sh block after the "## Try it" heading.
mapfile -t cmds < <(awk '/^## Try it/ {t=1} t && /^```sh/ {b=1; next} b && /^```/ {exit}
                         b && NF {sub(/[[:space:]]+#.*/, ""); print}' "$scratch/skim/README.md" | head -n 2)
if [ ${#cmds[@]} -ne 2 ]; then
  echo "fresh-check: could not find the README's two commands under '## Try it'"
  exit 1
fi
status=0
summary=()
for c in "${cmds[@]}"; do
  log="$scratch/$(echo "$c" | tr -c 'a-zA-Z0-9' '_' | sed 's/_*$//').log"
  echo "fresh-check: running '$c' in $scratch/skim (log: $log)"
  t0=$(date +%s)
  (cd "$scratch/skim" && bash -c "$c") >"$log" 2>&1 </dev/null
  rc=$?
  t=$(( $(date +%s) - t0 ))
  tail -n 15 "$log"
  summary+=("fresh-check: '$c' exited $rc after $((t / 60)) min $((t % 60)) s")
  [ $rc -eq 0 ] || status=1
done
echo "fresh-check: commit $(git -C "$scratch/skim" rev-parse --short HEAD), clone in $scratch/skim"
bash "$root/scripts/versions.sh"
printf '%s\n' "${summary[@]}"
exit $status
