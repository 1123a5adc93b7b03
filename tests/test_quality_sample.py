"""The sampled quality check: a configurable share of automatic matches goes to an officer as a
`quality_sample` task (reportin.scoring.quality_sampled), so that false matches can be
estimated. Scored in-process through the real pipeline, as in tests/test_scoring.py."""

from datetime import timedelta

import pytest
from django.utils import timezone

from enforcement.models import InvestigationTask, TaskPriority, WindowStatus
from reportin import scoring, services
from tests import factories, images

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)


@pytest.fixture
def enrolled():
    client = factories.client()
    factories.consent_both(client)
    factories.condition(client, starts_on=factories.LATER)
    window = factories.window(client, opens_at=NOW - timedelta(hours=1), minutes=120)
    assert factories.reference_photo(client).status == "ready"
    _, device = factories.device(client)
    return {"client": client, "device": device, "window": window}


def score(enrolled, picture, key="k1"):
    checkin, _ = services.checkin_submit(
        device=enrolled["device"],
        selfie=images.jpeg(picture),
        latitude=43.65,
        longitude=-79.38,
        accuracy_m=15,
        captured_at=NOW,
        idempotency_key=key,
        now=NOW,
    )
    return checkin, scoring.checkin_score(checkin_id=checkin.pk, now=NOW)


def reasons(checkin) -> set[str]:
    return set(InvestigationTask.objects.filter(checkin_id=checkin.pk).values_list("reason", flat=True))


def test_with_share_one_every_automatic_match_opens_a_quality_sample_task_and_stays_verified(enrolled, settings):
    settings.REPORTIN_QUALITY_SAMPLE_SHARE = 1.0
    checkin, match = score(enrolled, images.astronaut_elsewhere())

    assert match.decision == "match"
    task = InvestigationTask.objects.get(checkin_id=checkin.pk)
    assert (task.reason, task.priority, task.status) == ("quality_sample", TaskPriority.LOW, "open")
    assert task.evidence["decision"] == "match" and task.evidence["sample_share"] == 1.0
    assert task.evidence["best_distance"] == match.best_distance
    # A review after the fact: the check-in is verified and the window satisfied as usual.
    checkin.refresh_from_db()
    enrolled["window"].refresh_from_db()
    assert checkin.status == "verified" and enrolled["window"].status == WindowStatus.SATISFIED
    # Scoring again changes nothing (one FaceMatch per check-in, one task per reason).
    assert scoring.checkin_score(checkin_id=checkin.pk, now=NOW) is None
    assert InvestigationTask.objects.filter(checkin_id=checkin.pk).count() == 1


def test_with_share_zero_no_match_is_sampled(enrolled, settings):
    settings.REPORTIN_QUALITY_SAMPLE_SHARE = 0.0
    checkin, match = score(enrolled, images.astronaut_elsewhere())
    assert match.decision == "match"
    assert reasons(checkin) == set()


def test_a_non_match_is_never_a_quality_sample(enrolled, settings):
    settings.REPORTIN_QUALITY_SAMPLE_SHARE = 1.0
    checkin, match = score(enrolled, images.lfw_face(1))
    assert match.decision == "non_match"
    assert reasons(checkin) == {"face_non_match"}


def test_the_choice_is_a_reproducible_keyed_hash_of_the_checkin_with_the_configured_share(settings):
    settings.REPORTIN_QUALITY_SAMPLE_SHARE = 0.25
    ids = range(1, 4001)
    chosen = {i for i in ids if scoring.quality_sampled(i)}
    assert chosen == {i for i in ids if scoring.quality_sampled(i)}  # the same answer every time
    # 4000 draws at 25%: within 3 standard deviations (3 x 0.0068) of the share.
    assert abs(len(chosen) / 4000 - 0.25) < 0.0205
    settings.REPORTIN_QUALITY_SAMPLE_SHARE = 0.5
    assert chosen < {i for i in ids if scoring.quality_sampled(i)}  # a larger share keeps the earlier choices
    settings.REPORTIN_QUALITY_SAMPLE_SHARE = 0.25
    settings.SECRET_KEY = "another-secret-key-" + "y" * 40
    assert chosen != {i for i in ids if scoring.quality_sampled(i)}  # not guessable without the key
