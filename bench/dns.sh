#!/usr/bin/env bash
# DNS latency accuracy of sonde's query path (`sonde dns`, the dns check's DnsProber) against
# dnsperf, interleaved in one run, both querying a real resolver (Debian's unbound, serving a
# local zone, never recursing): (a) on loopback inside a namespace of its own, (b) across a
# sonde-netsim access link with 10 ms each way, the resolver in the ISP namespace. Prints each
# tool's median per round, the median of the rounds, and the ratio and difference against the
# targets of issue 4. Traffic stays inside the namespaces this script creates.
# Run as root:  bench/dns.sh [ROUNDS]   (ROUNDS >= 5; builds the release binaries first)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
if [ "$ROUNDS" -lt 5 ] 2>/dev/null || ! [ "$ROUNDS" -le 100 ] 2>/dev/null; then
  echo "ROUNDS must be a number from 5 to 100" >&2; exit 2
fi
[ "$(id -u)" = 0 ] || { echo "bench/dns.sh needs root (network namespaces)" >&2; exit 2; }
missing=()
for tool in unbound unbound-checkconf dnsperf ip; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "missing: ${missing[*]} — install them with: apt-get install unbound dnsperf iproute2" >&2
  exit 2
fi
cargo build --release -q -p sonde-dashboard -p sonde-netsim
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
SONDE=$TARGET/release/sonde
NETSIM=$TARGET/release/sonde-netsim
LOOP_NS=sonde-bench-dns-$$
work=$(mktemp -d)
UNBOUND_PIDS=()
cleanup() {
  for pid in "${UNBOUND_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  $NETSIM down "$work/delay.toml" >/dev/null 2>&1 || true
  ip netns del "$LOOP_NS" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

NAME=www.bench.test
# unbound_conf ADDRESS FILE: a resolver on ADDRESS:53 that answers bench.test from local data
# and refuses every other name, so it never recurses (no root hints, nothing leaves).
unbound_conf() {
  cat > "$2" <<EOF
server:
  interface: $1
  port: 53
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "$work"
  pidfile: ""
  use-syslog: no
  logfile: ""
  verbosity: 0
  num-threads: 1
  do-ip6: no
  do-tcp: no
  access-control: 0.0.0.0/0 allow
  module-config: "iterator"
  local-zone: "." refuse
  local-zone: "bench.test." static
  local-data: "$NAME. 60 IN A 192.0.2.10"
  local-data: "$NAME. 60 IN AAAA 2001:db8::10"
remote-control:
  control-enable: no
EOF
  unbound-checkconf "$2" >/dev/null
}
# start_unbound NS-PREFIX-CMD ADDRESS: starts it and waits until it answers.
start_unbound() {
  local prefix=$1 address=$2 conf="$work/unbound-$2.conf"
  unbound_conf "$address" "$conf"
  $prefix unbound -c "$conf" > "$work/unbound-$2.log" 2>&1 &
  UNBOUND_PIDS+=($!)
  for _ in $(seq 100); do
    $prefix "$SONDE" dns "$NAME" -s "$address" -c 1 -W 100 >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "unbound on $address did not answer:" >&2; cat "$work/unbound-$2.log" >&2; exit 1
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR == 0) print "nan"; else if (NR%2) printf "%.4f\n", a[(NR+1)/2]; else printf "%.4f\n", (a[NR/2]+a[NR/2+1])/2}'; }
# dnsperf -v prints one line per response: "> NOERROR www.bench.test A 0.000065" (seconds).
dnsperf_ms() { awk '$1 == ">" && $2 == "NOERROR" {printf "%.4f\n", $NF * 1000}'; }
sonde_ms() { grep -o 'time=[0-9.]*' | cut -d= -f2; }

# compare LABEL NS-PREFIX-CMD SERVER COUNT INTERVAL_MS: sets P (dnsperf) and S (sonde) medians.
compare() {
  local label=$1 prefix=$2 server=$3 count=$4 interval=$5
  local perfs=() sondes=() qps
  qps=$((1000 / interval))
  printf '%s A\n' "$NAME" > "$work/queries"
  for r in $(seq "$ROUNDS"); do
    p_out=$($prefix dnsperf -s "$server" -d "$work/queries" -c 1 -q 1 -n "$count" -Q "$qps" -t 1 -v)
    p=$(echo "$p_out" | dnsperf_ms | median)
    p_n=$(echo "$p_out" | dnsperf_ms | wc -l)
    s_out=$($prefix "$SONDE" dns "$NAME" -s "$server" -c "$count" -i "$interval" --type A)
    s=$(echo "$s_out" | sonde_ms | median)
    s_n=$(echo "$s_out" | sonde_ms | wc -l)
    perfs+=("$p"); sondes+=("$s")
    echo "  round $r: dnsperf $p ms ($p_n answers), sonde $s ms ($s_n answers)"
  done
  P=$(printf '%s\n' "${perfs[@]}" | median); S=$(printf '%s\n' "${sondes[@]}" | median)
  awk -v l="$label" -v p="$P" -v s="$S" 'BEGIN{printf "%s: median of round medians: dnsperf %.4f ms, sonde %.4f ms; sonde / dnsperf = %.2f, sonde - dnsperf = %+.4f ms\n", l, p, s, s/p, s-p}'
}

echo "== loopback: unbound on 127.0.0.1 in namespace $LOOP_NS; $ROUNDS rounds of 50 queries, 20 ms apart"
ip netns add "$LOOP_NS"
ip -n "$LOOP_NS" link set lo up
start_unbound "ip netns exec $LOOP_NS" 127.0.0.1
compare loopback "ip netns exec $LOOP_NS" 127.0.0.1 50 20
awk -v p="$P" -v s="$S" 'BEGIN{t=3*p; printf "target (issue 4): sonde median <= 3 x dnsperf = %.4f ms: %s\n", t, (s <= t) ? "MET" : "NOT MET"}'

echo "== netsim: 10 ms each way on the access line; unbound in the ISP namespace (198.51.100.1), queried from the device; $ROUNDS rounds of 20 queries, 50 ms apart"
cat > "$work/delay.toml" <<'EOF'
description = "bench/dns.sh: a resolver behind a 10 ms access link"
[links.access.both]
delay-ms = 10
[peers.box-dns]
enabled = false
[peers.isp-dns]
enabled = false
[peers.public-dns]
enabled = false
[peers.web]
enabled = false
EOF
$NETSIM up "$work/delay.toml" > "$work/up.log" 2>&1 &
for _ in $(seq 100); do grep -q 'up;' "$work/up.log" 2>/dev/null && break; sleep 0.05; done
PREFIX=$(grep -o 'sonde-[0-9]*' "$work/up.log" | head -1)
[ -n "$PREFIX" ] || { echo "sonde-netsim did not come up:" >&2; cat "$work/up.log" >&2; exit 1; }
start_unbound "ip netns exec $PREFIX-2-isp" 198.51.100.1
compare "netsim 10 ms" "ip netns exec $PREFIX-0-device" 198.51.100.1 20 50
awk -v p="$P" -v s="$S" 'BEGIN{d=s-p; printf "target (issue 4): |sonde - dnsperf| <= 0.2 ms: %s\n", (d <= 0.2 && d >= -0.2) ? "MET" : "NOT MET"}'
echo "host: $(nproc) cores, $(uname -r); $(dnsperf -h 2>&1 | grep -m1 Version); $(unbound -V 2>/dev/null | head -1)"
