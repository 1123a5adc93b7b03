"""The back office's landing page ("My work", issue 17.2) and the supervisors' pages (17.6): the
sign-off inbox, the workload by officer, reassignment in bulk, and sign-off forms with no
decision chosen in advance."""

import html
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from backoffice import selectors
from enforcement import services
from enforcement.models import AuditEvent, Escalation, InvestigationTask
from reportin import services as reportin_services
from tests import factories
from tests.officer import window_task

pytestmark = pytest.mark.django_db

TASKS = "/admin/enforcement/investigationtask/"
NOW = timezone.now()


def text(response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def section(response, element_id: str) -> str:
    """The HTML of the element with this id (up to its closing tag of the same name)."""
    body = response.content.decode()
    start = body.index(f'id="{element_id}"')
    tag = body[body.rindex("<", 0, start) + 1 :].split()[0]
    return body[start : body.index(f"</{tag}>", start)]


def figure(response, element_id: str) -> int:
    return int(re.search(r"<strong>(\d+)</strong>", section(response, element_id)).group(1))


def task_links(fragment: str) -> list[int]:
    return [int(i) for i in re.findall(r'href="/admin/enforcement/investigationtask/(\d+)/change/', fragment)]


@pytest.fixture
def staff():
    return {
        "officer": factories.staff("work-officer"),
        "colleague": factories.staff("work-colleague"),
        "quebec_officer": factories.staff("work-quebec", region_code="quebec"),
        "supervisor": factories.staff("work-supervisor", role="Supervisor"),
        "supervisor2": factories.staff("work-supervisor-2", role="Supervisor", region_code="quebec"),
        "auditor": factories.staff("work-auditor", role="Auditor", region_code=None),
    }


@pytest.fixture
def tasks(staff):
    """GTA: two of the officer's tasks (one overdue), an overdue one of a colleague, an overdue
    one nobody has taken, one of the officer's resolved; Quebec: an overdue one."""
    officer = staff["officer"]
    made = {
        "mine_overdue": window_task(created_at=NOW - timedelta(days=5)),
        "mine_soon": window_task(created_at=NOW - timedelta(hours=1)),
        "colleagues_overdue": window_task(created_at=NOW - timedelta(days=4)),
        "nobodys_overdue": window_task(created_at=NOW - timedelta(days=3)),
        "mine_resolved": window_task(created_at=NOW - timedelta(days=6)),
        "quebec_overdue": window_task(region_code="quebec", created_at=NOW - timedelta(days=3)),
    }
    for name in ("mine_soon", "mine_overdue", "mine_resolved"):
        services.task_assign(task=made[name], assignee=officer, by=officer)
    services.task_assign(task=made["colleagues_overdue"], assignee=staff["colleague"], by=staff["colleague"])
    reportin_services.task_decide(task=made["mine_resolved"], resolution="contact_made", note="Called her.", officer=officer)
    return made


def test_an_officers_landing_is_their_open_tasks_by_due_time_and_the_overdue_counts(client, staff, tasks):
    factories.staff_login(client, staff["officer"])
    response = client.get("/admin/")
    assert response.status_code == 200
    # Soonest due first, each linked to its task page; the resolved one is not there.
    assert task_links(section(response, "my-tasks")) == [tasks["mine_overdue"].pk, tasks["mine_soon"].pk]
    rows = text(response)
    assert "past due" in section(response, "my-tasks") and "America/Toronto" in section(response, "my-tasks")
    assert (figure(response, "figure-mine-open"), figure(response, "figure-mine-overdue")) == (2, 1)
    # Their region's overdue tasks: theirs, their colleague's and nobody's; not Quebec's.
    assert figure(response, "figure-region-overdue") == 3 and "Overdue in Greater Toronto Area" in rows
    assert 'id="figure-all-overdue"' not in response.content.decode()
    assert 'id="my-signoffs"' not in response.content.decode()
    # Branded, and the usual lists below.
    assert "<title>My work | ReportIn back office</title>" in response.content.decode()
    assert "Django administration" not in rows and 'href="/admin/enforcement/client/"' in response.content.decode()
    french = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="fr")
    assert "Mes tâches ouvertes" in text(french) and "<title>Mon travail | Back-office ReportIn</title>" in french.content.decode()
    assert "En retard (Région du grand Toronto)" in text(french)


def test_a_supervisors_landing_lists_the_sign_offs_waiting_for_them(client, staff, tasks):
    officer, supervisor, supervisor2 = staff["officer"], staff["supervisor"], staff["supervisor2"]
    by_officer = services.escalation_propose(task=tasks["mine_overdue"], kind="warrant_recommendation", reason="Gone.", by=officer)
    by_supervisor = services.escalation_propose(task=tasks["quebec_overdue"], kind="case_review", reason="Look.", by=supervisor)
    factories.staff_login(client, supervisor)
    response = client.get("/admin/")
    # Not their own proposal (another supervisor signs it off).
    assert task_links(section(response, "my-signoffs")) == [by_officer.task_id]
    assert figure(response, "figure-signoffs") == 1
    assert "Recommend an arrest warrant" in section(response, "my-signoffs") and "proposed by work-officer" in text(response)
    # Every region's overdue tasks (supervisors work them all), and their own region's.
    assert (figure(response, "figure-all-overdue"), figure(response, "figure-region-overdue")) == (4, 3)
    assert 'href="/admin/sign-offs/"' in response.content.decode() and 'href="/admin/workload/"' in response.content.decode()
    factories.staff_login(client, supervisor2)
    response = client.get("/admin/")
    assert sorted(task_links(section(response, "my-signoffs"))) == sorted([by_officer.task_id, by_supervisor.task_id])


