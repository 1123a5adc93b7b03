"""The task page's casework (issue 17.3): the client's contact details, notes and a contact log
kept without closing the task, "save and next" in the queue's order and filters, keyboard
shortcuts for the common decisions."""

import html
import re

import pytest

from enforcement import services
from enforcement.models import User
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
