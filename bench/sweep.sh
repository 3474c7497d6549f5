#!/usr/bin/env bash
# A ping sweep: sonde's echo prober and fping, interleaved in one run, one probe to each of
# 1,000 and 10,000 targets, paced (1 ms between packets, fping -i 1) and unpaced (fping -i 0).
# Prints replies counted, wall time and peak memory (max RSS) of each, the medians over the
# rounds, and the ratios sonde/fping.
#
# The targets are addresses of an AnyIP route (198.18.0.0/15, the benchmarking range) in a
# responder namespace joined to a prober namespace by a veth pair: both namespaces are this
# script's own, and nothing leaves them. Run as root: bench/sweep.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
for tool in fping /usr/bin/time ip; do
  command -v "$tool" >/dev/null || { echo "bench/sweep.sh needs $tool (apt-get install fping time iproute2)" >&2; exit 2; }
done
# The box build of `sonde` (scripts/build-box.sh: static, start-up code first); SONDE=path
# measures another build, e.g. SONDE=target/release/sonde for the plain (dynamic) one.
if [ -z "${SONDE:-}" ]; then
  scripts/build-box.sh sonde
  SONDE=${CARGO_TARGET_DIR:-$PWD/target}/box/sonde
fi
P=sonde-bench-$$-prober R=sonde-bench-$$-responder
work=$(mktemp -d)
cleanup() { ip netns del "$P" 2>/dev/null || true; ip netns del "$R" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
ip netns add "$P"; ip netns add "$R"
ip link add veth-sweep netns "$P" type veth peer name eth0 netns "$R"
ip -n "$P" link set veth-sweep name eth0
for ns in "$P" "$R"; do ip -n "$ns" link set lo up; ip -n "$ns" link set eth0 up; done
ip -n "$P" addr add 192.0.2.2/24 dev eth0
ip -n "$R" addr add 192.0.2.1/24 dev eth0
ip -n "$P" route add default via 192.0.2.1
ip -n "$R" route add local 198.18.0.0/15 dev lo
IN="ip netns exec $P"

median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) printf "%.4f\n", a[(NR+1)/2]; else printf "%.4f\n", (a[NR/2]+a[NR/2+1])/2}'; }

# measure OUT_PREFIX CMD...: runs CMD in the prober namespace; writes wall ms, max RSS KiB and
# stdout+stderr.
measure() {
  local out=$1; shift
  local t0 t1
  t0=$(date +%s%N)
  $IN /usr/bin/time -f '%M' -o "$out.rss" "$@" > "$out.log" 2>&1 || true
  t1=$(date +%s%N)
  echo $(( (t1 - t0) / 1000 )) | awk '{printf "%.1f\n", $1/1000}' > "$out.ms"
}

sweep() { # sweep N SPACING_MS FPING_INTERVAL_MS
  local n=$1 spacing=$2 interval=$3
  local file=$work/targets-$n
  awk -v n="$n" 'BEGIN {for (i = 0; i < n; i++) printf "198.18.%d.%d\n", int(i / 256), i % 256}' > "$file"
  local fw=() sw=() fm=() sm=() fr=() sr=()
  for r in $(seq "$ROUNDS"); do
    measure "$work/f" fping -q -c 1 -t 500 -r 0 -i "$interval" -f "$file"
    measure "$work/s" "$SONDE" ping -q -c 1 -W 500 --spacing-ms "$spacing" -f "$file"
    local f_replies s_replies
    f_replies=$(grep -c ' = 1/1/0%' "$work/f.log" || true)
    s_replies=$(grep -o '[0-9]* received, [0-9]* silent' "$work/s.log" | tail -1 | awk '{print $1}')
    fw+=("$(cat "$work/f.ms")"); sw+=("$(cat "$work/s.ms")")
    fm+=("$(cat "$work/f.rss")"); sm+=("$(cat "$work/s.rss")")
    fr+=("$f_replies"); sr+=("${s_replies:-0}")
    echo "  round $r: fping ${fw[-1]} ms ${fm[-1]} KiB ${f_replies}/$n replies; sonde ${sw[-1]} ms ${sm[-1]} KiB ${s_replies:-0}/$n replies"
  done
  local FW SW FM SM
  FW=$(printf '%s\n' "${fw[@]}" | median); SW=$(printf '%s\n' "${sw[@]}" | median)
  FM=$(printf '%s\n' "${fm[@]}" | median); SM=$(printf '%s\n' "${sm[@]}" | median)
  local f_min s_min
  f_min=$(printf '%s\n' "${fr[@]}" | sort -n | head -1); s_min=$(printf '%s\n' "${sr[@]}" | sort -n | head -1)
  awk -v n="$n" -v fw="$FW" -v sw="$SW" -v fm="$FM" -v sm="$SM" -v fr="$f_min" -v sr="$s_min" 'BEGIN {
    printf "%d targets: wall median fping %.1f ms, sonde %.1f ms, ratio %.3f; max RSS median fping %d KiB, sonde %d KiB, ratio %.2f; fewest replies fping %d, sonde %d\n",
      n, fw, sw, sw / fw, fm, sm, sm / fm, fr, sr }'
}

for n in 1000 10000; do
  echo "== $n targets, paced: 1 ms between packets (fping -i 1, sonde --spacing-ms 1), $ROUNDS rounds"
  sweep "$n" 1 1
  echo "== $n targets, unpaced (fping -i 0, sonde --spacing-ms 0), $ROUNDS rounds"
  sweep "$n" 0 0
done