def test_an_auditors_landing_has_the_overdue_counts_and_the_lists_but_no_tasks_of_their_own(client, staff, tasks):
    factories.staff_login(client, staff["auditor"])
    response = client.get("/admin/")
    body = response.content.decode()
    assert response.status_code == 200
    assert figure(response, "figure-all-overdue") == 4
    for absent in ('id="my-tasks"', 'id="figure-mine-open"', 'id="my-signoffs"', 'id="figure-region-overdue"'):
        assert absent not in body
    assert 'href="/admin/enforcement/auditevent/"' in body


def test_the_landing_reads_a_fixed_number_of_queries(client, staff):
    officer, supervisor = staff["officer"], staff["supervisor"]

    def count(user):
        factories.staff_login(client, user)
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/admin/").status_code == 200
        return len(queries)

    task = window_task(created_at=NOW - timedelta(days=3))
    services.task_assign(task=task, assignee=officer, by=officer)
    services.escalation_propose(task=task, kind="case_review", reason="Look.", by=officer)
    few = count(officer), count(supervisor)
    for hours in range(selectors.SIGNOFFS_SHOWN + 2):  # more than the page lists
        more = window_task(created_at=NOW - timedelta(hours=hours))
        services.task_assign(task=more, assignee=officer, by=officer)
        services.escalation_propose(task=more, kind="case_review", reason="Look.", by=officer)
    assert (count(officer), count(supervisor)) == few


def test_the_sign_off_inbox_leads_to_the_task_page_where_the_sign_off_is_made(client, staff, tasks):
    officer, supervisor = staff["officer"], staff["supervisor"]
    older = services.escalation_propose(
        task=tasks["mine_overdue"], kind="warrant_recommendation", reason="Not at the address.", by=officer, now=NOW - timedelta(hours=2)
    )
    newer = services.escalation_propose(task=tasks["quebec_overdue"], kind="case_review", reason="Look.", by=staff["quebec_officer"])
    services.escalation_propose(task=tasks["nobodys_overdue"], kind="case_review", reason="Mine.", by=supervisor)
    factories.staff_login(client, officer)
    assert client.get("/admin/sign-offs/").status_code == 403
    factories.staff_login(client, supervisor)
    response = client.get("/admin/sign-offs/")
    assert response.status_code == 200
    assert task_links(section(response, "signoff-inbox")) == [older.task_id, newer.task_id]  # oldest first, not their own
    assert "Not at the address." in text(response) and "Quebec" in text(response)
    # The sign-off on the task page, through the service: the inbox no longer lists it.
    page = client.get(f"{TASKS}{older.task_id}/change/")
    assert '/sign-off/' in page.content.decode()
    assert client.post(f"{TASKS}{older.task_id}/sign-off/", {"escalation": older.pk, "approve": "no", "note": "Call first."}).status_code == 302
    assert Escalation.objects.get(pk=older.pk).status == "rejected"
    assert task_links(section(client.get("/admin/sign-offs/"), "signoff-inbox")) == [newer.task_id]


def test_a_sign_off_form_has_no_decision_chosen_and_refuses_a_post_without_one(client, staff, tasks):
    task = tasks["mine_overdue"]
    escalation = services.escalation_propose(task=task, kind="warrant_recommendation", reason="Gone.", by=staff["officer"])
    factories.staff_login(client, staff["supervisor"])
    radios = re.findall(r'<input type="radio" name="approve"[^>]*>', client.get(f"{TASKS}{task.pk}/change/").content.decode())
    assert len(radios) == 2 and not any("checked" in radio for radio in radios)
    before = AuditEvent.objects.count()
    response = client.post(f"{TASKS}{task.pk}/sign-off/", {"escalation": escalation.pk, "note": "Fine."})
    assert response.status_code == 200
    assert "Choose whether you approve this escalation or not." in text(response)
    assert Escalation.objects.get(pk=escalation.pk).status == "proposed" and AuditEvent.objects.count() == before
    # Proposing one offers no recommendation in advance either.
    other = tasks["nobodys_overdue"]
    escalate = section(client.get(f"{TASKS}{other.pk}/change/"), "id_kind")
    assert '<option value="" selected>' in escalate


