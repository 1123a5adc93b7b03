"""The task page's casework (issue 17.3): the client's contact details, notes and a contact log
kept without closing the task, "save and next" in the queue's order and filters, keyboard
shortcuts for the common decisions."""

import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.utils import timezone

from enforcement import roles, selectors, services
from enforcement.errors import DomainError, Forbidden
from enforcement.models import AuditEvent, InvestigationTask, User
from reportin import services as reportin_services
from tests import factories
from tests.officer import face_task, reminded_task, text_of, window_task

pytestmark = pytest.mark.django_db

TASKS = "/admin/enforcement/investigationtask/"


def decide_blind(client, task):
    return client.post(f"{TASKS}{task.pk}/blind/", {"answer": "yes"})


def test_the_task_page_shows_how_to_reach_the_person(client, officer):
    task = window_task(family_name="Reyes")
    person = task.client
    root = User.objects.create_superuser("root", password="root-password-123")
    services.client_update(
        client=person, updated_by=root,
        changes={"phone": "+1 416-555-0199", "email": "reyes@example.org", "preferred_language": "es"},
    )
    services.circumstances_update(client=person, changes={"address": "5 King St W, Toronto"}, channel="in_person", recorded_by=root)
    person.refresh_from_db()
    services.contact_channels_set(
        client=person, channels=[{"channel": "sms", "address": "+14165550199"}, {"channel": "email"}], language="en", recorded_via="app"
    )
    services.office_save(
        office=None, by=root,
        changes={"region": person.region, "name": "Toronto office", "name_fr": "Bureau de Toronto", "address": "1 Front St",
                 "hours": "Mon-Fri 8-16", "hours_fr": "lun.-ven. 8 h-16 h", "phone": "+1 416-555-0100"},
    )
    response = client.get(f"{TASKS}{task.pk}/change/")
    text = text_of(response)
    assert "How to reach the person" in text
    assert "Phone +1 416-555-0199" in text and 'href="tel:+1 416-555-0199"' in response.content.decode()
    assert "Email reyes@example.org" in text and "Address 5 King St W, Toronto" in text
    assert "Preferred language Español" in text
    assert "Reminders by Email, Text message (SMS) (+14165550199)" in text
    assert "Office Toronto office, 1 Front St; +1 416-555-0100; Mon-Fri 8-16" in text
    # In French, the office's French name and hours.
    french = text_of(client.get(f"{TASKS}{task.pk}/change/", HTTP_ACCEPT_LANGUAGE="fr"))
    assert "Comment joindre la personne" in french and "Bureau de Toronto, 1 Front St; +1 416-555-0100; lun.-ven. 8 h-16 h" in french


def test_a_person_without_details_says_so(client, officer):
    task = window_task()
    text = text_of(client.get(f"{TASKS}{task.pk}/change/"))
    assert "Phone none given Email none given Address none given" in text
    assert "Reminders by no channel chosen" in text and "Office no office for this region" in text


