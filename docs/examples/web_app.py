"""A web or mobile app's session, in Python with `requests`: register, sign in, call the API,
refresh with rotation, what reuse of a spent refresh token does, sign out, password reset.

Usage: BASE_URL=http://127.0.0.1:8000 python docs/examples/web_app.py
"""
import os
import sys
import uuid

import requests

BASE_URL = os.environ.get("BASE_URL", "http://127.0.0.1:8000")
EMAIL = os.environ.get("EMAIL", f"ada-{uuid.uuid4().hex[:12]}@example.com")
PASSWORD = os.environ.get("PASSWORD", "correct horse battery staple")


def expect(response, status, code=None):
    """The JSON body of `response`; exits 1 unless it has this status (and error code)."""
    body = response.json()
    if response.status_code != status or (code and body.get("code") != code):
        sys.exit(f"FAIL: {response.request.method} {response.url} answered "
                 f"{response.status_code} {body}, expected {status} {code or ''}")
    return body


class Session:
    """What an app keeps: the access token in memory, the refresh token in secure storage."""

    def __init__(self, tokens):
        self.access = tokens["access_token"]
        self.refresh = tokens["refresh_token"]

    def headers(self):
        return {"Authorization": f"Bearer {self.access}"}

    def rotate(self):
        """Refresh once; the old refresh token is spent, so store the new one at once."""
        tokens = expect(requests.post(f"{BASE_URL}/api/auth/refresh",
                                      json={"refresh_token": self.refresh}, timeout=30), 200)
        self.access, self.refresh = tokens["access_token"], tokens["refresh_token"]


# 1. Register: 201 with a token pair and the user (a verification email goes out).
body = expect(requests.post(f"{BASE_URL}/api/auth/register", json={
    "name": "Ada Lovelace", "email": EMAIL, "password": PASSWORD}, timeout=30), 201)
print("registered", body["user"]["id"], "on plan", body["user"]["subscription"]["plan"])

# 2. Sign in with an OAuth2 password-grant form (JSON {"email", "password"} works too).
session = Session(expect(requests.post(f"{BASE_URL}/api/auth/login", data={
    "username": EMAIL, "password": PASSWORD}, timeout=30), 200))

# 3. Call the API; on 401 invalid_token, refresh once and retry.
me = requests.get(f"{BASE_URL}/api/users/me", headers=session.headers(), timeout=30)
if me.status_code == 401 and me.json()["code"] == "invalid_token":
    session.rotate()
    me = requests.get(f"{BASE_URL}/api/users/me", headers=session.headers(), timeout=30)
print("me:", expect(me, 200)["email"])

# 4. Refresh with rotation.
spent = session.refresh
session.rotate()

# 5. A second tab refreshing with the same spent token within REFRESH_TOKEN_REUSE_INTERVAL (10 s)
#    gets the same successor: no second rotation, both tabs keep working.
twin = expect(requests.post(f"{BASE_URL}/api/auth/refresh", json={"refresh_token": spent},
                            timeout=30), 200)
assert twin["refresh_token"] == session.refresh, "the same successor"

# 6. One more rotation makes `spent` two generations old: presenting it is reuse, and the whole
#    sign-in is revoked, the newest refresh token included.
session.rotate()
expect(requests.post(f"{BASE_URL}/api/auth/refresh", json={"refresh_token": spent},
                     timeout=30), 401, "refresh_token_reused")
expect(requests.post(f"{BASE_URL}/api/auth/refresh", json={"refresh_token": session.refresh},
                     timeout=30), 401, "invalid_token")
print("reuse detected: the user signs in again")

# 7. Sign in again (JSON), then sign out: that refresh token stops working.
session = Session(expect(requests.post(f"{BASE_URL}/api/auth/login", json={
    "email": EMAIL, "password": PASSWORD}, timeout=30), 200))
expect(requests.post(f"{BASE_URL}/api/auth/logout", headers=session.headers(),
                     json={"refresh_token": session.refresh}, timeout=30), 200)
expect(requests.post(f"{BASE_URL}/api/auth/refresh", json={"refresh_token": session.refresh},
                     timeout=30), 401, "invalid_token")
print("signed out")

# 8. "Forgot password": 202 and the same body whether or not the account exists.
known = expect(requests.post(f"{BASE_URL}/api/auth/password-reset", json={"email": EMAIL},
                             timeout=30), 202)
unknown = expect(requests.post(f"{BASE_URL}/api/auth/password-reset",
                               json={"email": "nobody@example.com"}, timeout=30), 202)
assert known == unknown, (known, unknown)
print("OK")
