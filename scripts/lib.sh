#!/usr/bin/env bash
# Shared helpers of the fault scripts (source it). Every script gets: strict mode, a work
# directory, a watchdog that bounds its total run time, and a cleanup trap that kills the
# servers and load generators it started (by pid) and drops the databases it created.
#
# Environment:
#   PG_ADMIN_URL  a PostgreSQL URL that may create databases, without query parameters
#                 (default postgres://postgres@127.0.0.1:5432/postgres)
#   SERVER_BIN    the server (default target/release/doztra-auth)
#   BENCH_BIN     the load generator (default target/release/doztra-bench)
#   KEEP_WORK=1   keep the work directory (logs, ack files) after the run
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
SERVER_BIN="${SERVER_BIN:-$TARGET_DIR/release/doztra-auth}"
BENCH_BIN="${BENCH_BIN:-$TARGET_DIR/release/doztra-bench}"
PG_ADMIN_URL="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
FAULT_JWT_SECRET="fault-secret-fault-secret-fault-secret-0123456789"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/doztra-fault.XXXXXX")"
SCRIPT_NAME="$(basename "$0" .sh)"
SERVER_PIDS=()
OTHER_PIDS=()
DATABASES=()
WATCHDOG_PID=""
DB_URL=""
SERVER_PID=""

log() { printf '[%s %s] %s\n' "$(date +%H:%M:%S.%3N)" "$SCRIPT_NAME" "$*" >&2; }
fail() {
  log "FAIL: $*"
  exit 1
}
pass() { log "PASS: $*"; }

