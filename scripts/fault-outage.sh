#!/usr/bin/env bash
# Database outage: stop PostgreSQL for a few seconds in the middle of a track load. While it is
# down the service answers 503 with the JSON error envelope (tracks and /health/ready) — or,
# within the pool's acquire timeout (DATABASE_ACQUIRE_TIMEOUT, default 5 s), waits for it and then answers normally — and never a
# 500; when it is back the same server process recovers by itself, and no acknowledged event
# is lost. OUTAGE_SECONDS=15 shows the 503s after the acquire timeout.
#
#   scripts/fault-outage.sh           (about 35 s)
#
# It stops the machine's PostgreSQL cluster (pg_ctlcluster, as root or the postgres user), so
# every other user of that cluster sees the outage too; the cleanup trap starts it again.
# OUTAGE_SECONDS (default 4) sets how long it stays down.
source "$(dirname "$0")/lib.sh"
watchdog 180
PG_VERSION="${PG_VERSION:-$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)}"
PG_CLUSTER="${PG_CLUSTER:-main}"
OUTAGE_SECONDS="${OUTAGE_SECONDS:-4}"

ensure_postgres_running() {
  if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
    log "starting PostgreSQL again"
    pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" "$PG_CLUSTER" start || true
    for _ in $(seq 1 60); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 0.5; done
  fi
}

require_binaries
create_db
PORT=$(free_port)
start_server "$PORT"
log "server pid $SERVER_PID on port $PORT"
register_users "$PORT" 20 "$WORK/users.tsv"
make_all_professional
TOKEN=$(head -n 1 "$WORK/users.tsv" | cut -f 2)

# The pool waits up to its acquire timeout (10 s) for a connection before answering 503, so
# the load runs long enough to see requests time out and the service recover afterwards.
LOAD_SECONDS=$((3 + OUTAGE_SECONDS + 18))
"$BENCH_BIN" track-load --url "http://127.0.0.1:$PORT" --users "$WORK/users.tsv" \
  --concurrency 8 --seconds "$LOAD_SECONDS" --max-requests 200000 --prefix outage- \
  --ack-log "$WORK/ack.csv" --lost-log "$WORK/lost.csv" >"$WORK/load.json" &
LOAD_PID=$!
OTHER_PIDS+=("$LOAD_PID")

sleep 3
log "stopping PostgreSQL $PG_VERSION/$PG_CLUSTER for ${OUTAGE_SECONDS}s (fast: open sessions are terminated)"
pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" "$PG_CLUSTER" stop -m fast
down_at=$(date +%s%N)
# Probes while it is down, in the background so they cannot stretch the outage.
(sleep 0.5; curl -s -o "$WORK/ready.json" -w '%{http_code} %{content_type} %{time_total}' --max-time 15 \
  "http://127.0.0.1:$PORT/health/ready" >"$WORK/ready.status") &
PROBE1=$!
(sleep 0.5; curl -s -o "$WORK/track.json" -w '%{http_code} %{content_type} %{time_total}' --max-time 15 \
  -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d '{"request_type":"chat","model":"gpt-4","prompt_tokens":1,"completion_tokens":1,"request_id":"outage-probe"}' \
  "http://127.0.0.1:$PORT/api/tokens/me/track" >"$WORK/track.status") &
PROBE2=$!
OTHER_PIDS+=("$PROBE1" "$PROBE2")
elapsed_ms=$((($(date +%s%N) - down_at) / 1000000))
remaining_ms=$((OUTAGE_SECONDS * 1000 - elapsed_ms))
if [[ $remaining_ms -gt 0 ]]; then sleep "$((remaining_ms / 1000)).$(printf '%03d' $((remaining_ms % 1000)))"; fi
log "starting PostgreSQL"
start_at=$(date +%s%N)
pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" "$PG_CLUSTER" start
up_at=$(date +%s%N)
ensure_postgres_running
log "PostgreSQL was down for $(((up_at - down_at) / 1000000)) ms"
wait "$PROBE1" "$PROBE2" || true
ready=$(cat "$WORK/ready.status" 2>/dev/null || echo none)
track=$(cat "$WORK/track.status" 2>/dev/null || echo none)
log "while down: /health/ready -> $ready s $(cat "$WORK/ready.json" 2>/dev/null)"
log "while down: track -> $track s $(cat "$WORK/track.json" 2>/dev/null)"
wait_ready "$PORT" 30 || fail "the server did not become ready again without a restart"
log "server ready again $((($(date +%s%N) - up_at) / 1000000)) ms after PostgreSQL started"
wait "$LOAD_PID" || fail "load generator failed"
kill -0 "$SERVER_PID" 2>/dev/null || fail "the server process died during the outage"

log "load: $(cat "$WORK/load.json")"
problems=()
# Before this point the database could not answer anything.
down_ms=$(((start_at - down_at) / 1000000))
# A probe sent while the database is down must answer 503 with the JSON envelope, or wait
# (the pool waits up to its 10 s acquire timeout) and answer normally once it is back.
probe_ok() { # STATUS_LINE BODY_FILE
  local code type took answered_ms
  read -r code type took <<<"$1"
  answered_ms=$(awk -v t="$took" 'BEGIN { printf "%d", (t + 0.5) * 1000 }')
  if [[ $code == 503 && $type == application/json* ]] && jq -e '.detail and .code' "$2" >/dev/null 2>&1; then
    echo "503 JSON after ${took}s"
  elif [[ $code == 200 && $answered_ms -ge $down_ms ]]; then
    echo "waited ${took}s for the database, then 200"
  else
    return 1
  fi
}
if r=$(probe_ok "$ready" "$WORK/ready.json"); then log "/health/ready while down: $r"; else problems+=("/health/ready during the outage: $ready"); fi
if r=$(probe_ok "$track" "$WORK/track.json"); then log "track while down: $r"; else problems+=("track during the outage: $track"); fi
n503=$(json "$WORK/load.json" '.statuses["503"].count // 0')
n500=$(json "$WORK/load.json" '[.statuses | to_entries[] | select(.key | test("^5") and . != "503") | .value.count] | add // 0')
bad=$(json "$WORK/load.json" '.non_json_error_bodies | length')
recovered=$(json "$WORK/load.json" '.first_ok_after_last_failure_ms // empty')
[[ $n500 == 0 ]] || problems+=("$n500 answers with another 5xx (not 503) during the outage")
[[ $bad == 0 ]] || problems+=("non-JSON error bodies: $(json "$WORK/load.json" '.non_json_error_bodies')")
[[ -n $recovered ]] || problems+=("no acknowledged track after the outage")
log "503 (JSON) answers to the load: $n503; first acknowledged track after the last failure at ${recovered:-never} ms; same server pid $SERVER_PID"
check_acked_present "$WORK/ack.csv"
check_invariants
load_csv fault_lost "$WORK/lost.csv"
unacked=$(sql -c "SELECT count(*) FROM token_usage t WHERE request_id LIKE 'outage-%'
                  AND NOT EXISTS (SELECT 1 FROM fault_acked a WHERE a.user_id = t.user_id AND a.request_id = t.request_id)")
log "events recorded but not acknowledged (commit raced the outage; a retry answers duplicate=true): $unacked"
if [[ ${#problems[@]} -gt 0 ]]; then
  for p in "${problems[@]}"; do log "problem: $p"; done
  fail "outage: ${#problems[@]} problem(s); nothing acknowledged was lost"
fi
pass "outage: 503 while down, recovered without a restart, no acknowledged event lost"
