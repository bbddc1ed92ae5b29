#!/usr/bin/env bash
# `npm run package [-- --out DIR] [--version V] [--fast]`: setup, build, then the Debian package (deploy/package/).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run -s build
exec node dist/deploy/package/main.js "$@"
