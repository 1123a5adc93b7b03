"""Encryption of biometric data at rest (selfies, reference photos, face encodings).

AES-256-GCM with a key ring from REPORTIN_ENCRYPTION_KEYS ("id:base64key,id:base64key",
newest first). Every blob names the key that sealed it, so old data stays readable after a
new key is put first; `manage.py reencrypt` moves old blobs to the newest key.

Blob layout: b"RIE1" | key-id length (1 byte) | key id | 12-byte nonce | ciphertext+tag.
"""

import base64
import binascii
import functools
import os
import re

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.core.exceptions import ImproperlyConfigured

MAGIC = b"RIE1"
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class DecryptionError(Exception):
    pass


def parse_keyring(spec: str) -> list[tuple[str, bytes]]:
    """Parse "id:base64key,..." into [(id, 32-byte key)], refusing anything malformed."""
    keys = []
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        key_id, sep, encoded = item.partition(":")
        if not sep or not _KEY_ID.match(key_id):
            raise ImproperlyConfigured("REPORTIN_ENCRYPTION_KEYS: each entry is id:base64key, id of letters, digits, - or _")
        try:
            key = base64.urlsafe_b64decode(encoded.encode() + b"=" * (-len(encoded) % 4))
        except (binascii.Error, ValueError):
            raise ImproperlyConfigured(f"REPORTIN_ENCRYPTION_KEYS: key {key_id!r} is not base64") from None
        if len(key) != 32:
            raise ImproperlyConfigured(f"REPORTIN_ENCRYPTION_KEYS: key {key_id!r} must be 32 bytes, not {len(key)}")
        if any(existing == key_id for existing, _ in keys):
            raise ImproperlyConfigured(f"REPORTIN_ENCRYPTION_KEYS: key id {key_id!r} appears twice")
        keys.append((key_id, key))
    if not keys:
        raise ImproperlyConfigured("REPORTIN_ENCRYPTION_KEYS holds no key")
    return keys


def new_key_spec(key_id: str) -> str:
    return f"{key_id}:{base64.urlsafe_b64encode(os.urandom(32)).decode()}"


@functools.cache
def _ring(spec: str) -> tuple[str, dict[str, AESGCM]]:
    keys = parse_keyring(spec)
    return keys[0][0], {key_id: AESGCM(key) for key_id, key in keys}


def _current():
    from django.conf import settings

    return _ring(settings.REPORTIN_ENCRYPTION_KEYS)


def current_key_id() -> str:
    return _current()[0]


def encrypt(data: bytes) -> bytes:
    key_id, ciphers = _current()
    nonce = os.urandom(12)
    kid = key_id.encode()
    return MAGIC + bytes([len(kid)]) + kid + nonce + ciphers[key_id].encrypt(nonce, data, MAGIC + kid)


def key_id_of(blob: bytes) -> str:
    if not is_encrypted(blob):
        raise DecryptionError("not an encrypted blob")
    return blob[5 : 5 + blob[4]].decode()


def is_encrypted(blob: bytes) -> bool:
    return len(blob) > 5 and blob[:4] == MAGIC


def decrypt(blob: bytes) -> bytes:
    key_id = key_id_of(blob)
    _, ciphers = _current()
    cipher = ciphers.get(key_id)
    if cipher is None:
        raise DecryptionError(f"key {key_id!r} is not in REPORTIN_ENCRYPTION_KEYS")
    start = 5 + len(key_id)
    nonce, sealed = blob[start : start + 12], blob[start + 12 :]
    try:
        return cipher.decrypt(nonce, sealed, MAGIC + key_id.encode())
    except InvalidTag:
        raise DecryptionError("the data was altered or the key is wrong") from None
