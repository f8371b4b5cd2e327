"""Google credentials in the sandbox: API keys (Gemini API) and OAuth tokens (Vertex AI).

- Gemini API paths take ``x-goog-api-key`` or ``?key=``. No key: 403 ``PERMISSION_DENIED``; a key
  outside ``SandboxConfig.api_keys`` (when set): 400 ``INVALID_ARGUMENT`` with ``ErrorInfo``
  reason ``API_KEY_INVALID``, as Google answers.
- ``POST /token`` is an OAuth 2.0 token endpoint for service accounts (RFC 7523): it checks the
  signed JWT (``RS256``, ``iss``/``aud``/``scope``/``iat``/``exp``) and, for accounts listed in
  ``SandboxConfig.google_service_accounts``, its signature against their public key; it answers
  ``{"access_token": "ya29.sandbox-...", "expires_in": 3599, "token_type": "Bearer"}``.
- Vertex paths take ``Authorization: Bearer <token>`` with a token this sandbox issued and that
  has not expired; otherwise 401 ``UNAUTHENTICATED``.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from imagegate.sandbox.config import SandboxState
from imagegate.sandbox.gemini_models import GoogleError

__all__ = ["TOKEN_LIFETIME_S", "check_api_key", "check_bearer", "token_routes"]

TOKEN_LIFETIME_S = 3599
_JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def check_api_key(state: SandboxState, request: Request) -> None:
    """Raise the error Google gives for a missing or refused API key."""
    key = request.headers.get("x-goog-api-key") or request.query_params.get("key") or ""
    if key.strip() == "":
        raise GoogleError(
            403,
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers (callers without "
            "established identity). Please use API Key or other form of API consumer identity to call "
            "this API.",
        )
    if state.config.api_keys is not None and key.strip() not in state.config.api_keys:
        raise GoogleError(
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            details=[
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                },
            ],
        )


def check_bearer(state: SandboxState, request: Request) -> None:
    """Raise 401 ``UNAUTHENTICATED`` unless the request carries a live token this sandbox issued."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    expires = state.google_tokens.get(token.strip()) if scheme.lower() == "bearer" else None
    if expires is None or expires <= time.time():
        raise GoogleError(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials. Expected OAuth 2 "
            "access token, login cookie or other valid authentication credential.",
            details=[
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "ACCESS_TOKEN_TYPE_UNSUPPORTED",
                    "domain": "googleapis.com",
                }
            ],
        )


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class _GrantError(Exception):
    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


def _check_assertion(state: SandboxState, assertion: str, token_url: str) -> None:
    pieces = assertion.split(".")
    if len(pieces) != 3:
        raise _GrantError("Invalid JWT: not three dot-separated parts.")
    try:
        header = orjson.loads(_b64url(pieces[0]))
        claims = orjson.loads(_b64url(pieces[1]))
        signature = _b64url(pieces[2])
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise _GrantError("Invalid JWT: a part is not base64url JSON.") from None
    if not isinstance(header, dict) or header.get("alg") != "RS256":
        raise _GrantError("Invalid JWT: alg must be RS256.")
    if not isinstance(claims, dict):
        raise _GrantError("Invalid JWT: claims must be an object.")
    now = time.time()
    for name in ("iss", "aud", "scope"):
        if not isinstance(claims.get(name), str) or claims[name] == "":
            raise _GrantError(f"Invalid JWT: missing claim '{name}'.")
    if claims["aud"] != token_url:
        raise _GrantError(f"Invalid JWT: aud must be {token_url}.")
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int) or not isinstance(exp, int) or exp <= iat or exp - iat > 3600:
        raise _GrantError("Invalid JWT: iat/exp must be integers at most an hour apart.")
    if exp <= now or iat > now + 300:
        raise _GrantError("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.")
    keys = dict(state.config.google_service_accounts)
    if keys:
        pem = keys.get(claims["iss"])
        if pem is None:
            raise _GrantError("Invalid JWT Signature.")
        public = serialization.load_pem_public_key(pem.encode())
        assert isinstance(public, rsa.RSAPublicKey)
        try:
            public.verify(signature, (pieces[0] + "." + pieces[1]).encode(), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise _GrantError("Invalid JWT Signature.") from None


def _oauth_error(description: str, status: int = 400) -> Response:
    return Response(
        orjson.dumps({"error": "invalid_grant", "error_description": description}),
        status_code=status,
        media_type="application/json",
    )


def token_routes(state: SandboxState) -> list[Route]:
    """``POST /token``: the OAuth token endpoint service-account keys point at in tests."""

    async def token(request: Request) -> Response:
        record = state.requests.start(str(request.scope.get("state", {}).get("request_id", "")), "POST", "/token")
        form = await request.form()
        try:
            if form.get("grant_type") != _JWT_GRANT:
                raise _GrantError(f"grant_type must be {_JWT_GRANT}")
            assertion = form.get("assertion")
            if not isinstance(assertion, str):
                raise _GrantError("Missing assertion.")
            _check_assertion(state, assertion, str(request.url.replace(query="")))
        except _GrantError as exc:
            record.status = 400
            return _oauth_error(exc.description)
        access = "ya29.sandbox-" + secrets.token_hex(16)
        state.google_tokens[access] = time.time() + TOKEN_LIFETIME_S
        body: dict[str, Any] = {"access_token": access, "expires_in": TOKEN_LIFETIME_S, "token_type": "Bearer"}
        record.status = 200
        return Response(orjson.dumps(body), media_type="application/json")

    return [Route("/token", token, methods=["POST"])]
