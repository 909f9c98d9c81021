"""Telephony provider adapters shipped with Callboard: sim, webhook, asterisk.

Each module is a plugin (entry point group `callboard`) implementing the
`callboard_telephony_providers` hook of `callboard.plugins`. `sign` and `verify` are the
HMAC-SHA256 scheme of the webhook provider (and of any relay that posts to Callboard).
"""
from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

from callboard.plugins import ProviderError

SIGNATURE = "X-Callboard-Signature"
TIMESTAMP = "X-Callboard-Timestamp"
MAX_SKEW = 300  # seconds a signed request stays valid (replays older than this fail)


def sign(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The headers that sign `body`: `sha256=HEX(HMAC(secret, "TIMESTAMP." + body))`."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    mac = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {TIMESTAMP: ts, SIGNATURE: f"sha256={mac}"}


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by name, case-insensitively."""
    low = name.lower()
    return next((v for k, v in headers.items() if k.lower() == low), None)


def verify(secret: str | None, body: bytes, headers: Mapping[str, str],
           now: float | None = None) -> None:
    """ProviderError (401) unless `headers` sign `body` with `secret`, recently."""
    if not secret:
        raise ProviderError("the tenant has no telephony.secret to check signatures with",
                            401)
    ts, sig = header(headers, TIMESTAMP), header(headers, SIGNATURE)
    if not ts or not sig:
        raise ProviderError(f"missing {SIGNATURE} or {TIMESTAMP} header", 401)
    try:
        age = abs((time.time() if now is None else now) - int(ts))
    except ValueError:
        raise ProviderError(f"{TIMESTAMP} is not a Unix time", 401) from None
    if age > MAX_SKEW:
        raise ProviderError(f"{TIMESTAMP} is more than {MAX_SKEW} s away from now", 401)
    expected = sign(secret, body, int(ts))[SIGNATURE]
    if not hmac.compare_digest(expected, sig.strip()):
        raise ProviderError("the signature does not match the body", 401)
