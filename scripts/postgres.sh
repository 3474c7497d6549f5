#!/usr/bin/env bash
# A throwaway PostgreSQL server for the helpdesk's PostgreSQL tests (backend/tests).
#
#   scripts/postgres.sh [start]   install postgresql if missing (Debian, as root), start the
#                                 test cluster unless it runs already, print its URL on stdout
#   scripts/postgres.sh stop      stop it (its data stays in $SONDE_TEST_POSTGRES_DIR)
#
# The cluster listens on 127.0.0.1 only (never another address), on port 54329, with a
# password made up at its creation; the tests get its URL in SONDE_TEST_POSTGRES_URL
# (scripts/test.sh sets it from this script's output) and create one database per test.
# Messages go to stderr; stdout is the URL alone.
set -euo pipefail

port="${SONDE_TEST_POSTGRES_PORT:-54329}"
dir="${SONDE_TEST_POSTGRES_DIR:-/tmp/sonde-test-postgres-$(id -u)}"
action="${1:-start}"

say() { echo "$@" >&2; }

bindir() {
  local found
  found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  if [ -n "$found" ] && [ -x "$found/initdb" ]; then
    echo "$found"
  elif command -v initdb >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
  fi
}

# Runs a server program as the cluster's owner: `postgres` when we are root (the server
# refuses to run as root), ourselves otherwise.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

install_postgresql() {
  [ -n "$(bindir)" ] && return 0
  if [ "$(id -u)" != 0 ]; then
    say "postgresql is not installed (as root: apt-get install postgresql)"
    exit 2
  fi
  say "==> apt-get install postgresql"
  apt-get update -qq
  # Debian's package creates and starts a `main` cluster on 5432; the tests do not use it.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >&2
}

url() {
  echo "postgres://postgres:$(cat "$dir/test-password")@127.0.0.1:$port/postgres"
}

ready() {
  "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -d postgres >/dev/null 2>&1
}

create_cluster() {
  say "==> initdb $dir (127.0.0.1:$port)"
  rm -rf "$dir"
  mkdir -p "$dir"
  [ "$(id -u)" != 0 ] || chown postgres: "$dir"
  chmod 700 "$dir"
  local password
  password="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
  # The password file is read by initdb; the same file gives the tests' URL later.
  as_owner sh -c "umask 077; printf '%s\n' '$password' >'$dir/test-password'"
  as_owner "$bin/initdb" -D "$dir/data" -U postgres --pwfile="$dir/test-password" \
    --auth-local=scram-sha-256 --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
  # Loopback only; the socket in the cluster's own directory (not the system's /run/postgresql).
  as_owner sh -c "cat >>'$dir/data/postgresql.conf'" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
EOF
}

start() {
  install_postgresql
  bin="$(bindir)"
  if [ -f "$dir/test-password" ] && [ -f "$dir/data/PG_VERSION" ] && ready; then
    url
    return 0
  fi
  # A cluster of another major version (the machine's PostgreSQL was upgraded) is made anew.
  local major
  major="$("$bin/postgres" --version | sed -E 's/.* ([0-9]+)(\.[0-9]+)*.*/\1/')"
  if [ ! -f "$dir/test-password" ] || [ "$(cat "$dir/data/PG_VERSION" 2>/dev/null)" != "$major" ]; then
    create_cluster
  fi
  # A server killed with its machine leaves its pid file behind: drop it unless it names a
  # live postgres.
  if [ -f "$dir/data/postmaster.pid" ]; then
    local pid
    pid="$(head -n 1 "$dir/data/postmaster.pid")"
    if ! grep -qs postgres "/proc/$pid/comm"; then
      rm -f "$dir/data/postmaster.pid"
    fi
  fi
  say "==> start the test PostgreSQL on 127.0.0.1:$port"
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null \
    || { say "!!! PostgreSQL did not start; its log:"; tail -n 20 "$dir/server.log" >&2; exit 1; }
  ready || { say "!!! PostgreSQL started but does not answer on 127.0.0.1:$port"; exit 1; }
  url
}

case "$action" in
  start) start ;;
  stop)
    bin="$(bindir)"
    [ -n "$bin" ] && [ -f "$dir/data/PG_VERSION" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m fast stop >&2 || true
    ;;
  *)
    say "usage: $0 [start|stop]"
    exit 2
    ;;
esac
