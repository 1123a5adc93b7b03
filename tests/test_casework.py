"""The task page's casework (issue 17.3): the client's contact details, notes and a contact log
kept without closing the task, "save and next" in the queue's order and filters, keyboard
shortcuts for the common decisions."""

import html
import re
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from enforcement import roles, services
from enforcement.errors import DomainError, Forbidden
from enforcement.models import AuditEvent, User
from reportin import services as reportin_services
from tests import factories
from tests.officer import window_task

pytestmark = pytest.mark.django_db

TASKS = "/admin/enforcement/investigationtask/"


@pytest.fixture
def officer(client):
    user = factories.staff("case-officer")
    factories.staff_login(client, user)
    return user


def page_text(response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


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
    text = page_text(response)
    assert "How to reach the person" in text
    assert "Phone +1 416-555-0199" in text and 'href="tel:+1 416-555-0199"' in response.content.decode()
    assert "Email reyes@example.org" in text and "Address 5 King St W, Toronto" in text
    assert "Preferred language Español" in text
    assert "Reminders by Email, Text message (SMS) (+14165550199)" in text
    assert "Office Toronto office, 1 Front St; +1 416-555-0100; Mon-Fri 8-16" in text
    # In French, the office's French name and hours.
    french = page_text(client.get(f"{TASKS}{task.pk}/change/", HTTP_ACCEPT_LANGUAGE="fr"))
    assert "Comment joindre la personne" in french and "Bureau de Toronto, 1 Front St; +1 416-555-0100; lun.-ven. 8 h-16 h" in french


def test_a_person_without_details_says_so(client, officer):
    task = window_task()
    text = page_text(client.get(f"{TASKS}{task.pk}/change/"))
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
    text = page_text(client.get(f"{TASKS}{task.pk}/change/"))
    zone = f"{timezone.localtime(contact.created_at, ZoneInfo('America/Toronto')):%Y-%m-%d %H:%M %Z}"
    assert f"{zone} — Contact attempt (Phone), case-officer: No answer, voicemail left." in text
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
    assert "Nothing was added" in page_text(response)
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
    assert "This task is resolved." in page_text(response)
    assert not mine.notes.filter(kind="note").exists()
    assert 'id="note-form"' not in client.get(f"{TASKS}{mine.pk}/change/").content.decode()
