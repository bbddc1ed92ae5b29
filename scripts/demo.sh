#!/usr/bin/env bash
# The README's demo command (npm run demo [-- --quick | --down]): setup, build, run the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npx tsc -p tsconfig.build.json
exec node dist/deploy/demo/main.js "$@"
