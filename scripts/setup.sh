#!/usr/bin/env bash
# One idempotent setup step used by both README commands (npm run demo, npm test):
#  - Debian packages tarantool, pgbouncer, restic, nats-server, protobuf-compiler, jq (the DR test), chromium (the
#    web console's browser test drives it with playwright-core; no browser is downloaded), systemd (the package
#    test runs systemd-analyze verify on the units; nothing is started with it), rclone (`rclone serve restic`:
#    the REST repository backend of the backend tests), openssh-server and -client (the SFTP backend's sshd and
#    restic's ssh; no sshd service is configured or started by this script) and a PostgreSQL server,
#    installed only when missing (apt-get update runs at most once per call, only if something is missing);
#  - PostgreSQL started when it is not accepting connections on 127.0.0.1:5432;
#  - npm dependencies installed when node_modules is missing or older than package-lock.json.
# Quiet when there is nothing to do; says what it does otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "setup: $*" >&2; }
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  say "Node.js 20 or newer is required (found $(node --version))"; exit 1
fi

# command -> Debian package
declare -A PKG=(
  [tarantool]=tarantool
  [pgbouncer]=pgbouncer
  [restic]=restic
  [nats-server]=nats-server
  [protoc]=protobuf-compiler
  [psql]=postgresql-client
  [jq]=jq
  [chromium]=chromium
  [systemd-analyze]=systemd
  [rclone]=rclone
  [sshd]=openssh-server
  [ssh-keyscan]=openssh-client
)
missing=()
for cmd in "${!PKG[@]}"; do
  if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ]; then missing+=("${PKG[$cmd]}"); fi
done
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then missing+=(postgresql); fi
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Debian's pgbouncer package may start a system pgbouncer on 6432; ffkeeper's dev sites use their own ports.
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  say "starting PostgreSQL $version"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start || $SUDO pg_ctlcluster "$version" main start
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  pg_isready -q -h 127.0.0.1 -p 5432 || { say "PostgreSQL did not start on 127.0.0.1:5432"; exit 1; }
fi
# Tests and the dev site connect as superuser 'postgres' over TCP without a password (trust on localhost).
if ! psql -h 127.0.0.1 -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1; then
  say "cannot connect to PostgreSQL at 127.0.0.1:5432 as 'postgres' without a password;"
  say "allow it in pg_hba.conf (host all all 127.0.0.1/32 trust) or set up a .pgpass"; exit 1
fi

# `npm ci`: exactly what package-lock.json lists (it lists every platform's optional binaries, so npm 11's
# `ci` accepts it; keep it that way by updating the lock file with npm 11).
stamp=node_modules/.ffk-lock-hash
hash() { cat package.json package-lock.json | sha256sum | cut -d' ' -f1; }
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$(hash)" ]; then
  say "installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
  hash > "$stamp"
fi
