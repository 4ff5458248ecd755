# shellcheck shell=bash
# Shared by the curl examples: `call` sends one request and checks its status.
# Needs curl and jq. BASE_URL is the service (default http://127.0.0.1:8000).
BASE_URL="${BASE_URL:-http://127.0.0.1:8000}"
response_file="$(mktemp)"
trap 'rm -f "$response_file"' EXIT

# call EXPECTED_STATUS METHOD PATH [BEARER_TOKEN] [JSON_BODY]
# Prints the response body; exits 1 (showing the body) when the status is not the expected one.
call() {
  local expected="$1" method="$2" path="$3" token="${4:-}" body="${5:-}" status
  local args=(--silent --show-error --max-time 30 -X "$method" -o "$response_file" -w '%{http_code}')
  if [[ -n "$token" ]]; then args+=(-H "Authorization: Bearer $token"); fi
  if [[ -n "$body" ]]; then args+=(-H 'Content-Type: application/json' --data "$body"); fi
  status="$(curl "${args[@]}" "$BASE_URL$path")"
  if [[ "$status" != "$expected" ]]; then
    echo "FAIL: $method $path answered $status, expected $expected: $(cat "$response_file")" >&2
    exit 1
  fi
  cat "$response_file"
}

# expect_code JSON CODE: the error body carries this code, else exit 1.
expect_code() {
  local code
  code="$(jq -r .code <<<"$1")"
  if [[ "$code" != "$2" ]]; then
    echo "FAIL: expected code $2, got $code: $1" >&2
    exit 1
  fi
}
