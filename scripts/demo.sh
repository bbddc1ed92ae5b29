#!/usr/bin/env bash
# The README's demo command (npm run demo [-- --quick | --down]): setup, build, run the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npx tsc -p tsconfig.build.json
npx tsc -p controller/console/tsconfig.json   # the web console's browser code
node scripts/bundle.mjs                       # the bins the demo runs, bundled into dist/bin/
exec node dist/deploy/demo/main.js "$@"
