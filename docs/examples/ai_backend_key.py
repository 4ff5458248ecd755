"""An AI backend with a service API key, in Python with `requests`: it acts for the user named
in the app's request, with credentials of its own (no user token to relay, none to expire
during a long generation). Check -> call the model -> track with a request_id, retried safely
with the same request_id after a timeout or a 5xx; the 402 body.

DOZTRA_API_KEY is a key with usage:write and usage:read (an admin creates it with
`POST /api/admin/api-keys`, an operator with `doztra-auth create-api-key`); USER_ID the user the
request is for.
Usage: BASE_URL=http://127.0.0.1:8000 DOZTRA_API_KEY=dzk_... USER_ID=... python docs/examples/ai_backend_key.py
"""
import os
import sys
import time
import uuid

import requests

BASE_URL = os.environ.get("BASE_URL", "http://127.0.0.1:8000")
KEY = {"Authorization": f"Bearer {os.environ['DOZTRA_API_KEY']}"}
USER_ID = os.environ["USER_ID"]


class QuotaExceeded(Exception):
    """402: the month's tokens or the request type's units are used up (no model call)."""

    def __init__(self, body):
        super().__init__(body["detail"])
        self.code, self.limit, self.used = body["code"], body.get("limit"), body.get("used")
        self.reset_date = body.get("reset_date")


def refuse(response):
    body = response.json()
    if response.status_code == 402:
        raise QuotaExceeded(body)
    # 401 invalid_api_key: the key is wrong, revoked or expired (an operator must act);
    # 403 insufficient_scope / model_not_allowed; 404: no such active user.
    sys.exit(f"FAIL: {response.status_code} {body}")


def check(user_id, model, estimated_tokens):
    r = requests.post(f"{BASE_URL}/api/tokens/users/{user_id}/check", headers=KEY, timeout=10,
                      json={"request_type": "chat", "model": model,
                            "estimated_tokens": estimated_tokens})
    if r.status_code != 200:
        refuse(r)
    return r.json()


def track(user_id, usage, attempts=4):
    """Records one model call exactly once: every retry sends the same request_id."""
    for attempt in range(attempts):
        try:
            r = requests.post(f"{BASE_URL}/api/tokens/users/{user_id}/track", json=usage,
                              headers=KEY, timeout=10)
        except (requests.Timeout, requests.ConnectionError):
            r = None
        if r is not None and r.status_code == 200:
            return r.json()
        if r is not None and r.status_code < 500:
            refuse(r)
        time.sleep(0.5 * 2 ** attempt)
    raise RuntimeError("usage not recorded; keep it and retry later with the same request_id")


# 1. Check, 2. call the model (here: pretend), 3. track with a request_id made once per call.
answer = check(USER_ID, "gpt-3.5-turbo", estimated_tokens=1200)
print("allowed; tokens left this month:", answer["tokens_remaining"])
usage = {"request_type": "chat", "model": "gpt-3.5-turbo", "prompt_tokens": 420,
         "completion_tokens": 780, "request_id": f"req-{uuid.uuid4()}"}
first = track(USER_ID, usage)
assert first["duplicate"] is False, first
# A retry whose answer was lost: the same record, nothing counted twice.
again = track(USER_ID, usage)
assert again["duplicate"] is True and again["id"] == first["id"], again
print("tracked", first["id"], "-", first["tokens_used"], "tokens used this month")

# The user's counters, as the user's own GET /api/usage/me shows them.
usage_now = requests.get(f"{BASE_URL}/api/usage/users/{USER_ID}", headers=KEY, timeout=10)
assert usage_now.status_code == 200, usage_now.text
assert usage_now.json()["tokens"]["used"] == first["tokens_used"]

# 4. The month runs out: the call that crosses the limit is recorded in full, the next is 402.
track(USER_ID, {"request_type": "chat", "model": "gpt-3.5-turbo", "total_tokens": 100000,
                "request_id": f"req-{uuid.uuid4()}"})
try:
    check(USER_ID, "gpt-3.5-turbo", estimated_tokens=1)
    sys.exit("FAIL: allowed past the limit")
except QuotaExceeded as refusal:
    assert refusal.code == "token_limit_exceeded", refusal.code
    print(f"402: used {refusal.used} of {refusal.limit}; resets {refusal.reset_date}")
print("OK")
