#!/usr/bin/env bash
# Benchmark of sonde's throughput check against iperf3, side by side in one run:
#  - on a veth pair between two namespaces shaped by kernel htb to 10, 50 and 200 Mbit/s (both
#    egresses, cubic), download and upload goodput against the ground truth
#    G = rate x 1448/1514 (TCP payload per full Ethernet frame) and iperf3's receiver figure
#    (10 s, first 2 s omitted: iperf3's warm-up excluded by hand, as sonde does by itself);
#  - over loopback (unlimited), 5 interleaved rounds of iperf3 -R (one stream, 10 s, 2 s
#    omitted) and sonde's download (HTTP/1.1, one stream and default streams): medians of
#    goodput and CPU seconds per GB, client + server processes.
# Run as root:  bench/throughput.sh   (builds the release binaries first)
set -euo pipefail
cd "$(dirname "$0")/.."
: "${CARGO_TARGET_DIR:=target}"
cargo build --release -q -p sonde-backend --bin sonde-backend
cargo build --release -q -p sonde-agent --example throughput
BACKEND=$CARGO_TARGET_DIR/release/sonde-backend
CLIENT=$CARGO_TARGET_DIR/release/examples/throughput
A=tput-bench-a; B=tput-bench-b
cleanup() { ip netns pids $B 2>/dev/null | xargs -r kill 2>/dev/null || true; ip netns del $A 2>/dev/null || true; ip netns del $B 2>/dev/null || true; }
trap cleanup EXIT
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }

# setup RATE|none: namespaces A (client) and B (server), veth 192.0.2.2 -- 192.0.2.1; servers in B.
setup() {
  cleanup
  ip netns add $A; ip netns add $B
  ip -n $A link set lo up; ip -n $B link set lo up
  ip link add eth0 netns $A type veth peer name eth0 netns $B
  ip -n $A addr add 192.0.2.2/24 dev eth0; ip -n $B addr add 192.0.2.1/24 dev eth0
  ip -n $A link set eth0 up; ip -n $B link set eth0 up
  for ns in $A $B; do
    ip -n $ns route replace 192.0.2.0/24 dev eth0 congctl cubic
    if [ "$1" != none ]; then
      tc -n $ns qdisc add dev eth0 root handle 1: htb default 1
      tc -n $ns class add dev eth0 parent 1: classid 1:1 htb rate "$1mbit" ceil "$1mbit" quantum 1514
    fi
  done
  ip netns exec $B iperf3 -s -B "$2" >/tmp/tput-iperf-server.log 2>&1 &
  IPERF_PID=$!
  ip netns exec $B "$BACKEND" --listen "$2:8791" --congestion cubic 2>/dev/null &
  SERVER_PID=$!
  sleep 0.5
}

# iperf DIR(-R or "") ADDR: prints "goodput_mbps cpu_s_per_gb" (receiver side; client+server CPU).
iperf() {
  local s0 out
  s0=$(ticks "$IPERF_PID")
  out=$( { /usr/bin/time -f "%U %S" ip netns exec $A iperf3 -c "$2" $1 -t 10 -O 2 -J 2>&1 >&3 3>&-; } 3>&1 )
  local s1; s1=$(ticks "$IPERF_PID")
  python3 - "$out" "$s0" "$s1" "$HZ" <<'PY'
import json, sys
text, s0, s1, hz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
j = text[: text.rindex("}") + 1]; tail = text[text.rindex("}") + 1 :].split()
d = json.loads(j)["end"]
rx = d["sum_received"]
cpu = float(tail[0]) + float(tail[1]) + (s1 - s0) / hz
# All bytes moved (omitted seconds included) against all CPU: CPU per byte is not a window figure.
total = d["sum_sent"]["bytes"]
print(f"{rx['bits_per_second'] / 1e6:.2f} {cpu / (total / 1e9):.3f}")
PY
}

