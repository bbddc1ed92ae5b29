#!/usr/bin/env bash
# The README's test command (npm test): setup, proto check, lint, typecheck, build, then every test
# (unit, integration against real servers, end to end). Ends with the ten slowest test files and
# "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."

started=$SECONDS
bash scripts/setup.sh
echo "== proto:check"; bash scripts/proto-gen.sh --check
# Lint beside one compiler run that type-checks everything (tests included) and emits dist/, which the
# end-to-end tests run (dist/ then also holds the compiled tests; `npm run build` emits the product alone).
echo "== lint, typecheck and build"
logs=$(mktemp -d)
npx eslint . >"$logs/lint" 2>&1 & lint=$!
npx tsc -p tsconfig.json --noEmit false >"$logs/typecheck" 2>&1 & typecheck=$!
# The web console's browser code has its own compiler run (DOM, no Node types).
npx tsc -p controller/console/tsconfig.json >"$logs/console" 2>&1 & console=$!
failed=0
for step in lint typecheck console; do
  pid=${!step}
  if ! wait "$pid"; then echo "== $step failed:"; cat "$logs/$step"; failed=1; fi
done
rm -rf "$logs"
[ "$failed" -eq 0 ] || exit 1
echo "== bundle the bins"; node scripts/bundle.mjs
# The tests' scratch files (dev sites, repositories, fleets: everything under os.tmpdir()) go to a tmpfs
# when /dev/shm is one with room. Why: the machines this suite runs on keep / on ext4 without a journal,
# where creating a file scans past every inode deleted in the last minutes (the kernel's
# recently_deleted(); perf shows 75 % of the CPU there). After a test removed its dev site, creating
# 13,000 small files took 6-15 s of kernel CPU instead of 0.8 s, and many test files make and remove
# such trees (README, "Development", has the suite's figures). FFK_TEST_TMPDIR names another directory (e.g.
# "/tmp" to keep them on disk).
if [ -n "${FFK_TEST_TMPDIR:-}" ]; then
  export TMPDIR="$FFK_TEST_TMPDIR"
elif [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] && [ "$(df -P -k /dev/shm | awk 'NR==2 {print $4}')" -ge $((8 * 1024 * 1024)) ]; then
  # What a run killed before its cleanup left there holds memory: removed (the name carries the run's pid).
  for d in /dev/shm/ffk-test.*; do
    [ -d "$d" ] || continue
    pid=${d#/dev/shm/ffk-test.}; pid=${pid%%.*}
    kill -0 "$pid" 2>/dev/null || rm -rf "$d"
  done
  scratch=$(mktemp -d "/dev/shm/ffk-test.$$.XXXXXX")
  chmod 1777 "$scratch" # as /tmp: pgbouncer and PostgreSQL run as postgres and reach the sites' directories
  export TMPDIR="$scratch"
  trap 'rm -rf "$scratch"' EXIT
else
  echo "== /dev/shm is no tmpfs with 8 GiB free: the tests' scratch files stay in ${TMPDIR:-/tmp}"
fi
echo "== tests (setup and checks took $((SECONDS - started)) s; scratch files in ${TMPDIR:-/tmp})"
results=$(mktemp)
# FFK_CPU_REPORT_DIR set by the caller: the per-file CPU lines are kept there (one .tsv per worker).
cpu=${FFK_CPU_REPORT_DIR:-$(mktemp -d)}
mkdir -p "$cpu"
status=0
FFK_CPU_REPORT_DIR="$cpu" FFK_SKIP_BUILD=1 npx vitest run --reporter=default --reporter=json --outputFile.json="$results" "$@" || status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const root = process.cwd() + "/";
  const files = r.testResults.map((t) => ({ name: t.name.replace(root, ""), s: (t.endTime - t.startTime) / 1000 })).sort((a, b) => b.s - a.s);
  console.log("== ten slowest test files");
  for (const f of files.slice(0, 10)) console.log(`${f.s.toFixed(1).padStart(7)} s  ${f.name}`);
  const skipped = r.numPendingTests + r.numTodoTests;
  // A file whose setup failed fails no test (its tests are skipped): it is counted on its own.
  const brokenFiles = r.testResults.filter((t) => t.status === "failed" && t.assertionResults.every((a) => a.status !== "failed")).length;
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : "") + (brokenFiles ? `, ${brokenFiles} file(s) failed before their tests` : ""));
' "$results" || echo "0 passed, 1 failed"
# The suite is CPU-bound on 2 cores: what each file costs is its CPU (test/cpu-report.ts).
cat "$cpu"/*.tsv 2>/dev/null | sort -t$'\t' -k1,1 | awk -F'\t' '
  { own[$1] += $2; kids[$1] += $3; total += $2 + $3 }
  END {
    for (f in own) printf "%7.1f s  (%5.1f test process, %6.1f children)  %s\n", own[f] + kids[f], own[f], kids[f], f | "sort -rn | head -10"
    close("sort -rn | head -10")
    printf "== CPU of all test files: %.0f s\n", total
  }' | { echo "== ten files using the most CPU"; cat; }
rm -f "$results"
[ -n "${FFK_CPU_REPORT_DIR:-}" ] || rm -rf "$cpu"
echo "== npm test took $((SECONDS - started)) s"
exit $status
