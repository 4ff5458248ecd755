"""A webhook receiver for Doztra Auth's outgoing webhooks, with the standard library's HTTP
server and the official Standard Webhooks library (`pip install standardwebhooks`): it verifies
each request's signature, handles each message once (by its webhook-id) and answers 2xx fast.

Usage: WEBHOOK_SECRET=whsec_... [PORT=8001] [EXIT_AFTER=n] python docs/examples/webhook_receiver.py
WEBHOOK_SECRET is the `secret` that POST /api/admin/webhooks answered (shown once). With
EXIT_AFTER, the receiver stops after handling that many messages and prints OK (the tests do).
"""
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

webhook = Webhook(os.environ["WEBHOOK_SECRET"])
handled = set()  # webhook-ids already handled: keep them in your database in production
exit_after = int(os.environ.get("EXIT_AFTER", "0"))


def handle(event):
    """Your business logic. Retries of a message carry the same webhook-id and never get here
    twice; keep this quick (or queue the work) so the answer goes back within seconds."""
    data = event["data"]
    if event["type"] in ("usage.threshold_crossed", "usage.limit_reached"):
        print(event["type"], data["unit"], data["threshold"], data["user_id"], flush=True)
    elif event["type"] == "subscription.updated":
        print(event["type"], data["previous_plan"], "->", data["plan"], data["status"], flush=True)
    elif event["type"] == "payment.failed":
        print(event["type"], data["plan"], data["decline_code"], flush=True)


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            # Checks webhook-signature over "{webhook-id}.{webhook-timestamp}.{body}" with the
            # secret, and refuses a timestamp more than 5 minutes away (replays).
            event = webhook.verify(body, dict(self.headers))
        except WebhookVerificationError:
            self.send_response(400)
            self.end_headers()
            return
        message_id = self.headers["webhook-id"]
        if message_id not in handled:
            handled.add(message_id)
            handle(event)
        self.send_response(204)  # any 2xx ends the delivery; anything else is retried
        self.end_headers()

    def log_message(self, *args):
        pass


server = HTTPServer(("127.0.0.1", int(os.environ.get("PORT", "8001"))), Receiver)
print("listening", flush=True)
while not exit_after or len(handled) < exit_after:
    server.handle_request()
print("OK")
sys.exit(0)
