#!/usr/bin/env bash
# An AI backend's recipe, with curl: check -> call the model -> track with a request_id; a safe
# retry with the same request_id; a model above the plan; the 402 once the month's tokens run out.
# USER_TOKEN is the end user's access token (the app sends it along with its request). Without
# one, the example registers a throw-away free account, so it runs on its own.
# Usage: BASE_URL=http://127.0.0.1:8000 [USER_TOKEN=...] docs/examples/ai-backend.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"

throwaway=false
if [[ -z "${USER_TOKEN:-}" ]]; then
  body="$(call 201 POST /api/auth/register "" \
    "{\"name\": \"Demo\", \"email\": \"demo-$(date +%s%N)-$RANDOM@example.com\", \"password\": \"correct horse battery staple\"}")"
  USER_TOKEN="$(jq -r .access_token <<<"$body")"
  throwaway=true
fi

# 1. Before spending: may this user call this model for about this many tokens? (Reads only.)
body="$(call 200 POST /api/tokens/me/check "$USER_TOKEN" \
  '{"request_type": "chat", "model": "gpt-3.5-turbo", "estimated_tokens": 1200}')"
echo "allowed; tokens left this month: $(jq -r .tokens_remaining <<<"$body")"

# 2. Call the model (here: pretend), and note what it reports.
prompt_tokens=420
completion_tokens=780

# 3. Track with a request_id made once per model call. curl retries timeouts and 5xx answers
#    (--retry) with the same body, so the same request_id: a repeat is recorded once.
request_id="req-$(date +%s%N)-$RANDOM"
track="$(jq -n --arg id "$request_id" --argjson p "$prompt_tokens" --argjson c "$completion_tokens" \
  '{request_type: "chat", model: "gpt-3.5-turbo", prompt_tokens: $p, completion_tokens: $c,
    request_id: $id, conversation_id: "conv-42"}')"
first="$(curl --silent --show-error --fail-with-body --retry 4 --retry-delay 1 --max-time 10 \
  -H "Authorization: Bearer $USER_TOKEN" -H 'Content-Type: application/json' \
  --data "$track" "$BASE_URL/api/tokens/me/track")"
echo "tracked $(jq -r .id <<<"$first"): $(jq -r .tokens_used <<<"$first") tokens used this month"

# 4. A retry after a timeout (the first answer was lost): the same request_id is answered with
#    the first record and "duplicate": true; nothing is counted twice.
again="$(call 200 POST /api/tokens/me/track "$USER_TOKEN" "$track")"
[[ "$(jq -r .duplicate <<<"$again")" == true ]] || { echo "FAIL: not a duplicate: $again" >&2; exit 1; }
[[ "$(jq -r .id <<<"$again")" == "$(jq -r .id <<<"$first")" ]] || { echo "FAIL: another id" >&2; exit 1; }
echo "retry answered as a duplicate of the first record"
# The same request_id with other numbers is a bug in the caller: 409.
body="$(call 409 POST /api/tokens/me/track "$USER_TOKEN" \
  "$(jq -c '.completion_tokens = 999' <<<"$track")")"
expect_code "$body" request_id_conflict

# 5. A model above the plan's tier: 403 model_not_allowed. Fall back to an allowed model.
body="$(call 403 POST /api/tokens/me/check "$USER_TOKEN" '{"request_type": "chat", "model": "gpt-4"}')"
expect_code "$body" model_not_allowed
models="$(call 200 GET /api/models "$USER_TOKEN")"
echo "gpt-4 refused; allowed models: $(jq -r '[.models[] | select(.allowed) | .name] | join(", ")' <<<"$models")"

# 6. Out of tokens: the request that crosses the limit is recorded in full, the next one is 402
#    with limit, used and reset_date. (Only on the throw-away account: it spends the month.)
if [[ "$throwaway" == true ]]; then
  call 200 POST /api/tokens/me/track "$USER_TOKEN" \
    "{\"request_type\": \"chat\", \"model\": \"gpt-3.5-turbo\", \"total_tokens\": 100000, \"request_id\": \"$request_id-big\"}" >/dev/null
  body="$(call 402 POST /api/tokens/me/check "$USER_TOKEN" '{"request_type": "chat", "model": "gpt-3.5-turbo"}')"
  expect_code "$body" token_limit_exceeded
  echo "402: $(jq -r '"used \(.used) of \(.limit) tokens; resets \(.reset_date)"' <<<"$body")"
fi
echo "OK"
