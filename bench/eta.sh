#!/usr/bin/env bash
# ETA honesty (issue 9): for every scenario of the matrix (tests/scenarios/*.toml), runs the real
# `sonde diagnose --json=events` on the scenario's customer device, with the scenario's problem
# and profile, and compares the ETA the agent announced when the run's progress first reached
# 50 % with the time the run really took from that event to its last one. Both times are the
# agent's own event timestamps (`ts`), so the client's reading speed does not enter.
# Target: within ±30 % of the real remaining time. Prints one line per scenario and a summary.
# Traffic stays inside the namespaces sonde-netsim creates.
#
# Run as root:  bench/eta.sh [SCENARIO…]
#   SONDE_BIN_DIR=target/debug bench/eta.sh   uses binaries already built instead of a release build
#   SONDE_ETA_KEEP=DIR bench/eta.sh           keeps each scenario's event stream in DIR/NAME.jsonl
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench/eta.sh needs root (network namespaces)" >&2; exit 2; }
command -v python3 >/dev/null || { echo "bench/eta.sh needs python3" >&2; exit 2; }
BIN=${SONDE_BIN_DIR:-}
if [ -z "$BIN" ]; then
  cargo build --release -q -p sonde-dashboard -p sonde-netsim
  BIN=${CARGO_TARGET_DIR:-$PWD/target}/release
fi
for tool in sonde sonde-netsim; do
  [ -x "$BIN/$tool" ] || { echo "no $BIN/$tool (build it, or set SONDE_BIN_DIR)" >&2; exit 2; }
done
scenarios=("$@")
if [ ${#scenarios[@]} -eq 0 ]; then
  scenarios=(tests/scenarios/*.toml)
fi
if [ -n "${SONDE_ETA_KEEP:-}" ]; then
  work=$SONDE_ETA_KEEP
  mkdir -p "$work"
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi

for file in "${scenarios[@]}"; do
  [ -f "$file" ] || { echo "no such scenario: $file" >&2; exit 2; }
  name=$(basename "$file" .toml)
  # The scenario's [expect] problem and profile, as the scenario matrix plays it.
  problem=$(sed -n 's/^problem *= *"\(.*\)"/\1/p' "$file" | head -n 1)
  profile=$(sed -n 's/^profile *= *"\(.*\)"/\1/p' "$file" | head -n 1)
  args=(diagnose --json=events --lang en --problem "${problem:-no-internet}")
  [ -z "$profile" ] || args+=(--profile "$profile")
  # Bounded: no plan runs for more than a minute; a stuck one is reported, not waited for.
  timeout 120 "$BIN/sonde-netsim" exec "$file" -- "$BIN/sonde" "${args[@]}" >"$work/$name.jsonl" 2>"$work/$name.err" || true
done

python3 - "$work" "${scenarios[@]}" <<'EOF'
import json, os, sys
from datetime import datetime

def ts(event):
    # RFC 3339 with nanoseconds and Z: keep microseconds for fromisoformat.
    raw = event["ts"].rstrip("Z")
    if "." in raw:
        head, frac = raw.split(".")
        raw = f"{head}.{frac[:6]}"
    return datetime.fromisoformat(raw).timestamp()

work, files = sys.argv[1], sys.argv[2:]
rows, within, measured = [], 0, 0
for file in files:
    name = os.path.basename(file)[: -len(".toml")]
    events = []
    with open(os.path.join(work, name + ".jsonl")) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                try:
                    events.append(json.loads(line))
                except ValueError:
                    pass
    if not events or events[-1].get("type") != "run_finished":
        rows.append((name, None, None, None, "no complete event stream"))
        continue
    end = ts(events[-1])
    half = None
    for e in events:
        progress = (e.get("data") or {}).get("progress") or {}
        if progress.get("fraction", 0) >= 0.5 and progress.get("eta_ms") is not None:
            half = e
            break
    if half is None:
        rows.append((name, None, None, None, "no ETA at 50 %"))
        continue
    eta = half["data"]["progress"]["eta_ms"] / 1000
    real = end - ts(half)
    error = (eta - real) / real if real > 0 else float("inf")
    measured += 1
    ok = abs(error) <= 0.30
    within += ok
    rows.append((name, eta, real, error, "met" if ok else "NOT met"))

print(f"{'scenario':34} {'ETA@50%':>8} {'real':>8} {'error':>8}  target ±30 %")
for name, eta, real, error, verdict in rows:
    if eta is None:
        print(f"{name:34} {'-':>8} {'-':>8} {'-':>8}  {verdict}")
    else:
        print(f"{name:34} {eta:8.2f} {real:8.2f} {error * 100:+7.1f}%  {verdict}")
errors = sorted(abs(r[3]) for r in rows if r[3] is not None)
if errors:
    median = errors[len(errors) // 2]
    print(f"\n{within}/{measured} scenarios within ±30 % ({len(rows) - measured} not measured); "
          f"median |error| {median * 100:.1f} %, worst {errors[-1] * 100:.1f} %")
sys.exit(0 if measured == len(rows) and within == measured else 1)
EOF
