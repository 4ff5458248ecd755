"""Verifies webhook requests recorded by a test receiver with the official Standard Webhooks
library, and checks that it refuses the same requests tampered with.

Usage: verify_webhooks.py REQUESTS.json
REQUESTS.json: [{"secret": "whsec_...", "headers": {...}, "body": "..."}, ...]
Prints one line per request: "verified <type> <webhook-id>". Exits non-zero on any failure.
"""

import json
import sys

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def refused(webhook, body, headers):
    try:
        webhook.verify(body, headers)
    except WebhookVerificationError:
        return True
    return False


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        requests = json.load(f)
    assert requests, "no request to verify"
    for request in requests:
        webhook = Webhook(request["secret"])
        headers = request["headers"]
        body = request["body"]
        payload = webhook.verify(body.encode("utf-8"), headers)
        assert set(payload) == {"type", "timestamp", "data"}, payload
        # The library must refuse a changed body, another secret, another id and an old timestamp.
        assert refused(webhook, body + " ", headers), "a tampered body verified"
        other = Webhook("whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        assert refused(other, body, headers), "another secret verified"
        assert refused(webhook, body, {**headers, "webhook-id": headers["webhook-id"] + "x"})
        old = str(int(headers["webhook-timestamp"]) - 3600)
        assert refused(webhook, body, {**headers, "webhook-timestamp": old})
        print("verified", payload["type"], headers["webhook-id"])


if __name__ == "__main__":
    main()
