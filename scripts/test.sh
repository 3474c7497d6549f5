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

echo "==> tests"
if [ "$(id -u)" != 0 ] && [ "${SONDE_REQUIRE_NETSIM:-}" != 1 ]; then
  echo "!!! not root: the network-namespace suites will SKIP (loudly). Run as root for the full suite."
fi
cargo nextest run --workspace --locked --no-fail-fast
cargo test --workspace --doc --locked
