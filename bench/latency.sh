#!/usr/bin/env bash
# RTT accuracy of sonde's ICMP prober against iputils ping, interleaved in one run: on
# loopback and across a sonde-netsim link with 25 ms each way. Prints each tool's median per
# round, the median of the rounds, and the difference. Run as root: bench/latency.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
cargo build --release -q -p sonde-dashboard -p sonde-netsim
SONDE=$PWD/target/release/sonde
NETSIM=$PWD/target/release/sonde-netsim
work=$(mktemp -d)
trap '$NETSIM down "$work/delay.toml" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) printf "%.4f\n", a[(NR+1)/2]; else printf "%.4f\n", (a[NR/2]+a[NR/2+1])/2}'; }
rtts() { grep -o 'time=[0-9.]*' | cut -d= -f2; }

compare() { # compare LABEL NETNS-PREFIX-CMD TARGET COUNT INTERVAL_MS
  local label=$1 prefix=$2 target=$3 count=$4 interval=$5
  local pings=() sondes=() zero=0
  for r in $(seq "$ROUNDS"); do
    p=$($prefix ping -n -c "$count" -i "$(awk -v i="$interval" 'BEGIN{print i/1000}')" "$target" | rtts | median)
    s_out=$($prefix "$SONDE" ping "$target" -c "$count" -i "$interval")
    s=$(echo "$s_out" | rtts | median)
    zero=$((zero + $(echo "$s_out" | rtts | awk '$1 == 0 {n++} END {print n+0}')))
    pings+=("$p"); sondes+=("$s")
    echo "  round $r: ping $p ms, sonde $s ms"
  done
  P=$(printf '%s\n' "${pings[@]}" | median); S=$(printf '%s\n' "${sondes[@]}" | median)
  awk -v l="$label" -v p="$P" -v s="$S" -v z="$zero" 'BEGIN{printf "%s: median of round medians: ping %.4f ms, sonde %.4f ms, sonde - ping = %+.4f ms; zero RTTs from sonde: %d\n", l, p, s, s-p, z}'
}

echo "== loopback (127.0.0.1), $ROUNDS rounds of 50 probes, 20 ms apart"
compare loopback "" 127.0.0.1 50 20

echo "== netsim: 25 ms each way on the access line, device -> ISP, $ROUNDS rounds of 20 probes, 50 ms apart"
printf '[links.access.both]\ndelay-ms = 25\n' > "$work/delay.toml"
$NETSIM up "$work/delay.toml" > "$work/up.log" 2>&1 &
for _ in $(seq 100); do grep -q 'up;' "$work/up.log" 2>/dev/null && break; sleep 0.05; done
DEV=$(grep -o 'sonde-[0-9]*-0-device' "$work/up.log" | head -1)
compare "netsim 25 ms" "ip netns exec $DEV" 198.51.100.1 20 50
