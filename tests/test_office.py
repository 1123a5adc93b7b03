"""Office and officer contact (issue 18.6): /me gives the person's office (address, hours,
phone, languages), their case officer's public name and their recent missed windows; the
"remote reporting off" notice says where and when to report in person."""

from datetime import timedelta

import pytest
from django.utils import timezone

from enforcement import services
from enforcement.models import ConsentDecision, Notice
from enforcement.selectors import consent_current_versions
from tests import factories
from tests.conftest import make_reporter

pytestmark = pytest.mark.django_db


def offices():
    """Reference data, as an administrator enters it in admin (Offices)."""
    gta = factories.region("gta")
    admin = factories.staff("office-admin", role="Supervisor", region_code=None)

    def add(**fields):
        return services.office_save(office=None, changes=fields, by=admin)

    add(
        region=gta, name="Etobicoke office", name_fr="Bureau d'Etobicoke", address="1 Etobicoke Rd", hours="Mon-Fri 9-15",
        hours_fr="lun.-ven. 9 h-15 h", phone="+1 416-555-0100", languages="English",
    )
    main = add(
        region=gta, name="Toronto CBSA office", name_fr="Bureau de l'ASFC à Toronto", address="6900 Airport Rd, Mississauga ON",
        hours="Monday to Friday, 8:00 to 16:00", hours_fr="Du lundi au vendredi, de 8 h à 16 h", phone="+1 905-555-0199",
        languages="English, French, Spanish", main=True,
    )
    add(
        region=factories.region("quebec"), name="Montréal", name_fr="Montréal", address="x", hours="x", hours_fr="x", phone="x", main=True,
    )
    return main


def test_me_gives_the_office_the_case_officer_and_recent_missed_windows():
    offices()
    officer = factories.staff("case-officer")
    officer.first_name, officer.last_name = "Alex", "Martin"
    officer.save()
    reporter = make_reporter(case_officer=officer)
    missed = factories.window(reporter.client, opens_at=timezone.now() - timedelta(days=2), minutes=60, grace_minutes=0)
    factories.window(reporter.client, opens_at=timezone.now() - timedelta(days=40), minutes=60, grace_minutes=0)  # too old to list
    services.windows_sweep(now=timezone.now())
    me = reporter.api.get("/api/v1/me").json()
    assert me["office"] == {
        "name": "Toronto CBSA office", "address": "6900 Airport Rd, Mississauga ON", "hours": "Monday to Friday, 8:00 to 16:00",
        "phone": "+1 905-555-0199", "languages": ["English", "French", "Spanish"],
    }
    assert me["case_officer"] == {"name": "Alex Martin"}
    assert [window["id"] for window in me["recent_missed_windows"]] == [missed.pk]
    assert me["recent_missed_windows"][0]["status"] == "missed"


def test_the_office_is_given_in_french():
    offices()
    reporter = make_reporter()
    me = reporter.api.get("/api/v1/me", HTTP_ACCEPT_LANGUAGE="fr").json()
    assert me["office"]["name"] == "Bureau de l'ASFC à Toronto" and me["office"]["hours"] == "Du lundi au vendredi, de 8 h à 16 h"
    assert me["case_officer"] is None


def test_without_an_office_on_file_me_says_so_plainly():
    reporter = make_reporter()
    me = reporter.api.get("/api/v1/me").json()
    assert me["office"] is None and me["recent_missed_windows"] == []


def test_remote_reporting_off_says_where_and_when_to_report_in_person():
    offices()
    reporter = make_reporter()
    services.consent_record(
        client=reporter.client, kind="app_use", decision=ConsentDecision.REFUSED,
        text_version=consent_current_versions()["app_use"], language="en", channel="app",
    )
    notice = Notice.objects.get(client=reporter.client, kind="remote_off")
    [shown] = reporter.api.get("/api/v1/me").json()["pending_notices"]
    assert shown["id"] == notice.pk
    assert "Report in person at Toronto CBSA office, 6900 Airport Rd, Mississauga ON (Monday to Friday, 8:00 to 16:00; phone +1 905-555-0199)" in shown["body"]
