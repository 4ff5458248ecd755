"""Asks a live server's /health with the `requests` library: proves the test Python works."""
import os
import sys

import requests

base = os.environ["DOZTRA_URL"]
response = requests.get(f"{base}/health", timeout=10)
if response.status_code != 200:
    sys.exit(f"/health answered {response.status_code}: {response.text}")
body = response.json()
if body.get("status") != "ok":
    sys.exit(f"/health body: {body}")
print(body["status"])
