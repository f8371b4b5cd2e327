"""Signed, expiring download links for images the gateway serves itself (``GET /files/{key}``).

A link carries its expiry and an HMAC-SHA256 over the object key and that expiry, keyed with a
server secret; the download route accepts it only while unexpired and only with the exact
signature, compared in constant time. Changing the key, the expiry or the signature breaks it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from urllib.parse import quote, urlencode


class UrlSigner:
    """Signs and checks ``/files/{key}?expires=..&sig=..`` links with one server secret."""

    def __init__(self, secret: bytes, *, base_url: str | None = None) -> None:
        if len(secret) < 16:
            raise ValueError("the URL signing secret must be at least 16 bytes")
        self._secret = secret
        # The gateway's public address; None: links are root-relative (the API layer completes
        # them with the address the client called).
        self._base_url = None if base_url is None else base_url.rstrip("/")

    def signature(self, key: str, expires: int) -> str:
        """The signature of ``key`` valid until ``expires`` (unix seconds), URL-safe base64."""
        mac = hmac.new(self._secret, f"{key}\n{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def url(self, key: str, expires_at: datetime) -> str:
        """The download link for ``key``, valid until ``expires_at``."""
        expires = int(expires_at.timestamp())
        query = urlencode({"expires": expires, "sig": self.signature(key, expires)})
        path = f"/files/{quote(key, safe='/')}?{query}"
        return path if self._base_url is None else self._base_url + path

    def verify(self, key: str, expires: str | None, signature: str | None, *, now: datetime) -> bool:
        """Whether a presented link is genuine and unexpired."""
        if expires is None or signature is None or not expires.isdigit() or len(expires) > 12:
            return False
        expected = self.signature(key, int(expires))
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            return False
        return int(expires) > now.timestamp()
