"""What the web app's two email-link pages do, in Python. The service mails
`{APP_BASE_URL}/verify-email?token=...` and `{APP_BASE_URL}/reset-password?token=...`; the app
serves those pages, takes `token` from the URL and posts it to the API.

Usage: BASE_URL=... EMAIL=... VERIFY_TOKEN=... RESET_TOKEN=... python docs/examples/email_links.py
"""
import os
import sys

import requests

BASE_URL = os.environ.get("BASE_URL", "http://127.0.0.1:8000")
EMAIL = os.environ["EMAIL"]
NEW_PASSWORD = os.environ.get("NEW_PASSWORD", "a brand new passphrase")


def verify_email_page(token):
    """GET /verify-email?token=... in the app: returns the message to show."""
    r = requests.post(f"{BASE_URL}/api/auth/verify-email/{token}", timeout=30)
    if r.status_code == 200:
        return "Your address is confirmed."
    if r.status_code == 400 and r.json()["code"] == "invalid_or_expired_token":
        return "This link is invalid or has expired. Sign in and ask for a new one."
    sys.exit(f"FAIL: unexpected {r.status_code} {r.text}")


def reset_password_page(token, new_password):
    """The form of /reset-password?token=...: returns (ok, message)."""
    r = requests.post(f"{BASE_URL}/api/auth/reset-password",
                      json={"token": token, "new_password": new_password}, timeout=30)
    if r.status_code == 200:
        return True, "Password changed. Sign in with the new password."
    body = r.json()
    if r.status_code == 422:  # weak_password: show body["errors"][0]["message"] by the field
        return False, body["errors"][0]["message"]
    if r.status_code == 400:  # invalid_or_expired_token
        return False, "This link is invalid or has expired. Ask for a new one."
    sys.exit(f"FAIL: unexpected {r.status_code} {r.text}")


token = os.environ["VERIFY_TOKEN"]
assert verify_email_page(token) == "Your address is confirmed."
assert "invalid" in verify_email_page(token), "a link works once"

reset = os.environ["RESET_TOKEN"]
ok, message = reset_password_page(reset, "12345678")
assert not ok and "common" in message.lower(), message  # a weak password keeps the link usable
ok, message = reset_password_page(reset, NEW_PASSWORD)
assert ok, message
login = requests.post(f"{BASE_URL}/api/auth/login",
                      json={"email": EMAIL, "password": NEW_PASSWORD}, timeout=30)
assert login.status_code == 200, login.text
print("OK")
