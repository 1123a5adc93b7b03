"""Biometric data is encrypted at rest with a rotating key ring."""

import base64

import pytest
from django.core.exceptions import ImproperlyConfigured
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
        assert on_disk.startswith(crypto.MAGIC) and b"selfie bytes" not in on_disk
        with default_storage.open(name) as handle:
            assert handle.read() == b"\xff\xd8\xffJPEG-ish selfie bytes"
        with pytest.raises(ValueError):
            default_storage.url(name)
    finally:
        default_storage.delete(name)
