"""Shared set-up of the officer workspace tests: staff of each role, tasks made through the
real services (a check-in scored in-process, a missed window swept, a consent withdrawn), and a
page's text as a person reads it. The signed-in officer of these tests is the `officer`
fixture of tests/conftest.py."""

import html
import re
from datetime import timedelta

from django.utils import timezone

from enforcement import roles
from reportin import scoring
from reportin import services as reportin_services
from tests import factories, images

TORONTO = (43.6532, -79.3832)


def text_of(response) -> str:
    """The page's text without its tags, entities decoded, every run of white space one space."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def staff_of_every_role() -> dict:
    return {
        "gta_officer": factories.staff("gta-officer"),
        "quebec_officer": factories.staff("quebec-officer", region_code="quebec"),
        "supervisor": factories.staff("supervisor", role=roles.SUPERVISOR, region_code="gta"),
        "supervisor2": factories.staff("supervisor-2", role=roles.SUPERVISOR, region_code="quebec"),
        "auditor": factories.staff("auditor", role=roles.AUDITOR, region_code=None),
    }


def face_task(*, region_code: str = "gta", picture=None, family_name: str = "Person", now=None, where=TORONTO):
    """A client with the astronaut as reference photo, an open window, and a check-in whose selfie
    is scored in-process: by default someone else's face, a face_non_match task."""
    now = now or timezone.now()
    client = factories.client(region_code=region_code, family_name=family_name)
    factories.consent_both(client)
    factories.condition(
        client, starts_on=factories.LATER, area_latitude=TORONTO[0], area_longitude=TORONTO[1], area_radius_km=50
    )
    window = factories.window(client, opens_at=now - timedelta(hours=1), minutes=180)
    photo = factories.reference_photo(client)
    _, device = factories.device(client)
    checkin, _ = reportin_services.checkin_submit(
        device=device, selfie=images.jpeg(picture if picture is not None else images.lfw_face(1)),
        latitude=where[0], longitude=where[1], accuracy_m=25, captured_at=now, idempotency_key="officer-test",
        address="12 Queen St W, Toronto", now=now,
    )
    match = scoring.checkin_score(checkin_id=checkin.pk, now=now)
    task = client.tasks.get(checkin_id=checkin.pk, reason="face_non_match")
    return {"client": client, "window": window, "photo": photo, "checkin": checkin, "match": match, "task": task, "device": device}


def window_task(*, region_code: str = "gta", reason: str = "missed_report", priority: int = 2, created_at=None, family_name="Person"):
    """A task without a check-in (fast to make in numbers): a window task opened directly."""
    from enforcement import services

    client = factories.client(region_code=region_code, family_name=family_name)
    factories.condition(client, starts_on=factories.LATER)
    now = created_at or timezone.now()
    window = factories.window(client, opens_at=now - timedelta(days=1), minutes=60)
    task, _ = services.task_open(client=client, reason=reason, window=window, priority=priority, now=now)
    return task


def reminded_task(settings, mail_folder):
    """A client reminded by email and by SMS on 2 March 2026 (SMS cannot go: GC Notify has no
    key, the channel's issue), and a missed-report task about their window: the task page's
    reminder history has four rows."""
    from datetime import date, time

    from enforcement import services as enforcement_services
    from enforcement.models import ReportingWindow

    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(mail_folder)
    settings.GC_NOTIFY_API_KEY = ""
    person = factories.client(email="ana@example.org", given_name="Ana", family_name="Outbox")
    enforcement_services.contact_channels_set(
        client=person, channels=[{"channel": "email"}, {"channel": "sms", "address": "+14165550199"}], language="en", recorded_via="app",
    )
    factories.condition(
        person, window_start=time(9, 0), window_minutes=480, grace_minutes=60, starts_on=date(2026, 3, 1), ends_on=date(2026, 3, 2),
        now=factories.MONDAY_MORNING,
    )
    enforcement_services.notifications_send(now=factories.toronto(2026, 3, 2, 9, 1))
    window = ReportingWindow.objects.get(client=person)
    task, _ = enforcement_services.task_open(client=person, reason="missed_report", window=window, priority=2, now=timezone.now())
    return person, task
