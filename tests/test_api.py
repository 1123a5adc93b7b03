"""The mobile API through its HTTP interface: activation, consent, /me, check-ins, history,
languages, throttling and logging."""

import io
import logging
import time
import types
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from PIL import Image
from rest_framework.test import APIClient

from enforcement import activation_locks
from enforcement.errors import RateLimited
from enforcement.models import (
    AuditEvent,
    CircumstanceChange,
    ConsentRecord,
    ConsentText,
    InvestigationTask,
    ReportingCondition,
)
from reportin import scoring, services
from reportin.models import CheckIn, Device
from tests import factories, images
from tests.conftest import make_reporter, stored_files

pytestmark = pytest.mark.django_db


def error_of(response) -> dict:
    assert response["Content-Type"] == "application/json", response.content[:200]
    return response.json()["error"]


# --- Activation -----------------------------------------------------------------------------


def activation_body(client, code, **overrides):
    body = {
        "activation_code": code,
        "uci": client.uci,
        "date_of_birth": client.date_of_birth.isoformat(),
        "device_name": "Pixel 8",
        "platform": "android",
    }
    body.update(overrides)
    return body


def test_activation_returns_a_token_that_is_stored_only_as_a_hash():
    client = factories.client()
    code, _ = factories.services.activation_code_issue(client=client, issued_by=None)
    response = APIClient().post("/api/v1/activate", activation_body(client, code.lower()), format="json")
    assert response.status_code == 201, response.content
    token = response.json()["token"]
    assert response.json()["client"]["uci"] == client.uci
    device = Device.objects.get(client=client)
    assert token not in device.token_hash and device.token_hash == factories.services.hash_secret(token)
    me = APIClient().get("/api/v1/me", HTTP_AUTHORIZATION=f"Token {token}")
    assert me.status_code == 200
    # The code is single use.
    again = APIClient().post("/api/v1/activate", activation_body(client, code), format="json")
    assert again.status_code == 400 and error_of(again)["code"] == "activation_failed"


def test_a_revoked_device_is_refused_at_once(reporter):
    assert reporter.api.get("/api/v1/me").status_code == 200
    services.device_revoke(device=reporter.device, revoked_by=None)
    response = reporter.api.get("/api/v1/me")
    assert response.status_code == 401
    assert error_of(response)["code"] == "invalid_token"
    assert response["WWW-Authenticate"] == "Token"


