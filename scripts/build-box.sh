#!/usr/bin/env bash
# The box build of sonde's programs (docs/deploy.md#the-box-build): release, statically linked
# (static-pie: no libc, libm or loader mapped beside the program), identical functions folded
# (lld --icf=all), and with the functions the program runs from start to idle laid out first in
# its code (the order files in packaging/order/), so the kernel's fault-around maps a few dense
# pages instead of touching most of the binary. Writes stripped binaries to $CARGO_TARGET_DIR/box/ (default target/box/).
#
#   scripts/build-box.sh [--no-order] [sonded] [sonde]      (default: both programs)
#
# For the host (x86_64-unknown-linux-gnu, linked by rustc's own lld, which reads the order
# file). `scripts/order-file.sh` regenerates the order files; a stale one still links, with
# fewer functions placed (this script prints how many).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
OUT=$TARGET/box
order=1
bins=()
for arg in "$@"; do
  case $arg in
    --no-order) order=0 ;;
    sonded | sonde) bins+=("$arg") ;;
    *) echo "build-box.sh: unknown argument '$arg' (expected --no-order, sonded, sonde)" >&2; exit 2 ;;
  esac
done
[ ${#bins[@]} -gt 0 ] || bins=(sonded sonde)
command -v python3 >/dev/null || { echo "build-box.sh needs python3" >&2; exit 2; }

# Symbols are kept while linking (the order file names them) and stripped on the way out.
export CARGO_PROFILE_RELEASE_STRIP=false
STATIC=(-C target-feature=+crt-static -C link-arg=-Wl,--icf=all)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$OUT"

for bin in "${bins[@]}"; do
  case $bin in
    sonded) package=sonde-agent ;;
    sonde) package=sonde-dashboard ;;
  esac
  list=packaging/order/$bin.txt
  ordering=()
  if [ "$order" = 1 ] && [ -f "$list" ]; then
    ordering=(-C "link-arg=-Wl,--symbol-ordering-file=$PWD/$list" -C link-arg=-Wl,--no-warn-symbol-ordering)
  fi
  # Only the program's own crate gets the flags (`cargo rustc`): given to every crate,
  # crt-static would also apply to the proc-macros, which cannot be linked statically.
  cargo rustc --release --locked -q -p "$package" --bin "$bin" -- "${STATIC[@]}" "${ordering[@]}"
  if [ ${#ordering[@]} -gt 0 ]; then
    # The file's names that this build renamed (a dependency's version, a generic argument)
    # are looked up by their hash-free form; only when some are found is the program linked
    # again, in the resolved order.
    if ! nm --defined-only "$TARGET/release/$bin" | python3 scripts/order-key.py resolve "$list" \
      > "$work/$bin.order" 2> "$work/$bin.placed"; then
      cargo rustc --release --locked -q -p "$package" --bin "$bin" -- "${STATIC[@]}" \
        -C "link-arg=-Wl,--symbol-ordering-file=$work/$bin.order" -C link-arg=-Wl,--no-warn-symbol-ordering
    fi
    echo "$bin: $(cat "$work/$bin.placed")"
  fi
  strip -o "$OUT/$bin" "$TARGET/release/$bin"
  echo "$bin: $OUT/$bin ($(stat -c %s "$OUT/$bin") bytes, stripped, static)"
done
