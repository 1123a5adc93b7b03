"""Channels (issue 18.1): reminders by SMS through GC Notify (a local stand-in speaking its
documented API over HTTP) and by Web Push (a local push endpoint that checks the VAPID
signature and decrypts the payload with the subscription's keys), the person's choice with
their consent, and delivery status per message."""

import json
import socket
import threading
from datetime import date, time, timedelta
from time import sleep

import pytest
from django.db import connection
from django.utils import timezone

from enforcement import appointments, notifications, services
from enforcement.channels import Contact, GCNotifySmsChannel, RetryLater, Text
from enforcement.models import AuditEvent, ContactChannel, Notification, Office
from tests import factories
from tests.conftest import make_reporter
from tests.gcnotify import API_KEY, REFUSED_NUMBER, TEMPLATES, GCNotify
from tests.push_endpoint import PushEndpoint, vapid_keys

pytestmark = pytest.mark.django_db

local = factories.toronto
OPENS = local(2026, 3, 2, 9, 0)
CLOSES = local(2026, 3, 2, 17, 0)
NUMBER = "+16135550123"


@pytest.fixture
def gc_notify(settings):
    with GCNotify() as standin:
        settings.GC_NOTIFY_API_URL = standin.url
        settings.GC_NOTIFY_API_KEY = API_KEY
        settings.GC_NOTIFY_SMS_TEMPLATES = TEMPLATES
        settings.REPORTIN_REMINDER_HOURS_BEFORE_CLOSE = 2
        yield standin


@pytest.fixture
def push(settings):
    private, public = vapid_keys()
    settings.REPORTIN_VAPID_PRIVATE_KEY, settings.REPORTIN_VAPID_PUBLIC_KEY = private, public
    settings.REPORTIN_VAPID_SUBJECT = "mailto:reportin-ops@example.org"
    with PushEndpoint(vapid_public_key=public) as endpoint:
        yield endpoint


def person_with(channels: list[dict], *, language="en", email="person@example.org"):
    """A client who chose `channels` (with consent) and then got a day's condition with reminders."""
    client = factories.client(email=email, preferred_language=language, given_name="Ana")
    services.contact_channels_set(client=client, channels=channels, language=language, recorded_via="app")
    factories.condition(
        client, window_start=time(9, 0), window_minutes=480, grace_minutes=60, starts_on=date(2026, 3, 1),
        ends_on=date(2026, 3, 2), now=factories.MONDAY_MORNING,
    )
    return client


def test_an_sms_reminder_goes_through_gc_notify_signed_and_in_the_persons_language(gc_notify):
    client = person_with([{"channel": "sms", "address": NUMBER}], language="fr")
    assert set(Notification.objects.filter(client=client).values_list("channel", flat=True)) == {"sms"}
    assert services.notifications_send(now=OPENS + timedelta(minutes=1)) == 1
    [sms] = gc_notify.sent
    assert sms["phone_number"] == NUMBER and sms["template"]["id"] == TEMPLATES["fr"]
    assert "Votre période de présentation se termine le 2 mars 2026 17:00" in sms["body"] or "2 mars 2026 17:00" in sms["body"]
    notification = Notification.objects.get(client=client, kind="window_opened")
    assert (notification.status, notification.provider_reference) == ("sent", sms["id"])
    assert sms["reference"] == f"reportin-notification-{notification.pk}"


def test_a_number_gc_notify_refuses_is_cancelled_with_its_reason(gc_notify):
    client = person_with([{"channel": "sms", "address": REFUSED_NUMBER}])
    assert services.notifications_send(now=OPENS) == 0
    notification = Notification.objects.get(client=client, kind="window_opened")
    assert notification.status == "cancelled"
    assert notification.last_error == "GC Notify 400: ValidationError: phone_number Not a valid phone number"


