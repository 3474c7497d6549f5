#!/usr/bin/env bash
# Installs the Debian packages the tests use, when missing. Idempotent; needs root to install.
set -euo pipefail
need=()
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v ping >/dev/null 2>&1 || need+=(iputils-ping)
command -v iperf3 >/dev/null 2>&1 || need+=(iperf3)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
command -v sysctl >/dev/null 2>&1 || need+=(procps)
# xmllint validates the JUnit file of `sonde diagnose --junit` against the JUnit XSD
# (dashboard-client/tests/cli/junit.rs).
command -v xmllint >/dev/null 2>&1 || need+=(libxml2-utils)
# systemd-analyze verifies the unit files and scores their hardening (scripts/test.sh).
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
# The web page's browser test (tests/tests/web.rs) drives a headless Chromium over WebDriver.
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
# The dashboard and the guided `sonde diagnose` are driven in a terminal (tests/tests/tui.rs).
command -v tmux >/dev/null 2>&1 || need+=(tmux)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing packages: ${need[*]} (install them as root: apt-get install ${need[*]})" >&2
    exit 2
  fi
  echo "==> apt-get install ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

# An independent Modbus implementation, so the modem simulator and our client cannot share a
# mistake (tests/tests/modbus.rs). `python3 -m pip` installs for the python3 the tests run.
# Debian's own python3 refuses plain `pip install` (PEP 668): retry with its override there.
if ! python3 -c 'import pymodbus' >/dev/null 2>&1; then
  echo "==> pip install pymodbus ($(command -v python3))"
  python3 -m pip install --quiet pymodbus==3.15.0 \
    || python3 -m pip install --quiet --break-system-packages pymodbus==3.15.0 \
    || echo "!!! could not install pymodbus: the Modbus agreement tests will say so" >&2
fi

# PostgreSQL for the helpdesk's PostgreSQL storage tests: installed if missing, and a throwaway
# cluster on 127.0.0.1:54329 started (or reused). scripts/test.sh exports its URL.
scripts_dir="$(dirname "$0")"
"$scripts_dir/postgres.sh" >/dev/null || echo "!!! could not start the test PostgreSQL: its tests will say so" >&2
