#!/usr/bin/env bash
# The README's test command (npm test): setup, proto check, lint, typecheck, then every test
# (unit, integration against real servers, end to end). Ends with "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
echo "== proto:check"; bash scripts/proto-gen.sh --check
echo "== lint"; npx eslint .
echo "== typecheck"; npx tsc -p tsconfig.json
echo "== build"; npx tsc -p tsconfig.build.json
echo "== tests"
results=$(mktemp)
status=0
FFK_SKIP_BUILD=1 npx vitest run --reporter=default --reporter=json --outputFile.json="$results" "$@" || status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$results" || echo "0 passed, 1 failed"
rm -f "$results"
exit $status