def test_a_rate_limited_sms_is_queued_again_not_lost(gc_notify):
    client = person_with([{"channel": "sms", "address": NUMBER}])
    gc_notify.rate_limited = True
    assert services.notifications_send(now=OPENS) == 0
    notification = Notification.objects.get(client=client, kind="window_opened")
    assert notification.status == "pending" and notification.send_after > OPENS
    assert "RateLimitError" in notification.last_error
    gc_notify.rate_limited = False
    assert services.notifications_send(now=notification.send_after) == 1
    assert len(gc_notify.sent) == 1


def test_a_wrong_api_key_is_refused_by_gc_notify_and_retried(gc_notify, settings):
    settings.GC_NOTIFY_API_KEY = API_KEY[:-1] + ("0" if API_KEY[-1] != "0" else "1")
    person_with([{"channel": "sms", "address": NUMBER}])
    assert services.notifications_send(now=OPENS) == 0
    notification = Notification.objects.get(kind="window_opened")
    assert notification.status == "pending" and "AuthError: Invalid token: signature" in notification.last_error
    assert gc_notify.sent == []


def test_after_a_sender_died_gc_notify_is_asked_first_and_nothing_is_sent_twice(gc_notify):
    person_with([{"channel": "sms", "address": NUMBER}])
    [claimed] = services.notifications_claim(now=OPENS, limit=10)
    assert services.notifications_deliver(ids=[claimed], now=OPENS) == 1
    # The sender sent but died before writing it down: the row is back in `sending`.
    Notification.objects.filter(pk=claimed).update(status="sending", claimed_at=OPENS, provider_reference="")
    later = OPENS + timedelta(minutes=10)
    assert services.notifications_reclaim(now=later, lease=timedelta(minutes=5), limit=10) == [claimed]
    assert services.notifications_deliver(ids=[claimed], now=later, check_provider=True) == 1
    assert len(gc_notify.sent) == 1
    notification = Notification.objects.get(pk=claimed)
    assert (notification.status, notification.provider_reference) == ("sent", gc_notify.sent[0]["id"])


def test_a_message_that_never_reached_gc_notify_is_sent_on_the_retry(gc_notify):
    person_with([{"channel": "sms", "address": NUMBER}])
    [claimed] = services.notifications_claim(now=OPENS, limit=10)
    later = OPENS + timedelta(minutes=10)
    assert services.notifications_reclaim(now=later, lease=timedelta(minutes=5), limit=10) == [claimed]
    assert services.notifications_deliver(ids=[claimed], now=later, check_provider=True) == 1
    assert len(gc_notify.sent) == 1


def test_delivery_receipts_from_gc_notify_record_delivered_and_failed_with_the_reason(gc_notify, settings, client):
    settings.GC_NOTIFY_CALLBACK_TOKEN = "callback-secret-0123456789"
    first = person_with([{"channel": "sms", "address": NUMBER}])
    second = person_with([{"channel": "sms", "address": "+16135550124"}])
    assert services.notifications_send(now=OPENS) == 2
    by_number = {sms["phone_number"]: sms["id"] for sms in gc_notify.sent}
    headers = {"HTTP_AUTHORIZATION": "Bearer callback-secret-0123456789"}
    delivered = {"id": by_number[NUMBER], "reference": "x", "to": NUMBER, "status": "delivered", "notification_type": "sms"}
    failed = {"id": by_number["+16135550124"], "status": "permanent-failure", "status_description": "Failed",
              "provider_response": "The phone number is not in service", "notification_type": "sms"}
    assert client.post("/api/v1/notify/receipts", delivered, content_type="application/json", **headers).json() == {"recorded": True}
    assert client.post("/api/v1/notify/receipts", failed, content_type="application/json", **headers).json() == {"recorded": True}
    one = Notification.objects.get(client=first, kind="window_opened")
    two = Notification.objects.get(client=second, kind="window_opened")
    assert one.status == "delivered" and one.delivered_at is not None
    assert two.status == "failed" and two.last_error == "GC Notify permanent-failure: Failed The phone number is not in service"


