"""Console sessions: a signed cookie naming who signed in, with a server-checked expiry, and the
CSRF tokens every form carries.

The cookie holds no key: only a random session id, the signer's name (``master`` or the key's
name), the key's id, the role and the expiry, signed with HMAC-SHA256. Any replica or worker that
shares the signing secret accepts it (the secret defaults to one derived from the master key).
The expiry inside the signed payload is what counts, whatever the browser keeps. Signing out
deletes the cookie and remembers the session id as ended in this process.

CSRF: a signed-in form carries ``HMAC(secret, "csrf:" + session id)``; the sign-in form (before any
session exists) carries ``HMAC(secret, "signin:" + nonce)`` for a nonce in a short-lived cookie
(double submit). Both are compared in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import orjson

ConsoleRole = Literal["admin", "admin-read"]
CONSOLE_ROLES: tuple[ConsoleRole, ...] = ("admin", "admin-read")
SESSION_COOKIE = "imagegate_console"
SIGNIN_COOKIE = "imagegate_console_signin"
_SIGNIN_TTL_S = 3600


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    """A signed-in operator: ``who`` is ``master`` or a key's name; ``key_id`` is None for the master key."""

    sid: str
    who: str
    key_id: int | None
    role: ConsoleRole
    expires_at: int

    @property
    def can_change(self) -> bool:
        """Whether this session may change anything (``admin-read`` only looks)."""
        return self.role == "admin"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signing_secret(console_secret: str | None, master_key: str | None) -> bytes:
    """The session signing key: the configured one, else derived from the master key, else random
    (then sessions last only as long as this process, and only it accepts them)."""
    if console_secret is not None and console_secret != "":
        return console_secret.encode()
    if master_key is not None:
        return hmac.new(master_key.encode(), b"imagegate console sessions v1", hashlib.sha256).digest()
    return secrets.token_bytes(32)


class ConsoleSessions:
    """Issues, reads and ends console sessions, and makes and checks their CSRF tokens."""

    def __init__(self, secret: bytes, *, ttl_s: float, clock: Callable[[], float] = time.time) -> None:
        self._secret = secret
        self._ttl_s = ttl_s
        self._clock = clock
        self._ended: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def ttl_s(self) -> float:
        """How long a sign-in lasts."""
        return self._ttl_s

    def _sign(self, message: str) -> str:
        return _b64(hmac.new(self._secret, message.encode(), hashlib.sha256).digest())

    def issue(self, who: str, key_id: int | None, role: ConsoleRole) -> tuple[str, ConsoleSession]:
        """A new session and its cookie value."""
        session = ConsoleSession(
            sid=secrets.token_urlsafe(16),
            who=who,
            key_id=key_id,
            role=role,
            expires_at=int(self._clock() + self._ttl_s),
        )
        payload = _b64(
            orjson.dumps({"sid": session.sid, "who": who, "kid": key_id, "role": role, "exp": session.expires_at})
        )
        return f"{payload}.{self._sign('session:' + payload)}", session

    def read(self, cookie: str | None) -> ConsoleSession | None:
        """The session a cookie names, or None when it is missing, forged, expired or ended."""
        if cookie is None or cookie.count(".") != 1:
            return None
        payload, signature = cookie.split(".")
        if not hmac.compare_digest(signature, self._sign("session:" + payload)):
            return None
        try:
            data = orjson.loads(_unb64(payload))
        except (ValueError, orjson.JSONDecodeError):
            return None
        now = self._clock()
        if not isinstance(data, dict) or data.get("role") not in CONSOLE_ROLES or int(data.get("exp", 0)) <= now:
            return None
        with self._lock:
            if data["sid"] in self._ended:
                return None
        return ConsoleSession(
            sid=str(data["sid"]),
            who=str(data["who"]),
            key_id=data.get("kid"),
            role=data["role"],
            expires_at=data["exp"],
        )

    def end(self, session: ConsoleSession) -> None:
        """Sign out: this process refuses the session from now on (the browser's cookie is deleted too)."""
        now = int(self._clock())
        with self._lock:
            self._ended[session.sid] = session.expires_at
            # Forget ended sessions that have expired anyway, so the set stays small.
            for sid in [sid for sid, expires in self._ended.items() if expires <= now]:
                del self._ended[sid]

    def csrf_token(self, session: ConsoleSession) -> str:
        """The token every form of this session carries."""
        return self._sign("csrf:" + session.sid)

    def csrf_ok(self, session: ConsoleSession, presented: str | None) -> bool:
        """Whether ``presented`` is this session's CSRF token."""
        return presented is not None and hmac.compare_digest(presented, self.csrf_token(session))

    def signin_nonce(self) -> tuple[str, str]:
        """A nonce for the sign-in cookie and the token its form carries."""
        nonce = f"{int(self._clock()) + _SIGNIN_TTL_S}:{secrets.token_urlsafe(16)}"
        return nonce, self._sign("signin:" + nonce)

    def signin_ok(self, nonce: str | None, presented: str | None) -> bool:
        """Whether the sign-in form's token matches its unexpired cookie nonce."""
        if nonce is None or presented is None:
            return False
        expires, _, _ = nonce.partition(":")
        if not expires.isdigit() or int(expires) <= self._clock():
            return False
        return hmac.compare_digest(presented, self._sign("signin:" + nonce))
