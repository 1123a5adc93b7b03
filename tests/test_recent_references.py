"""Issue 15.4: references that age with the person. A verified selfie well inside the
threshold, or a selfie an officer confirmed, joins a bounded, audited set of recent
references (with consent; never from a check-in with an open task; enrolment photos stay);
the next decision uses it, and the officer sees which references were used."""

from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from backoffice import triage
from biometrics import calibration
from enforcement import services as enforcement_services
from enforcement.models import AuditEvent, InvestigationTask, RecentReference, ReferencePhoto, TaskReason
from reportin import scoring, services
from tests import factories, images

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)
TORONTO = (43.6532, -79.3832)
FAR_AWAY = (49.2827, -123.1207)


@pytest.fixture(autouse=True)
def _no_quality_samples(settings):
    settings.REPORTIN_QUALITY_SAMPLE_SHARE = 0.0  # a sample task would keep the check-in open


@pytest.fixture
def enrolled():
    client = factories.client()
    factories.consent_both(client)
    factories.condition(client, starts_on=factories.LATER, area_latitude=TORONTO[0], area_longitude=TORONTO[1], area_radius_km=50)
    factories.window(client, opens_at=NOW - timedelta(hours=1), minutes=120)
    photo = factories.reference_photo(client)
    assert photo.status == "ready", photo.rejection_message
    _, device = factories.device(client)
    return {"client": client, "device": device, "photo": photo}


def score(enrolled, picture, *, key, where=TORONTO, now=NOW):
    checkin, _ = services.checkin_submit(
        device=enrolled["device"], selfie=images.jpeg(picture), latitude=where[0], longitude=where[1], accuracy_m=15,
        captured_at=now, idempotency_key=key, now=now,
    )
    return checkin, scoring.checkin_score(checkin_id=checkin.pk, now=now)


def test_a_verified_selfie_well_inside_the_threshold_becomes_a_recent_reference_that_the_next_decision_uses(enrolled):
    first, match = score(enrolled, images.astronaut_elsewhere(), key="a")
    assert match.decision == "match" and match.best_distance <= match.threshold - scoring.RECENT_REFERENCE_MARGIN
    recent = RecentReference.objects.get(checkin_id=first.pk)
    assert recent.source == "verified_close" and recent.active and recent.client == enrolled["client"]
    assert recent.distance == match.best_distance and recent.threshold == match.threshold
    event = AuditEvent.objects.filter(action="recent_reference.add").get()
    assert event.details["checkin_id"] == first.pk and event.details["source"] == "verified_close"

    second, match = score(enrolled, images.astronaut_elsewhere(scale=0.9, position=(20, 60)), key="b", now=NOW + timedelta(minutes=5))
    assert set(match.distances) == {str(enrolled["photo"].pk), f"recent:{recent.pk}"}
    # Two references in the template: the threshold calibrated for two.
    from django.conf import settings

    assert match.threshold == calibration.threshold_for(settings.REPORTIN_FACE_THRESHOLDS, 2)
    assert match.reference_photo == enrolled["photo"]  # the nearest enrolment photo, an image an officer can open
    used = match.detail["references_used"]
    assert [row["kind"] for row in used] == ["enrolment", "recent"] and used[1]["checkin_id"] == first.pk
    words = triage.references_used_words(match)
    assert words[0].startswith(f"Enrolment photo {enrolled['photo'].pk}") and f"from check-in {first.pk}" in words[1]
    assert ReferencePhoto.objects.filter(client=enrolled["client"], active=True).count() == 1  # enrolment untouched


def test_a_selfie_with_an_open_task_is_never_kept(enrolled):
    checkin, match = score(enrolled, images.astronaut_elsewhere(), key="a", where=FAR_AWAY)
    assert match.decision == "match"
    assert InvestigationTask.objects.filter(checkin_id=checkin.pk, reason=TaskReason.LOCATION_OUTSIDE_AREA).exists()
    assert not RecentReference.objects.exists()


def test_without_biometric_consent_nothing_is_kept(enrolled):
    from enforcement.selectors import consent_current_versions

    enforcement_services.consent_record(
        client=enrolled["client"], kind="biometric", decision="withdrawn", text_version=consent_current_versions()["biometric"],
        language="en", channel="app",
    )
    kept = enforcement_services.recent_reference_add(
        client=enrolled["client"], checkin_id=999, encoding=np.zeros(128), source="verified_close", distance=0.3, threshold=0.54, added_by=None,
    )
    assert kept is None and not RecentReference.objects.exists()


