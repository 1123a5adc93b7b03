"""Notices (issue 18.3): the person is told, in their language and on their channels, and sees
on the home screen (/me), a missed window with what to do now, an extra check-in kept but not
counting, a check-in an officer must look at and then the outcome with its reason category
(never the score or the threshold), and remote reporting switched off."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from enforcement import services
from enforcement.models import ConsentDecision, Notice, Notification
from enforcement.selectors import consent_current_versions
from reportin import services as reportin_services
from tests import factories, officer
from tests.conftest import make_reporter

pytestmark = pytest.mark.django_db

local = factories.toronto
OPENS = local(2026, 3, 2, 9, 0)
DEADLINE = local(2026, 3, 2, 18, 0)


def missed_client(language="en", email="ana@example.org"):
    client = factories.client(email=email, preferred_language=language, given_name="Ana")
    factories.office_hours(client, ends_on=OPENS.date())
    return client


def test_a_missed_window_is_told_with_what_to_do_now_by_email(mailoutbox):
    client = missed_client()
    assert services.windows_sweep(now=DEADLINE + timedelta(minutes=1)) == 1
    [notice] = Notice.objects.filter(client=client)
    assert notice.kind == "missed_window" and notice.window.status == "missed"
    mailoutbox.clear()
    services.notifications_send(now=DEADLINE + timedelta(minutes=1))
    [mail] = mailoutbox
    assert mail.subject == "You missed a reporting window" and mail.to == ["ana@example.org"]
    assert "March 2, 2026, 9 a.m. to March 2, 2026, 5 p.m." in mail.body
    assert "What to do now: check in in the app as soon as you can" in mail.body
    assert Notification.objects.get(notice=notice).status == "sent"


def test_the_missed_window_notice_is_in_the_persons_language(mailoutbox):
    missed_client(language="fr")
    services.windows_sweep(now=DEADLINE + timedelta(minutes=1))
    mailoutbox.clear()
    services.notifications_send(now=DEADLINE + timedelta(minutes=1))
    [mail] = mailoutbox
    assert mail.subject == "Vous avez manqué une période de présentation"
    assert "Que faire maintenant" in mail.body


def test_a_second_sweep_tells_nothing_twice():
    client = missed_client()
    services.windows_sweep(now=DEADLINE + timedelta(minutes=1))
    services.windows_sweep(now=DEADLINE + timedelta(minutes=2))
    assert Notice.objects.filter(client=client).count() == 1
    assert Notification.objects.filter(client=client, notice__isnull=False).count() == 1


def test_a_missed_window_notice_goes_by_the_chosen_channel_only():
    client = factories.client(email="ana@example.org")
    services.contact_channels_set(client=client, channels=[{"channel": "sms", "address": "+16135550123"}], language="en", recorded_via="app")
    factories.office_hours(client, ends_on=OPENS.date())
    services.windows_sweep(now=DEADLINE + timedelta(minutes=1))
    assert list(Notification.objects.filter(client=client, notice__isnull=False).values_list("channel", flat=True)) == ["sms"]


def test_the_home_screen_shows_unread_notices_until_read():
    reporter = make_reporter()
    window = factories.window(reporter.client, opens_at=timezone.now() - timedelta(hours=3), minutes=60, grace_minutes=0)
    services.windows_sweep(now=timezone.now())
    me = reporter.api.get("/api/v1/me").json()
    [shown] = me["pending_notices"]
    assert shown["kind"] == "missed_window" and shown["window"] == window.pk
    assert shown["actions"] == ["check_in_now", "explain"] and shown["read"] is False
    listed = reporter.api.get("/api/v1/notices").json()
    assert listed["unread"] == 1 and listed["notices"][0]["id"] == shown["id"]
    response = reporter.api.post(f"/api/v1/notices/{shown['id']}/read")
    assert response.status_code == 200 and response.json()["read"] is True
    assert reporter.api.get("/api/v1/me").json()["pending_notices"] == []
    assert reporter.api.get("/api/v1/notices").json()["unread"] == 0


def test_another_persons_notice_cannot_be_read_or_marked():
    reporter, other = make_reporter(), make_reporter()
    factories.window(other.client, opens_at=timezone.now() - timedelta(hours=3), minutes=60, grace_minutes=0)
    services.windows_sweep(now=timezone.now())
    notice = Notice.objects.get(client=other.client)
    response = reporter.api.post(f"/api/v1/notices/{notice.pk}/read")
    assert response.status_code == 404 and response.json()["error"]["code"] == "notice_not_found"
    assert reporter.api.get("/api/v1/notices").json() == {"notices": [], "unread": 0}
    assert Notice.objects.get(pk=notice.pk).read_at is None


def test_an_extra_checkin_is_kept_and_the_person_told_it_does_not_count(media_root):
    reporter = make_reporter()  # no window open
    response = reporter.check_in()
    assert response.status_code == 202
    [notice] = reporter.api.get("/api/v1/me").json()["pending_notices"]
    assert notice["kind"] == "extra_checkin" and notice["check_in"] == response.json()["id"]
    assert "kept it on your file. It does not count for a reporting window" in notice["body"]


def test_a_checkin_for_review_is_told_and_the_outcome_names_the_reason_not_the_score(media_root):
    case = officer.face_task()
    [review] = Notice.objects.filter(client=case["client"], kind="checkin_review")
    assert review.checkin_id == case["checkin"].pk
    decider = factories.staff("decider")
    reportin_services.task_decide(task=case["task"], resolution="identity_not_confirmed", note="Different person.", officer=decider)
    [outcome] = Notice.objects.filter(client=case["client"], kind="review_outcome")
    token, _ = factories.device(case["client"])
    reporter_api = make_reporter().api
    reporter_api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    shown = {n["kind"]: n for n in reporter_api.get("/api/v1/notices").json()["notices"]}
    assert shown["checkin_review"]["title"] == "An officer will look at your check-in"
    told = shown["review_outcome"]
    assert told["outcome"] == "not_accepted" and told["actions"] == ["contest"]
    assert "because the photo did not clearly show that it was you" in told["body"]
    # Never the score or the threshold: no decimal number anywhere in what the person reads.
    match = case["match"]
    for text in (told["body"], told["title"]):
        assert not re.search(r"\d\.\d", text), text
        assert f"{match.threshold}" not in text and f"{match.best_distance}" not in text
    assert set(outcome.details) == {"confirmed", "reason", "captured_at", "window_counts"}


def test_an_accepted_checkin_is_told_in_plain_words(media_root):
    case = officer.face_task()
    reportin_services.task_decide(task=case["task"], resolution="identity_confirmed", note="Same person.", officer=factories.staff("d"))
    outcome = Notice.objects.get(client=case["client"], kind="review_outcome")
    assert outcome.details["confirmed"] is True and outcome.details["window_counts"] is True


def test_withdrawing_consent_tells_the_person_that_remote_reporting_is_off(mailoutbox):
    reporter = make_reporter(email="ana@example.org")
    factories.office_hours(reporter.client)
    services.consent_record(
        client=reporter.client, kind="biometric", decision=ConsentDecision.WITHDRAWN,
        text_version=consent_current_versions()["biometric"], language="en", channel="app",
    )
    [notice] = Notice.objects.filter(client=reporter.client)
    assert notice.kind == "remote_off"
    mailoutbox.clear()
    services.notifications_send()
    [mail] = mailoutbox
    assert mail.subject == "Remote reporting is off"
    assert "Report in person at your CBSA office" in mail.body
