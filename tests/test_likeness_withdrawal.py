"""Likeness (biometric) consent withdrawn means the face data goes: the reference photos and
their encodings are deleted, audited, once no open task about a check-in needs them; giving
the consent again needs a new enrolment, and the client's page says so."""

import pytest

from enforcement import services
from enforcement.models import AuditEvent, PhotoStatus, ReferencePhoto
from enforcement.selectors import consent_current_versions
from reportin import services as reportin_services
from tests import factories
from tests.conftest import stored_files
from tests.officer import face_task

pytestmark = pytest.mark.django_db


def likeness(person, decision: str, **kwargs):
    version = consent_current_versions()["biometric"]
    return services.consent_record(client=person, kind="biometric", decision=decision, text_version=version, language="en", channel="app", **kwargs)


def test_withdrawal_deletes_the_reference_photos_and_encodings_audited(media_root, django_capture_on_commit_callbacks):
    person = factories.client()
    photos = [factories.reference_photo(person), factories.reference_photo(person)]
    factories.consent_both(person)
    assert len(stored_files(media_root, "references")) == 2
    with django_capture_on_commit_callbacks(execute=True):
        likeness(person, "withdrawn")
    for photo in ReferencePhoto.objects.filter(pk__in=[p.pk for p in photos]):
        assert (photo.status, photo.encoding, photo.image.name, photo.active) == (PhotoStatus.PURGED, None, "", False)
    assert stored_files(media_root, "references") == []
    event = AuditEvent.objects.get(action="reference_photo.purge", client=person)
    assert event.details["reason"] == "likeness_consent_withdrawn" and sorted(event.details["ids"]) == sorted(p.pk for p in photos)


def test_the_photos_stay_until_the_open_task_that_needs_them_is_decided(media_root):
    case = face_task()
    photo = case["photo"]
    likeness(case["client"], "withdrawn")
    photo.refresh_from_db()
    assert photo.status == PhotoStatus.READY and photo.encoding is not None  # the officer still compares
    reportin_services.task_decide(task=case["task"], resolution="identity_not_confirmed", note="Someone else.", officer=factories.staff("decides"))
    photo.refresh_from_db()
    assert (photo.status, photo.encoding) == (PhotoStatus.PURGED, None)


def test_granting_again_needs_a_new_enrolment_and_the_officer_is_told(client, media_root):
    person = factories.client()
    factories.reference_photo(person)
    factories.consent_both(person)
    likeness(person, "withdrawn")
    officer = factories.staff("re-enrols")
    factories.staff_login(client, officer)
    page = client.get(f"/admin/enforcement/client/{person.pk}/change/").content.decode()
    assert 'id="likeness-withdrawn"' in page and "enrol new reference photos" in page
    likeness(person, "granted")
    assert not ReferencePhoto.objects.filter(client=person, status=PhotoStatus.READY).exists()
    page = client.get(f"/admin/enforcement/client/{person.pk}/change/").content.decode()
    assert 'id="reenrolment-needed"' in page
    factories.reference_photo(person)
    page = client.get(f"/admin/enforcement/client/{person.pk}/change/").content.decode()
    assert 'id="reenrolment-needed"' not in page