def test_last_seen_is_updated_without_a_write_per_request(django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    # A phone activated two hours ago and not seen since (the state activation leaves).
    long_ago = timezone.now() - timedelta(hours=2)
    client = factories.client()
    code, _ = factories.services.activation_code_issue(client=client, issued_by=None, now=long_ago)
    token, device = services.device_activate(
        activation_code=code, uci=client.uci, date_of_birth=client.date_of_birth, device_name="p", platform="ios",
        client_address="192.0.2.1", now=long_ago,
    )
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    def device_writes(queries) -> list[str]:
        return [q["sql"] for q in queries if q["sql"].startswith("UPDATE") and Device._meta.db_table in q["sql"]]

    with CaptureQueriesContext(connection) as first:
        assert api.get("/api/v1/me").status_code == 200
    assert len(device_writes(first.captured_queries)) == 1
    seen = Device.objects.get(pk=device.pk).last_seen_at
    assert seen > long_ago
    # Within the resolution: no write at all, and no more queries than the first request made.
    with django_assert_max_num_queries(len(first.captured_queries) - 1) as second:
        assert api.get("/api/v1/me").status_code == 200
    assert device_writes(second.captured_queries) == []
    assert Device.objects.get(pk=device.pk).last_seen_at == seen


def wrong_attempt(client):
    return {
        "activation_code": "WRONG-CODE-0000", "uci": client.uci, "date_of_birth": client.date_of_birth,
        "device_name": "p", "platform": "ios",
    }


def test_five_failures_for_a_uci_from_one_address_lock_it_there_with_retry_after_growing():
    client = factories.client()
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    code, _ = factories.services.activation_code_issue(client=client, issued_by=None, now=now)
    attempt = wrong_attempt(client)
    for _number in range(5):
        with pytest.raises(services.DomainError) as failed:
            services.device_activate(**attempt, client_address="198.51.100.1", now=now)
        assert failed.value.code == "activation_failed"
    with pytest.raises(RateLimited) as locked:
        services.device_activate(**attempt, client_address="198.51.100.1", now=now)
    assert locked.value.retry_after == 60
    # Even the right code waits there until the lock ends.
    with pytest.raises(RateLimited):
        services.device_activate(**{**attempt, "activation_code": code}, client_address="198.51.100.1", now=now + timedelta(seconds=30))
    # After the lock, one more failure locks it for twice as long.
    later = now + timedelta(seconds=61)
    with pytest.raises(services.DomainError):
        services.device_activate(**attempt, client_address="198.51.100.1", now=later)
    with pytest.raises(RateLimited) as locked_again:
        services.device_activate(**attempt, client_address="198.51.100.1", now=later)
    assert locked_again.value.retry_after == 120
    token, _ = services.device_activate(**{**attempt, "activation_code": code}, client_address="198.51.100.1", now=later + timedelta(seconds=121))
    assert token


def test_a_stranger_guessing_from_elsewhere_does_not_lock_out_the_person_at_their_address():
    client = factories.client()
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    code, _ = factories.services.activation_code_issue(client=client, issued_by=None, now=now)
    for _number in range(5):
        with pytest.raises(services.DomainError):
            services.device_activate(**wrong_attempt(client), client_address="198.51.100.66", now=now)
    with pytest.raises(RateLimited):
        services.device_activate(**wrong_attempt(client), client_address="198.51.100.66", now=now)
    # The person, at home, is not locked out by the stranger; the stranger stays locked.
    token, device = services.device_activate(
        **{**wrong_attempt(client), "activation_code": code}, client_address="203.0.113.10", now=now + timedelta(seconds=1)
    )
    assert token and device.client == client
    with pytest.raises(RateLimited):
        services.device_activate(**wrong_attempt(client), client_address="198.51.100.66", now=now + timedelta(seconds=2))


def test_the_uci_wide_ceiling_stops_a_guess_spread_over_many_addresses():
    client = factories.client()
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    code, _ = factories.services.activation_code_issue(client=client, issued_by=None, now=now)
    ceiling = activation_locks.FREE_FAILURES[activation_locks.Scope.UCI]
    assert ceiling > activation_locks.FREE_FAILURES[activation_locks.Scope.UCI_ADDRESS]
    for number in range(ceiling):
        with pytest.raises(services.DomainError) as failed:
            services.device_activate(**wrong_attempt(client), client_address=f"198.51.100.{number}", now=now)
        assert failed.value.code == "activation_failed"
    with pytest.raises(RateLimited) as locked:
        services.device_activate(**wrong_attempt(client), client_address="198.51.100.200", now=now)
    assert locked.value.retry_after == 60
    # Every address waits, the person's too, until the officer clears it (next test) or it ends.
    with pytest.raises(RateLimited):
        services.device_activate(**{**wrong_attempt(client), "activation_code": code}, client_address="203.0.113.10", now=now)
    # Another client's UCI is not affected.
    other = factories.client()
    other_code, _ = factories.services.activation_code_issue(client=other, issued_by=None, now=now)
    assert services.device_activate(**{**wrong_attempt(other), "activation_code": other_code}, client_address="203.0.113.11", now=now)[0]


def test_issuing_a_new_code_clears_the_lock_of_the_uci_and_audits_it():
    client = factories.client()
    officer = factories.staff("lock-clearing-officer")
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    ceiling = activation_locks.FREE_FAILURES[activation_locks.Scope.UCI]
    for number in range(ceiling):
        with pytest.raises(services.DomainError):
            services.device_activate(**wrong_attempt(client), client_address=f"198.51.100.{number % 4}", now=now)
    with pytest.raises(RateLimited):
        services.device_activate(**wrong_attempt(client), client_address="203.0.113.10", now=now)
    assert activation_locks.state(uci=client.uci, now=now).locked_until is not None

    code, _ = factories.services.activation_code_issue(client=client, issued_by=officer, now=now + timedelta(seconds=30))
    cleared = AuditEvent.objects.get(action="activation_lock.clear", client=client)
    assert cleared.actor == officer
    assert cleared.details["failures"] == ceiling and cleared.details["addresses"] == 4 and cleared.details["scope"] == "uci"
    after = activation_locks.state(uci=client.uci, now=now + timedelta(seconds=30))
    assert after.failures == 0 and after.locked_until is None
    token, _ = services.device_activate(
        **{**wrong_attempt(client), "activation_code": code}, client_address="203.0.113.10", now=now + timedelta(seconds=31)
    )
    assert token
    # Nothing to clear, nothing audited.
    factories.services.activation_code_issue(client=client, issued_by=officer, now=now + timedelta(minutes=3))
    assert AuditEvent.objects.filter(action="activation_lock.clear", client=client).count() == 1


def test_five_failures_from_one_address_lock_that_address_over_http():
    api = APIClient()
    clients = [factories.client() for _ in range(6)]
    for client in clients[:5]:
        response = api.post("/api/v1/activate", activation_body(client, "AAAA-BBBB-CCCC"), format="json")
        assert response.status_code == 400
    code, _ = factories.services.activation_code_issue(client=clients[5], issued_by=None)
    response = api.post("/api/v1/activate", activation_body(clients[5], code), format="json")
    assert response.status_code == 429
    assert error_of(response)["code"] == "too_many_attempts"
    assert 55 <= int(response["Retry-After"]) <= 60
    assert not Device.objects.exists()
    # Another address is not affected.
    other = APIClient(REMOTE_ADDR="203.0.113.5").post("/api/v1/activate", activation_body(clients[5], code), format="json")
    assert other.status_code == 201


def test_the_throttle_tables_hold_no_uci_or_address_in_clear():
    client = factories.client()
    APIClient().post("/api/v1/activate", activation_body(client, "AAAA-BBBB-CCCC"), format="json")
    from enforcement.models import ActivationThrottle

    stored = " ".join(key for row in ActivationThrottle.objects.values_list("key_hash", "uci_hash") for key in row)
    assert ActivationThrottle.objects.count() == 3
    assert client.uci not in stored and "127.0.0.1" not in stored


# --- Consent --------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "fr"])
def test_consent_text_is_served_per_kind_and_language_with_its_version(language):
    response = APIClient().get("/api/v1/consent-text", {"kind": "biometric", "language": language})
    assert response.status_code == 200
    body = response.json()
    text = ConsentText.objects.get(kind="biometric", language=language)
    assert body["version"] == text.version and body["body"] == text.body and body["sha256"] == text.sha256


def test_consent_text_language_defaults_to_accept_language():
    response = APIClient().get("/api/v1/consent-text", {"kind": "app_use"}, HTTP_ACCEPT_LANGUAGE="fr-CA,fr;q=0.9")
    assert response.json()["language"] == "fr"


def test_consents_are_recorded_with_the_version_and_hash_of_the_text():
    reporter = make_reporter(consent=False)
    for kind in ("app_use", "biometric"):
        response = reporter.api.post(
            "/api/v1/consents", {"kind": kind, "decision": "granted", "text_version": "2026-01", "language": "fr"}, format="json"
        )
        assert response.status_code == 201, response.content
    assert response.json()["remote_reporting_allowed"] is True
    record = ConsentRecord.objects.get(client=reporter.client, kind="biometric")
    assert record.text_sha256 == ConsentText.objects.get(kind="biometric", language="fr").sha256
    assert record.channel == "app" and record.device_id == reporter.device.pk


def test_without_both_consents_a_checkin_is_refused_and_the_person_told_to_report_in_person(media_root, django_capture_on_commit_callbacks):
    reporter = make_reporter(consent=False)
    with django_capture_on_commit_callbacks() as callbacks:
        response = reporter.check_in()
    assert response.status_code == 403
    error = error_of(response)
    assert error["code"] == "consent_required" and "in person" in error["message"]
    assert not CheckIn.objects.exists() and not stored_files(media_root) and not callbacks


def test_withdrawing_consent_opens_a_task_and_switches_to_in_person(reporter, media_root):
    response = reporter.api.post(
        "/api/v1/consents", {"kind": "biometric", "decision": "withdrawn", "text_version": "2026-01", "language": "en"}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["remote_reporting_allowed"] is False
    task = InvestigationTask.objects.get(client=reporter.client)
    assert task.reason == "consent_withdrawn"
    assert ReportingCondition.objects.get(client=reporter.client, active=True).method == "in_person"
    assert error_of(reporter.check_in())["code"] == "consent_required"
    actions = [action["code"] for action in reporter.api.get("/api/v1/me").json()["pending_actions"]]
    assert "report_in_person" in actions


def test_a_repeated_refusal_opens_no_second_task():
    reporter = make_reporter(consent=False)
    body = {"kind": "app_use", "decision": "refused", "text_version": "2026-01", "language": "en"}
    reporter.api.post("/api/v1/consents", body, format="json")
    reporter.api.post("/api/v1/consents", body, format="json")
    assert InvestigationTask.objects.filter(client=reporter.client, reason="consent_withdrawn").count() == 1


def test_a_new_consent_text_version_asks_for_consent_again(reporter, media_root):
    publish_new_version("biometric")
    me = reporter.api.get("/api/v1/me").json()
    assert me["consents"]["biometric"]["renewal_needed"] is True
    assert me["consents"]["remote_reporting_allowed"] is False
    assert [action["code"] for action in me["pending_actions"]][0] == "renew_consent"
    assert error_of(reporter.check_in())["code"] == "consent_required"
    # Consenting to the old text is not enough; to the new one it is.
    old = reporter.api.post("/api/v1/consents", {"kind": "biometric", "decision": "granted", "text_version": "2026-01", "language": "en"}, format="json")
    assert old.status_code == 409 and error_of(old)["code"] == "text_version_outdated"
    new = reporter.api.post("/api/v1/consents", {"kind": "biometric", "decision": "granted", "text_version": "2026-09", "language": "en"}, format="json")
    assert new.json()["remote_reporting_allowed"] is True
    assert reporter.check_in().status_code == 202


def publish_new_version(kind: str) -> None:
    for language in ("en", "fr"):
        ConsentText.objects.create(
            kind=kind, language=language, version="2026-09", title="New", body="New text", sha256="0" * 64,
            published_at=datetime(2026, 9, 1, tzinfo=UTC),
        )


# --- Me -------------------------------------------------------------------------------------


def test_me_gives_current_and_next_window_in_local_time_and_utc():
    reporter = make_reporter(time_zone="America/Vancouver")
    now = timezone.now()
    current = factories.window(reporter.client, opens_at=now - timedelta(minutes=30), minutes=120)
    upcoming = factories.window(reporter.client, opens_at=now + timedelta(days=1), minutes=120)
    me = reporter.api.get("/api/v1/me").json()
    assert me["profile"]["time_zone"] == "America/Vancouver"
    assert me["current_window"]["id"] == current.pk and me["next_window"]["id"] == upcoming.pk
    window = me["next_window"]
    utc = datetime.fromisoformat(window["opens_at"].replace("Z", "+00:00"))
    local = datetime.fromisoformat(window["opens_at_local"])
    assert utc == local and local.utcoffset() in (timedelta(hours=-8), timedelta(hours=-7))
    assert [action["code"] for action in me["pending_actions"]] == ["check_in_now"]
    assert me["condition"]["method"] == "remote"


def test_me_uses_the_region_zone_without_an_override(reporter):
    assert reporter.api.get("/api/v1/me").json()["profile"]["time_zone"] == "America/Toronto"


# --- Check-ins ------------------------------------------------------------------------------


def test_a_checkin_is_stored_clean_and_answered_before_scoring(reporter, media_root, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = reporter.check_in()
    assert response.status_code == 202, response.content
    body = response.json()
    checkin = CheckIn.objects.get(pk=body["id"])
    assert body == {"id": checkin.pk, "status": "received", "window": None}
    assert len(callbacks) == 1  # scoring is queued only after the commit
    [path] = stored_files(media_root)
    assert images.selfie() not in path.read_bytes()  # encrypted at rest
    with checkin.selfie.open("rb") as handle:
        assert handle.read()[:3] == b"\xff\xd8\xff"


def test_exif_gps_is_stripped_at_once_and_orientation_applied_by_the_worker(reporter, media_root):
    picture = images.astronaut().resize((300, 200))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to view
    exif[0x8825] = {1: "N", 2: (43.0, 39.0, 11.0), 3: "W", 4: (79.0, 22.0, 59.0)}
    response = reporter.check_in(selfie=images.jpeg(picture, exif=exif))
    checkin = CheckIn.objects.get(pk=response.json()["id"])
    with checkin.selfie.open("rb") as handle:
        stored = Image.open(io.BytesIO(handle.read()))
    # The request kept the pixels as sent (no decoding there) with the orientation as the only tag.
    assert stored.size == (300, 200) and dict(stored.getexif()) == {0x0112: 6}
    assert (checkin.selfie_width, checkin.selfie_height) == (200, 300)
    scoring.checkin_score(checkin_id=checkin.pk)
    checkin.refresh_from_db()
    with checkin.selfie.open("rb") as handle:
        stored = Image.open(io.BytesIO(handle.read()))
    assert stored.size == (200, 300)  # upright
    assert not stored.getexif() and "exif" not in stored.info
    assert len(stored_files(media_root)) == 1  # the turned copy is gone


def test_exif_gps_is_stripped_from_an_upright_jpeg_without_reencoding(reporter, media_root):
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (43.0, 39.0, 11.0)}
    response = reporter.check_in(selfie=images.jpeg(images.astronaut(), exif=exif))
    with CheckIn.objects.get(pk=response.json()["id"]).selfie.open("rb") as handle:
        data = handle.read()
    assert b"Exif" not in data and not Image.open(io.BytesIO(data)).getexif()


def test_a_heic_selfie_from_an_iphone_is_accepted(reporter, media_root):
    import pillow_heif

    heif = pillow_heif.from_pillow(images.astronaut())
    buffer = io.BytesIO()
    heif.save(buffer, quality=80)
    response = reporter.check_in(selfie=buffer.getvalue())
    assert response.status_code == 202, response.content
    checkin = CheckIn.objects.get(pk=response.json()["id"])
    assert checkin.selfie_format == "heif"
    scoring.checkin_score(checkin_id=checkin.pk)
    checkin.refresh_from_db()
    with checkin.selfie.open("rb") as handle:
        assert handle.read()[:3] == b"\xff\xd8\xff"  # the worker keeps it as a clean JPEG


def test_a_retry_with_the_same_key_returns_the_same_checkin(reporter, media_root):
    captured = timezone.now().isoformat()
    first = reporter.check_in(key="retry-1", captured_at=captured)
    second = reporter.check_in(key="retry-1", captured_at=captured)
    assert second.status_code == 202 and second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert CheckIn.objects.count() == 1 and len(stored_files(media_root)) == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_retries_store_one_checkin(media_root):
    import threading

    from django.db import connection

    reporter = make_reporter()
    captured = timezone.now().isoformat()
    results = []
    barrier = threading.Barrier(4)

    def send():
        try:
            barrier.wait()
            results.append(reporter.check_in(key="same", captured_at=captured))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.status_code for r in results] == [202] * 4, [r.content for r in results]
    assert len({r.json()["id"] for r in results}) == 1
    assert CheckIn.objects.count() == 1
    assert len(stored_files(media_root)) == 1  # the losers' files were removed


def test_a_report_captured_in_a_window_and_received_late_within_grace_counts_for_it(reporter, media_root):
    now = timezone.now()
    window = factories.window(reporter.client, opens_at=now - timedelta(minutes=90), minutes=60, grace_minutes=60)
    captured = now - timedelta(minutes=45)  # inside the window, which closed 30 minutes ago
    response = reporter.check_in(captured_at=captured.isoformat())
    assert response.json()["window"]["id"] == window.pk


def test_a_report_sent_before_its_window_opens_does_not_count_for_it(reporter, media_root):
    # Issue 14.10: the phone's clock is set 4 minutes ahead, into a window that opens in 3.
    now = timezone.now()
    factories.window(reporter.client, opens_at=now + timedelta(minutes=3), minutes=60)
    response = reporter.check_in(captured_at=(now + timedelta(minutes=4)).isoformat())
    assert response.status_code == 202, response.content
    assert response.json()["window"] is None


def test_a_report_received_within_the_clock_skew_of_the_opening_counts(reporter, media_root):
    now = timezone.now()
    window = factories.window(reporter.client, opens_at=now + timedelta(seconds=30), minutes=60)
    response = reporter.check_in(captured_at=(now + timedelta(seconds=40)).isoformat())
    assert response.json()["window"]["id"] == window.pk


def test_a_report_received_after_the_grace_period_is_unscheduled(reporter, media_root):
    now = timezone.now()
    factories.window(reporter.client, opens_at=now - timedelta(minutes=180), minutes=60, grace_minutes=60)
    response = reporter.check_in(captured_at=(now - timedelta(minutes=150)).isoformat())
    assert response.status_code == 202
    assert response.json()["window"] is None
    assert CheckIn.objects.get().window is None


def test_circumstance_changes_are_kept_as_history_never_overwritten(reporter, media_root):
    reporter.client.employment = "Cook, Maple Diner"
    reporter.client.save()
    reporter.check_in(key="a", employment="Driver, Metro Taxi", address="12 Queen St W, Toronto")
    reporter.check_in(key="b", employment="Driver, Metro Taxi")  # unchanged: no new record
    changes = CircumstanceChange.objects.filter(client=reporter.client).order_by("field")
    assert [(c.field, c.old_value, c.new_value, c.channel) for c in changes] == [
        ("address", "", "12 Queen St W, Toronto", "app"),
        ("employment", "Cook, Maple Diner", "Driver, Metro Taxi", "app"),
    ]
    assert changes[0].checkin_id == CheckIn.objects.get(idempotency_key="a").pk
    reporter.client.refresh_from_db()
    assert reporter.client.employment == "Driver, Metro Taxi"
    assert reporter.api.get("/api/v1/me").json()["profile"]["address"] == "12 Queen St W, Toronto"


def test_history_lists_own_checkins_in_plain_words_without_scores(reporter, media_root):
    for key in ("a", "b", "c"):
        reporter.check_in(key=key)
    page = reporter.api.get("/api/v1/check-ins", {"limit": 2}).json()
    assert len(page["results"]) == 2 and page["next_before"] is not None
    rest = reporter.api.get("/api/v1/check-ins", {"limit": 2, "before": page["next_before"]}).json()
    assert len(rest["results"]) == 1 and rest["next_before"] is None
    item = page["results"][0]
    assert item["status_text"] == "Your report was received."
    assert not {"score", "distance", "similarity", "best_distance"} & set(item)
    one = reporter.api.get(f"/api/v1/check-ins/{item['id']}")
    assert one.status_code == 200 and one.json() == item


def test_another_clients_checkin_is_not_found(reporter, media_root):
    other = make_reporter()
    theirs = other.check_in().json()["id"]
    response = reporter.api.get(f"/api/v1/check-ins/{theirs}")
    assert response.status_code == 404 and error_of(response)["code"] == "checkin_not_found"
    assert reporter.api.get("/api/v1/check-ins").json()["results"] == []


# --- Language, throttling, logging ----------------------------------------------------------


def test_errors_follow_accept_language_then_the_clients_language(media_root):
    reporter = make_reporter(consent=False, preferred_language="fr")
    french = error_of(reporter.check_in())["message"]
    assert "en personne" in french
    reporter.api.credentials(HTTP_AUTHORIZATION=f"Token {reporter.token}", HTTP_ACCEPT_LANGUAGE="en-CA,en;q=0.8")
    assert "in person" in error_of(reporter.check_in())["message"]


def test_validation_messages_are_translated(reporter):
    reporter.api.credentials(HTTP_AUTHORIZATION=f"Token {reporter.token}", HTTP_ACCEPT_LANGUAGE="fr")
    response = reporter.check_in(latitude="91")
    error = error_of(response)
    assert error["code"] == "invalid_input"
    assert "inférieure ou égale" in error["fields"]["latitude"]
    assert error["message"] != "Some fields are missing or not valid."


def test_validation_messages_follow_each_requests_language(reporter):
    # The check-in's fields are made once per process and language (issue 16.5): a message
    # put into words for one request must not be shown to the next in another language.
    for language, words in [("fr", "inférieure ou égale"), ("en", "less than or equal"), ("fr", "inférieure ou égale")]:
        reporter.api.credentials(HTTP_AUTHORIZATION=f"Token {reporter.token}", HTTP_ACCEPT_LANGUAGE=language)
        error = error_of(reporter.check_in(latitude="91"))
        assert error["code"] == "invalid_input" and words in error["fields"]["latitude"], (language, error)


def test_requests_per_device_are_throttled_with_retry_after(reporter, settings):
    settings.REPORTIN_RATE_DEVICE = (3, 60)
    statuses = [reporter.api.get("/api/v1/me").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = reporter.api.get("/api/v1/me")
    # A sliding window: five counted this minute fade from the window only well into the next.
    assert error_of(response)["code"] == "throttled" and 1 <= int(response["Retry-After"]) <= 121
    assert make_reporter().api.get("/api/v1/me").status_code == 200  # another device is not affected


def test_request_limits_hold_across_a_period_boundary(reporter, settings, monkeypatch):
    """A burst at the end of one minute and another at the start of the next still count
    together (a fixed window would let twice the limit through), and the last minute's
    requests fade out of the window as this one goes on."""
    from reportin.api import auth

    def clock(seconds):  # the throttle's clock only
        monkeypatch.setattr(auth, "time", types.SimpleNamespace(time=lambda: seconds))

    settings.REPORTIN_RATE_DEVICE = (3, 60)
    boundary = (int(time.time() // 60) + 2) * 60  # a boundary no other request has counted near
    clock(boundary - 1)
    assert [reporter.api.get("/api/v1/me").status_code for _ in range(3)] == [200, 200, 200]
    clock(boundary + 1)
    response = reporter.api.get("/api/v1/me")
    assert response.status_code == 429 and 1 <= int(response["Retry-After"]) <= 60
    # Seconds later, as many as Retry-After said, the window has room for one more.
    clock(boundary + 1 + int(response["Retry-After"]))
    assert reporter.api.get("/api/v1/me").status_code == 200
    # Two minutes on, both bursts have faded entirely.
    clock(boundary + 190)
    assert [reporter.api.get("/api/v1/me").status_code for _ in range(3)] == [200, 200, 200]


def test_requests_per_address_are_throttled(settings):
    settings.REPORTIN_RATE_ANONYMOUS = (2, 60)
    api = APIClient(REMOTE_ADDR="203.0.113.9")
    statuses = [api.get("/api/v1/consent-text", {"kind": "app_use"}).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert APIClient(REMOTE_ADDR="203.0.113.10").get("/api/v1/consent-text", {"kind": "app_use"}).status_code == 200


def test_request_log_has_no_token_biometrics_or_personal_data(reporter, media_root, caplog):
    with caplog.at_level(logging.DEBUG):
        reporter.check_in(address="12 Secret Lane")
        reporter.api.get("/api/v1/me")
        APIClient().post("/api/v1/activate", {"activation_code": "X", "uci": reporter.client.uci}, format="json")
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "POST /api/v1/check-ins 202" in text and f"device={reporter.device.pk}" in text
    for secret in (reporter.token, reporter.token[:8], "Secret Lane", reporter.client.uci, "43.6532", reporter.client.family_name):
        assert secret not in text


@pytest.mark.parametrize("backend", ["file", "redis"])
def test_rate_counters_count_every_request_of_concurrent_threads(backend, settings):
    import threading
    import uuid

    from reportin.api.auth import _count

    if backend == "redis":
        if not settings.CELERY_BROKER_URL.startswith("redis://"):
            pytest.skip("no Redis configured (CELERY_BROKER_URL is not redis://); CI runs this on Redis")
        settings.CACHE_URL = settings.CELERY_BROKER_URL
    key = f"reportin:rate:test:{uuid.uuid4().hex}"
    # One after another, every store counts exactly.
    assert [_count([(key, 60)])[0] for _ in range(5)] == [1, 2, 3, 4, 5]
    results = []

    def hit():
        results.extend(_count([(key, 60)]))

    threads = [threading.Thread(target=hit) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if backend == "redis":
        assert sorted(results) == list(range(6, 26))  # atomic: each request saw its own count
    else:
        # The file cache may undercount a burst (a read-then-write), never overcount, and it
        # keeps counting: the burst moved the counter on, and the next request sees it.
        assert len(results) == 20 and min(results) >= 6 and max(results) <= 25
        assert 7 <= _count([(key, 60)])[0] <= max(results) + 1
    # Separate periods and keys count apart.
    assert _count([(key + ":other", 60), (key, 60)])[0] == 1


def test_every_api_message_has_a_french_translation():
    from babel.messages.pofile import read_po

    from tests.conftest import ROOT

    with (ROOT / "reportin/locale/fr/LC_MESSAGES/django.po").open("rb") as handle:
        catalogue = read_po(handle)
    missing = [message.id for message in catalogue if message.id and (not message.string or message.fuzzy)]
    assert not missing


def test_a_bug_answers_500_in_the_error_shape_without_details(reporter, monkeypatch):
    from reportin.api import views

    def broken(**kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(views.selectors, "client_overview", broken)  # a stand-in for any bug
    reporter.api.raise_request_exception = False
    response = reporter.api.get("/api/v1/me")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "server_error"
    assert b"secret" not in response.content


def test_a_checkin_is_one_read_and_two_writes_with_no_nested_savepoint(reporter, media_root):
    # Issue 16.5: the retry probe, both consents and the window come back in one statement;
    # the window is marked reported inside the check-in's own transaction, not a savepoint.
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    now = timezone.now()
    window = factories.window(reporter.client, opens_at=now - timedelta(minutes=30), minutes=60)
    with CaptureQueriesContext(connection) as statements:
        checkin, created = services.checkin_submit(
            device=reporter.device, selfie=images.selfie(), latitude=43.65, longitude=-79.38, accuracy_m=10,
            captured_at=now, idempotency_key="lean", now=now,
        )
    sql = [statement["sql"].split()[0].upper() for statement in statements.captured_queries]
    # The test runs inside a transaction, so the check-in's own one shows as one savepoint.
    assert sql == ["SELECT", "SAVEPOINT", "INSERT", "UPDATE", "RELEASE"], sql
    assert created and checkin.window_id == window.pk
    window.refresh_from_db()
    assert window.status == "reported"
    # Every promise holds: the retry answers with the same check-in, consent is required.
    again, created = services.checkin_submit(
        device=reporter.device, selfie=images.selfie(), latitude=43.65, longitude=-79.38, accuracy_m=10,
        captured_at=now, idempotency_key="lean", now=now,
    )
    assert again.pk == checkin.pk and not created
