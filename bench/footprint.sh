#!/usr/bin/env bash
# Footprint of sonde on a box: stripped binary sizes, sonded's idle RSS (after 10 s), its CPU
# over 60 s idle with the scheduler on, and its peak RSS during a full "slow" run (throughput
# both ways, latency under load, path), inside the healthy 50 Mbit/s netsim scenario. Measures
# the box build (scripts/build-box.sh: static, start-up code first); the idle RSS and size of
# the plain release build (dynamic, the Debian package's) are printed beside it.
# Prints a table with the targets of issue 10. Run as root: bench/footprint.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${CARGO_TARGET_DIR:-$PWD/target}
TARGET=$ROOT/release

if [ "${1:-}" = "--inside" ]; then
  # In the scenario's device namespace (sonde-netsim exec): $SONDE_CONFIG points every target
  # at the simulated network. The scheduler is on (hourly): idle means waiting for its tick.
  # --inside WORK SONDED full|idle: `idle` stops after the idle RSS.
  work=$2 sonded=$3 mode=$4
  rm -f "$work"/sonded.db*
  cp "$SONDE_CONFIG" "$work/sonded.toml"
  printf '\n[schedule]\ninterval-minutes = 60\n' >> "$work/sonded.toml"
  "$sonded" --config "$work/sonded.toml" --listen 127.0.0.1:8790 --database "$work/sonded.db" \
    2> "$work/sonded.log" &
  pid=$!
  trap 'kill $pid 2>/dev/null || true' EXIT
  for _ in $(seq 100); do curl -sf http://127.0.0.1:8790/v1/health >/dev/null && break; sleep 0.1; done
  sleep 10
  kib() { awk -v k="$1:" '$1 == k {print $2}' /proc/$pid/status; }
  ticks() { awk '{print $14 + $15}' /proc/$pid/stat; }
  echo "idle_rss_kib $(kib VmRSS)" > "$work/result"
  [ "$mode" = full ] || exit 0
  t0=$(ticks); s0=$(date +%s.%N)
  sleep 60
  t1=$(ticks); s1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" -v s="$s0" -v e="$s1" -v hz="$(getconf CLK_TCK)" \
    'BEGIN {printf "idle_cpu_percent %.4f\nidle_cpu_ticks %d\n", (b - a) / hz / (e - s) * 100, b - a}' >> "$work/result"
  curl -sf -X POST -H 'content-type: application/json' -d '{"problem":"slow"}' \
    http://127.0.0.1:8790/v1/runs > "$work/created.json"
  peak=0
  while curl -sf http://127.0.0.1:8790/v1/health | grep -q '"running":"'; do
    rss=$(kib VmRSS); [ "$rss" -gt "$peak" ] && peak=$rss
    sleep 0.2
  done
  run=$(sed 's/.*"run":"\([^"]*\)".*/\1/' "$work/created.json")
  state=$(curl -sf "http://127.0.0.1:8790/v1/runs/$run" | sed 's/.*"state":"\([^"]*\)".*/\1/' | head -c 20)
  { echo "run_peak_rss_sampled_kib $peak"; echo "run_vmhwm_kib $(kib VmHWM)"; echo "run_state $state"; \
    echo "threads $(kib Threads)"; } >> "$work/result"
  exit 0
fi

work=$(mktemp -d)
chmod 0755 "$work"
trap 'rm -rf "$work"' EXIT
# The plain release build first (the box build relinks the same output files), kept aside.
cargo build --release --locked -q -p sonde-agent -p sonde-dashboard -p sonde-backend -p sonde-netsim
mkdir -p "$work/release"
cp "$TARGET/sonded" "$TARGET/sonde" "$TARGET/sonde-backend" "$work/release/"
scripts/build-box.sh sonded sonde
"$TARGET/sonde-netsim" exec tests/scenarios/healthy-50m.toml -- "$PWD/bench/footprint.sh" --inside "$work" "$work/release/sonded" idle
release_idle_rss_kib=$(awk '$1 == "idle_rss_kib" {print $2}' "$work/result")
"$TARGET/sonde-netsim" exec tests/scenarios/healthy-50m.toml -- "$PWD/bench/footprint.sh" --inside "$work" "$ROOT/box/sonded" full
# shellcheck disable=SC1090
eval "$(awk '{printf "%s=%s\n", $1, $2}' "$work/result")"

size() { local f; f=$(mktemp); strip -o "$f" "$1"; stat -c %s "$f"; rm -f "$f"; }
mib() { awk -v b="$1" 'BEGIN {printf "%.2f MiB", b / 1048576}'; }
verdict() { awk -v v="$1" -v t="$2" 'BEGIN {print (v <= t) ? "met" : "**not met**"}'; }
sonded_size=$(size "$ROOT/box/sonded")
echo
echo "| what | measured | target | |"
echo "| --- | --- | --- | --- |"
echo "| stripped \`sonded\`, box build | $(mib "$sonded_size") ($sonded_size B) | ≤ 8 MiB | $(verdict "$sonded_size" 8388608) |"
echo "| stripped \`sonded\`, release build (dynamic) | $(mib "$(size "$work/release/sonded")") | — | |"
echo "| stripped \`sonde\`, box build | $(mib "$(size "$ROOT/box/sonde")") | — | |"
echo "| stripped \`sonde-backend\`, release build | $(mib "$(size "$work/release/sonde-backend")") | — | |"
echo "| \`sonded\` idle RSS, box build (10 s after start, scheduler on) | $(mib $((idle_rss_kib * 1024))) | ≤ 6 MiB | $(verdict "$idle_rss_kib" 6144) |"
echo "| \`sonded\` idle RSS, release build (dynamic) | $(mib $((release_idle_rss_kib * 1024))) | — | |"
echo "| \`sonded\` CPU idle over 60 s, scheduler on | ${idle_cpu_percent} % of a core ($idle_cpu_ticks ticks) | ≤ 0.1 % | $(verdict "$idle_cpu_percent" 0.1) |"
echo "| \`sonded\` peak RSS during a \"slow\" run (VmHWM; run ended $run_state) | $(mib $((run_vmhwm_kib * 1024))) (sampled max VmRSS $(mib $((run_peak_rss_sampled_kib * 1024)))) | ≤ 24 MiB | $(verdict "$run_vmhwm_kib" 24576) |"
echo "| threads of \`sonded\` after the run | $threads | — | |"