def test_a_note_and_a_contact_attempt_are_added_without_closing_the_task_newest_first(client, officer):
    task = window_task()
    before = AuditEvent.objects.count()
    response = client.post(f"{TASKS}{task.pk}/note/", {"kind": "note", "text": "Called the shelter; they will pass a message."})
    assert response.status_code == 302 and response["Location"] == f"{TASKS}{task.pk}/change/#notes"
    response = client.post(f"{TASKS}{task.pk}/note/", {"kind": "contact", "channel": "phone", "text": "No answer, voicemail left."})
    assert response.status_code == 302
    task.refresh_from_db()
    assert task.status == "open" and task.resolution == ""
    contact = task.notes.get(kind="contact")
    assert contact.author == officer and contact.data == {"channel": "phone"} and contact.text == "No answer, voicemail left."
    # Each through the one service, audited.
    events = list(AuditEvent.objects.filter(seq__gt=0).order_by("-seq")[:2])
    assert AuditEvent.objects.count() == before + 2
    assert [e.action for e in events] == ["task.contact_attempt", "task.note"]
    assert events[0].details == {"note_id": contact.pk, "channel": "phone", "text": "No answer, voicemail left."}
    assert events[0].actor == officer and events[0].client_id == task.client_id
    # Newest first, with the time and its zone.
    text = text_of(client.get(f"{TASKS}{task.pk}/change/"))
    zone = f"{timezone.localtime(contact.created_at, ZoneInfo('America/Toronto')):%Y-%m-%d %H:%M %Z}"
    assert f"{zone} — Contact attempt (Phone), {officer.username}: No answer, voicemail left." in text
    assert text.index("No answer, voicemail left.") < text.index("Called the shelter")
    assert "Contact attempt logged." in text


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"kind": "contact", "channel": "", "text": "No answer."}, "channel"),
        ({"kind": "note", "text": "   "}, "text"),
        ({"kind": "system", "text": "Forged."}, "kind"),
    ],
)
def test_a_note_with_something_missing_adds_nothing(client, officer, data, field):
    task = window_task()
    before = AuditEvent.objects.count()
    response = client.post(f"{TASKS}{task.pk}/note/", data, follow=True)
    assert "Nothing was added" in text_of(response)
    assert task.notes.count() == 0 and AuditEvent.objects.count() == before
    with pytest.raises(DomainError) as raised:
        services.task_note_add(task=task, author=officer, channel=data.get("channel", ""), kind=data["kind"], text=data["text"])
    assert field in raised.value.fields


def test_no_note_from_another_region_an_auditor_or_on_a_resolved_task(client, officer):
    task = window_task(region_code="quebec")
    assert client.post(f"{TASKS}{task.pk}/note/", {"kind": "note", "text": "Hello"}).status_code == 403
    auditor = factories.staff("case-auditor", role=roles.AUDITOR, region_code=None)
    with pytest.raises(Forbidden):
        services.task_note_add(task=task, author=auditor, kind="note", text="Seen.")
    mine = window_task()
    reportin_services.task_decide(task=mine, resolution="no_action", note="Checked.", officer=officer)
    response = client.post(f"{TASKS}{mine.pk}/note/", {"kind": "note", "text": "Late."}, follow=True)
    assert "This task is resolved." in text_of(response)
    assert not mine.notes.filter(kind="note").exists()
    assert 'id="note-form"' not in client.get(f"{TASKS}{mine.pk}/change/").content.decode()


@pytest.fixture
def queue():
    """Four open tasks; the queue shows them by priority, then oldest first: t1, t2, t4, t3."""
    now = timezone.now()
    return {
        "t1": window_task(priority=3, created_at=now - timedelta(hours=4), family_name="Alpha"),
        "t2": window_task(reason="location_outside_area", priority=3, created_at=now - timedelta(hours=3), family_name="Bravo"),
        "t3": window_task(priority=2, created_at=now - timedelta(hours=2), family_name="Charlie"),
        "t4": window_task(priority=3, created_at=now - timedelta(hours=1), family_name="Delta"),
    }


def opened_from_queue(task, filters: str) -> str:
    """The task page's address as the queue links to it (Django admin's preserved filters)."""
    return f"{TASKS}{task.pk}/change/?{urlencode({'_changelist_filters': filters})}"


def save_and_next(client, task, filters: str):
    return client.post(
        f"{TASKS}{task.pk}/resolve/?{urlencode({'_changelist_filters': filters})}",
        {"resolution": "contact_made", "note": "Reached by phone.", "_next": "1"},
    )


def test_save_and_next_follows_the_queues_filter_and_order(client, officer, queue):
    filters = "reason__exact=missed_report"
    # The queue's own links carry its filters to the task page, which keeps them in its forms.
    listing = client.get(f"{TASKS}?{filters}").content.decode()
    assert f'href="{opened_from_queue(queue["t1"], filters)}"' in listing
    page = client.get(opened_from_queue(queue["t1"], filters)).content.decode()
    assert f'action="{TASKS}{queue["t1"].pk}/resolve/?_changelist_filters=reason__exact%3Dmissed_report"' in page
    assert 'name="_next"' in page
    # t2 is left out by the filter, t3 comes after t4 (lower priority).
    response = save_and_next(client, queue["t1"], filters)
    assert response.status_code == 302 and response["Location"] == opened_from_queue(queue["t4"], filters)
    response = save_and_next(client, queue["t4"], filters)
    assert response["Location"] == opened_from_queue(queue["t3"], filters)
    # After the last one, back to the queue as it was, and said so.
    response = save_and_next(client, queue["t3"], filters)
    assert response["Location"] == f"{TASKS}?{filters}"
    assert "No more open tasks in this queue." in text_of(client.get(response["Location"]))
    for name in ("t1", "t4", "t3"):
        queue[name].refresh_from_db()
        assert queue[name].status == "resolved" and queue[name].resolution == "contact_made"
    queue["t2"].refresh_from_db()
    assert queue["t2"].status == "open"


