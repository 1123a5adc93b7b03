"""Key rotation: a new key first in the ring, old data readable, `reencrypt` moves it over."""

import base64

import pytest
from django.core.management import call_command

from enforcement import crypto
from enforcement.models import ReferencePhoto
from tests import factories

pytestmark = pytest.mark.django_db

NEW_KEY = "rotated:" + base64.urlsafe_b64encode(b"n" * 32).decode()


def test_rotation_keeps_old_data_readable_and_reencrypt_moves_it_to_the_new_key(settings, capsys):
    client = factories.client()
    photo = factories.reference_photo(client)
    old_key = crypto.current_key_id()
    with photo.image.open("rb") as handle:
        original = handle.read()

    settings.REPORTIN_ENCRYPTION_KEYS = f"{NEW_KEY},{settings.REPORTIN_ENCRYPTION_KEYS}"
    photo = ReferencePhoto.objects.get(pk=photo.pk)
    with photo.image.open("rb") as handle:
        assert handle.read() == original  # still readable before re-encryption
    assert crypto.key_id_of(photo.image.storage.read_sealed(photo.image.name)) == old_key

    call_command("reencrypt", "--dry-run")
    assert "Would re-encrypt 2 item(s)" in capsys.readouterr().out
    assert crypto.key_id_of(photo.image.storage.read_sealed(photo.image.name)) == old_key

    call_command("reencrypt")
    assert "Re-encrypted 2 item(s) under key 'rotated'" in capsys.readouterr().out
    photo = ReferencePhoto.objects.get(pk=photo.pk)
    assert crypto.key_id_of(photo.image.storage.read_sealed(photo.image.name)) == "rotated"
    assert crypto.key_id_of(bytes(photo.encoding)) == "rotated"

    settings.REPORTIN_ENCRYPTION_KEYS = NEW_KEY  # the old key can now be dropped
    with photo.image.open("rb") as handle:
        assert handle.read() == original
    call_command("reencrypt")
    assert "Re-encrypted 0 item(s)" in capsys.readouterr().out
