"""Client edits go through services.client_update, from the admin page too: every changed
field audited with its old and new value, the case status table enforced, case_closed_at
stamped on close (so retention finds the case), windows regenerated on a new time zone,
case officers limited, identity factors locked after enrolment; consent texts published with
the sha256 of their exact text and never edited."""

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone

from enforcement import services
from enforcement.errors import DomainError, Forbidden
from enforcement.models import AuditEvent, CaseStatus, Client, ConsentRecord, ConsentText, ReportingWindow
from reportin import retention
from tests import factories

pytestmark = pytest.mark.django_db

CLIENTS = "/admin/enforcement/client/"


@pytest.fixture
def officer():
    return factories.staff("case-officer")


def change_form_data(client, person) -> dict:
    """The client's page as the browser would send it back unchanged."""
    form = client.get(f"{CLIENTS}{person.pk}/change/").context["adminform"].form
    data = {}
    for name in form.fields:
        value = form[name].value()
        if value is not None:
            data[name] = str(value)
    return data


def test_each_changed_field_is_audited_with_old_and_new_value(officer):
    person = factories.client(officer=officer)
    services.client_update(client=person, changes={"family_name": "Tremblay", "phone": "+1 416 555 0100", "given_name": "Test"}, updated_by=officer)
    event = AuditEvent.objects.get(action="client.update")
    assert event.actor == officer and event.client_id == person.pk
    assert event.details["changes"] == {"family_name": {"old": "Person", "new": "Tremblay"}, "phone": {"old": "", "new": "+1 416 555 0100"}}
    services.client_update(client=person, changes={"family_name": "Tremblay"}, updated_by=officer)
    assert AuditEvent.objects.filter(action="client.update").count() == 1  # nothing changed, nothing recorded


def test_a_removed_case_cannot_go_back_to_monitored_from_admin(client, officer):
    person = factories.client(officer=officer)
    services.client_update(client=person, changes={"case_status": CaseStatus.REMOVED}, updated_by=officer)
    factories.staff_login(client, officer)
    response = client.post(f"{CLIENTS}{person.pk}/change/", {**change_form_data(client, person), "case_status": "monitored"})
    assert response.status_code == 200
    assert "cannot go from" in response.content.decode()
    assert Client.objects.get(pk=person.pk).case_status == CaseStatus.REMOVED
    with pytest.raises(DomainError) as refused:
        services.client_update(client=person, changes={"case_status": CaseStatus.MONITORED}, updated_by=officer)
    assert "case_status" in refused.value.fields


def test_a_case_closed_in_admin_is_purged_ten_years_later(client, officer, media_root):
    person = factories.client(officer=officer)
    photo = factories.reference_photo(person)
    factories.staff_login(client, officer)
    response = client.post(f"{CLIENTS}{person.pk}/change/", {**change_form_data(client, person), "case_status": "closed"})
    assert response.status_code == 302, response.content.decode()[:3000]
    person.refresh_from_db()
    assert person.case_status == CaseStatus.CLOSED
    assert abs(person.case_closed_at - timezone.now()) < timedelta(minutes=1)
    event = AuditEvent.objects.get(action="client.update", client=person)
    assert event.details["changes"]["case_status"] == {"old": "monitored", "new": "closed"}
    assert retention.purge_plan(now=timezone.now() + timedelta(days=3653))[retention.REFERENCE_PHOTOS] == [photo.pk]
    # Reopened: the date goes (the database insists), and the case is no longer due.
    services.client_update(client=person, changes={"case_status": CaseStatus.MONITORED}, updated_by=officer)
    person.refresh_from_db()
    assert person.case_closed_at is None
    assert retention.purge_plan(now=timezone.now() + timedelta(days=3653))[retention.REFERENCE_PHOTOS] == []


def test_a_new_time_zone_regenerates_the_windows_not_yet_open(officer):
    person = factories.client(officer=officer)
    now = factories.toronto(2026, 3, 2, 7, 0)
    factories.office_hours(person, now=now)
    upcoming = list(ReportingWindow.objects.filter(client=person, opens_at__gt=now).order_by("opens_at").values_list("opens_at", flat=True))
    assert upcoming and upcoming[0] == factories.toronto(2026, 3, 2, 9, 0)
    services.client_update(client=person, changes={"time_zone": "America/Vancouver"}, updated_by=officer, now=now)
    regenerated = list(ReportingWindow.objects.filter(client=person, opens_at__gt=now).order_by("opens_at").values_list("opens_at", flat=True))
    assert regenerated[0] == upcoming[0] + timedelta(hours=3)  # 09:00 in Vancouver
    assert len(regenerated) == len(upcoming)
    # Closing the case ends the windows not yet open.
    services.client_update(client=person, changes={"case_status": CaseStatus.CLOSED}, updated_by=officer, now=now)
    assert not ReportingWindow.objects.filter(client=person, opens_at__gt=now).exists()