def test_save_and_next_follows_the_order_the_officer_chose(client, officer, queue):
    # Newest first (the "age" column, descending), every reason: t4, t3, t2, t1.
    filters = "o=-7"
    listing = text_of(client.get(f"{TASKS}?{filters}"))
    assert listing.index("DELTA") < listing.index("CHARLIE") < listing.index("BRAVO") < listing.index("ALPHA")
    assert save_and_next(client, queue["t3"], filters)["Location"] == opened_from_queue(queue["t2"], filters)
    # Without filters: the default queue (open tasks of every reason by priority, then age).
    assert save_and_next(client, queue["t1"], "")["Location"] == f"{TASKS}{queue['t2'].pk}/change/"


def test_next_and_previous_without_deciding(client, officer, queue):
    filters = "reason__exact=missed_report"
    query = urlencode({"_changelist_filters": filters})
    assert client.get(f"{TASKS}{queue['t1'].pk}/next/?{query}")["Location"] == opened_from_queue(queue["t4"], filters)
    assert client.get(f"{TASKS}{queue['t4'].pk}/previous/?{query}")["Location"] == opened_from_queue(queue["t1"], filters)
    assert client.get(f"{TASKS}{queue['t1'].pk}/previous/?{query}")["Location"] == f"{TASKS}?{filters}"
    # Nothing was decided on the way.
    assert all(InvestigationTask.objects.get(pk=t.pk).status == "open" for t in queue.values())
    # A task the filter leaves out (t2) is followed by the filtered queue's first task.
    assert client.get(f"{TASKS}{queue['t2'].pk}/next/?{query}")["Location"] == opened_from_queue(queue["t1"], filters)


def test_the_shortcuts_are_listed_and_wired_by_a_static_script(client, officer):
    case = face_task()
    task = case["task"]
    page = client.get(f"{TASKS}{task.pk}/change/?{urlencode({'_changelist_filters': 'reason__exact=face_non_match'})}")
    body = page.content.decode()
    # The blind first look comes first: no decision keys before it.
    assert 'data-key="c"' not in body and 'data-key="j"' in body
    assert decide_blind(client, task).status_code == 302
    body = client.get(f"{TASKS}{task.pk}/change/").content.decode()
    text = text_of(client.get(f"{TASKS}{task.pk}/change/"))
    assert "Keyboard shortcuts" in text
    for key, words in [
        ("c", "c Identity confirmed"), ("n", "n Identity not confirmed"), ("e", "e Recommend an escalation"),
        ("t", "t Add a note or a contact attempt"), ("j", "j Next task"), ("k", "k Previous task"),
    ]:
        assert f'data-key="{key}"' in body and words in text
    # Each key's targets are on the page: the lists and fields it chooses and focuses, the links it follows.
    for target in re.findall(r'data-(?:choose|focus|open|follow)="([^"]+)"', body):
        assert f'id="{target}"' in body, target
    assert 'value="identity_confirmed"' in body and 'value="identity_not_confirmed"' in body
    # No inline script (the Content-Security-Policy allows scripts from the site's own files only).
    scripts = re.findall(r"<script[^>]*>", body)
    assert scripts and all("src=" in tag for tag in scripts), scripts
    assert '<script src="/static/backoffice/task_keys.js" defer>' in body
    policy = client.get(f"{TASKS}{task.pk}/change/")["Content-Security-Policy"]
    assert "script-src 'self';" in policy
    script = (Path(settings.BASE_DIR) / "backoffice/static/backoffice/task_keys.js").read_text()
    # Nothing fires while typing in a field.
    assert 'closest("input, textarea, select, [contenteditable]")' in script


