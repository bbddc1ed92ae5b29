#!/usr/bin/env bash
# Generates TypeScript from proto/ffkeeper/v1/*.proto into proto/gen/ with ts-proto (grpc-js services).
# With --check: generates into a temp dir and fails if the committed code differs.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
command -v protoc >/dev/null || { echo "proto: protoc not found (run: npm run setup)" >&2; exit 1; }
protoc \
  --plugin=protoc-gen-ts_proto=./node_modules/.bin/protoc-gen-ts_proto \
  --ts_proto_out="$out" \
  --ts_proto_opt=outputServices=grpc-js,esModuleInterop=true,importSuffix=.js,env=node,useDate=true,forceLong=number,oneof=unions-value,useOptionals=messages,outputTypeRegistry=false \
  -I proto \
  proto/ffkeeper/v1/*.proto

if [ "$mode" = "--check" ]; then
  if ! diff -ru proto/gen "$out"; then
    echo "proto:check: generated code in proto/gen differs from proto/*.proto — run: npm run proto:gen" >&2
    exit 1
  fi
  echo "proto:check: generated code is up to date"
else
  rm -rf proto/gen
  cp -r "$out" proto/gen
fi