cleanup() {
  local status=$?
  set +e
  [[ -n $WATCHDOG_PID ]] && kill "$WATCHDOG_PID" 2>/dev/null
  for pid in "${OTHER_PIDS[@]}" "${SERVER_PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -9 "$pid" 2>/dev/null
      wait "$pid" 2>/dev/null
    fi
  done
  # A script that stopped PostgreSQL must leave it running.
  if declare -F ensure_postgres_running >/dev/null; then ensure_postgres_running; fi
  for name in "${DATABASES[@]}"; do
    psql "$PG_ADMIN_URL" -qAtc "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" >/dev/null 2>&1 ||
      log "warning: could not drop database $name"
  done
  if [[ ${KEEP_WORK:-0} == 1 || $status -ne 0 ]]; then
    log "logs kept in $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# watchdog SECONDS: end the script (through the cleanup trap) if it runs longer.
watchdog() {
  local seconds=$1 main=$$
  (
    sleep "$seconds"
    echo "[$SCRIPT_NAME] watchdog: over ${seconds}s, stopping" >&2
    kill -TERM "$main" 2>/dev/null
  ) &
  WATCHDOG_PID=$!
}

require_binaries() {
  if [[ ! -x $SERVER_BIN || ! -x $BENCH_BIN ]]; then
    log "building the release binaries (first time: several minutes)"
    (cd "$ROOT" && cargo build --release -p doztra-server -p doztra-bench)
  fi
  pg_isready -h 127.0.0.1 -p 5432 -q || fail "PostgreSQL does not answer at 127.0.0.1:5432"
}

# create_db: a fresh, migrated database; sets DB_URL.
create_db() {
  local name
  name="doztra_fault_$(date +%s)_${RANDOM}${RANDOM}"
  psql "$PG_ADMIN_URL" -qAtc "CREATE DATABASE \"$name\"" >/dev/null
  DATABASES+=("$name")
  DB_URL="${PG_ADMIN_URL%/*}/$name"
  (server_env "$SERVER_BIN" migrate >>"$WORK/migrate.log" 2>&1) || fail "migrate failed (see $WORK/migrate.log)"
}

sql() { psql "$DB_URL" -v ON_ERROR_STOP=1 -qAt "$@"; }

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# server_env CMD...: runs CMD with the servers' environment (production settings).
# SERVER_EXTRA_ENV adds NAME=VALUE words (e.g. "RUST_LOG=warn").
server_env() {
  # shellcheck disable=SC2086
  exec env -i PATH="$PATH" APP_ENV=production DATABASE_URL="$DB_URL" HOST=127.0.0.1 \
    JWT_SECRET="$FAULT_JWT_SECRET" AUTO_MIGRATE=false ACCESS_TOKEN_TTL=1h LOG_FORMAT=json \
    ${SERVER_EXTRA_ENV:-} "$@"
}

# start_server PORT: starts a server on PORT, waits until ready; sets SERVER_PID (the server
# process itself: the background subshell execs env, which execs the server).
start_server() {
  local port=$1
  if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/health" 2>/dev/null; then
    fail "port $port is already taken by another server"
  fi
  (server_env PORT="$port" "$SERVER_BIN" serve >>"$WORK/server-$port.log" 2>&1) &
  SERVER_PID=$!
  SERVER_PIDS+=("$SERVER_PID")
  wait_ready "$port" || fail "server on port $port not ready (see $WORK/server-$port.log)"
  [[ $(readlink "/proc/$SERVER_PID/exe" 2>/dev/null) == *doztra-auth* ]] ||
    fail "pid $SERVER_PID is not the server"
}

# wait_ready PORT [SECONDS]
wait_ready() {
  local port=$1 limit=${2:-30} i
  for ((i = 0; i < limit * 20; i++)); do
    if curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$port/health/ready" 2>/dev/null; then
      return 0
    fi
    sleep 0.05
  done
  return 1
}

# register_users PORT COUNT FILE: accounts (user_id<TAB>token<TAB>email per line).
register_users() {
  "$BENCH_BIN" register --url "http://127.0.0.1:$1" --count "$2" --out "$3" --prefix "$SCRIPT_NAME"
}

make_all_professional() { sql -c "UPDATE subscriptions SET plan = 'professional'" >/dev/null; }

# The invariants of the metering tables, as one number of offending rows (0 = consistent):
# each period's counters equal the sums of its events, each daily roll-up equals the group of
# its events (both directions, so no half-written rows), and each event's day is its UTC date.
# Kept identical to crates/bench/src/db.rs.
INVARIANTS_SQL="
WITH ev AS (
  SELECT user_id, date_trunc('month', created_at AT TIME ZONE 'UTC')::date AS period_start,
         sum(total_tokens) AS tokens,
         count(*) FILTER (WHERE request_type = 'chat') AS chat,
         count(*) FILTER (WHERE request_type = 'plagiarism') AS plag,
         count(*) FILTER (WHERE request_type = 'prompt') AS prompt
  FROM token_usage GROUP BY 1, 2),
counters AS (
  SELECT count(*) AS bad FROM ev FULL JOIN usage_statistics s USING (user_id, period_start)
  WHERE coalesce(ev.tokens, 0) <> coalesce(s.tokens_used, 0)
     OR coalesce(ev.chat, 0) <> coalesce(s.chat_messages, 0)
     OR coalesce(ev.plag, 0) <> coalesce(s.plagiarism_checks, 0)
     OR coalesce(ev.prompt, 0) <> coalesce(s.prompts_generated, 0)),
days AS (
  SELECT user_id, usage_date, request_type, model, reporter, sum(prompt_tokens) AS p,
         sum(completion_tokens) AS c, sum(total_tokens) AS t, count(*) AS n
  FROM token_usage GROUP BY 1, 2, 3, 4, 5),
rollups AS (
  SELECT count(*) AS bad FROM days d
  FULL JOIN token_usage_summary s USING (user_id, usage_date, request_type, model, reporter)
  WHERE coalesce(d.p, 0) <> coalesce(s.prompt_tokens, 0)
     OR coalesce(d.c, 0) <> coalesce(s.completion_tokens, 0)
     OR coalesce(d.t, 0) <> coalesce(s.total_tokens, 0)
     OR coalesce(d.n, 0) <> coalesce(s.request_count, 0)),
dates AS (
  SELECT count(*) AS bad FROM token_usage
  WHERE usage_date <> (created_at AT TIME ZONE 'UTC')::date)
SELECT (SELECT bad FROM counters) + (SELECT bad FROM rollups) + (SELECT bad FROM dates)"

check_invariants() {
  local bad
  bad=$(sql -c "$INVARIANTS_SQL")
  [[ $bad == 0 ]] || fail "$bad rows break the metering invariants (counters/roll-ups vs events)"
  pass "counters and roll-ups equal the events ($(sql -c 'SELECT count(*) FROM token_usage') events)"
}

# load_csv TABLE FILE: a temporary-looking table (dropped first) of user_id,request_id rows.
load_csv() {
  sql -c "DROP TABLE IF EXISTS $1; CREATE UNLOGGED TABLE $1 (user_id uuid, request_id text)" >/dev/null
  sql -c "\\copy $1 FROM '$2' WITH (FORMAT csv)" >/dev/null
}

# check_acked_present ACK_CSV: every acknowledged request id is recorded exactly once.
check_acked_present() {
  load_csv fault_acked "$1"
  local acked missing
  acked=$(sql -c "SELECT count(DISTINCT (user_id, request_id)) FROM fault_acked")
  missing=$(sql -c "SELECT count(*) FROM (SELECT DISTINCT user_id, request_id FROM fault_acked) a
                    WHERE NOT EXISTS (SELECT 1 FROM token_usage t
                                      WHERE t.user_id = a.user_id AND t.request_id = a.request_id)")
  [[ $acked -gt 0 ]] || fail "no request was acknowledged: the load did not run"
  [[ $missing == 0 ]] || fail "$missing of $acked acknowledged request ids are not in token_usage"
  pass "all $acked acknowledged request ids are in token_usage"
}

# json FILE FILTER: a jq query on the load generator's summary.
json() { jq -r "$2" "$1"; }