def test_an_auditor_gets_only_the_moving_keys(client):
    task = window_task()
    auditor = factories.staff("keys-auditor", role=roles.AUDITOR, region_code=None)
    factories.staff_login(client, auditor)
    body = client.get(f"{TASKS}{task.pk}/change/").content.decode()
    assert re.findall(r'data-key="(\w)"', body) == ["j", "k"]
    assert 'id="note-form"' not in body
    # Nor may they write by posting anyway.
    assert client.post(f"{TASKS}{task.pk}/note/", {"kind": "note", "text": "Seen."}).status_code == 403
    assert client.post(f"{TASKS}{task.pk}/case/", {"tasks": [task.pk], "resolution": "no_action", "note": "x"}).status_code == 403
    assert task.notes.count() == 0 and InvestigationTask.objects.get(pk=task.pk).status == "open"


def two_tasks_of_one_person():
    """A missed report and a report from outside the area, of the same person, both open."""
    first = window_task(family_name="Echo")
    window = factories.window(first.client, opens_at=timezone.now() - timedelta(hours=3), minutes=60)
    second, created = services.task_open(client=first.client, reason="location_outside_area", window=window)
    assert created
    return first, second


def test_one_persons_open_tasks_are_seen_together_and_resolved_with_one_decision(client, officer):
    first, second = two_tasks_of_one_person()
    other = window_task(family_name="Foxtrot")  # someone else's: not in the case
    page = client.get(f"{TASKS}{first.pk}/change/?{urlencode({'_changelist_filters': 'due=past'})}")
    text = text_of(page)
    assert "This person has 2 open tasks." in text
    case_url = f"{TASKS}{first.pk}/case/?_changelist_filters=due%3Dpast"
    assert f'href="{case_url}"' in page.content.decode()
    # A single task: no link.
    assert "open tasks" not in text_of(client.get(f"{TASKS}{other.pk}/change/"))
    case = client.get(case_url)
    text = text_of(case)
    assert "Missed report" in text and "Reported from outside the permitted area" in text and "FOXTROT" not in text.upper()
    # No identity answer offered: neither task is about a check-in.
    assert 'value="identity_confirmed"' not in case.content.decode() and 'value="contact_made"' in case.content.decode()
    before = AuditEvent.objects.filter(action="task.resolve").count()
    response = client.post(case_url, {"tasks": [first.pk, second.pk], "resolution": "contact_made", "note": "Reached by phone; one call for both."})
    assert response.status_code == 302 and response["Location"] == f"{TASKS}?due=past"
    for task in (first, second):
        task.refresh_from_db()
        assert (task.status, task.resolution, task.resolution_note, task.resolved_by) == (
            "resolved", "contact_made", "Reached by phone; one call for both.", officer
        )
    # One decision per task, each through the service, each audited.
    assert AuditEvent.objects.filter(action="task.resolve").count() == before + 2
    assert "2 tasks resolved: Contact made." in text_of(client.get(response["Location"]))
    other.refresh_from_db()
    assert other.status == "open"


def test_a_case_decision_that_one_task_refuses_resolves_none(client, officer):
    first, second = two_tasks_of_one_person()
    supervisor = factories.staff("case-supervisor", role=roles.SUPERVISOR)
    colleague = factories.staff("case-colleague")
    services.task_assign(task=second, assignee=colleague, by=supervisor)
    response = client.post(
        f"{TASKS}{first.pk}/case/", {"tasks": [first.pk, second.pk], "resolution": "no_action", "note": "Both fine."}, follow=True
    )
    assert "Nothing was resolved: This task is assigned to another officer." in text_of(response)
    assert InvestigationTask.objects.filter(pk__in=[first.pk, second.pk], status="resolved").count() == 0
    # Choosing only one settles only that one; a task left out stays open.
    client.post(f"{TASKS}{first.pk}/case/", {"tasks": [first.pk], "resolution": "no_action", "note": "This one is fine."})
    assert InvestigationTask.objects.get(pk=first.pk).status == "resolved"
    assert InvestigationTask.objects.get(pk=second.pk).status == "in_progress"
    # A missing note changes nothing and says why.
    third = window_task()
    bad = client.post(f"{TASKS}{third.pk}/case/", {"tasks": [third.pk], "resolution": "no_action", "note": ""})
    assert bad.status_code == 200 and "This field is required." in text_of(bad)
    assert InvestigationTask.objects.get(pk=third.pk).status == "open"