def test_the_case_officer_is_an_active_officer_of_the_region_or_a_supervisor(client, officer):
    person = factories.client(officer=officer)
    root = Client._meta.get_field("case_officer").related_model.objects.create_superuser("root", password="root-password-123")
    elsewhere = factories.staff("quebec-officer", region_code="quebec")
    auditor = factories.staff("an-auditor", role="Auditor", region_code=None)
    supervisor = factories.staff("a-supervisor", role="Supervisor", region_code="quebec")
    for refused in (root, elsewhere, auditor):
        with pytest.raises(DomainError) as error:
            services.client_update(client=person, changes={"case_officer": refused}, updated_by=officer)
        assert "case_officer" in error.value.fields
    for allowed in (supervisor, officer):
        services.client_update(client=person, changes={"case_officer": allowed}, updated_by=officer)
        assert Client.objects.get(pk=person.pk).case_officer == allowed
    # The admin offers only those, and refuses the others.
    factories.staff_login(client, officer)
    choices = client.get(f"{CLIENTS}{person.pk}/change/").context["adminform"].form.fields["case_officer"].queryset
    assert set(choices) == {officer, supervisor}
    response = client.post(f"{CLIENTS}{person.pk}/change/", {**change_form_data(client, person), "case_officer": root.pk})
    assert response.status_code == 200 and Client.objects.get(pk=person.pk).case_officer == officer


def test_uci_and_date_of_birth_are_locked_after_enrolment_except_for_supervisors(client, officer):
    person = factories.client(officer=officer)
    services.client_update(client=person, changes={"uci": "29999999"}, updated_by=officer)  # not enrolled yet: fine
    services.activation_code_issue(client=person, issued_by=officer)
    with pytest.raises(Forbidden):
        services.client_update(client=person, changes={"uci": "29999998"}, updated_by=officer)
    factories.staff_login(client, officer)
    form = client.get(f"{CLIENTS}{person.pk}/change/").context["adminform"].form
    assert "uci" not in form.fields and "date_of_birth" not in form.fields
    supervisor = factories.staff("identity-supervisor", role="Supervisor")
    services.client_update(client=person, changes={"date_of_birth": person.date_of_birth + timedelta(days=1)}, updated_by=supervisor)
    event = AuditEvent.objects.filter(action="client.update", actor=supervisor).get()
    assert event.details["changes"]["date_of_birth"]["old"] == "1990-01-02"
    assert Client.objects.get(pk=person.pk).uci == "29999999"


def test_a_consent_text_published_in_admin_carries_the_sha256_of_its_exact_text_and_stays_as_published(client, officer):
    root = Client._meta.get_field("case_officer").related_model.objects.create_superuser("root", password="root-password-123")
    factories.staff_login(client, root)
    title, body = "Use of my likeness", "I agree that my selfies are compared with my photos.\nVersion 3."
    response = client.post("/admin/enforcement/consenttext/add/", {"kind": "biometric", "language": "en", "version": "2099-3", "title": title, "body": body})
    assert response.status_code == 302
    text = ConsentText.objects.get(version="2099-3")
    assert text.sha256 == hashlib.sha256(f"{title}\n\n{body}".encode()).hexdigest()
    assert AuditEvent.objects.filter(action="consent_text.publish", actor=root).exists()
    # Read-only once published: the page shows it, a POST changes nothing, nobody deletes it.
    page = f"/admin/enforcement/consenttext/{text.pk}/change/"
    assert client.get(page).status_code == 200
    client.post(page, {"kind": "biometric", "language": "en", "version": "2099-3", "title": title, "body": "Edited."})
    assert ConsentText.objects.get(pk=text.pk).body == body
    assert client.post(f"/admin/enforcement/consenttext/{text.pk}/delete/", {"post": "yes"}).status_code == 403
    # A consent given against it records that fingerprint.
    person = factories.client(officer=officer)
    services.consent_record(client=person, kind="biometric", decision="granted", text_version="2099-3", language="en", channel="app")
    assert ConsentRecord.objects.get(client=person).text_sha256 == text.sha256
    with pytest.raises(DomainError):
        services.consent_text_publish(kind="biometric", language="en", version="2099-3", title=title, body="Other", published_by=root)


def test_a_move_to_another_region_regenerates_the_windows_and_needs_a_case_officer_there(officer):
    person = factories.client(officer=officer)
    services.client_update(client=person, changes={"case_officer": officer}, updated_by=officer)
    now = factories.toronto(2026, 3, 2, 7, 0)
    factories.office_hours(person, now=now)
    supervisor = factories.staff("mover", role="Supervisor", region_code=None)
    pacific = factories.region("pacific")
    with pytest.raises(DomainError) as refused:
        services.client_update(client=person, changes={"region": pacific}, updated_by=supervisor, now=now)
    assert "case_officer" in refused.value.fields  # a Toronto officer does not work Pacific cases
    services.client_update(client=person, changes={"region": pacific, "case_officer": supervisor}, updated_by=supervisor, now=now)
    first = ReportingWindow.objects.filter(client=person, opens_at__gt=now).order_by("opens_at").first()
    assert first.opens_at == factories.toronto(2026, 3, 2, 12, 0)  # 09:00 in Vancouver
    changes = AuditEvent.objects.filter(action="client.update", actor=supervisor).get().details["changes"]
    assert changes["region"]["old"]["id"] == factories.region("gta").pk and changes["region"]["new"]["id"] == pacific.pk