def test_the_workload_by_officer_counts_open_overdue_and_resolved_this_week(client, staff, tasks):
    officer = staff["officer"]
    # Resolved last week: not this week's.
    last_week = window_task(created_at=NOW - timedelta(days=20))
    services.task_assign(task=last_week, assignee=officer, by=officer, now=NOW - timedelta(days=19))
    reportin_services.task_decide(task=last_week, resolution="contact_made", note="Old.", officer=officer, now=NOW - timedelta(days=8))
    factories.staff_login(client, officer)
    assert client.get("/admin/workload/").status_code == 403
    factories.staff_login(client, staff["supervisor"])
    response = client.get("/admin/workload/")
    assert response.status_code == 200
    rows = dict(re.findall(r'data-officer="([\w-]+)">(.*?)</tr>', response.content.decode(), re.S))
    figures = {name: [int(n) for n in re.findall(r"<td>(\d+)</td>", row)] for name, row in rows.items()}
    # The supervisor's own region by default; open, overdue, resolved this week.
    assert figures == {"work-colleague": [1, 1, 0], "work-officer": [2, 1, 1]}
    assert "America/Toronto" in text(response)
    everywhere = client.get("/admin/workload/", {"region": "all"}).content.decode()
    assert 'data-officer="work-quebec"' in everywhere and 'data-officer="work-officer"' in everywhere
    assert selectors.week_start(NOW, "America/Toronto").weekday() == 0
    # Each officer leads to their tasks in the queue (to reassign some).
    assert f'href="{TASKS}?assignee={officer.pk}"' in rows["work-officer"]
    theirs = client.get(TASKS, {"assignee": officer.pk})
    assert sorted(task_links(theirs.content.decode())) == sorted([tasks["mine_overdue"].pk, tasks["mine_soon"].pk])
    unknown = client.get("/admin/workload/", {"region": "atlantis"})
    assert unknown.status_code == 400 and "There is no region “atlantis”." in text(unknown)


def test_the_inbox_reads_a_fixed_number_of_queries(client, staff):
    factories.staff_login(client, staff["supervisor"])

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/admin/sign-offs/").status_code == 200
        return len(queries)

    services.escalation_propose(task=window_task(), kind="case_review", reason="Look.", by=staff["officer"])
    few = count()
    for region_code in ("quebec", "pacific", "gta"):
        services.escalation_propose(task=window_task(region_code=region_code), kind="case_review", reason="Look.", by=staff["supervisor2"])
    assert count() == few


def reassign(client, task_ids, **data):
    return client.post(TASKS, {"action": "reassign_tasks", "_selected_action": task_ids, "index": 0, **data})


def test_a_supervisor_reassigns_tasks_in_bulk_each_audited(client, staff, tasks):
    supervisor, colleague = staff["supervisor"], staff["colleague"]
    chosen = [tasks["mine_overdue"].pk, tasks["nobodys_overdue"].pk]
    factories.staff_login(client, supervisor)
    assert 'value="reassign_tasks"' in client.get(TASKS).content.decode()
    form = reassign(client, chosen)
    assert form.status_code == 200
    select = section(form, "id_assignee")
    # Nobody chosen in advance; the region's officers and the supervisors, not Quebec's officer.
    assert '<option value="" selected>' in select
    assert f'value="{colleague.pk}"' in select and f'value="{staff["supervisor2"].pk}"' in select
    assert f'value="{staff["quebec_officer"].pk}"' not in select
    response = reassign(client, chosen, assignee=colleague.pk, apply="Reassign")
    assert response.status_code == 302
    assert set(InvestigationTask.objects.filter(pk__in=chosen).values_list("assignee__username", flat=True)) == {"work-colleague"}
    events = AuditEvent.objects.filter(action="task.reassign").order_by("seq")
    assert [(e.actor, e.details["to"]) for e in events] == [(supervisor, "work-colleague")] * 2
    assert "2 tasks assigned to work-colleague." in text(client.get(TASKS))


def test_a_bulk_reassignment_to_an_officer_of_another_region_is_refused(client, staff, tasks):
    chosen = [tasks["mine_overdue"].pk, tasks["nobodys_overdue"].pk]
    factories.staff_login(client, staff["supervisor"])
    before = AuditEvent.objects.count()
    response = reassign(client, chosen, assignee=staff["quebec_officer"].pk, apply="Reassign")
    assert response.status_code == 400
    assert "This person cannot take these tasks" in text(response)
    assert AuditEvent.objects.count() == before
    assert list(InvestigationTask.objects.filter(pk__in=chosen).order_by("pk").values_list("assignee__username", flat=True)) == ["work-officer", None]
    # Tasks of two regions: only supervisors may take them all.
    mixed = reassign(client, [tasks["nobodys_overdue"].pk, tasks["quebec_overdue"].pk])
    select = section(mixed, "id_assignee")
    assert f'value="{staff["colleague"].pk}"' not in select and f'value="{staff["supervisor2"].pk}"' in select


def test_officers_cannot_reassign_in_bulk(client, staff, tasks):
    factories.staff_login(client, staff["officer"])
    assert 'value="reassign_tasks"' not in client.get(TASKS).content.decode()
    reassign(client, [tasks["nobodys_overdue"].pk], assignee=staff["colleague"].pk, apply="Reassign")
    assert InvestigationTask.objects.get(pk=tasks["nobodys_overdue"].pk).assignee is None
    assert not AuditEvent.objects.filter(action="task.reassign").exists()