# sonde ADDR ARGS…: prints "down_mbps up_mbps cpu_s_per_gb streams_down streams_up/counted_at".
sonde() {
  local addr=$1; shift
  local s0 out; s0=$(ticks "$SERVER_PID")
  out=$( { /usr/bin/time -f "%U %S" ip netns exec $A "$CLIENT" "http://$addr:8791" "$@" 2>&1 >&3 3>&-; } 3>&1 )
  local s1; s1=$(ticks "$SERVER_PID")
  python3 - "$out" "$s0" "$s1" "$HZ" <<'PY'
import json, sys
text, s0, s1, hz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
lines = text.strip().splitlines()
d = json.loads(lines[0]); u, s = map(float, lines[-1].split())
cpu = u + s + (s1 - s0) / hz
down, up = d.get("download") or {}, d.get("upload") or {}
moved = down.get("bytes", 0) + up.get("bytes", 0)
# Streams, and where the upload was counted (receiver: sonde's server; sender: fallback).
print(f"{down.get('goodput_mbps') or 0:.2f} {up.get('goodput_mbps') or 0:.2f} {cpu / (moved / 1e9):.3f} {down.get('streams', 0)} {up.get('streams', 0)}/{up.get('counted_at', '-')}")
PY
}

echo "== shaped links (htb on a veth, cubic): goodput in Mbit/s; truth G = rate x 1448/1514"
printf '%-6s %-9s %8s %8s %8s %8s %8s %8s %s\n' rate dir truth iperf3 sonde "iperf3%" "sonde%" "|s-G|-|i-G|" streams
for rate in 10 50 200; do
  setup $rate 192.0.2.1
  g=$(awk -v r=$rate 'BEGIN{printf "%.3f", r*1448/1514}')
  read -r idn _ < <(iperf -R 192.0.2.1)
  read -r iup _ < <(iperf "" 192.0.2.1)
  read -r sdn sup _ ndn nup < <(sonde 192.0.2.1)
  for row in "download $idn $sdn $ndn" "upload $iup $sup $nup"; do
    set -- $row
    awk -v r=$rate -v d=$1 -v g=$g -v i=$2 -v s=$3 -v n=$4 'BEGIN{
      ei=100*(i-g)/g; es=100*(s-g)/g; ai=(ei<0?-ei:ei); as=(es<0?-es:es);
      printf "%-6s %-9s %8.2f %8.2f %8.2f %+7.2f%% %+7.2f%% %+10.2f%% %s\n", r, d, g, i, s, ei, es, as-ai, n}'
  done
done

echo "== loopback, unlimited: 5 interleaved rounds, medians (CPU s/GB = client + server CPU over bytes moved)"
setup none 127.0.0.1
# Loopback is per namespace: the clients run beside the servers.
ip netns del $A; A=$B
: > /tmp/tput-iperf; : > /tmp/tput-sonde1; : > /tmp/tput-sonde
for round in 1 2 3 4 5; do
  iperf -R 127.0.0.1 >> /tmp/tput-iperf
  sonde 127.0.0.1 --download-only --streams 1 >> /tmp/tput-sonde1
  sonde 127.0.0.1 --download-only >> /tmp/tput-sonde
done
mi=$(cut -d' ' -f1 /tmp/tput-iperf | median); ci=$(cut -d' ' -f2 /tmp/tput-iperf | median)
m1=$(cut -d' ' -f1 /tmp/tput-sonde1 | median); c1=$(cut -d' ' -f3 /tmp/tput-sonde1 | median)
ms=$(cut -d' ' -f1 /tmp/tput-sonde | median); cs=$(cut -d' ' -f3 /tmp/tput-sonde | median)
printf '%-28s %12s %12s %10s %10s\n' tool "Mbit/s" "CPU s/GB" "x goodput" "x CPU/GB"
printf '%-28s %12.0f %12.3f %10s %10s\n' "iperf3 -R (1 stream)" "$mi" "$ci" 1.00 1.00
awk -v m=$m1 -v c=$c1 -v mi=$mi -v ci=$ci 'BEGIN{printf "%-28s %12.0f %12.3f %10.2f %10.2f\n", "sonde download, 1 stream", m, c, m/mi, c/ci}'
awk -v m=$ms -v c=$cs -v mi=$mi -v ci=$ci 'BEGIN{printf "%-28s %12.0f %12.3f %10.2f %10.2f\n", "sonde download, ramp (4+)", m, c, m/mi, c/ci}'
echo "rounds (iperf3 | sonde 1 stream | sonde ramp):"; paste -d'|' /tmp/tput-iperf /tmp/tput-sonde1 /tmp/tput-sonde
