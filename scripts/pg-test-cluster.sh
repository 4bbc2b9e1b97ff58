# Sourced by scripts/test: starts a throwaway PostgreSQL cluster for the test suite and
# exports TENANTGATE_TEST_PG (an admin URL; each test creates its own database in it).
# Installs PostgreSQL from Debian's packages when it is missing and we are root.
# The cluster is stopped and deleted when the calling shell exits.

pg_bin_dir() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
      echo "$dir"
      return 0
    fi
  done
  return 1
}

if [ -n "${TENANTGATE_TEST_PG:-}" ]; then
  echo "Using the PostgreSQL server at TENANTGATE_TEST_PG."
else
  if ! PG_BIN=$(pg_bin_dir); then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "Installing PostgreSQL (Debian's package)…"
      DEBIAN_FRONTEND=noninteractive apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    fi
    PG_BIN=$(pg_bin_dir) || {
      echo "PostgreSQL is not installed and could not be installed: the PostgreSQL suite cannot run." >&2
      echo "Install Debian's 'postgresql' package, or set TENANTGATE_TEST_PG to an admin URL." >&2
      exit 1
    }
  fi

  PG_DIR=$(mktemp -d /tmp/tenantgate-pg.XXXXXX)
  PG_AS=()
  if [ "$(id -u)" = 0 ]; then
    # PostgreSQL refuses to run as root.
    chown postgres:postgres "$PG_DIR"
    PG_AS=(runuser -u postgres --)
  fi
  "${PG_AS[@]}" "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 \
    --no-locale >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; exit 1; }

  PG_PORT=""
  for port in $(seq 54329 54399); do
    if "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 \
      -o "-p $port -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      start >/dev/null 2>&1; then
      PG_PORT=$port
      break
    fi
  done
  if [ -z "$PG_PORT" ]; then
    echo "Could not start the test PostgreSQL cluster:" >&2
    cat "$PG_DIR/server.log" >&2
    exit 1
  fi
  stop_test_cluster() {
    "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
  }
  trap stop_test_cluster EXIT
  export TENANTGATE_TEST_PG="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
  echo "Test PostgreSQL ($("$PG_BIN/postgres" --version)) on port $PG_PORT."
fi
