"""A backend verifying a user's access token locally, with PyJWT and the service's JWKS: no
shared secret, no call to the service per request. PyJWKClient fetches the keys once, caches
them, and fetches again when a token names a key it does not know (a rolled key).

Usage: BASE_URL=http://127.0.0.1:8000 USER_TOKEN=eyJ... python docs/examples/verify_token.py
"""
import os
import sys

import jwt
import requests

BASE_URL = os.environ.get("BASE_URL", "http://127.0.0.1:8000")

# Once at start-up: where the keys are, and the issuer to expect.
discovery = requests.get(f"{BASE_URL}/.well-known/openid-configuration", timeout=10).json()
jwks = jwt.PyJWKClient(discovery["jwks_uri"], cache_keys=True, lifespan=300)


def user_of(token):
    """The user id of a valid access token; raises jwt.InvalidTokenError otherwise."""
    key = jwks.get_signing_key_from_jwt(token)
    claims = jwt.decode(token, key.key, algorithms=["EdDSA"], issuer=discovery["issuer"],
                        audience="doztra",  # JWT_AUDIENCE
                        options={"require": ["exp", "iss", "aud", "sub"]})
    return claims["sub"]


print("user:", user_of(os.environ["USER_TOKEN"]))
try:
    user_of(os.environ["USER_TOKEN"][:-4] + "AAAA")
    sys.exit("FAIL: a tampered token verified")
except (jwt.InvalidTokenError, jwt.PyJWKClientError) as refusal:
    print("tampered token refused:", type(refusal).__name__)
print("OK")
