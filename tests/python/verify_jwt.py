"""Verifies a Doztra access token the way an independent backend would: PyJWT's PyJWKClient
fetches the service's JWKS, picks the key named by the token's kid, and PyJWT checks the EdDSA
signature, exp, iss and aud.

usage: verify_jwt.py JWKS_URL TOKEN ISSUER AUDIENCE EXPECTED_SUB valid|invalid
Exits 0 when the outcome is the expected one, printing it; 1 otherwise.
"""
import sys

import jwt

jwks_url, token, issuer, audience, expected_sub, expected = sys.argv[1:7]
client = jwt.PyJWKClient(jwks_url, cache_keys=False, cache_jwk_set=False)
try:
    signing_key = client.get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        signing_key.key,
        algorithms=["EdDSA"],
        audience=audience,
        issuer=issuer,
        options={"require": ["exp", "iat", "iss", "aud", "sub"]},
    )
    if claims["sub"] != expected_sub:
        raise SystemExit(f"wrong sub: {claims['sub']}")
    outcome = "valid"
except (jwt.exceptions.PyJWKClientError, jwt.exceptions.InvalidTokenError) as error:
    print(f"refused: {type(error).__name__}: {error}")
    outcome = "invalid"
print(outcome)
sys.exit(0 if outcome == expected else 1)
