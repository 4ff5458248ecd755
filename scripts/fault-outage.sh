#!/usr/bin/env bash
# Database outage: stop PostgreSQL for a few seconds in the middle of a track load. While it is
# down the service answers 503 with the JSON error envelope (tracks and /health/ready); when it
# is back the same server process recovers by itself, and no acknowledged event is lost.
#
#   scripts/fault-outage.sh           (about 25 s)
#
# It stops the machine's PostgreSQL cluster (pg_ctlcluster, as root or the postgres user), so
# every other user of that cluster sees the outage too; the cleanup trap starts it again.
# OUTAGE_SECONDS (default 4) sets how long it stays down.
source "$(dirname "$0")/lib.sh"
watchdog 150
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

"$BENCH_BIN" track-load --url "http://127.0.0.1:$PORT" --users "$WORK/users.tsv" \
  --concurrency 8 --seconds 14 --max-requests 200000 --prefix outage- \
  --ack-log "$WORK/ack.csv" --lost-log "$WORK/lost.csv" >"$WORK/load.json" &
LOAD_PID=$!
OTHER_PIDS+=("$LOAD_PID")

sleep 3
log "stopping PostgreSQL $PG_VERSION/$PG_CLUSTER (fast: open sessions are terminated)"
pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" "$PG_CLUSTER" stop -m fast
down_at=$(date +%s%N)
sleep 1
ready=$(curl -s -o "$WORK/ready.json" -w '%{http_code} %{content_type}' --max-time 15 "http://127.0.0.1:$PORT/health/ready")
track=$(curl -s -o "$WORK/track.json" -w '%{http_code} %{content_type} %{time_total}' --max-time 15 \
  -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d '{"request_type":"chat","model":"gpt-4","prompt_tokens":1,"completion_tokens":1,"request_id":"outage-probe"}' \
  "http://127.0.0.1:$PORT/api/tokens/me/track")
log "while down: /health/ready -> $ready $(cat "$WORK/ready.json")"
log "while down: track -> $track $(cat "$WORK/track.json")"
elapsed_ms=$((($(date +%s%N) - down_at) / 1000000))
remaining_ms=$((OUTAGE_SECONDS * 1000 - elapsed_ms))
if [[ $remaining_ms -gt 0 ]]; then sleep "$((remaining_ms / 1000)).$(printf '%03d' $((remaining_ms % 1000)))"; fi
log "starting PostgreSQL"
pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" "$PG_CLUSTER" start
up_at=$(date +%s%N)
ensure_postgres_running
outage_ms=$(((up_at - down_at) / 1000000))
log "PostgreSQL was down for ${outage_ms} ms"
wait_ready "$PORT" 30 || fail "the server did not become ready again without a restart"
recovered_at=$(date +%s%N)
log "server ready again $(((recovered_at - up_at) / 1000000)) ms after PostgreSQL started"
wait "$LOAD_PID" || fail "load generator failed"
kill -0 "$SERVER_PID" 2>/dev/null || fail "the server process died during the outage"

log "load: $(cat "$WORK/load.json")"
[[ ${ready%% *} == 503 && $ready == *application/json* ]] || fail "/health/ready during the outage: $ready"
[[ ${track%% *} == 503 && $track == *application/json* ]] || fail "track during the outage: $track $(cat "$WORK/track.json")"
jq -e '.detail and .code' "$WORK/track.json" >/dev/null || fail "503 body is not the error envelope"
n503=$(json "$WORK/load.json" '.statuses["503"].count // 0')
n500=$(json "$WORK/load.json" '[.statuses | to_entries[] | select(.key | test("^5") and . != "503") | .value.count] | add // 0')
bad=$(json "$WORK/load.json" '.non_json_error_bodies | length')
recovered=$(json "$WORK/load.json" '.first_ok_after_last_failure_ms // empty')
[[ $n503 -gt 0 ]] || fail "no 503 during the outage"
[[ $bad == 0 ]] || fail "non-JSON error bodies: $(json "$WORK/load.json" '.non_json_error_bodies')"
[[ -n $recovered ]] || fail "no acknowledged track after the outage"
[[ $n500 == 0 ]] || log "note: $n500 other 5xx answers during the outage"
pass "503 (JSON) while down: $n503 tracks; first acknowledged track after the last failure at ${recovered} ms; same server pid $SERVER_PID"
check_acked_present "$WORK/ack.csv"
check_invariants
load_csv fault_lost "$WORK/lost.csv"
unacked=$(sql -c "SELECT count(*) FROM token_usage t WHERE request_id LIKE 'outage-%'
                  AND NOT EXISTS (SELECT 1 FROM fault_acked a WHERE a.user_id = t.user_id AND a.request_id = t.request_id)")
log "events recorded but not acknowledged (commit raced the outage; a retry answers duplicate=true): $unacked"
pass "outage: 503 while down, recovered without a restart, no acknowledged event lost"
