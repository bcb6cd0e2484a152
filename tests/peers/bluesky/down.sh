#!/usr/bin/env bash
# Stop what up.sh started and remove its state folder: down.sh STATE_DIR
set -u
state=${1:?usage: down.sh STATE_DIR}
if [ -f "$state/node.pid" ]; then
  p=$(cat "$state/node.pid")
  # SIGTERM lets dev-env close its servers; setsid made it a group leader, so also reach children.
  kill "$p" 2>/dev/null
  for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -9 -- "-$p" 2>/dev/null; kill -9 "$p" 2>/dev/null
fi
if [ -f "$state/pgbin" ]; then
  cmd="$(cat "$state/pgbin")/pg_ctl -D $state/pg/data -m immediate stop"
  if [ "$(id -u)" = 0 ]; then su postgres -c "$cmd"; else bash -c "$cmd"; fi >/dev/null 2>&1
fi
rm -rf "$state"
