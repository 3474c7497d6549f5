#!/usr/bin/env bash
# Benchmark of sonde-netsim's link emulator against tools no one here wrote (iputils ping,
# iperf3): prints the exact figures behind the fidelity tests, the emulator's own added latency
# against a plain veth pair, and unimpaired throughput with the emulator's CPU use.
# Run as root:  bench/netsim.sh   (builds the release binary first)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p sonde-netsim
NETSIM=target/release/sonde-netsim
work=$(mktemp -d)
trap 'for s in "$work"/*.toml; do $NETSIM down "$s" >/dev/null 2>&1 || true; done; ip netns del bench-a 2>/dev/null || true; ip netns del bench-b 2>/dev/null || true; rm -rf "$work"' EXIT

# up SCENARIO-TEXT NAME: starts the network in the background, sets $P (namespace prefix) and $UP_PID.
up() {
  printf '%s\n' "$1" > "$work/$2.toml"
  $NETSIM up "$work/$2.toml" > "$work/$2.log" 2>&1 &
  UP_PID=$!
  for _ in $(seq 100); do grep -q 'up;' "$work/$2.log" 2>/dev/null && break; sleep 0.05; done
  P=$(grep -o 'sonde-[0-9]*' "$work/$2.log" | head -1)
}
down() { $NETSIM down "$work/$1.toml" >/dev/null; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
rtts() { grep -o 'time=[0-9.]*' | cut -d= -f2; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }

echo "== delay: 25 ms each way on the access line; iputils ping device -> ISP, 100 probes"
up $'[links.access.both]\ndelay-ms = 25' delay
m=$(ip netns exec "$P-0-device" ping -n -c 100 -i 0.02 198.51.100.1 | rtts | median)
echo "ping median RTT: $m ms (truth 50.000 ms, error $(awk -v m="$m" 'BEGIN{printf "%+.3f", m-50}') ms)"
down delay

echo "== loss: 5 % random on the way up; 2000 pings"
up $'seed = 11\n[links.access.up]\nloss-percent = 5' loss
recv=$(ip netns exec "$P-0-device" ping -n -q -c 2000 -i 0.002 -W 1 198.51.100.1 | grep -o '[0-9]* received' | cut -d' ' -f1)
awk -v r="$recv" 'BEGIN{l=2000-r; s=sqrt(2000*0.05*0.95); printf "lost %d of 2000 = %.2f %% (expected 100 +- %.1f at 3 sigma: %.2f sigma off)\n", l, l/20, 3*s, (l-100)/s}'
down loss

echo "== rate: 20 Mbit/s up, 64 kB queue; iperf3 TCP 10 s (first second omitted)"
up $'[links.access.up]\nrate-mbps = 20\nqueue-kb = 64' rate
ip netns exec "$P-2-isp" iperf3 -s -1 -D --idle-timeout 30 -B 198.51.100.1; sleep 0.3
g=$(ip netns exec "$P-0-device" iperf3 -c 198.51.100.1 -t 10 -O 1 -J | python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e6)')
awk -v g="$g" 'BEGIN{t=20*1448/1500; printf "iperf3 goodput %.3f Mbit/s; truth 20 x 1448/1500 = %.3f; ratio %.4f\n", g, t, g/t}'
down rate

echo "== bufferbloat: 20 Mbit/s, 256 kB queue; ping idle, then under an iperf3 load (4 cubic streams)"
up $'[links.access.up]\nrate-mbps = 20\nqueue-kb = 256' bloat
idle=$(ip netns exec "$P-0-device" ping -n -c 20 -i 0.05 198.51.100.1 | rtts | median)
ip netns exec "$P-2-isp" iperf3 -s -1 -D --idle-timeout 30 -B 198.51.100.1; sleep 0.3
ip netns exec "$P-0-device" iperf3 -c 198.51.100.1 -t 8 -P 4 -C cubic >/dev/null &
LOAD_PID=$!
sleep 2
loaded=$(ip netns exec "$P-0-device" ping -n -c 40 -i 0.1 198.51.100.1 | rtts | median)
wait $LOAD_PID
awk -v i="$idle" -v l="$loaded" 'BEGIN{t=256000*8/20e6*1000; printf "idle %.3f ms, loaded %.3f ms: added %.1f ms (truth 8*L/rate = %.1f ms; ratio %.3f)\n", i, l, l-i, t, (l-i)/t}'
down bloat

echo "== emulator's own latency: one unimpaired emulated link vs a plain veth pair (ping, 200 probes)"
ip netns add bench-a; ip netns add bench-b
ip link add eth0 netns bench-a type veth peer name eth0 netns bench-b
ip -n bench-a addr add 192.0.2.2/24 dev eth0; ip -n bench-b addr add 192.0.2.1/24 dev eth0
ip -n bench-a link set eth0 up; ip -n bench-b link set eth0 up
veth=$(ip netns exec bench-a ping -n -c 200 -i 0.005 192.0.2.1 | rtts | median)
up 'description = "plain"' plain
tun=$(ip netns exec "$P-0-device" ping -n -c 200 -i 0.005 192.0.2.1 | rtts | median)
awk -v v="$veth" -v t="$tun" 'BEGIN{printf "veth RTT %.3f ms, emulated link RTT %.3f ms: the emulator adds %.1f us per direction\n", v, t, (t-v)*1000/2}'

echo "== unimpaired throughput with the emulator's CPU use (iperf3, one TCP stream, 10 s)"
for hops in 1 3; do
  if [ $hops = 1 ]; then server_ns="$P-1-box"; server=192.0.2.1; else server_ns="$P-3-internet"; server=203.0.113.80; fi
  ip netns exec "$server_ns" iperf3 -s -1 -D --idle-timeout 30 -B $server; sleep 0.3
  t0=$(cpu_ticks $UP_PID); s0=$(date +%s.%N)
  g=$(ip netns exec "$P-0-device" iperf3 -c $server -t 10 -J | python3 -c 'import json,sys; e=json.load(sys.stdin)["end"]; print(e["sum_received"]["bits_per_second"]/1e6, e["sum_sent"]["retransmits"])')
  t1=$(cpu_ticks $UP_PID); s1=$(date +%s.%N)
  awk -v g="$g" -v d=$((t1-t0)) -v w="$(echo "$s1 - $s0" | bc)" -v h=$hops -v hz="$(getconf CLK_TCK)" 'BEGIN{split(g,a," "); printf "%d emulated link(s): %.0f Mbit/s, %d retransmits; emulator CPU %.0f %% of one core\n", h, a[1], a[2], 100*d/hz/w}'
done
down plain
echo "host: $(nproc) cores, $(uname -r)"
