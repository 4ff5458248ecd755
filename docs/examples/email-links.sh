#!/usr/bin/env bash
# What the web app's two email-link pages do, with curl. The service mails
#   {APP_BASE_URL}/verify-email?token=...    and    {APP_BASE_URL}/reset-password?token=...
# and the app serves those pages: each takes `token` from its URL and posts it to the API.
# Usage: BASE_URL=... EMAIL=... VERIFY_TOKEN=... RESET_TOKEN=... docs/examples/email-links.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"
: "${EMAIL:?email of the account}" "${VERIFY_TOKEN:?token of a verification link}" \
  "${RESET_TOKEN:?token of a password-reset link}"
NEW_PASSWORD="${NEW_PASSWORD:-a brand new passphrase}"

# /verify-email?token=...: one POST, no body, no sign-in needed.
call 200 POST "/api/auth/verify-email/$VERIFY_TOKEN" >/dev/null
echo "address verified"
# A link works once (the page shows "invalid or expired link" on a 400).
body="$(call 400 POST "/api/auth/verify-email/$VERIFY_TOKEN")"
expect_code "$body" invalid_or_expired_token

# /reset-password?token=...: a form asks for the new password, then posts both.
call 200 POST /api/auth/reset-password "" \
  "$(jq -n --arg t "$RESET_TOKEN" --arg p "$NEW_PASSWORD" '{token: $t, new_password: $p}')" >/dev/null
echo "password changed: every session of the account was signed out"
# The user signs in with the new password.
call 200 POST /api/auth/login "" \
  "$(jq -n --arg e "$EMAIL" --arg p "$NEW_PASSWORD" '{email: $e, password: $p}')" >/dev/null
echo "OK"
