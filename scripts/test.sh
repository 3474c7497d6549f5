#!/usr/bin/env bash
# The whole test suite: formatting, lints, every test (unit, API, end-to-end in network
# namespaces). Installs what the tests need on Debian. CI runs exactly this (see .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh

echo "==> cargo fmt --check"
cargo fmt --all --check

echo "==> cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> build the binaries the end-to-end suites run"
cargo build --workspace --bins --locked

echo "==> systemd units: systemd-analyze verify + security (exposure <= 2.0)"
check_systemd_units() {
  if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "!!! SKIP systemd unit checks: systemd-analyze is not installed (apt-get install systemd)" >&2
    [ "${SONDE_REQUIRE_NETSIM:-}" != 1 ] || { echo "!!! CI requires them: failing" >&2; return 1; }
    return 0
  fi
  local target bindir tmp unit name score
  target="${CARGO_TARGET_DIR:-target}"
  bindir="$(cd "$target/debug" && pwd)"
  tmp="$(mktemp -d)"
  for unit in systemd/*.service; do
    name="$(basename "$unit")"
    # `verify` insists that ExecStart= exists: point it at the binaries just built.
    sed "s|^ExecStart=/usr/bin/|ExecStart=$bindir/|" "$unit" >"$tmp/$name"
    systemd-analyze verify "$tmp/$name"
    # --threshold counts tenths: 20 is an exposure of 2.0.
    score="$(systemd-analyze security --offline=true --threshold=20 "$unit" | tail -n 1)" \
      || { echo "!!! $name: $score (over 2.0)" >&2; return 1; }
    echo "    $name: $score"
  done
  rm -rf "$tmp"
}
check_systemd_units

echo "==> tests"
# The helpdesk's PostgreSQL tests use the throwaway server scripts/postgres.sh started above
# (without it they SKIP loudly, and fail under SONDE_REQUIRE_NETSIM=1).
if [ -z "${SONDE_TEST_POSTGRES_URL:-}" ]; then
  SONDE_TEST_POSTGRES_URL="$(scripts/postgres.sh)" || SONDE_TEST_POSTGRES_URL=
  export SONDE_TEST_POSTGRES_URL
fi
if [ "$(id -u)" != 0 ] && [ "${SONDE_REQUIRE_NETSIM:-}" != 1 ]; then
  echo "!!! not root: the network-namespace suites will SKIP (loudly). Run as root for the full suite."
fi
cargo nextest run --workspace --locked --no-fail-fast
cargo test --workspace --doc --locked