def test_withdrawing_biometric_consent_retires_the_recent_references(enrolled):
    from enforcement.selectors import consent_current_versions

    client = enrolled["client"]
    kept = enforcement_services.recent_reference_add(
        client=client, checkin_id=11, encoding=np.zeros(128), source="verified_close", distance=0.3, threshold=0.54, added_by=None,
    )
    assert kept is not None
    enforcement_services.consent_record(
        client=client, kind="biometric", decision="withdrawn", text_version=consent_current_versions()["biometric"], language="en", channel="app",
    )
    kept.refresh_from_db()
    assert not kept.active and kept.retired_at is not None
    assert AuditEvent.objects.get(action="recent_reference.retire").details["ids"] == [kept.pk]


def test_the_set_is_bounded_the_oldest_is_retired_and_each_addition_is_audited(enrolled):
    client = enrolled["client"]
    added = [
        enforcement_services.recent_reference_add(
            client=client, checkin_id=100 + i, encoding=np.full(128, i / 10), source="verified_close", distance=0.3, threshold=0.54,
            added_by=None, now=NOW + timedelta(days=i),
        )
        for i in range(enforcement_services.MAX_RECENT_REFERENCES + 1)
    ]
    assert all(added)
    active = list(RecentReference.objects.filter(client=client, active=True).order_by("created_at"))
    assert active == added[1:] and len(active) == enforcement_services.MAX_RECENT_REFERENCES
    oldest = RecentReference.objects.get(pk=added[0].pk)
    assert not oldest.active and oldest.retired_at == NOW + timedelta(days=enforcement_services.MAX_RECENT_REFERENCES)
    assert AuditEvent.objects.filter(action="recent_reference.add").count() == len(added)
    # The same check-in is never kept twice.
    again = enforcement_services.recent_reference_add(
        client=client, checkin_id=100, encoding=np.zeros(128), source="verified_close", distance=0.3, threshold=0.54, added_by=None,
    )
    assert again is None
    # The decision reads the active ones only, after the enrolment photos.
    refs = scoring._reference_encodings(client)
    assert [type(ref).__name__ for ref, _ in refs] == ["ReferencePhoto"] + ["RecentReference"] * enforcement_services.MAX_RECENT_REFERENCES


def test_an_officer_confirmed_selfie_is_kept_once_its_task_is_resolved(enrolled):
    officer = factories.staff("officer1")
    checkin, match = score(enrolled, images.astronaut_elsewhere(), key="a", where=FAR_AWAY)
    task = InvestigationTask.objects.get(checkin_id=checkin.pk, reason=TaskReason.LOCATION_OUTSIDE_AREA)
    services.task_decide(task=task, resolution="identity_confirmed", note="Seen on video call.", officer=officer, now=NOW + timedelta(hours=1))
    recent = RecentReference.objects.get(checkin_id=checkin.pk)
    assert recent.source == "officer_confirmed" and recent.added_by == officer
    event = AuditEvent.objects.filter(action="recent_reference.add").get()
    assert event.actor == officer


def test_no_recent_reference_stands_in_for_missing_enrolment_photos():
    client = factories.client()
    factories.consent_both(client)
    kept = enforcement_services.recent_reference_add(
        client=client, checkin_id=7, encoding=np.zeros(128), source="verified_close", distance=0.3, threshold=0.54, added_by=None,
    )
    assert kept is not None
    assert scoring._reference_encodings(client) == []


def test_a_closed_cases_purge_removes_its_recent_reference_encodings_and_the_export_lists_them(enrolled, settings):
    from reportin import retention
    from tests.test_retention import close_case

    checkin, _ = score(enrolled, images.astronaut_elsewhere(), key="a")
    recent = RecentReference.objects.get(checkin_id=checkin.pk)
    assert "enforcement.recentreference" in retention.client_records(enrolled["client"])
    close_case(enrolled["client"], days_ago=settings.REPORTIN_RETAIN_REFERENCE_DAYS + 1)
    retention.purge_expired(now=timezone.now())
    recent.refresh_from_db()
    assert bytes(recent.encoding) == b"" and not recent.active and recent.retired_at is not None
    assert scoring._reference_encodings(enrolled["client"]) == []
