#!/usr/bin/env bash
# Crash: kill -9 the server in the middle of a track load, restart it on the same port, and
# prove nothing acknowledged was lost: every request_id that got a 2xx is in token_usage, the
# counters and daily roll-ups equal the events, and there are no half-written rows.
#
#   scripts/fault-crash.sh            (about 20 s; needs PostgreSQL on 127.0.0.1:5432)
source "$(dirname "$0")/lib.sh"
watchdog 120
require_binaries
create_db
PORT=$(free_port)
start_server "$PORT"
log "server pid $SERVER_PID on port $PORT, database ${DB_URL##*/}"
register_users "$PORT" 20 "$WORK/users.tsv"
make_all_professional

LOAD_SECONDS=10
"$BENCH_BIN" track-load --url "http://127.0.0.1:$PORT" --users "$WORK/users.tsv" \
  --concurrency 16 --seconds "$LOAD_SECONDS" --max-requests 200000 --prefix crash- \
  --ack-log "$WORK/ack.csv" --lost-log "$WORK/lost.csv" >"$WORK/load.json" &
LOAD_PID=$!
OTHER_PIDS+=("$LOAD_PID")

sleep 3
before=$(sql -c "SELECT count(*) FROM token_usage")
log "kill -9 $SERVER_PID ($(readlink /proc/$SERVER_PID/exe)) with the load running ($before events so far)"
kill -9 "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
sleep 1
log "restarting on port $PORT"
start_server "$PORT"
log "server pid $SERVER_PID ready again"
wait "$LOAD_PID" || fail "load generator failed"

log "load: $(cat "$WORK/load.json")"
ok_after=$(json "$WORK/load.json" '.statuses["200"].last_ms // 0')
[[ $ok_after -gt 4500 ]] || fail "no acknowledged track after the restart"
refused=$(json "$WORK/load.json" '(.statuses.connect_error.count // 0) + (.statuses.no_response.count // 0)')
[[ $refused -gt 0 ]] || fail "the load never saw the server down: the kill did not happen"
bad_bodies=$(json "$WORK/load.json" '.non_json_error_bodies | length')
[[ $bad_bodies == 0 ]] || fail "error answers that are not the JSON envelope: $(json "$WORK/load.json" '.non_json_error_bodies')"
server_errors=$(json "$WORK/load.json" '[.statuses | to_entries[] | select(.key | test("^5")) | .value.count] | add // 0')
check_acked_present "$WORK/ack.csv"
check_invariants

acked=$(sql -c "SELECT count(*) FROM fault_acked")
load_csv fault_lost "$WORK/lost.csv"
events=$(sql -c "SELECT count(*) FROM token_usage WHERE request_id LIKE 'crash-%'")
unacked=$(sql -c "SELECT count(*) FROM token_usage t WHERE request_id LIKE 'crash-%'
                  AND NOT EXISTS (SELECT 1 FROM fault_acked a WHERE a.user_id = t.user_id AND a.request_id = t.request_id)")
lost=$(sql -c "SELECT count(*) FROM fault_lost")
log "acknowledged $acked, recorded $events; $unacked recorded without an answer (in flight at the kill; a client retry with the same request_id gets duplicate=true); $lost requests got no answer; $server_errors 5xx answers"
[[ $unacked -le $lost ]] || fail "$unacked events recorded without an answer but only $lost requests went unanswered"

# A retry of the unanswered requests must not double-count (exactly-once across the crash).
if [[ $lost -gt 0 ]]; then
  retry=$(head -n 1 "$WORK/lost.csv")
  rid=${retry#*,}
  seq=${rid#crash-}
  "$BENCH_BIN" track-load --url "http://127.0.0.1:$PORT" --users "$WORK/users.tsv" --concurrency 1 \
    --seconds 5 --max-requests 1 --start "$seq" --prefix crash- --ack-log "$WORK/retry.csv" >"$WORK/retry.json"
  [[ $(sql -c "SELECT count(*) FROM token_usage WHERE request_id = '$rid'") == 1 ]] ||
    fail "retry of $rid did not leave exactly one event"
  log "retry of unanswered $rid: $(cat "$WORK/retry.json")"
  check_invariants
fi
pass "crash: nothing acknowledged was lost, nothing half-written"
