#!/usr/bin/env bash
# Disaster recovery without ffkeeper: restores a FindFace site's components from its restic repository with
# plain restic, jq, psql, systemctl and FindFace's own commands, using only the snapshot's manifest (which
# the repository holds too). README.md "Disaster recovery without ffkeeper" walks through the same steps.
#
#   export RESTIC_REPOSITORY=/srv/ffkeeper/repos/msk-1 RESTIC_PASSWORD=...   (the site's repository)
#   restore.sh manifest SITE [CUT] > manifest.json          # the newest cut's manifest, or CUT's
#   restore.sh postgres  manifest.json postgres:ffsecurity DATABASE OWNER
#   restore.sh tarantool manifest.json tarantool:shard-001 UNIT MEMTX_DIR WAL_DIR VINYL_DIR
#   restore.sh uploads   manifest.json uploads:uploads [ROOT...]   (default: the roots the snapshot was taken
#                                                                     from; others in the order of its config)
#
# Stop the site's writers (systemctl stop findface-security findface-sf-api) before the first component
# and start them after the last (systemctl start findface-sf-api findface-security); the PostgreSQL step
# follows FindFace's documented sequence up to, not including, starting findface-security. psql reaches
# the server through the usual PGHOST/PGPORT/PGUSER (a superuser). Each step keeps what it replaces
# (`<dir>.ffk-dr-aside-<time>`, `<root>/.ffk-dr-aside-<time>`) until you delete it.
set -euo pipefail