def test_the_case_view_keeps_the_blind_first_look_and_other_regions_out(client, officer):
    case = face_task()
    window = factories.window(case["client"], opens_at=timezone.now() - timedelta(hours=5), minutes=60)
    missed, _ = services.task_open(client=case["client"], reason="missed_report", window=window)
    page = client.get(f"{TASKS}{missed.pk}/case/")
    body, text = page.content.decode(), text_of(page)
    assert "give your first look on its page first" in text
    assert f'value="{case["task"].pk}"' not in body and f'value="{missed.pk}"' in body
    # A task sent anyway is not a choice.
    response = client.post(f"{TASKS}{missed.pk}/case/", {"tasks": [case["task"].pk], "resolution": "no_action", "note": "Sent anyway."})
    assert response.status_code == 200 and InvestigationTask.objects.get(pk=case["task"].pk).status == "open"
    quebec = window_task(region_code="quebec")
    assert client.get(f"{TASKS}{quebec.pk}/case/").status_code == 403


def test_the_casework_speaks_french(client, officer):
    first, _second = two_tasks_of_one_person()
    page = client.get(f"{TASKS}{first.pk}/change/", HTTP_ACCEPT_LANGUAGE="fr")
    text = text_of(page)
    for words in ("Cette personne a 2 tâches ouvertes.", "Notes et contacts", "Raccourcis clavier", "Tâche suivante"):
        assert words in text, words
    assert 'value="Enregistrer et suivante"' in page.content.decode()
    case = client.get(f"{TASKS}{first.pk}/case/", HTTP_ACCEPT_LANGUAGE="fr")
    assert "Une décision pour ces tâches" in text_of(case) and 'value="Résoudre les tâches choisies"' in case.content.decode()


def test_the_task_page_shows_the_reminders_and_messages_sent_with_their_channel_status_and_issue(client, officer, tmp_path, settings):
    """Issue 17.3: the person's reminder and message history beside their contact details: what,
    which channel, where it stands, when in the client's zone, and a channel's issue in words."""
    from datetime import date, time

    person, task = reminded_task(settings, tmp_path)
    # Someone else, reminded the same morning: not in this person's history.
    other = factories.client(email="someone@example.org", family_name="Elsewhere")
    factories.condition(other, window_start=time(9, 0), starts_on=date(2026, 3, 1), ends_on=date(2026, 3, 2), now=factories.MONDAY_MORNING)
    services.notifications_send(now=factories.toronto(2026, 3, 2, 9, 1))

    text = text_of(client.get(f"{TASKS}{task.pk}/change/"))
    history = text[text.index("Reminders and messages sent"):]
    assert "times in America/Toronto" in history
    assert "2026-03-02 09:01 EST Reporting window opened Email Sent —" in history
    assert "Reporting window closing soon Email Queued" in history
    assert "Reporting window opened Text message (SMS) Queued GC_NOTIFY_API_KEY is not set" in history
    # The selector: this person's rows only, newest first, the issue only where it did not go.
    rows = selectors.outbox_history(client=person)
    assert {row.notification_id for row in rows} == set(person.notifications.values_list("pk", flat=True))
    sent = [row for row in rows if row.sent]
    assert [(row.channel, row.what, row.issue) for row in sent] == [("Email", "Reporting window opened", "")]
    assert "GC_NOTIFY_API_KEY is not set" in {row.issue for row in rows if row.channel == "Text message (SMS)"}
    assert len(selectors.outbox_history(client=person, limit=1)) == 1


def test_a_person_never_reminded_has_an_empty_history_said_so(client, officer):
    task = window_task(family_name="Quiet")
    text = text_of(client.get(f"{TASKS}{task.pk}/change/"))
    assert "No reminder or message has been sent to this person." in text
