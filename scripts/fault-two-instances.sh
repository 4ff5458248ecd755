#!/usr/bin/env bash
# Two instances: two server processes on one PostgreSQL database.
#  1. Exactly-once across instances: two load generators send the same request ids at the
#     same time, one through A then B, the other through B then A. Every request id ends up
#     recorded once; the repeats answer duplicate=true; counters equal the events.
#  2. The quota gate across instances: free-plan accounts (100,000 tokens a month) hammered
#     through both instances with 1,000-token requests. Each account stops within one
#     request of its limit (used < limit + 1,000), the rest is refused with 402 (JSON).
#
#   scripts/fault-two-instances.sh    (about 20 s)
source "$(dirname "$0")/lib.sh"
watchdog 120
require_binaries
create_db
PORT_A=$(free_port)
start_server "$PORT_A"
PID_A=$SERVER_PID
PORT_B=$(free_port)
start_server "$PORT_B"
PID_B=$SERVER_PID
A="http://127.0.0.1:$PORT_A"
B="http://127.0.0.1:$PORT_B"
log "instance A pid $PID_A port $PORT_A, instance B pid $PID_B port $PORT_B"

# 1. The same request ids through both instances at once.
register_users "$PORT_A" 8 "$WORK/users.tsv"
make_all_professional
common=(--users "$WORK/users.tsv" --concurrency 8 --seconds 6 --max-requests 4000 --prefix twin-)
"$BENCH_BIN" track-load --url "$A" --url "$B" "${common[@]}" --ack-log "$WORK/ack1.csv" >"$WORK/load1.json" &
L1=$!
"$BENCH_BIN" track-load --url "$B" --url "$A" "${common[@]}" --ack-log "$WORK/ack2.csv" >"$WORK/load2.json" &
L2=$!
OTHER_PIDS+=("$L1" "$L2")
wait "$L1" || fail "load generator 1 failed"
wait "$L2" || fail "load generator 2 failed"
log "generator 1: $(cat "$WORK/load1.json")"
log "generator 2: $(cat "$WORK/load2.json")"
cat "$WORK/ack1.csv" "$WORK/ack2.csv" >"$WORK/ack.csv"
check_acked_present "$WORK/ack.csv"
twice=$(sql -c "SELECT count(*) FROM (SELECT user_id, request_id FROM token_usage GROUP BY 1, 2 HAVING count(*) > 1) d")
[[ $twice == 0 ]] || fail "$twice request ids recorded more than once"
events=$(sql -c "SELECT count(*) FROM token_usage WHERE request_id LIKE 'twin-%'")
distinct=$(sql -c "SELECT count(DISTINCT (user_id, request_id)) FROM fault_acked")
[[ $events == "$distinct" ]] || fail "$events events for $distinct distinct acknowledged request ids"
dups=$(($(json "$WORK/load1.json" '.duplicates') + $(json "$WORK/load2.json" '.duplicates')))
other=$(jq -s '[.[].statuses | to_entries[] | select(.key != "200") | .value.count] | add // 0' "$WORK/load1.json" "$WORK/load2.json")
[[ $other == 0 ]] || fail "$other answers other than 200 while racing duplicates"
[[ $dups -gt 0 ]] || fail "no duplicate answers: the generators did not race"
check_invariants
pass "exactly-once across instances: $events events, $dups repeats answered duplicate=true"

# 2. The quota gate across instances.
register_users "$PORT_B" 4 "$WORK/free.tsv"
quota=(--users "$WORK/free.tsv" --concurrency 8 --seconds 10 --max-requests 600 --tokens 1000
  --request-type chat --model gpt-3.5-turbo)
"$BENCH_BIN" track-load --url "$A" "${quota[@]}" --prefix qa- >"$WORK/quota1.json" &
Q1=$!
"$BENCH_BIN" track-load --url "$B" "${quota[@]}" --prefix qb- >"$WORK/quota2.json" &
Q2=$!
OTHER_PIDS+=("$Q1" "$Q2")
wait "$Q1" || fail "quota load 1 failed"
wait "$Q2" || fail "quota load 2 failed"
log "quota through A: $(cat "$WORK/quota1.json")"
log "quota through B: $(cat "$WORK/quota2.json")"
cut -f 1 "$WORK/free.tsv" | sed "s/.*/'&'/" | paste -sd, >"$WORK/free.ids"
rows=$(sql -c "SELECT u.email, coalesce(s.tokens_used, 0), coalesce(s.chat_messages, 0)
               FROM users u LEFT JOIN usage_statistics s ON s.user_id = u.id
               WHERE u.id IN ($(cat "$WORK/free.ids")) ORDER BY 1")
log "free accounts (email|tokens_used|chat_messages):"
echo "$rows" >&2
over=$(sql -c "SELECT count(*) FROM usage_statistics WHERE user_id IN ($(cat "$WORK/free.ids"))
               AND (tokens_used >= 101000 OR tokens_used < 100000)")
[[ $over == 0 ]] || fail "$over free accounts outside [100,000, 101,000) tokens"
n402=$(jq -s '[.[].statuses["402"].count // 0] | add' "$WORK/quota1.json" "$WORK/quota2.json")
bad=$(jq -s '[.[].non_json_error_bodies | length] | add' "$WORK/quota1.json" "$WORK/quota2.json")
[[ $n402 -gt 0 && $bad == 0 ]] || fail "expected JSON 402 refusals (got $n402, $bad non-JSON bodies)"
check_invariants
pass "quota gate across instances: every free account stopped in [100,000, 101,000) tokens, $n402 refusals"
