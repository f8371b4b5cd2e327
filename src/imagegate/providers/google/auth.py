"""OAuth access tokens for Vertex AI from a service-account key, cached until shortly before expiry.

The flow is Google's "two-legged OAuth" for service accounts (RFC 7523):

1. sign a JWT with the account's RSA key: ``{"iss": client_email, "scope": "...", "aud": token_uri,
   "iat": now, "exp": now + 3600}``, header ``{"alg": "RS256", "typ": "JWT", "kid": private_key_id}``;
2. POST ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<jwt>`` to ``token_uri``;
3. use ``access_token`` as ``Authorization: Bearer`` until ``expires_in`` is nearly over.

``cryptography`` signs; the exchange goes through the gateway's one HTTP executor (passed in).
Neither the key nor the assertion is ever logged or put in an error message.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from imagegate.domain.errors import ProviderAuthentication, UpstreamBadResponse
from imagegate.providers.base import WireRequest, WireResponse

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME_S = 3600
# Refresh this long before the token expires, so a request never leaves with a token that dies
# on the way (Google's own libraries use a few minutes too).
REFRESH_MARGIN_S = 300.0

Send = Callable[[WireRequest], Awaitable[WireResponse]]


class ServiceAccountError(ValueError):
    """A service-account key file that cannot be used (the message never quotes the key)."""


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    """The parts of a service-account JSON key the token exchange needs."""

    client_email: str
    token_uri: str
    private_key_id: str | None = None
    project_id: str | None = None
    key: rsa.RSAPrivateKey | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_info(cls, info: Mapping[str, Any], *, origin: str = "service account") -> ServiceAccount:
        """Validate a parsed key file (``type: service_account``) and load its private key."""
        for name in ("client_email", "private_key", "token_uri"):
            if not isinstance(info.get(name), str) or info[name] == "":
                raise ServiceAccountError(f"{origin}: missing {name!r}")
        if info.get("type") not in (None, "service_account"):
            raise ServiceAccountError(f"{origin}: type is {info.get('type')!r}, expected 'service_account'")
        try:
            key = serialization.load_pem_private_key(info["private_key"].encode(), password=None)
        except (ValueError, TypeError):
            raise ServiceAccountError(f"{origin}: 'private_key' is not a PEM private key") from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ServiceAccountError(f"{origin}: 'private_key' must be an RSA key")
        key_id = info.get("private_key_id")
        project = info.get("project_id")
        return cls(
            client_email=info["client_email"],
            token_uri=info["token_uri"],
            private_key_id=key_id if isinstance(key_id, str) else None,
            project_id=project if isinstance(project, str) else None,
            key=key,
        )

    @classmethod
    def from_file(cls, path: str | Path) -> ServiceAccount:
        """Read and validate a key file."""
        try:
            info = orjson.loads(Path(path).read_bytes())
        except OSError as exc:
            raise ServiceAccountError(f"{path}: cannot read service-account file: {exc.strerror}") from None
        except orjson.JSONDecodeError:
            raise ServiceAccountError(f"{path}: not a JSON service-account key") from None
        if not isinstance(info, dict):
            raise ServiceAccountError(f"{path}: not a JSON service-account key")
        return cls.from_info(info, origin=str(path))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def signed_assertion(account: ServiceAccount, scopes: tuple[str, ...], now: float) -> str:
    """The RS256-signed JWT that asks ``account.token_uri`` for an access token."""
    assert account.key is not None
    header: dict[str, str] = {"alg": "RS256", "typ": "JWT"}
    if account.private_key_id is not None:
        header["kid"] = account.private_key_id
    issued = int(now)
    claims = {
        "iss": account.client_email,
        "scope": " ".join(scopes),
        "aud": account.token_uri,
        "iat": issued,
        "exp": issued + ASSERTION_LIFETIME_S,
    }
    signing_input = _b64url(orjson.dumps(header)) + "." + _b64url(orjson.dumps(claims))
    signature = account.key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + _b64url(signature)


def token_request(account: ServiceAccount, scopes: tuple[str, ...], now: float) -> WireRequest:
    """The token-exchange request for ``account`` (form-encoded, as RFC 7523 requires)."""
    body = urlencode({"grant_type": GRANT_TYPE, "assertion": signed_assertion(account, scopes, now)})
    return WireRequest(
        "POST", account.token_uri, {"content-type": "application/x-www-form-urlencoded"}, content=body.encode()
    )


def _token_from(response: WireResponse, account: ServiceAccount) -> tuple[str, float]:
    try:
        parsed = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        parsed = None
    if response.status >= 300:
        code = parsed.get("error") if isinstance(parsed, dict) and isinstance(parsed.get("error"), str) else None
        raise ProviderAuthentication(
            f"the token endpoint refused the service account {account.client_email} (HTTP {response.status})",
            provider_status=response.status,
            provider_code=code,
        )
    token = parsed.get("access_token") if isinstance(parsed, dict) else None
    lifetime = parsed.get("expires_in") if isinstance(parsed, dict) else None
    if not isinstance(token, str) or token == "" or not isinstance(lifetime, (int, float)):
        raise UpstreamBadResponse("the token endpoint's answer has no access_token/expires_in")
    return token, float(lifetime)


class AccessTokens:
    """Access tokens per (account, scopes), fetched on demand and reused until near expiry.

    One exchange at a time per account: concurrent requests wait for the same token rather than
    each signing and exchanging their own.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._tokens: dict[tuple[str, str, tuple[str, ...]], tuple[str, float]] = {}
        self._locks: dict[tuple[str, str, tuple[str, ...]], asyncio.Lock] = {}

    async def bearer(self, account: ServiceAccount, scopes: tuple[str, ...], send: Send) -> str:
        """A valid access token for ``account``; exchanges a new one when none is cached."""
        key = (account.client_email, account.token_uri, scopes)
        cached = self._tokens.get(key)
        if cached is not None and cached[1] - REFRESH_MARGIN_S > self._clock():
            return cached[0]
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(key)
            now = self._clock()
            if cached is not None and cached[1] - REFRESH_MARGIN_S > now:
                return cached[0]
            response = await send(token_request(account, scopes, now))
            token, lifetime = _token_from(response, account)
            self._tokens[key] = (token, now + lifetime)
            return token
