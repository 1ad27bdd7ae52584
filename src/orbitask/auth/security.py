"""Password hashing (argon2id, off the event loop), JWT access tokens, random secrets."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import time
import uuid
from typing import Any

import jwt
from anyio import to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from orbitask.core.errors import Unauthorized

JWT_ALGORITHM = "HS256"
API_TOKEN_PREFIX = "ot_"
VERIFIED_TOKENS_KEPT = 10_000  # per process: about 3 MB


class Passwords:
    """argon2id hashing with configurable cost; runs in a worker thread."""

    def __init__(self, time_cost: int, memory_cost: int) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=1)
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        """A new argon2id hash."""
        return await to_thread.run_sync(self._hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        """Whether `password` matches; spends the same work when there is no user."""

        def check() -> bool:
            try:
                return self._hasher.verify(stored or self._dummy, password) and stored is not None
            except (VerificationError, InvalidHashError):
                return False

        return await to_thread.run_sync(check)


def key_id(secret: str) -> str:
    """A key's public id: changes with the key, reveals nothing about it."""
    return hashlib.sha256(b"orbitask-kid:" + secret.encode()).hexdigest()[:12]


class AccessTokens:
    """Short-lived signed JWTs. Signed with the current key; verified with it or any previous key (rotation)."""

    def __init__(self, secret: str, ttl_seconds: int, previous: list[str] | tuple[str, ...] = ()) -> None:
        self._secret = secret
        self._kid = key_id(secret)
        self._keys = {key_id(k): k for k in (*previous, secret)}
        self.ttl = ttl_seconds
        # token -> its verified claims: a client sends the same token with every request until it
        # expires, and checking the signature and claims again cost more than the rest of a cached read
        self._verified: dict[tuple[str, str], dict[str, Any]] = {}

    def issue(
        self, user_id: uuid.UUID, *, csrf: str | None = None, now: dt.datetime | None = None,
        typ: str = "access", ttl: int | None = None, family: uuid.UUID | None = None,
    ) -> str:
        """A token for `user_id`, bound to a CSRF token in cookie mode and to its sign-in (refresh family)."""
        now = now or dt.datetime.now(dt.UTC)
        claims: dict[str, Any] = {
            "sub": str(user_id),
            "iat": now,
            "exp": now + dt.timedelta(seconds=ttl or self.ttl),
            "jti": secrets.token_hex(8),
            "typ": typ,
        }
        if csrf:
            claims["csrf"] = csrf
        if family:
            claims["fam"] = str(family)
        return jwt.encode(claims, self._secret, algorithm=JWT_ALGORITHM, headers={"kid": self._kid})

    def verify(self, token: str, typ: str = "access") -> dict[str, Any]:
        """The claims of a valid token; Unauthorized with a reason otherwise.

        A token verified before is not checked again until its expiry (revocation is checked by the
        callers, on every request).
        """
        known = self._verified.get((token, typ))
        if known is not None:
            if known["exp"] > time.time():
                return dict(known)
            del self._verified[(token, typ)]
        claims = self._verify(token, typ)
        if len(self._verified) >= VERIFIED_TOKENS_KEPT:
            del self._verified[next(iter(self._verified))]  # the oldest
        self._verified[(token, typ)] = claims
        return dict(claims)

    def _verify(self, token: str, typ: str) -> dict[str, Any]:
        try:
            key = self._keys.get(jwt.get_unverified_header(token).get("kid", ""))
            if key is None:  # signed with a key this node does not hold (retired, or never ours)
                raise jwt.InvalidTokenError("unknown key id")
            claims = jwt.decode(
                token, key, algorithms=[JWT_ALGORITHM], options={"require": ["exp", "sub", "iat"]}
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("The access token has expired; refresh it.") from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthorized("The access token is not valid.") from exc
        if claims.get("typ") != typ:
            raise Unauthorized("The access token is not valid.")
        try:
            claims["sub"] = uuid.UUID(claims["sub"])
        except (ValueError, TypeError) as exc:
            raise Unauthorized("The access token is not valid.") from exc
        return claims

    def claims_or_none(self, token: str | None) -> dict[str, Any] | None:
        """The claims of a valid access token, or None (no exceptions)."""
        if not token:
            return None
        try:
            return self.verify(token)
        except Unauthorized:
            return None

    def subject(self, token: str) -> uuid.UUID | None:
        """The user a valid token names, or None (no exceptions)."""
        try:
            return self.verify(token)["sub"]
        except Unauthorized:
            return None


def random_token(nbytes: int = 32) -> str:
    """A URL-safe random secret."""
    return secrets.token_urlsafe(nbytes)


def digest(secret: str) -> str:
    """SHA-256 of a high-entropy secret (tokens, not passwords)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_api_token() -> tuple[str, str]:
    """A personal API token and its display prefix."""
    prefix = secrets.token_hex(4)
    return f"{API_TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}", prefix
