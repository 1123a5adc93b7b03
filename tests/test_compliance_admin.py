"""The admin paths officers use for conditions and excuses go through the services."""

from datetime import date

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from enforcement.models import AuditEvent, ReportingCondition, ReportingWindow
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def officer(client):
    user = factories.staff("officer-admin")
    factories.staff_login(client, user)
    return user


def test_adding_a_condition_in_admin_replaces_the_active_one_and_creates_its_windows(client, officer):
    person = factories.client()
    old = factories.condition(person)
    response = client.post("/admin/enforcement/reportingcondition/add/", {
        "client": person.pk, "method": "remote", "schedule": "weekly", "weekdays": [0, 2], "window_start": "10:00",
        "window_minutes": 120, "grace_minutes": 30, "starts_on": date.today().isoformat(),
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    new = ReportingCondition.objects.get(client=person, active=True)
    assert new != old and new.created_by == officer
    assert ReportingWindow.objects.filter(condition=new).exists()
    assert AuditEvent.objects.filter(action="condition.set", actor=officer, object_id=str(new.pk)).exists()


def test_a_condition_cannot_be_edited_in_place(client, officer):
    condition = factories.condition(factories.client())
    response = client.post(f"/admin/enforcement/reportingcondition/{condition.pk}/change/", {"window_minutes": 5})
    assert response.status_code == 403


def test_an_officer_excuses_windows_from_the_list_with_a_reason(client, officer):
    person = factories.client()
    factories.condition(person)
    windows = list(ReportingWindow.objects.filter(client=person).order_by("opens_at")[:2])
    ids = [str(w.pk) for w in windows]
    url = "/admin/enforcement/reportingwindow/"
    page = client.post(url, {"action": "excuse", ACTION_CHECKBOX_NAME: ids})
    assert page.status_code == 200 and b'name="reason"' in page.content
    empty = client.post(url, {"action": "excuse", ACTION_CHECKBOX_NAME: ids, "apply": "1", "reason": ""})
    assert empty.status_code == 200  # the form again, nothing excused
    assert not ReportingWindow.objects.filter(status="excused").exists()
    done = client.post(url, {"action": "excuse", ACTION_CHECKBOX_NAME: ids, "apply": "1", "reason": "Hospital stay"})
    assert done.status_code == 302
    assert set(ReportingWindow.objects.filter(pk__in=ids).values_list("status", "excused_reason", "excused_by")) == {
        ("excused", "Hospital stay", officer.pk)
    }
    assert AuditEvent.objects.filter(action="window.excuse", actor=officer).count() == 2


def test_an_auditor_cannot_excuse(client):
    factories.staff_login(client, factories.staff("auditor-1", role="Auditor", region_code=None))
    person = factories.client()
    factories.condition(person)
    window = ReportingWindow.objects.filter(client=person).first()
    response = client.post("/admin/enforcement/reportingwindow/", {
        "action": "excuse", ACTION_CHECKBOX_NAME: [window.pk], "apply": "1", "reason": "x",
    })
    window.refresh_from_db()
    assert window.status == "open"
    assert response.status_code in (200, 302, 403)
