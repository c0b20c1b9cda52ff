"""Encryption of stored credentials (storage backend secrets, customer database passwords).

Credentials are sealed with Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) under a
key derived from the server key with HKDF, so the server key itself never encrypts anything
and other uses of it (signing) cannot be confused with this one. A sealed value carries no
plain text; opening one sealed under another server key fails loudly instead of returning
garbage.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_PURPOSE = b"workspace stored credentials v1"


class CredentialsUnreadable(Exception):
    """A sealed value could not be opened: the server key changed or the value was altered."""


def _fernet(server_key: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PURPOSE).derive(
        server_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def seal(server_key: str, secret: dict[str, Any]) -> str:
    """Encrypt a mapping of credentials (JSON-serialisable) into an opaque ASCII token."""
    return _fernet(server_key).encrypt(json.dumps(secret, sort_keys=True).encode()).decode()


def open_sealed(server_key: str, token: str) -> dict[str, Any]:
    """Decrypt what :func:`seal` produced with the same server key."""
    try:
        data = _fernet(server_key).decrypt(token.encode())
    except InvalidToken:
        raise CredentialsUnreadable(
            "stored credentials cannot be decrypted: the server key (WORKSPACE_SECRET_KEY) "
            "is not the one they were saved with; enter them again"
        ) from None
    value: dict[str, Any] = json.loads(data)
    return value
