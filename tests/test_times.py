"""Times in the back office (issue 17.8): every time shown names its zone; a client's times
(task page, queue, check-ins, windows, the client's page) are in the client's local zone, any
other in the staff member's (their region's, UTC without one). One function
(enforcement.times.shown) and its template filter (|zoned) make every one of them."""

import html
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.template import Context, Template
from django.utils import timezone

from enforcement import roles, times
from enforcement import services as enforcement_services
from tests import factories
from tests.officer import face_task

pytestmark = pytest.mark.django_db

TASKS = "/admin/enforcement/investigationtask/"
# A clock time followed by a zone: "2026-12-07 09:15 EST".
ZONED = r"\d{4}-\d\d-\d\d \d\d:\d\d (?:[A-Z]{3,4}|UTC|[A-Za-z]+/[A-Za-z_]+)"


def text_of(response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def test_shown_names_the_zone_of_the_instant():
    winter, summer = datetime(2026, 12, 7, 14, 15, tzinfo=UTC), datetime(2026, 7, 7, 14, 15, 30, tzinfo=UTC)
    assert times.shown(winter, "America/Toronto") == "2026-12-07 09:15 EST"
    assert times.shown(summer, "America/Toronto") == "2026-07-07 10:15 EDT"
    assert times.shown(summer, "America/Halifax", seconds=True) == "2026-07-07 11:15:30 ADT"
    assert times.shown(winter, "UTC") == "2026-12-07 14:15 UTC"
    # A zone without letters for its offset is named in full rather than "-03".
    assert times.shown(winter, "America/Sao_Paulo") == "2026-12-07 11:15 America/Sao_Paulo"
    assert times.shown(None, "UTC") == ""
    # Without a zone: the active one (the staff member's, set per request by the middleware).
    with timezone.override(ZoneInfo("America/Halifax")):
        assert times.shown(winter) == "2026-12-07 10:15 AST"
    # (Western zones' names and offsets are taken from the pinned zone data, which changes.)
    winnipeg = winter.astimezone(ZoneInfo("America/Winnipeg"))
    assert Template("{% load zoned %}{{ t|zoned:'America/Winnipeg' }} / {{ t|zoned }}").render(Context({"t": winter})) == (
        f"{winnipeg:%Y-%m-%d %H:%M} {winnipeg.tzname()} / 2026-12-07 14:15 UTC"
    )


def test_the_staff_zone_is_the_regions_or_utc():
    assert times.staff_zone(factories.staff("west", region_code="pacific")) == "America/Vancouver"
    assert times.staff_zone(factories.staff("nowhere", role=roles.AUDITOR, region_code=None)) == "UTC"


def test_the_task_page_and_the_queue_show_the_clients_time_whoever_looks(client, settings):
    settings.REPORTIN_BLIND_REVIEW_REASONS = []
    case = face_task()  # a client of the GTA: America/Toronto
    task = case["task"]
    # A supervisor in Vancouver looks at a Toronto client's task: Toronto's times, named.
    supervisor = factories.staff("west-supervisor", role=roles.SUPERVISOR, region_code="pacific")
    factories.staff_login(client, supervisor)
    page = text_of(client.get(f"{TASKS}{task.pk}/change/"))
    toronto = ZoneInfo("America/Toronto")
    due = task.due_by.astimezone(toronto)
    assert f"due: {due:%Y-%m-%d %H:%M} {due.tzname()};" in page
    captured = case["checkin"].captured_at.astimezone(toronto)
    assert f"Selfie, {captured:%Y-%m-%d %H:%M} {captured.tzname()}" in page
    assert f"Captured {captured:%Y-%m-%d %H:%M} {captured.tzname()} (phone clock)" in page
    # No time on the page is without its zone, none is in UTC or in the viewer's zone.
    viewers = timezone.now().astimezone(ZoneInfo("America/Vancouver")).tzname()
    assert "UTC" not in page and viewers not in page
    clock_times = re.findall(r"\d{4}-\d\d-\d\d \d\d:\d\d(?::\d\d)?(?: [A-Za-z/_]+)?", page)
    assert clock_times and all(re.fullmatch(ZONED, found) for found in clock_times), clock_times

    # The queue: the due time in the client's zone; the age's tooltip the opening time.
    queue = client.get(TASKS).content.decode()
    assert f"{due:%Y-%m-%d %H:%M} {due.tzname()}" in queue
    opened = task.created_at.astimezone(toronto)
    assert f'title="opened {opened:%Y-%m-%d %H:%M} {opened.tzname()}"' in queue


def test_a_clients_override_zone_is_used_for_their_checkins_and_windows(client):
    case = face_task(region_code="pacific")
    enforcement_services.client_update(
        client=case["client"], changes={"time_zone": "America/Winnipeg"}, updated_by=factories.staff("admin-sup", role=roles.SUPERVISOR)
    )
    officer = factories.staff("pacific-officer", region_code="pacific")
    factories.staff_login(client, officer)
    winnipeg = ZoneInfo("America/Winnipeg")
    received = case["checkin"].received_at.astimezone(winnipeg)
    checkins = text_of(client.get("/admin/reportin/checkin/"))
    pacific = case["checkin"].received_at.astimezone(ZoneInfo("America/Vancouver"))
    assert f"{received:%Y-%m-%d %H:%M} {received.tzname()}" in checkins and f"{pacific:%H:%M} {pacific.tzname()}" not in checkins
    opens = case["window"].opens_at.astimezone(winnipeg)
    windows = text_of(client.get("/admin/enforcement/reportingwindow/"))
    assert f"{opens:%Y-%m-%d %H:%M} {opens.tzname()}" in windows


def test_other_times_are_in_the_staff_members_zone_with_its_name(client):
    event_at = timezone.now()
    enforcement_services.audit_record(actor=None, action="test.event", actor_label="test", now=event_at)
    for region_code, zone in ((None, "UTC"), ("pacific", "America/Vancouver")):
        auditor = factories.staff(f"auditor-{region_code}", role=roles.AUDITOR, region_code=region_code)
        factories.staff_login(client, auditor)
        response = client.get("/admin/enforcement/auditevent/")
        assert response.status_code == 200
        assert times.shown(event_at, zone) in text_of(response)


def test_the_client_page_shows_consent_and_activation_times_in_the_clients_zone(client):
    case = face_task(region_code="atlantic")  # America/Halifax
    officer = factories.staff("atlantic-officer", region_code="atlantic")
    factories.staff_login(client, officer)
    _, record = enforcement_services.activation_code_issue(client=case["client"], issued_by=officer, now=timezone.now() - timedelta(hours=1))
    page = text_of(client.get(f"/admin/enforcement/client/{case['client'].pk}/change/"))
    halifax = ZoneInfo("America/Halifax")
    issued = record.issued_at.astimezone(halifax)
    assert f"Issued {issued:%Y-%m-%d %H:%M} {issued.tzname()} by atlantic-officer" in page
    assert " UTC" not in page
