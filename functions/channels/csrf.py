"""CSRF protection for the web form without a server session.

GET issues a token `TIMESTAMP.NONCE.SIGNATURE` (signature = HMAC-SHA256 over timestamp and
nonce with a key derived from the settings) and sets the nonce in a `SameSite=Strict`,
HttpOnly cookie: a signed double-submit token. A POST is accepted when the signature is valid,
the token is younger than `MAX_AGE` and the token is bound to this browser, either because
the cookie carries the same nonce, or, for a browser that refuses cookies or has the form open
in two tabs, because the browser's `Origin` header names this very site. A page on another
site can obtain a validly signed token of its own, but can neither set our cookie nor forge
the browser's Origin, so it cannot make a citizen's browser submit.

The key: `KMC_FORM_SECRET` when set; otherwise derived from `KMC_ADMIN_TOKEN` (a one-way
HMAC, so the form never reveals the admin token); otherwise random per instance (fine for one
local server; in the cloud set one of the two, or a token issued by one instance fails on
another and the citizen is asked to press Kirim once more).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from urllib.parse import urlsplit

COOKIE = "kmc_form"
MAX_AGE_SECONDS = 24 * 3600  # a citizen may leave the form open for a long time
CLOCK_SKEW_SECONDS = 300


@cache
def _instance_key() -> bytes:
    return secrets.token_bytes(32)


def form_key(settings) -> bytes:
    """The signing key for this deployment (see the module docstring)."""
    if settings.form_secret:
        return hashlib.sha256(b"kmc-form|" + settings.form_secret.encode()).digest()
    if settings.admin_token:
        return hmac.new(settings.admin_token.encode(), b"kmc-form-csrf-v1", hashlib.sha256).digest()
    return _instance_key()


def _sign(key: bytes, stamp: int, nonce: str) -> str:
    mac = hmac.new(key, f"{stamp}.{nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:24]).decode().rstrip("=")


@dataclass(frozen=True)
class Issued:
    token: str  # the hidden form field
    nonce: str  # the cookie value


def issue(key: bytes, now: datetime, nonce: str = "") -> Issued:
    """A fresh token; reuse `nonce` (the browser's current cookie) so open tabs stay valid."""
    nonce = nonce if _plausible_nonce(nonce) else secrets.token_urlsafe(18)
    stamp = int(now.timestamp())
    return Issued(f"{stamp}.{nonce}.{_sign(key, stamp, nonce)}", nonce)


def _plausible_nonce(nonce: str) -> bool:
    return 16 <= len(nonce) <= 64 and all(c.isalnum() or c in "-_" for c in nonce)


def same_origin(origin: str, host: str, public_url: str = "") -> bool:
    """True when the browser's Origin header names this host (or the configured public URL)."""
    if not origin or origin == "null":
        return False
    netloc = urlsplit(origin).netloc.lower()
    allowed = {host.lower()}
    if public_url:
        allowed.add(urlsplit(public_url).netloc.lower())
    return bool(netloc) and netloc in allowed


def verify(key: bytes, token: str, now: datetime, *, cookie: str, origin_ok: bool) -> str:
    """'' when the token is good, else the reason ('missing', 'forged', 'expired', 'unbound')."""
    parts = (token or "").split(".")
    if len(parts) != 3 or not parts[0].isdigit():
        return "missing" if not token else "forged"
    stamp, nonce, signature = int(parts[0]), parts[1], parts[2]
    if not hmac.compare_digest(signature, _sign(key, stamp, nonce)):
        return "forged"
    age = now.timestamp() - stamp
    if age > MAX_AGE_SECONDS or age < -CLOCK_SKEW_SECONDS:
        return "expired"
    if cookie and hmac.compare_digest(cookie, nonce):
        return ""
    return "" if origin_ok else "unbound"
