"""Encryption of biometric data at rest (selfies, reference photos, face encodings).

AES-256-GCM with a key ring from REPORTIN_ENCRYPTION_KEYS ("id:base64key,id:base64key",
newest first). Every blob names the key that sealed it, so old data stays readable after a
new key is put first; `manage.py reencrypt` moves old blobs to the newest key.

Two layouts:
- b"RIE1" | key-id length (1 byte) | key id | 12-byte nonce | ciphertext+tag: small values
  (face encodings) and files written before the segment format (still read).
- b"RIE2", the stored-file format: a header (magic | key-id length | key id | 7-byte nonce
  prefix | segment size, 4 bytes) then segments of `segment size` plaintext bytes, each sealed
  on its own with nonce = prefix | segment number (4 bytes) | last-segment flag (1 byte). The
  associated data of every segment is the header and the file's storage name, so a file copied
  or renamed onto another record's name fails to open, and so does a truncated or reordered
  one. Neither side holds more than one segment in memory, whatever the file's size.
"""

import base64
import binascii
import functools
import io
import os
import re
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.core.exceptions import ImproperlyConfigured

MAGIC = b"RIE1"
STREAM_MAGIC = b"RIE2"
# Plaintext bytes per segment: large enough that the 16-byte tags cost nothing, small enough
# that a reader or writer holds a negligible amount of memory.
SEGMENT_SIZE = 64 * 1024
_TAG = 16
_PREFIX = 7
# Longest possible stream header: magic, key-id length, a 32-character key id, prefix, size.
STREAM_HEADER_MAX = 4 + 1 + 32 + _PREFIX + 4
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
    """The key that sealed a blob or a stored file (of either layout; its first bytes suffice)."""
    if not (is_encrypted(blob) or is_stream(blob)):
        raise DecryptionError("not an encrypted blob")
    return blob[5 : 5 + blob[4]].decode()


def is_encrypted(blob: bytes) -> bool:
    return len(blob) > 5 and blob[:4] == MAGIC


def is_stream(blob: bytes) -> bool:
    """Whether the bytes start a name-bound segmented file (RIE2)."""
    return len(blob) > 5 and blob[:4] == STREAM_MAGIC


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


def _segment_nonce(prefix: bytes, number: int, last: bool) -> bytes:
    if number >= 2**32:
        raise DecryptionError("file too long for the segment counter")
    return prefix + struct.pack(">IB", number, 1 if last else 0)


def _associated(header: bytes, name: str) -> bytes:
    return header + b"\x00" + name.encode()


class EncryptingReader(io.RawIOBase):
    """Reads plaintext from `source` (a binary file) and gives out the RIE2 ciphertext bound
    to `name`, one segment at a time: a file-like object for an upload that streams."""

    def __init__(self, source, name: str, *, segment_size: int = SEGMENT_SIZE):
        super().__init__()
        key_id, ciphers = _current()
        kid = key_id.encode()
        self._cipher = ciphers[key_id]
        self._source = source
        self._segment_size = segment_size
        self._prefix = os.urandom(_PREFIX)
        self._header = STREAM_MAGIC + bytes([len(kid)]) + kid + self._prefix + struct.pack(">I", segment_size)
        self._aad = _associated(self._header, name)
        self._buffer = bytearray(self._header)
        self._number = 0
        self._finished = False

    def readable(self) -> bool:
        return True

    def _read_exactly(self, size: int) -> bytes:
        parts, missing = [], size
        while missing:
            chunk = self._source.read(missing)
            if not chunk:
                break
            parts.append(chunk)
            missing -= len(chunk)
        return b"".join(parts)

    def _next_segment(self) -> None:
        plain = self._read_exactly(self._segment_size)
        # A short segment (possibly empty) is the last: a stream cut at a segment boundary
        # then lacks its last segment and is refused.
        last = len(plain) < self._segment_size
        nonce = _segment_nonce(self._prefix, self._number, last)
        self._buffer += self._cipher.encrypt(nonce, plain, self._aad)
        self._number += 1
        self._finished = last

    def read(self, size: int = -1) -> bytes:
        while not self._finished and (size is None or size < 0 or len(self._buffer) < size):
            self._next_segment()
        if size is None or size < 0:
            size = len(self._buffer)
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        return out

    def readinto(self, target) -> int:
        data = self.read(len(target))
        target[: len(data)] = data
        return len(data)


