#!/usr/bin/env bash
# npm run bench [-- FLAGS]: builds dist/ (the agent and controller bins the benchmarks run as real
# processes; FFK_SKIP_BUILD=1 skips it), then runs every benchmark case of issue 7 in turn, passing FLAGS
# to each (--quick, --strict, --runs N, --results FILE, --no-results, --json FILE: see bench/lib/args.ts).
# `--only CASE` (repeatable) runs just those cases. Exits non-zero when a case fails to run (or, with
# --strict, misses its bar).
set -euo pipefail
cd "$(dirname "$0")/.."

# The cases, in the order of issue 7 (issue 14's uploads-many beside uploads; then issue 15's sync, issue 20's backends, issue 17's migration); each is bench/<case>.ts.
CASES=(uploads uploads-many postgres freeze-window fleet-scale restore sync backends migration)

only=()
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --only) only+=("${2:?--only needs a case: ${CASES[*]}}"); shift 2 ;;
    --only=*) only+=("${1#--only=}"); shift ;;
    *) args+=("$1"); shift ;;
  esac
done
if [ ${#only[@]} -gt 0 ]; then
  for c in "${only[@]}"; do
    [ -f "bench/$c.ts" ] || { echo "bench: no case '$c' (cases: ${CASES[*]})" >&2; exit 2; }
  done
  CASES=("${only[@]}")
fi

if [ "${FFK_SKIP_BUILD:-}" != "1" ]; then
  echo "== build" >&2
  npx tsc -p tsconfig.build.json
  node scripts/bundle.mjs   # the bins the cases run (dist/bin/)
fi

status=0
for c in "${CASES[@]}"; do
  echo "== bench: $c" >&2
  npx tsx "bench/$c.ts" ${args[@]+"${args[@]}"} || status=$?
done
exit $status
