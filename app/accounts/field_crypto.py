"""Encryption of secrets that must be read back, such as authenticator keys.

A TOTP key cannot be stored as a hash: the server needs it to compute the current code. It is
stored encrypted with AES-256-GCM under a key that is not in the database: SAFECOACH_FIELD_KEY
from the environment (the stage's vault; 32 bytes, url-safe base64), or, when that is not set, a
key derived with HKDF-SHA256 from SECRET_KEY (also from the environment). A copy of the database
alone therefore holds no usable key.

Each value is bound to its place (`context`, e.g. "totp:<user id>") as associated data, so a
ciphertext copied into another row does not decrypt. Stored form: "v1:" + url-safe base64 of
nonce (12 bytes) and ciphertext.
"""

import base64
import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

PREFIX = "v1:"
NONCE_BYTES = 12


class DecryptionError(ValueError):
    """The value was not made with this key for this place."""


def _configured_key() -> str:
    return getattr(settings, "SAFECOACH_FIELD_KEY", "") or os.environ.get("SAFECOACH_FIELD_KEY", "")


def field_key() -> bytes:
    """The 32-byte key: SAFECOACH_FIELD_KEY, or HKDF-SHA256 of SECRET_KEY."""
    configured = _configured_key()
    if configured:
        try:
            key = base64.urlsafe_b64decode(configured + "=" * (-len(configured) % 4))
        except ValueError:
            key = b""
        if len(key) != 32:
            raise ImproperlyConfigured(
                "SAFECOACH_FIELD_KEY must be 32 bytes in url-safe base64; make one with "
                "python -c 'import base64,os;print(base64.urlsafe_b64encode(os.urandom(32)).decode())'"
            )
        return key
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"safecoach field encryption v1"
    ).derive(settings.SECRET_KEY.encode())


def encrypt(plain: str, context: str) -> str:
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = AESGCM(field_key()).encrypt(nonce, plain.encode(), context.encode())
    return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()


def decrypt(stored: str, context: str) -> str:
    if not stored.startswith(PREFIX):
        raise DecryptionError("not an encrypted value")
    try:
        raw = base64.urlsafe_b64decode(stored[len(PREFIX) :])
        plain = AESGCM(field_key()).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
    except (ValueError, InvalidTag):
        raise DecryptionError("the value does not decrypt with this key and context") from None
    return plain.decode()


def is_encrypted(stored: str) -> bool:
    return stored.startswith(PREFIX)
