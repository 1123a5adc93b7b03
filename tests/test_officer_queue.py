"""The triage queue (the InvestigationTask list): unresolved tasks of the officer's region by
priority then age, its filters, search, counts per reason, and a number of queries that does
not grow with the page."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from enforcement import services
from enforcement.models import InvestigationTask
from reportin import services as reportin_services
from tests import factories
from tests.officer import window_task

pytestmark = pytest.mark.django_db

TASKS = "/admin/enforcement/investigationtask/"
NOW = timezone.now()


@pytest.fixture
def officer(client):
    user = factories.staff("queue-officer")
    factories.staff_login(client, user)
    return user


def row_ids(response) -> list[int]:
    return [int(i) for i in re.findall(r'<a href="/admin/enforcement/investigationtask/(\d+)/change/', response.content.decode())]


def test_the_queue_is_the_regions_unresolved_tasks_by_priority_then_age(client, officer):
    old_normal = window_task(priority=2, created_at=NOW - timedelta(days=3))
    new_urgent = window_task(priority=4, created_at=NOW - timedelta(hours=1))
    old_urgent = window_task(priority=4, created_at=NOW - timedelta(hours=5))
    new_normal = window_task(priority=2, created_at=NOW - timedelta(hours=2))
    low = window_task(priority=1, created_at=NOW - timedelta(days=9))
    done = window_task(priority=4, created_at=NOW - timedelta(days=1))
    reportin_services.task_decide(task=done, resolution="contact_made", note="Called", officer=officer)
    window_task(region_code="pacific", priority=4)
    response = client.get(TASKS)
    assert response.status_code == 200
    assert row_ids(response) == [old_urgent.pk, new_urgent.pk, old_normal.pk, new_normal.pk, low.pk]
    assert "Triage queue — Greater Toronto Area" in response.content.decode()


def test_counts_per_reason_of_the_open_tasks(client, officer):
    for _ in range(3):
        window_task(reason="missed_report")
    window_task(reason="face_non_match")
    window_task(reason="face_non_match", region_code="quebec")
    body = client.get(TASKS).content.decode()
    counts = dict(re.findall(r'data-reason="(\w+)">[^<]*: <strong>(\d+)</strong>', body))
    assert counts == {"missed_report": "3", "face_non_match": "1"}
    assert "4 open tasks" in body


def test_filters_reason_status_priority_assigned_to_me_and_past_due(client, officer):
    missed = window_task(reason="missed_report", priority=3)
    face = window_task(reason="face_non_match", priority=2)
    overdue = window_task(reason="low_quality", priority=1, created_at=NOW - timedelta(days=5))
    resolved = window_task(reason="no_face")
    services.task_assign(task=face, assignee=officer, by=officer)
    reportin_services.task_decide(task=resolved, resolution="false_alarm", note="Fine", officer=officer)
    assert row_ids(client.get(TASKS, {"reason__exact": "missed_report"})) == [missed.pk]
    assert row_ids(client.get(TASKS, {"priority__exact": "2"})) == [face.pk]
    assert row_ids(client.get(TASKS, {"assigned": "me"})) == [face.pk]
    assert row_ids(client.get(TASKS, {"assigned": "nobody"})) == [missed.pk, overdue.pk]
    assert row_ids(client.get(TASKS, {"due": "past"})) == [overdue.pk]
    assert row_ids(client.get(TASKS, {"status": "resolved"})) == [resolved.pk]
    assert row_ids(client.get(TASKS, {"status": "in_progress"})) == [face.pk]
    assert set(row_ids(client.get(TASKS, {"status": "all"}))) == {missed.pk, face.pk, overdue.pk, resolved.pk}


def test_region_filter_is_offered_to_supervisors(client):
    window_task(region_code="gta")
    quebec = window_task(region_code="quebec")
    factories.staff_login(client, factories.staff("queue-supervisor", role="Supervisor"))
    region = factories.region("quebec")
    response = client.get(TASKS, {"region__id__exact": region.pk})
    assert row_ids(response) == [quebec.pk]
    assert "By region" in response.content.decode()


def test_search_by_uci_and_name(client, officer):
    tremblay = window_task(family_name="Tremblay")
    window_task(family_name="Roy")
    assert row_ids(client.get(TASKS, {"q": tremblay.client.uci})) == [tremblay.pk]
    assert row_ids(client.get(TASKS, {"q": "tremb"})) == [tremblay.pk]
    assert row_ids(client.get(TASKS, {"q": "99999999"})) == []


def queue_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(TASKS)
    assert response.status_code == 200
    return len(queries)


def test_the_number_of_queries_does_not_grow_with_the_page(client, officer, django_assert_num_queries):
    supervisor = factories.staff("queue-supervisor", role="Supervisor")
    other = factories.staff("queue-other")
    for reason in ("missed_report", "face_non_match", "no_face"):
        window_task(reason=reason)
    few = queue_queries(client)
    reasons = ["missed_report", "face_non_match", "no_face", "low_quality", "possible_replay"]
    for i in range(40):
        task = window_task(reason=reasons[i % 5], priority=1 + i % 4, family_name=f"Person{i}")
        if i % 3 == 0:
            services.task_assign(task=task, assignee=officer if i % 2 else other, by=supervisor)
    assert InvestigationTask.objects.count() == 43
    # assertNumQueries: the same count for 43 tasks of many clients, reasons and assignees.
    with django_assert_num_queries(few):
        response = client.get(TASKS)
    assert len(row_ids(response)) == 43
    # A small fixed number: session, user, roles, permissions (2), counts per reason, region, the
    # page's count and rows,
    # the filters' choices.
    assert few <= 10, few


def test_a_client_moved_to_another_region_takes_their_tasks_to_that_regions_queue(client, officer):
    """The queue reads the task's own copy of the region (one index, no join of clients):
    client_update keeps it with the client's."""
    moving = window_task(family_name="Mover")
    staying = window_task(family_name="Stayer")
    assert moving.region == moving.client.region
    assert set(row_ids(client.get(TASKS))) == {moving.pk, staying.pk}
    supervisor = factories.staff("region-mover", role="Supervisor", region_code=None)
    pacific = factories.region("pacific")
    services.client_update(client=moving.client, changes={"region": pacific, "case_officer": supervisor}, updated_by=supervisor)
    assert row_ids(client.get(TASKS)) == [staying.pk]
    pacific_officer = factories.staff("pacific-officer", region_code="pacific")
    factories.staff_login(client, pacific_officer)
    assert row_ids(client.get(TASKS)) == [moving.pk]
    assert client.get(f"{TASKS}{moving.pk}/change/").status_code == 200


def test_a_row_says_how_many_of_the_persons_messages_no_officer_has_read(client, officer):
    from enforcement import messages

    quiet = window_task(family_name="Quiet")
    writing = window_task(family_name="Writer")
    for body in ("I was at the hospital.", "Here is the letter."):
        messages.message_send_by_person(client=writing.client, device_id=None, body=body)
    # An officer's own message to the person is not counted, and neither is one read already.
    messages.message_send_by_officer(client=quiet.client, officer=officer, body="Please call the office.")
    read = messages.message_send_by_person(client=quiet.client, device_id=None, body="Done.")
    messages.message_mark_read(client=quiet.client, message_id=read.pk, reader=officer)

    page = client.get(TASKS).content.decode()
    rows = {int(m.group(1)): m.group(0) for m in re.finditer(r'investigationtask/(\d+)/change/.*?</tr>', page, flags=re.S)}
    assert "✉ 2 unread messages from the person" in rows[writing.pk]
    assert "unread" not in rows[quiet.pk]