die() { echo "restore.sh: $*" >&2; exit 1; }
say() { echo "restore.sh: $*" >&2; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is not installed"; }
for c in restic jq; do need "$c"; done
[ -n "${RESTIC_REPOSITORY:-}" ] || die "RESTIC_REPOSITORY is not set"
[ -n "${RESTIC_PASSWORD:-}${RESTIC_PASSWORD_FILE:-}" ] || die "RESTIC_PASSWORD (or RESTIC_PASSWORD_FILE) is not set"

stamp=$(date +%Y%m%d%H%M%S)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# One component's entry of the manifest, or a clear error.
component() {
  local manifest=$1 ref=$2 entry
  [ -f "$manifest" ] || die "manifest file '$manifest' not found"
  entry=$(jq -c --arg c "$ref" '.components[] | select(.component == $c)' "$manifest")
  [ -n "$entry" ] || die "the manifest has no component '$ref' (it has: $(jq -r '[.components[].component] | join(", ")' "$manifest"))"
  echo "$entry"
}

cmd=${1:-}
shift || true
case "$cmd" in
  manifest)
    site=${1:?usage: restore.sh manifest SITE [CUT]}
    cut=${2:-}
    id=$(restic snapshots --json --tag "ffk-site=$site,ffk-component=manifest:manifest" |
      jq -r --arg cut "$cut" '[.[] | select($cut == "" or (.tags | index("ffk-cut=" + $cut)))] | sort_by(.time) | last | .id // empty')
    [ -n "$id" ] || die "no manifest of site '$site'${cut:+ for cut '$cut'} in $RESTIC_REPOSITORY"
    restic dump "$id" /ffk-manifest.json
    ;;

  postgres)
    [ $# -eq 4 ] || die "usage: restore.sh postgres MANIFEST COMPONENT DATABASE OWNER"
    need psql
    entry=$(component "$1" "$2"); db=$3; owner=$4
    snap=$(jq -r '.snapshotIds[0]' <<<"$entry")
    file=$(jq -r '.details.file // ("/" + .details.database + ".sql")' <<<"$entry")
    sum=$(jq -r --arg f "$file" '.checksums[$f] // empty' <<<"$entry")
    say "reading $file of repository snapshot ${snap:0:8}"
    restic dump "$snap" "$file" >"$work/dump.sql"
    if [ -n "$sum" ]; then echo "$sum  $work/dump.sql" | sha256sum -c --quiet - || die "the dump does not match the sha256 the manifest records"; fi
    # FindFace's sequence: stop the app and the pooler, re-create the database, load, migrate (the app is
    # started with the other writers once every component is back).
    systemctl stop findface-security
    systemctl stop pgbouncer
    psql -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)"
    psql -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE \"$db\" WITH OWNER \"$owner\" ENCODING 'UTF-8' LC_COLLATE='C.UTF-8' LC_CTYPE='C.UTF-8' TEMPLATE template0"
    systemctl start pgbouncer
    psql -q -v ON_ERROR_STOP=1 --single-transaction -d "$db" -f "$work/dump.sql" >/dev/null
    findface-security migrate
    findface-security create_groups
    findface-security create_default_user
    say "database '$db' restored from $2; start findface-security with the other writers"
    ;;

  tarantool)
    [ $# -eq 6 ] || die "usage: restore.sh tarantool MANIFEST COMPONENT UNIT MEMTX_DIR WAL_DIR VINYL_DIR"
    entry=$(component "$1" "$2"); unit=$3; memtx=$4; wal=$5; vinyl=$6
    snap=$(jq -r '.snapshotIds[0]' <<<"$entry")
    from_memtx=$(jq -r '.details.memtxDir' <<<"$entry")
    from_vinyl=$(jq -r '.details.vinylDir' <<<"$entry")
    signature=$(jq -r '.cut.signature' <<<"$entry")
    say "fetching checkpoint $signature of $2 (repository snapshot ${snap:0:8})"
    restic restore "$snap" --target "$work/t" >/dev/null
    snapfile=$(printf '%020d.snap' "$signature")
    [ -f "$work/t$from_memtx/$snapfile" ] || die "the snapshot does not hold $from_memtx/$snapfile"
    systemctl stop "$unit"
    # Everything of Tarantool's in the data directories goes aside (newer .xlog files would be replayed).
    for d in "$memtx" "$wal" "$vinyl"; do
      mkdir -p "$d.ffk-dr-aside-$stamp"
      find "$d" -mindepth 1 -maxdepth 1 -exec mv -t "$d.ffk-dr-aside-$stamp" {} +
    done
    cp -a "$work/t$from_memtx/." "$memtx/"
    if [ -d "$work/t$from_vinyl" ] && [ "$from_vinyl" != "$from_memtx" ]; then cp -a "$work/t$from_vinyl/." "$vinyl/"; fi
    systemctl start "$unit"
    say "$unit started on checkpoint $signature; the previous files are in <dir>.ffk-dr-aside-$stamp"
    ;;

  uploads)
    [ $# -ge 2 ] || die "usage: restore.sh uploads MANIFEST COMPONENT [ROOT...]"
    entry=$(component "$1" "$2"); shift 2
    snap=$(jq -r '.snapshotIds[0]' <<<"$entry")
    # details.roots: {configured root: path it was read from}, as a JSON string, in the order of the config.
    mapfile -t from < <(jq -r '.details.roots | fromjson | .[]' <<<"$entry")
    if [ $# -eq 0 ]; then mapfile -t roots < <(jq -r '.details.roots | fromjson | keys_unsorted[]' <<<"$entry"); set -- "${roots[@]}"; fi
    [ ${#from[@]} -eq $# ] || die "the snapshot holds ${#from[@]} upload root(s) (${from[*]}), $# given"
    say "fetching $2 (repository snapshot ${snap:0:8})"
    restic restore "$snap" --target "$work/u" >/dev/null
    i=0
    for root in "$@"; do
      src="$work/u${from[$i]}"; i=$((i + 1))
      mkdir -p "$src"
      # Files read through ffkeeper's deletion shield are stored under .ffk-shield/<path>: fold them back.
      if [ -d "$src/.ffk-shield" ]; then
        (cd "$src/.ffk-shield" && find . \( -type f -o -type l \) -print0) | while IFS= read -r -d '' f; do
          if [ ! -e "$src/$f" ] && [ ! -L "$src/$f" ]; then mkdir -p "$(dirname "$src/$f")"; mv "$src/.ffk-shield/$f" "$src/$f"; fi
        done
        rm -rf "$src/.ffk-shield"
      fi
      mkdir -p "$root/.ffk-dr-aside-$stamp"
      find "$root" -mindepth 1 -maxdepth 1 ! -name '.ffk-*' -exec mv -t "$root/.ffk-dr-aside-$stamp" {} +
      find "$src" -mindepth 1 -maxdepth 1 -exec mv -t "$root" {} +
      say "$root restored; its previous entries are in $root/.ffk-dr-aside-$stamp"
    done
    ;;

  *)
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