def test_a_receipt_without_the_callback_token_changes_nothing(gc_notify, settings, client):
    settings.GC_NOTIFY_CALLBACK_TOKEN = "callback-secret-0123456789"
    person_with([{"channel": "sms", "address": NUMBER}])
    services.notifications_send(now=OPENS)
    body = {"id": gc_notify.sent[0]["id"], "status": "delivered"}
    response = client.post("/api/v1/notify/receipts", body, content_type="application/json", HTTP_AUTHORIZATION="Bearer wrong")
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_token"
    assert Notification.objects.get(kind="window_opened").status == "sent"


def test_a_push_reminder_is_encrypted_for_the_subscription_and_signed_with_vapid(push):
    client = person_with([push.subscription()])
    assert services.notifications_send(now=OPENS) == 1
    assert push.errors == []
    [message] = push.received
    assert message["payload"]["title"] == "Your reporting window is open"
    assert "closes on March 2, 2026, 5 p.m." in message["payload"]["body"]
    assert message["payload"]["url"] == "/app/" and message["payload"]["lang"] == "en"
    assert message["vapid"]["sub"] == "mailto:reportin-ops@example.org"
    notification = Notification.objects.get(client=client, kind="window_opened")
    assert notification.status == "sent" and notification.provider_reference == f"{push.origin}/messages/1"


def test_a_push_subscription_the_browser_dropped_is_cancelled_with_the_reason(push):
    person_with([push.subscription()])
    push.gone = True
    assert services.notifications_send(now=OPENS) == 0
    notification = Notification.objects.get(kind="window_opened")
    assert notification.status == "cancelled" and notification.last_error.startswith("push service 410")


def test_each_chosen_channel_gets_its_own_reminder_with_its_own_status(gc_notify, push, mailoutbox):
    client = person_with([{"channel": "email"}, {"channel": "sms", "address": NUMBER}, push.subscription()])
    assert services.notifications_send(now=OPENS) == 3
    assert len(gc_notify.sent) == 1 and len(push.received) == 1 and len(mailoutbox) == 1
    assert sorted(Notification.objects.filter(client=client, kind="window_opened").values_list("channel", "status")) == [
        ("email", "sent"), ("push", "sent"), ("sms", "sent"),
    ]


# --- The choice, over the API ---------------------------------------------------------------


def test_choosing_channels_in_the_app_records_consent_and_queued_reminders_follow(push):
    reporter = make_reporter(email="a@example.org")
    factories.condition(reporter.client, starts_on=timezone.localdate() + timedelta(days=1))  # reminders ahead
    assert set(Notification.objects.filter(client=reporter.client).values_list("channel", flat=True)) == {"email"}
    shown = reporter.api.get("/api/v1/channels", HTTP_ACCEPT_LANGUAGE="fr").json()
    sms_text = next(item["consent_text"] for item in shown["available"] if item["channel"] == "sms")
    assert "Notification GC" in sms_text and sms_text.startswith("J")  # French
    response = reporter.api.put(
        "/api/v1/channels", {"language": "fr", "channels": [{"channel": "sms", "address": NUMBER}, push.subscription()]}, format="json"
    )
    assert response.status_code == 200, response.content
    assert [(item["channel"], item["address"]) for item in response.json()["channels"]] == [("push", ""), ("sms", "•••••••••123")]
    rows = {row.channel: row for row in ContactChannel.objects.filter(client=reporter.client, ended_at__isnull=True)}
    assert rows["sms"].consent_text == sms_text and rows["sms"].consent_language == "fr" and rows["sms"].recorded_via == "app"
    queued = Notification.objects.filter(client=reporter.client, status="pending")
    assert {n.channel for n in queued} == {"sms", "push"}
    assert set(Notification.objects.filter(client=reporter.client, channel="email").values_list("status", flat=True)) == {"cancelled"}
    assert AuditEvent.objects.filter(action="contact_channels.set", client=reporter.client).count() == 1


