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
- b"RIE3" (a value) and b"RIE4" (a stored file): the layouts of RIE1 and RIE2 whose associated
  data also names the record the blob belongs to, "<app label>.<model>:<primary key>"
  (`record_label`). A blob moved to another record (another client's face encoding, another
  check-in's selfie) fails to open with RecordMismatch, which is logged; it is never read as
  the other record's data. Reading a bound blob needs its record. The unbound layouts stay
  readable (unless REPORTIN_ENCRYPTION_REQUIRE_BINDING is on) until `manage.py reencrypt`
  rewrites them bound.
"""

import base64
import binascii
import contextlib
import contextvars
import functools
import io
import logging
import os
import re
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.core.exceptions import ImproperlyConfigured

MAGIC = b"RIE1"
STREAM_MAGIC = b"RIE2"
BOUND_MAGIC = b"RIE3"
BOUND_STREAM_MAGIC = b"RIE4"
_VALUE_MAGICS = (MAGIC, BOUND_MAGIC)
_STREAM_MAGICS = (STREAM_MAGIC, BOUND_STREAM_MAGIC)
# Plaintext bytes per segment: large enough that the 16-byte tags cost nothing, small enough
# that a reader or writer holds a negligible amount of memory.
SEGMENT_SIZE = 64 * 1024
_TAG = 16
_PREFIX = 7
# Longest possible stream header: magic, key-id length, a 32-character key id, prefix, size.
STREAM_HEADER_MAX = 4 + 1 + 32 + _PREFIX + 4
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


logger = logging.getLogger(__name__)


class DecryptionError(Exception):
    pass


class RecordMismatch(DecryptionError):
    """A blob bound to a record did not open as the record it was read for: it was moved from
    another record (or altered, or sealed under another key)."""


def record_label(instance) -> str:
    """The record a blob is bound to: "<app label>.<model>:<primary key>"."""
    if instance.pk is None:
        raise ValueError(f"a {instance._meta.label} has no id yet: save it before sealing its data")
    return f"{instance._meta.label_lower}:{instance.pk}"


_migrating = contextvars.ContextVar("migrating", default=False)


@contextlib.contextmanager
def unbound_readable():
    """Read data of the unbound formats even where the binding is required: only for
    `manage.py reencrypt`, which binds what it reads to the record it was read for."""
    token = _migrating.set(True)
    try:
        yield
    finally:
        _migrating.reset(token)


def _require_binding() -> bool:
    from django.conf import settings

    return getattr(settings, "REPORTIN_ENCRYPTION_REQUIRE_BINDING", False) and not _migrating.get()


def _mismatch(what: str, record: str) -> RecordMismatch:
    message = (
        f"{what} does not belong to {record}: it was moved from another record or another name, "
        "altered, or the key is wrong"
    )
    logger.error("record binding check failed: %s", message)
    return RecordMismatch(message)


def _unbound(what: str, record: str | None) -> None:
    """An unbound (older) blob read for `record`: accepted until re-encrypted, unless the
    deployment has re-encrypted everything and requires the binding."""
    if record is not None and _require_binding():
        logger.error("unbound blob refused for %s (REPORTIN_ENCRYPTION_REQUIRE_BINDING)", record)
        raise RecordMismatch(f"{what} is not bound to {record} and REPORTIN_ENCRYPTION_REQUIRE_BINDING is on")


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


def _value_associated(magic: bytes, kid: bytes, record: str | None) -> bytes:
    return magic + kid if record is None else magic + kid + b"\x00" + record.encode()


def encrypt(data: bytes, *, record: str | None = None) -> bytes:
    """Seal a small value; with `record` (record_label) bound to that record (RIE3)."""
    key_id, ciphers = _current()
    nonce = os.urandom(12)
    kid = key_id.encode()
    magic = MAGIC if record is None else BOUND_MAGIC
    return magic + bytes([len(kid)]) + kid + nonce + ciphers[key_id].encrypt(nonce, data, _value_associated(magic, kid, record))


def key_id_of(blob: bytes) -> str:
    """The key that sealed a blob or a stored file (of either layout; its first bytes suffice)."""
    if not (is_encrypted(blob) or is_stream(blob)):
        raise DecryptionError("not an encrypted blob")
    return blob[5 : 5 + blob[4]].decode()


def is_encrypted(blob: bytes) -> bool:
    """Whether the bytes are a sealed value (RIE1, or RIE3 bound to its record)."""
    return len(blob) > 5 and blob[:4] in _VALUE_MAGICS


def is_stream(blob: bytes) -> bool:
    """Whether the bytes start a name-bound segmented file (RIE2, or RIE4 bound to its record too)."""
    return len(blob) > 5 and blob[:4] in _STREAM_MAGICS


def is_bound(blob: bytes) -> bool:
    """Whether the bytes are (or start) a blob bound to its record (RIE3 or RIE4)."""
    return len(blob) > 5 and blob[:4] in (BOUND_MAGIC, BOUND_STREAM_MAGIC)


def decrypt(blob: bytes, *, record: str | None = None) -> bytes:
    """Open a sealed value. A value bound to a record opens only for that record (`record`,
    from record_label); anything else raises RecordMismatch, logged."""
    if not is_encrypted(blob):
        raise DecryptionError("not an encrypted value")
    key_id = key_id_of(blob)
    magic = blob[:4]
    if magic == BOUND_MAGIC and record is None:
        raise DecryptionError("the value is bound to a record: open it for its record")
    if magic == MAGIC:
        _unbound("the encrypted value", record)
    _, ciphers = _current()
    cipher = ciphers.get(key_id)
    if cipher is None:
        raise DecryptionError(f"key {key_id!r} is not in REPORTIN_ENCRYPTION_KEYS")
    start = 5 + len(key_id)
    nonce, sealed = blob[start : start + 12], blob[start + 12 :]
    bound = record if magic == BOUND_MAGIC else None
    try:
        return cipher.decrypt(nonce, sealed, _value_associated(magic, key_id.encode(), bound))
    except InvalidTag:
        if bound is not None:
            raise _mismatch("the encrypted value", bound) from None
        raise DecryptionError("the data was altered or the key is wrong") from None


def decrypt_for(instance, blob) -> bytes:
    """Open a value stored on `instance` (a face encoding, a secret) for that record."""
    return decrypt(bytes(blob), record=record_label(instance))


def _segment_nonce(prefix: bytes, number: int, last: bool) -> bytes:
    if number >= 2**32:
        raise DecryptionError("file too long for the segment counter")
    return prefix + struct.pack(">IB", number, 1 if last else 0)


def _associated(header: bytes, name: str, record: str | None = None) -> bytes:
    aad = header + b"\x00" + name.encode()
    return aad if record is None else aad + b"\x00" + record.encode()


class EncryptingReader(io.RawIOBase):
    """Reads plaintext from `source` (a binary file) and gives out the RIE2 ciphertext bound
    to `name` (RIE4, bound to `record` too, when given), one segment at a time: a file-like
    object for an upload that streams."""

    def __init__(self, source, name: str, *, record: str | None = None, segment_size: int = SEGMENT_SIZE):
        super().__init__()
        key_id, ciphers = _current()
        kid = key_id.encode()
        self._cipher = ciphers[key_id]
        self._source = source
        self._segment_size = segment_size
        self._prefix = os.urandom(_PREFIX)
        magic = STREAM_MAGIC if record is None else BOUND_STREAM_MAGIC
        self._header = magic + bytes([len(kid)]) + kid + self._prefix + struct.pack(">I", segment_size)
        self._aad = _associated(self._header, name, record)
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
    every segment against `name`, and against `record` for a file bound to its record (RIE4).
    Files of the older whole-blob layout (RIE1) are read whole."""

    def __init__(self, source, name: str, *, record: str | None = None):
        super().__init__()
        self._source = source
        self._name = name
        self._record = None
        self._buffer = bytearray()
        self._number = 0
        self._finished = False
        start = self._read_exactly(5)
        if start[:4] == MAGIC and len(start) == 5:
            # The older layout seals the whole file at once; only small files were written so.
            _unbound(f"the file {name!r}", record)
            self._buffer += decrypt(start + self._read_all())
            self._finished = True
            return
        if start[:4] not in _STREAM_MAGICS or len(start) < 5:
            raise DecryptionError("not an encrypted file")
        if start[:4] == BOUND_STREAM_MAGIC:
            if record is None:
                raise DecryptionError(f"the file {name!r} is bound to a record: open it through its record")
            self._record = record
        else:
            _unbound(f"the file {name!r}", record)
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
        self._aad = _associated(start + kid + rest, name, self._record)

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
            if self._record is not None:
                raise _mismatch(f"the file {self._name!r}", self._record) from None
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


def encrypt_stream(data: bytes, name: str, *, record: str | None = None) -> bytes:
    """The RIE2 (RIE4 with `record`) form of small `data` stored as `name` (tests and tools;
    files go through EncryptingReader)."""
    return EncryptingReader(io.BytesIO(data), name, record=record).read()


def decrypt_stream(sealed: bytes, name: str, *, record: str | None = None) -> bytes:
    return DecryptingReader(io.BytesIO(sealed), name, record=record).read()
