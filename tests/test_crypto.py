"""Biometric data is encrypted at rest with a rotating key ring."""

import base64
import io
import os
import tracemalloc

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import override_settings

from enforcement import crypto

KEY_A = "a:" + base64.urlsafe_b64encode(b"a" * 32).decode()
KEY_B = "b:" + base64.urlsafe_b64encode(b"b" * 32).decode()


def test_round_trip_and_no_plaintext_in_the_blob():
    secret = b"\xff\xd8\xff face bytes " * 10
    blob = crypto.encrypt(secret)
    assert secret[:20] not in blob
    assert crypto.decrypt(blob) == secret


def test_old_data_stays_readable_after_a_new_key_is_put_first():
    with override_settings(REPORTIN_ENCRYPTION_KEYS=KEY_A):
        old = crypto.encrypt(b"written with a")
    with override_settings(REPORTIN_ENCRYPTION_KEYS=f"{KEY_B},{KEY_A}"):
        assert crypto.decrypt(old) == b"written with a"
        new = crypto.encrypt(b"written with b")
        assert crypto.key_id_of(new) == "b" and crypto.key_id_of(old) == "a"
    with override_settings(REPORTIN_ENCRYPTION_KEYS=KEY_B):
        with pytest.raises(crypto.DecryptionError, match="not in REPORTIN_ENCRYPTION_KEYS"):
            crypto.decrypt(old)


def test_altered_data_is_detected():
    blob = bytearray(crypto.encrypt(b"selfie"))
    blob[-1] ^= 1
    with pytest.raises(crypto.DecryptionError, match="altered"):
        crypto.decrypt(bytes(blob))


@pytest.mark.parametrize("spec", ["", "nocolon", "a:!!!", "a:" + base64.urlsafe_b64encode(b"short").decode(), f"{KEY_A},{KEY_A}"])
def test_malformed_key_rings_are_refused(spec):
    with pytest.raises(ImproperlyConfigured):
        crypto.parse_keyring(spec)


def test_stored_files_are_ciphertext_on_disk_and_have_no_url():
    name = default_storage.save("selfies/test.img", ContentFile(b"\xff\xd8\xffJPEG-ish selfie bytes"))
    try:
        with open(default_storage.path(name), "rb") as raw:
            on_disk = raw.read()
        assert on_disk.startswith(crypto.STREAM_MAGIC) and b"selfie bytes" not in on_disk
        with default_storage.open(name) as handle:
            assert handle.read() == b"\xff\xd8\xffJPEG-ish selfie bytes"
        with pytest.raises(ValueError):
            default_storage.url(name)
    finally:
        default_storage.delete(name)


def _sealed(data: bytes, name: str, segment_size: int = 1024) -> bytes:
    return crypto.EncryptingReader(io.BytesIO(data), name, segment_size=segment_size).read()


@pytest.mark.parametrize("size", [0, 1, 1023, 1024, 1025, 4096, 5000])
def test_segmented_files_round_trip_at_every_boundary(size):
    data = os.urandom(size)
    sealed = _sealed(data, "selfies/a.img")
    assert crypto.is_stream(sealed) and crypto.key_id_of(sealed) == crypto.current_key_id()
    reader = crypto.DecryptingReader(io.BytesIO(sealed), "selfies/a.img")
    assert b"".join(iter(lambda: reader.read(333), b"")) == data


def test_a_file_under_another_records_name_does_not_open():
    sealed = _sealed(b"selfie of person A" * 100, "selfies/a.img")
    with pytest.raises(crypto.DecryptionError, match="moved from another name"):
        crypto.DecryptingReader(io.BytesIO(sealed), "selfies/b.img").read()


def test_truncated_reordered_and_extended_files_are_refused():
    data = os.urandom(3000)
    sealed = _sealed(data, "n")  # header + 2 full segments + a short last one
    header = len(sealed) - (3000 + 3 * 16)
    seg = 1024 + 16
    first, second = sealed[header : header + seg], sealed[header + seg : header + 2 * seg]
    cut_at_boundary = sealed[: header + 2 * seg]
    swapped = sealed[:header] + second + first + sealed[header + 2 * seg :]
    for damaged in (cut_at_boundary, swapped, sealed[:-1], sealed + b"x"):
        with pytest.raises(crypto.DecryptionError):
            crypto.DecryptingReader(io.BytesIO(damaged), "n").read()


def test_files_of_the_older_whole_blob_format_stay_readable(media_root):
    name = "selfies/old.img"
    (media_root / "selfies").mkdir(parents=True, exist_ok=True)
    (media_root / name).write_bytes(crypto.encrypt(b"written before the segment format"))
    with default_storage.open(name) as handle:
        assert handle.read() == b"written before the segment format"
    assert default_storage.needs_reseal(name)
    default_storage.reseal(name)
    assert crypto.is_stream((media_root / name).read_bytes()) and not default_storage.needs_reseal(name)
    with default_storage.open(name) as handle:
        assert handle.read() == b"written before the segment format"


class _Zeros(io.RawIOBase):
    """`size` bytes generated as they are read: a large file that was never in memory."""

    def __init__(self, size):
        self.left = size

    def readable(self):
        return True

    def readinto(self, target):
        n = min(len(target), self.left)
        target[:n] = bytes(n)
        self.left -= n
        return n


def test_saving_and_reading_a_large_file_holds_one_segment_not_the_file(media_root):
    size = 40 * 1024 * 1024
    tracemalloc.start()
    try:
        name = default_storage.save("exports/large.csv", File(_Zeros(size), name="large.csv"))
        saved_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        total = 0
        with default_storage.open(name) as handle:
            while chunk := handle.read(256 * 1024):
                total += len(chunk)
        read_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert total == size
    # The whole file would be 40 MB; a few segments and a chunk are well under 4 MB.
    assert saved_peak < 4 * 1024 * 1024 and read_peak < 4 * 1024 * 1024, (saved_peak, read_peak)