class DecryptingReader(io.RawIOBase):
    """Reads a stored file's ciphertext from `source` and gives out its plaintext, checking
    every segment against `name`. Files of the older whole-blob layout (RIE1) are read whole."""

    def __init__(self, source, name: str):
        super().__init__()
        self._source = source
        self._name = name
        self._buffer = bytearray()
        self._number = 0
        self._finished = False
        start = self._read_exactly(5)
        if start[:4] == MAGIC and len(start) == 5:
            # The older layout seals the whole file at once; only small files were written so.
            self._buffer += decrypt(start + self._read_all())
            self._finished = True
            return
        if start[:4] != STREAM_MAGIC or len(start) < 5:
            raise DecryptionError("not an encrypted file")
        kid = self._read_exactly(start[4])
        rest = self._read_exactly(_PREFIX + 4)
        if len(kid) != start[4] or len(rest) != _PREFIX + 4:
            raise DecryptionError("the file was cut short")
        key_id = kid.decode(errors="replace")
        _, ciphers = _current()
        self._cipher = ciphers.get(key_id)
        if self._cipher is None:
            raise DecryptionError(f"key {key_id!r} is not in REPORTIN_ENCRYPTION_KEYS")
        self._prefix = rest[:_PREFIX]
        (self._segment_size,) = struct.unpack(">I", rest[_PREFIX:])
        if not 0 < self._segment_size <= 16 * 1024 * 1024:
            raise DecryptionError("the file header was altered")
        self._aad = _associated(start + kid + rest, name)

    def readable(self) -> bool:
        return True

    def _read_exactly(self, size: int) -> bytes:
        parts, missing = [], size
        while missing:
            chunk = self._source.read(missing)
            if not chunk:
                break
            parts.append(chunk)
            missing -= len(chunk)
        return b"".join(parts)

    def _read_all(self) -> bytes:
        parts = []
        while chunk := self._source.read(1024 * 1024):
            parts.append(chunk)
        return b"".join(parts)

    def _next_segment(self) -> None:
        sealed = self._read_exactly(self._segment_size + _TAG)
        last = len(sealed) < self._segment_size + _TAG
        if len(sealed) < _TAG:
            raise DecryptionError("the file was cut short")
        nonce = _segment_nonce(self._prefix, self._number, last)
        try:
            self._buffer += self._cipher.decrypt(nonce, sealed, self._aad)
        except InvalidTag:
            raise DecryptionError(
                f"the file {self._name!r} was altered, cut short, moved from another name, or the key is wrong"
            ) from None
        self._number += 1
        self._finished = last
        if last and self._source.read(1):
            raise DecryptionError(f"the file {self._name!r} has data after its last segment")

    def read(self, size: int = -1) -> bytes:
        while not self._finished and (size is None or size < 0 or len(self._buffer) < size):
            self._next_segment()
        if size is None or size < 0:
            size = len(self._buffer)
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        return out

    def readinto(self, target) -> int:
        data = self.read(len(target))
        target[: len(data)] = data
        return len(data)

    def close(self) -> None:
        try:
            close = getattr(self._source, "close", None)
            if close:
                close()
        finally:
            super().close()


def encrypt_stream(data: bytes, name: str) -> bytes:
    """The RIE2 form of small `data` stored as `name` (tests and tools; files go through
    EncryptingReader)."""
    return EncryptingReader(io.BytesIO(data), name).read()


def decrypt_stream(sealed: bytes, name: str) -> bytes:
    return DecryptingReader(io.BytesIO(sealed), name).read()
