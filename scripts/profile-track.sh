#!/usr/bin/env bash
# Profile: where the server's CPU goes during a track load. Samples the release server with
# perf (flat profile, no call graphs needed) while 32 clients track, then sums the samples by
# component (SQL driver, ORM and query building, JSON, logging/tracing, HTTP, JWT, allocator,
# kernel/network, ...). Used for the "where the rest goes" note of docs/BENCHMARKS.md.
#
#   scripts/profile-track.sh          (about 30 s; needs perf, run as root)
#
# PROFILE_CLIENTS (default 32), PROFILE_SECONDS (default 6), SERVER_EXTRA_ENV (e.g. RUST_LOG=warn).
source "$(dirname "$0")/lib.sh"
watchdog 180
CLIENTS="${PROFILE_CLIENTS:-32}"
SECONDS_SAMPLED="${PROFILE_SECONDS:-6}"
command -v perf >/dev/null || fail "perf is not installed"
require_binaries
create_db
PORT=$(free_port)
start_server "$PORT"
register_users "$PORT" 64 "$WORK/users.tsv"
make_all_professional
"$BENCH_BIN" track-load --url "http://127.0.0.1:$PORT" --users "$WORK/users.tsv" \
  --concurrency "$CLIENTS" --seconds $((SECONDS_SAMPLED + 3)) --max-requests 1000000 --prefix prof- \
  >"$WORK/load.json" &
LOAD_PID=$!
OTHER_PIDS+=("$LOAD_PID")
sleep 1.5
perf record -q -F 999 -p "$SERVER_PID" -o "$WORK/perf.data" -- sleep "$SECONDS_SAMPLED" 2>/dev/null
wait "$LOAD_PID"
log "load: $(cat "$WORK/load.json")"
perf report -i "$WORK/perf.data" --no-children --sort dso,sym --stdio 2>/dev/null >"$WORK/perf.txt"
python3 - "$WORK/perf.txt" <<'PY'
import re, sys
groups = [
    ("PostgreSQL driver (sqlx: protocol, rows, statement cache)", r"sqlx"),
    ("ORM and query building (sea-orm, sea-query)", r"sea_orm|sea_query"),
    ("JSON (serde_json) and serde", r"serde_json|serde::|serde_core"),
    ("logging and tracing (tracing, subscriber, JSON log lines)", r"tracing|fmt::format|valuable"),
    ("HTTP server (actix, http parsing)", r"actix|httparse|http::|h1::|bytes::"),
    ("TLS to PostgreSQL (rustls, ring)", r"rustls|ring_core|ring::"),
    ("JWT verification (jsonwebtoken, hmac, sha2, base64)", r"jsonwebtoken|hmac|sha2|base64|digest"),
    ("metrics (prometheus-client)", r"prometheus"),
    ("async runtime (tokio)", r"tokio"),
    ("uuid, chrono", r"uuid|chrono"),
    ("memory allocation (malloc/free)", r"malloc|free|realloc|_int_|cfree|memcpy|memmove|memset"),
]
totals, other, kernel = {}, 0.0, 0.0
top = []
for line in open(sys.argv[1]):
    m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*)", line)
    if not m:
        continue
    pct, dso, kind, sym = float(m.group(1)), m.group(2), m.group(3), m.group(4)
    top.append((pct, dso, sym))
    if kind == "k" or dso.startswith("[kernel"):
        kernel += pct
        continue
    for name, pattern in groups:
        if re.search(pattern, sym):
            totals[name] = totals.get(name, 0.0) + pct
            break
    else:
        other += pct
print("\nserver CPU samples by component:")
for name, pct in sorted(totals.items(), key=lambda kv: -kv[1]):
    print(f"  {pct:5.1f}%  {name}")
print(f"  {kernel:5.1f}%  kernel (TCP loopback, syscalls, scheduling)")
print(f"  {other:5.1f}%  other user-space code")
print("\ntop symbols:")
for pct, dso, sym in top[:25]:
    print(f"  {pct:5.2f}%  {dso:<16.16} {sym[:110]}")
PY
pass "profile done (raw report: KEEP_WORK=1 keeps $WORK/perf.txt)"
