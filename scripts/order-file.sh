#!/usr/bin/env bash
# Regenerates the order files of the box build (packaging/order/*.txt, read by
# scripts/build-box.sh): the functions each program runs, recorded by valgrind's callgrind on an
# unordered box build, in the order they first ran.
#   sonded: start, answer /v1/health, idle 5 s, stop on SIGTERM; configured as a box is, beyond
#           what the scenario sets: scheduler on, API tokens, a helpdesk for tickets (on
#           loopback; a new database has no ticket to send). A function that runs at start-up
#           but is missing here costs a whole fault-around window (64 KiB) of resident memory.
#   sonde:  `sonde ping` of 20 loopback addresses from a target file (the sweep's path).
# Both run inside the healthy 50 Mbit/s netsim scenario (the footprint bench's); nothing leaves
# its namespaces.
# Run as root (network namespaces): scripts/order-file.sh
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${CARGO_TARGET_DIR:-$PWD/target}

if [ "${1:-}" = "--inside" ]; then
  work=$2
  cp "$SONDE_CONFIG" "$work/sonded.toml"
  token=$(printf %s profile-technician | sha256sum | cut -d' ' -f1)
  printf '\n[schedule]\ninterval-minutes = 60\n[tickets]\nhelpdesk = "http://127.0.0.1:9"\ntoken = "profile"\n[api]\ntechnician-tokens = ["%s"]\nallowed-hosts = ["box.home"]\n' \
    "$token" >> "$work/sonded.toml"
  valgrind -q --tool=callgrind --demangle=no --callgrind-out-file="$work/sonded.callgrind" \
    "$TARGET/release/sonded" --config "$work/sonded.toml" --listen 127.0.0.1:8790 \
    --database "$work/sonded.db" 2> "$work/sonded.log" &
  pid=$!
  # Under valgrind the start takes seconds; bounded at 60 s.
  health() { curl -sf -H 'authorization: Bearer profile-technician' http://127.0.0.1:8790/v1/health >/dev/null; }
  for _ in $(seq 600); do health && break; sleep 0.1; done
  health || { echo "sonded did not start" >&2; cat "$work/sonded.log" >&2; exit 1; }
  sleep 5
  kill -TERM "$pid"
  wait "$pid" || true
  for i in $(seq 1 20); do echo "127.0.0.$i"; done > "$work/targets"
  valgrind -q --tool=callgrind --demangle=no --callgrind-out-file="$work/sonde.callgrind" \
    "$TARGET/release/sonde" ping -q -c 1 -W 500 --spacing-ms 1 -f "$work/targets" > "$work/sonde.log" 2>&1
  exit 0
fi

[ "$(id -u)" = 0 ] || { echo "order-file.sh needs root (network namespaces)" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "order-file.sh needs valgrind (apt-get install valgrind)" >&2; exit 2; }
scripts/build-box.sh --no-order sonded sonde
cargo build --release --locked -q -p sonde-netsim
work=$(mktemp -d)
chmod 0755 "$work"
trap 'rm -rf "$work"' EXIT
"$TARGET/release/sonde-netsim" exec tests/scenarios/healthy-50m.toml -- "$PWD/scripts/order-file.sh" --inside "$work"
mkdir -p packaging/order
for bin in sonded sonde; do
  python3 scripts/order-key.py record "packaging/order/$bin.txt" < "$work/$bin.callgrind"
done