def test_choosing_again_keeps_the_history(push):
    reporter = make_reporter()
    reporter.api.put("/api/v1/channels", {"language": "en", "channels": [{"channel": "sms", "address": NUMBER}]}, format="json")
    reporter.api.put("/api/v1/channels", {"language": "en", "channels": [{"channel": "sms", "address": "+16135550999"}]}, format="json")
    rows = list(ContactChannel.objects.filter(client=reporter.client).order_by("chosen_at", "pk").values_list("address", "ended_at"))
    assert [address for address, _ in rows] == [NUMBER, "+16135550999"]
    assert rows[0][1] is not None and rows[1][1] is None


@pytest.mark.parametrize(
    ("channels", "field"),
    [
        ([{"channel": "sms", "address": "613-555-0123"}], "channels[0].address"),
        ([{"channel": "email"}, {"channel": "sms"}], "channels[1].address"),
        ([{"channel": "fax"}], "channels[0].channel"),
        ([{"channel": "push", "push_endpoint": "ftp://push.example/1", "push_p256dh": "x", "push_auth": "y"}], "channels[0].push_endpoint"),
        ([{"channel": "push", "push_endpoint": "https://push.example/1", "push_p256dh": "AAAA", "push_auth": "AAAAAAAAAAAAAAAAAAAAAA"}], "channels[0].push_p256dh"),
        ([{"channel": "email", "address": NUMBER}], "channels[0].address"),
        ([{"channel": "sms", "address": NUMBER, "colour": "red"}], "channels[0].colour"),
    ],
)
def test_a_bad_choice_is_refused_with_the_field_and_changes_nothing(channels, field):
    reporter = make_reporter()
    response = reporter.api.put("/api/v1/channels", {"language": "en", "channels": channels}, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid_input" and list(error["fields"]) == [field], error
    assert not ContactChannel.objects.exists()


def test_email_cannot_be_chosen_without_an_address_on_file():
    reporter = make_reporter(email="")
    response = reporter.api.put("/api/v1/channels", {"language": "en", "channels": [{"channel": "email"}]}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_input"
    assert not ContactChannel.objects.exists()


def test_the_same_channel_twice_is_refused():
    reporter = make_reporter()
    body = {"language": "en", "channels": [{"channel": "sms", "address": NUMBER}, {"channel": "sms", "address": "+16135550999"}]}
    response = reporter.api.put("/api/v1/channels", body, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_input"
    assert not ContactChannel.objects.exists()


# --- Fan-out (issue 18.2) -------------------------------------------------------------------


def test_a_stale_chunk_finds_nothing_to_do_once_its_rows_were_reclaimed(gc_notify):
    person_with([{"channel": "sms", "address": NUMBER}])
    [claimed] = services.notifications_claim(now=OPENS, limit=10)
    later = OPENS + timedelta(minutes=10)
    services.notifications_reclaim(now=later, lease=timedelta(minutes=5), limit=10)
    # The first claim's task, handed out again by the broker, carries the old token.
    assert services.notifications_deliver(ids=[claimed], claimed_at=OPENS, now=later) == 0
    assert gc_notify.sent == []
    assert services.notifications_deliver(ids=[claimed], claimed_at=later, now=later, check_provider=True) == 1
    assert len(gc_notify.sent) == 1


def test_sends_keep_to_the_providers_rate(gc_notify, settings):
    import time as clock

    settings.REPORTIN_CHANNEL_RATES = {"sms": 3}
    # Counters that count exactly under a burst of sender threads, as Redis does in production
    # (the file cache, the embedded default, may undercount a little).
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "rate-test"}}
    for number in range(7):
        person_with([{"channel": "sms", "address": f"+1613555{number:04d}"}])
    started = clock.monotonic()
    assert services.notifications_send(now=OPENS) == 7
    # 7 sends at 3 a second need at least two second boundaries.
    assert clock.monotonic() - started > 1.0


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_dispatcher_hands_chunks_to_a_real_notify_worker(celery_worker, settings):
    from pathlib import Path

    from enforcement.tasks import notifications_dispatch

    client = factories.client(email="fanout-test@example.org")
    factories.condition(client, starts_on=timezone.localdate() - timedelta(days=1))  # a day-long window under way
    due = Notification.objects.filter(client=client, send_after__lte=timezone.now()).count()
    assert due >= 1
    assert notifications_dispatch(budget_s=1.0) >= due  # claimed and queued on `notify`, not sent here
    folder = Path(settings.EMAIL_FILE_PATH)

    def delivered():
        rows = Notification.objects.filter(client=client, send_after__lte=timezone.now())
        return all(row.status == "sent" for row in rows) and rows.exists()

    from tests.conftest import wait_for

    wait_for(delivered, timeout=60, message=f"the notify worker to send (worker log:\n{celery_worker.log()})")
    assert any("fanout-test@example.org" in path.read_text() for path in folder.glob("*.log"))


def test_the_dispatcher_keeps_in_hand_what_the_workers_send_in_half_a_lease():
    # Issue 18.2: a chunk left in the queue past its lease is taken again and each of its
    # messages looked up at the provider first, which slows the workers further; so the
    # dispatcher claims no more than the workers are seen to send in half a lease.
    from enforcement.tasks import InFlightCap

    cap = InFlightCap(chunk=500, lease_s=30, most=20_000)
    assert cap.limit == 1_000  # two chunks until the workers' pace is known
    cap.observe(at=0.0, in_hand=0)
    cap.claimed(1_000)
    cap.observe(at=1.0, in_hand=600)  # too soon to measure: nothing changes
    assert cap.limit == 1_000
    cap.observe(at=2.0, in_hand=200)  # 800 sent in 2 s: 400 a second, 6,000 in 15 s
    assert (cap.pace, cap.limit) == (400, 6_000)
    cap.observe(at=4.0, in_hand=200)  # the workers stalled: the cap follows them down
    assert (cap.pace, cap.limit) == (200, 3_000)
    cap.claimed(100)
    cap.observe(at=6.0, in_hand=300)  # still stalled: never below two chunks
    assert cap.limit == 1_500
    cap.observe(at=8.0, in_hand=0)
    assert cap.limit == max(1_000, int(cap.pace * 15))
    # A long lease: the configured most, whatever the pace.
    fast = InFlightCap(chunk=500, lease_s=300, most=20_000)
    fast.observe(at=0.0, in_hand=0)
    fast.claimed(20_000)
    fast.observe(at=2.0, in_hand=0)
    assert fast.limit == 20_000


class _OneAnswerThenHangUp:
    """A GC Notify that answers each connection's first request (keep-alive promised) and then
    closes it, as a server's idle timeout does; or, with `answer=False`, hangs up unanswered."""

    def __init__(self, *, answer: bool = True):
        self.answer, self.connections = answer, 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            with connection:
                request = b""
                while b"\r\n\r\n" not in request:
                    request += connection.recv(65536)
                head, _, body = request.partition(b"\r\n\r\n")
                length = int(next((line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), b"0"))
                while len(body) < length:
                    body += connection.recv(65536)
                if self.answer:
                    raw = json.dumps({"id": f"id-{self.connections}"}).encode()
                    connection.sendall(b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
                                       + f"Content-Length: {len(raw)}\r\n\r\n".encode() + raw)

    def close(self):
        self.listener.close()


def test_a_kept_alive_connection_the_provider_closed_is_opened_again_before_the_next_send(settings):
    provider = _OneAnswerThenHangUp()
    settings.GC_NOTIFY_API_URL, settings.GC_NOTIFY_API_KEY, settings.GC_NOTIFY_SMS_TEMPLATES = provider.url, API_KEY, TEMPLATES
    channel, text = GCNotifySmsChannel(), Text(language="en", subject="s", short="ReportIn: hello", body="b")
    try:
        first = channel.send(reference="r-1", contact=Contact(phone=NUMBER), text=text)
        sleep(0.2)  # the provider has closed its side by now
        second = channel.send(reference="r-2", contact=Contact(phone=NUMBER), text=text)
    finally:
        provider.close()
    assert (first, second, provider.connections) == ("id-1", "id-2", 2)


def test_a_provider_that_hangs_up_without_answering_is_retried_later_not_counted_sent(settings):
    provider = _OneAnswerThenHangUp(answer=False)
    settings.GC_NOTIFY_API_URL, settings.GC_NOTIFY_API_KEY, settings.GC_NOTIFY_SMS_TEMPLATES = provider.url, API_KEY, TEMPLATES
    try:
        with pytest.raises(RetryLater, match="GC Notify unreachable"):
            GCNotifySmsChannel().send(reference="r-1", contact=Contact(phone=NUMBER), text=Text(language="en", subject="s", short="x", body="b"))
    finally:
        provider.close()


def test_a_claimed_chunk_is_loaded_with_all_its_senders_read_so_no_sender_thread_queries(gc_notify, django_assert_num_queries):
    """Window reminders by SMS, an officer's request notice and an appointment's reminder by
    email: the chunk's one load holds every column their texts and contacts need (a deferred
    column read in a sender thread would be one query per message, on that thread's own
    connection)."""
    sms = person_with([{"channel": "sms", "address": NUMBER}], language="fr")
    reporter = make_reporter(email="ana@example.org")
    officer = factories.staff("chunk-officer")
    now = timezone.now()
    appointments.checkin_request(client=reporter.client, officer=officer, minutes=90, now=now)
    office = Office.objects.create(region=factories.region("gta"), name="Toronto CBSA office", address="1 Front St W", main=True)
    appointments.appointment_schedule(
        client=reporter.client, officer=officer, kind="interview", starts_at=now + timedelta(hours=3), office=office, bring="Your passport", now=now,
    )
    services.windows_materialise(now=OPENS - timedelta(hours=1))
    claimed = services.notifications_claim(now=OPENS + timedelta(hours=7), limit=100) + services.notifications_claim(now=now + timedelta(hours=2), limit=100)
    rows = services.notifications_to_deliver(ids=claimed)
    kinds = {(row.client_id, row.kind, row.channel, row.notice_id is not None, row.appointment_id is not None) for row in rows}
    assert {kind[:3] for kind in kinds} >= {(sms.pk, "window_opened", "sms"), (sms.pk, "window_closing", "sms")}
    assert any(kind[3] for kind in kinds) and any(kind[4] for kind in kinds)
    with django_assert_num_queries(0):
        texts = [(notifications.text(row), notifications.contact(row, None)) for row in rows]
    assert all(text.short and text.body for text, _contact in texts)
    assert any("Bonjour" in text.body for text, _contact in texts)


def test_a_delivery_receipt_finds_its_message_through_an_index_not_a_scan_of_every_message():
    # The lookup notification_receipt makes, once per receipt (500,000 a morning).
    lookup = services.notifications_sent_as(provider_reference="f3a1c2")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")  # an empty test table: make the planner show what it can use
        plan = lookup.explain()
    assert "notification_receipt_idx" in plan


@pytest.mark.parametrize("query, index", [
    (lambda now: services.notifications_due(now=now), "notification_due_order_idx"),
    (lambda now: services.notifications_stale(now=now, lease=timedelta(minutes=5)), "notification_sending_order_idx"),
])
def test_the_dispatchers_claims_read_their_chunk_off_an_index_in_order_without_sorting_every_due_message(query, index):
    """A morning's reminders share one send_after (and a chunk's rows one claimed_at): with
    only the time in the index, every claim sorted all the due rows (350 ms a chunk at 500,000)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")
        plan = query(timezone.now())[:500].explain()
    assert index in plan
    assert "Sort" not in plan and "TEMP B-TREE" not in plan
