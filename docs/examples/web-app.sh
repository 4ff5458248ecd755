#!/usr/bin/env bash
# A web or mobile app's session, with curl: register, sign in, call the API, refresh with
# rotation, what reuse of a spent refresh token does, sign out, and a password-reset request.
# Usage: BASE_URL=http://127.0.0.1:8000 docs/examples/web-app.sh   (needs curl and jq)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

EMAIL="${EMAIL:-ada-$(date +%s%N)-$RANDOM@example.com}"
PASSWORD="${PASSWORD:-correct horse battery staple}"

# 1. Register: 201 with a token pair and the user (a verification email goes out).
body="$(call 201 POST /api/auth/register "" \
  "$(jq -n --arg e "$EMAIL" --arg p "$PASSWORD" '{name: "Ada Lovelace", email: $e, password: $p}')")"
echo "registered $(jq -r .user.id <<<"$body") on plan $(jq -r .user.subscription.plan <<<"$body")"

# 2. Sign in (an OAuth2 password-grant form; JSON {"email","password"} works too).
body="$(curl --silent --show-error --fail-with-body -X POST "$BASE_URL/api/auth/login" \
  --data-urlencode "username=$EMAIL" --data-urlencode "password=$PASSWORD")"
access="$(jq -r .access_token <<<"$body")"
refresh="$(jq -r .refresh_token <<<"$body")"
echo "signed in; the access token lasts $(jq -r .expires_in <<<"$body") s"

# 3. Call the API with the access token.
body="$(call 200 GET /api/users/me "$access")"
echo "me: $(jq -r '.email + " verified=" + (.is_verified|tostring)' <<<"$body")"

# 4. Refresh: the old refresh token is spent, keep the new pair.
body="$(call 200 POST /api/auth/refresh "" "$(jq -n --arg t "$refresh" '{refresh_token: $t}')")"
spent="$refresh"
access="$(jq -r .access_token <<<"$body")"
refresh="$(jq -r .refresh_token <<<"$body")"
echo "refreshed: a new pair"

# 5. A second tab that refreshes with the same (now spent) token within
#    REFRESH_TOKEN_REUSE_INTERVAL (10 s) gets the same new refresh token: no second rotation.
body="$(call 200 POST /api/auth/refresh "" "$(jq -n --arg t "$spent" '{refresh_token: $t}')")"
[ "$(jq -r .refresh_token <<<"$body")" = "$refresh" ] || { echo "expected the same successor" >&2; exit 1; }
echo "two tabs refreshing at once share one successor"

# 6. Rotate once more; the token from step 2 is now two generations old. Presenting it is reuse
#    (as is the previous one after the interval): the whole sign-in is revoked, the newest
#    refresh token included. This is what catches a stolen refresh token.
body="$(call 200 POST /api/auth/refresh "" "$(jq -n --arg t "$refresh" '{refresh_token: $t}')")"
refresh="$(jq -r .refresh_token <<<"$body")"
body="$(call 401 POST /api/auth/refresh "" "$(jq -n --arg t "$spent" '{refresh_token: $t}')")"
expect_code "$body" refresh_token_reused
body="$(call 401 POST /api/auth/refresh "" "$(jq -n --arg t "$refresh" '{refresh_token: $t}')")"
expect_code "$body" invalid_token
echo "reuse detected: the session is gone, the user signs in again"

# 7. Sign in again (JSON this time), then sign out: the refresh token stops working.
body="$(call 200 POST /api/auth/login "" \
  "$(jq -n --arg e "$EMAIL" --arg p "$PASSWORD" '{email: $e, password: $p}')")"
access="$(jq -r .access_token <<<"$body")"
refresh="$(jq -r .refresh_token <<<"$body")"
call 200 POST /api/auth/logout "$access" "$(jq -n --arg t "$refresh" '{refresh_token: $t}')" >/dev/null
body="$(call 401 POST /api/auth/refresh "" "$(jq -n --arg t "$refresh" '{refresh_token: $t}')")"
expect_code "$body" invalid_token
echo "signed out"

# 8. "Forgot password": always 202 with the same body, whether or not the account exists.
call 202 POST /api/auth/password-reset "" "$(jq -n --arg e "$EMAIL" '{email: $e}')" >/dev/null
call 202 POST /api/auth/password-reset "" '{"email": "nobody@example.com"}' >/dev/null
echo "password reset requested: the link goes to the address"
echo "OK"
