"""Secrets that prove something: one-time codes, backup codes, link tokens, TOTP.

Codes and tokens are stored only as keyed hashes (HMAC-SHA256 with the site's SECRET_KEY), so a
copy of the database gives nobody a working code. They are random and short-lived or single-use,
so a fast keyed hash is enough; passwords are different and use Argon2id.
"""

import base64
import hmac
import secrets
import struct
import time
from hashlib import sha1, sha256
from urllib.parse import quote, urlencode

from django.conf import settings

CODE_DIGITS = 6
TOTP_STEP = 30
TOTP_DRIFT_STEPS = 1  # accept the previous and the next 30-second step too
BACKUP_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no look-alikes (i/l/1, o/0)


def keyed_hash(*parts) -> str:
    message = "\x1f".join(str(p) for p in parts).encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, sha256).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def new_numeric_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def new_backup_code() -> str:
    chars = "".join(secrets.choice(BACKUP_CODE_ALPHABET) for _ in range(8))
    return f"{chars[:4]}-{chars[4:]}"


def normalise_backup_code(text: str) -> str:
    chars = "".join(ch for ch in text.lower() if ch.isalnum())
    return f"{chars[:4]}-{chars[4:]}" if len(chars) == 8 else ""


def new_token() -> str:
    return secrets.token_urlsafe(32)


# --- TOTP (RFC 6238 with the RFC 4226 truncation), SHA-1, 6 digits, 30-second steps ----------


def new_totp_secret() -> str:
    return base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")


def _b32decode(secret: str) -> bytes:
    padded = secret.upper() + "=" * (-len(secret) % 8)
    return base64.b32decode(padded)


def hotp(secret: str, counter: int, digits: int = CODE_DIGITS) -> str:
    digest = hmac.new(_b32decode(secret), struct.pack(">Q", counter), sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 10**digits:0{digits}d}"


def totp_step(at: float | None = None) -> int:
    return int((time.time() if at is None else at) // TOTP_STEP)


def totp_now(secret: str, at: float | None = None) -> str:
    return hotp(secret, totp_step(at))


def totp_match(secret: str, code: str, after_step: int | None, at: float | None = None):
    """The time step `code` belongs to, or None. Steps up to `after_step` are spent (no replay)."""
    current = totp_step(at)
    for step in range(current - TOTP_DRIFT_STEPS, current + TOTP_DRIFT_STEPS + 1):
        if after_step is not None and step <= after_step:
            continue
        if same(hotp(secret, step), code):
            return step
    return None


def totp_uri(secret: str, account: str, issuer: str = "safecoach") -> str:
    label = quote(f"{issuer}:{account}")
    query = urlencode({"secret": secret, "issuer": issuer, "digits": CODE_DIGITS})
    return f"otpauth://totp/{label}?{query}"
