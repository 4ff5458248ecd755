"""An AI backend's recipe, in Python with `requests`: check -> call the model -> track with a
request_id, retried safely with the same request_id after a timeout or a 5xx; 402 and 403.

USER_TOKEN is the end user's access token (the app sends it with its request). Without one, the
example registers a throw-away free account, so it runs on its own.
Usage: BASE_URL=http://127.0.0.1:8000 [USER_TOKEN=...] python docs/examples/ai_backend.py
"""
import os
import sys
import time
import uuid

import requests

BASE_URL = os.environ.get("BASE_URL", "http://127.0.0.1:8000")


class QuotaExceeded(Exception):
    """402: the month's tokens or the request type's units are used up (no model call)."""

    def __init__(self, body):
        super().__init__(body["detail"])
        self.code, self.limit, self.used = body["code"], body.get("limit"), body.get("used")
        self.reset_date = body.get("reset_date")


class ModelNotAllowed(Exception):
    """403 model_not_allowed: the plan's tier is below the model's."""


def refuse(response):
    body = response.json()
    if response.status_code == 402:
        raise QuotaExceeded(body)
    if response.status_code == 403 and body["code"] == "model_not_allowed":
        raise ModelNotAllowed(body["detail"])
    sys.exit(f"FAIL: {response.status_code} {body}")


def check(token, model, estimated_tokens=None):
    """May this user call `model` now? Reads only: the answer is not a reservation."""
    payload = {"request_type": "chat", "model": model}
    if estimated_tokens is not None:
        payload["estimated_tokens"] = estimated_tokens
    r = requests.post(f"{BASE_URL}/api/tokens/me/check", json=payload,
                      headers={"Authorization": f"Bearer {token}"}, timeout=10)
    if r.status_code != 200:
        refuse(r)
    return r.json()


def track(token, usage, attempts=4):
    """Records one model call exactly once. `usage` carries a request_id made once per call;
    every retry (timeout, connection error, 5xx) sends the same one, so a lost answer never
    counts twice. A 4xx is final."""
    for attempt in range(attempts):
        try:
            r = requests.post(f"{BASE_URL}/api/tokens/me/track", json=usage,
                              headers={"Authorization": f"Bearer {token}"}, timeout=10)
        except (requests.Timeout, requests.ConnectionError):
            r = None
        if r is not None and r.status_code == 200:
            return r.json()
        if r is not None and r.status_code < 500:
            refuse(r)
        time.sleep(0.5 * 2 ** attempt)
    raise RuntimeError("usage not recorded; keep it and retry later with the same request_id")


token = os.environ.get("USER_TOKEN")
throwaway = not token
if throwaway:
    r = requests.post(f"{BASE_URL}/api/auth/register", json={
        "name": "Demo", "email": f"demo-{uuid.uuid4().hex[:12]}@example.com",
        "password": "correct horse battery staple"}, timeout=30)
    assert r.status_code == 201, r.text
    token = r.json()["access_token"]

# 1. Check before spending money on the model.
answer = check(token, "gpt-3.5-turbo", estimated_tokens=1200)
print("allowed; tokens left this month:", answer["tokens_remaining"])

# 2. Call the model (here: pretend) and 3. track what it used, with a fresh request_id.
usage = {"request_type": "chat", "model": "gpt-3.5-turbo", "prompt_tokens": 420,
         "completion_tokens": 780, "request_id": f"req-{uuid.uuid4()}",
         "conversation_id": "conv-42"}
first = track(token, usage)
assert first["duplicate"] is False
print("tracked", first["id"], "-", first["tokens_used"], "tokens used this month")

# A retry whose first answer was lost: the same record, "duplicate": true, nothing counted twice.
again = track(token, usage)
assert again["duplicate"] is True and again["id"] == first["id"], again
assert again["tokens_used"] == first["tokens_used"]

# 4. A model above the plan: fall back to the best model the user may call.
try:
    check(token, "gpt-4")
    sys.exit("FAIL: gpt-4 allowed on a free plan")
except ModelNotAllowed as refusal:
    models = requests.get(f"{BASE_URL}/api/models", headers={"Authorization": f"Bearer {token}"},
                          timeout=10).json()
    allowed = [m["name"] for m in models["models"] if m["allowed"]]
    print("gpt-4 refused:", refusal, "- allowed:", allowed)

# 5. Out of tokens (only on the throw-away account: it spends the month). The request that
#    crosses the limit is recorded in full; the next check is 402 with limit, used, reset_date.
if throwaway:
    track(token, {"request_type": "chat", "model": "gpt-3.5-turbo", "total_tokens": 100000,
                  "request_id": f"req-{uuid.uuid4()}"})
    try:
        check(token, "gpt-3.5-turbo")
        sys.exit("FAIL: allowed past the limit")
    except QuotaExceeded as refusal:
        assert refusal.code == "token_limit_exceeded", refusal.code
        assert refusal.used >= refusal.limit
        print(f"402: used {refusal.used} of {refusal.limit}; resets {refusal.reset_date}")
print("OK")
