"""The auditors' views in admin (backoffice/audit_lists.py, backoffice/auditing.py): they read
everything and change nothing; the consent history, match, access and decision logs filter by
date, region, officer and outcome; a filtered list exports as CSV (streamed when short)."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.apps import apps
from django.contrib import admin
from django.test import Client, RequestFactory
from django.utils import timezone

from backoffice import services as backoffice_services
from enforcement.models import AccessRecord, AuditEvent, ConsentRecord, Escalation, InvestigationTask, TaskStatus
from enforcement.selectors import consent_current_versions
from enforcement.services import consent_record, task_open
from reportin import scoring
from reportin import services as reportin_services
from tests import factories, images
from tests.webauthn_soft import SoftKey

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)


def consent(person, kind, decision, *, when, officer=None):
    return consent_record(
        client=person,
        kind=kind,
        decision=decision,
        text_version=consent_current_versions()[kind],
        language="en",
        channel="in_person" if officer else "app",
        recorded_by=officer,
        now=when,
    )


def resolve(task, *, officer, resolution, note, when):
    # The officer's decision service is the officer workspace's; the log reads these fields.
    InvestigationTask.objects.filter(pk=task.pk).update(
        status=TaskStatus.RESOLVED, resolution=resolution, resolution_note=note, resolved_by=officer, resolved_at=when
    )
    task.refresh_from_db()
    return task


@pytest.fixture
def world():
    """At least one row of every model admin lists, in two regions, through the services where
    they exist: clients, a reference photo, conditions with windows and reminders, consents,
    a device, a scored check-in, tasks, a resolved task with an approved escalation, an
    access record, circumstance changes and the audit events all of these wrote."""
    officer = factories.staff("officer-gta")
    officer_qc = factories.staff("officer-qc", region_code="quebec")
    supervisor = factories.staff("supervisor-1", role="Supervisor", region_code=None)
    auditor = factories.staff("auditor-1", role="Auditor", region_code=None)

    gta = factories.client(officer=officer, given_name="Ana", family_name="Gta", country_of_citizenship="HT")
    gta.case_officer = officer
    gta.save()
    qc = factories.client(
        region_code="quebec", officer=officer_qc, given_name="Luc", family_name="Quebec", country_of_citizenship="MX"
    )
    factories.condition(gta)
    factories.condition(qc, starts_on=factories.LATER)
    photo = factories.reference_photo(gta, officer=officer)
    consent(gta, "app_use", "granted", when=NOW - timedelta(days=10))
    consent(gta, "biometric", "granted", when=NOW - timedelta(days=10))
    consent(qc, "app_use", "granted", when=NOW - timedelta(days=3), officer=officer_qc)
    refusal = consent(qc, "biometric", "refused", when=NOW - timedelta(days=3), officer=officer_qc)

    _, device = factories.device(gta)
    # The person's choice of channels (issue 18), with the consent to each; an office.
    from enforcement import services as enforcement_services

    enforcement_services.contact_channels_set(
        client=gta, channels=[{"channel": "sms", "address": "+16135550123"}], language="en", recorded_via="app", now=NOW - timedelta(days=9)
    )
    enforcement_services.office_save(
        office=None, by=supervisor,
        changes={"region": gta.region, "name": "Toronto office", "name_fr": "Bureau de Toronto", "address": "1 Front St",
                 "hours": "Mon-Fri 8-16", "hours_fr": "lun.-ven. 8 h-16 h", "phone": "+1 416-555-0100", "main": True},
    )
    checkin, _ = reportin_services.checkin_submit(
        device=device,
        selfie=images.jpeg(images.lfw_face(1)),
        latitude=43.65,
        longitude=-79.38,
        accuracy_m=15,
        captured_at=NOW - timedelta(days=1),
        idempotency_key="auditor-1",
        address="1 New Street",
        now=NOW - timedelta(days=1),
    )
    match = scoring.checkin_score(checkin_id=checkin.pk, now=NOW - timedelta(days=1))
    assert match.decision == "non_match"
    face_task = InvestigationTask.objects.get(checkin_id=checkin.pk, reason="face_non_match")
    resolve(
        face_task,
        officer=officer,
        resolution="identity_confirmed",
        note="Called the client; new glasses.",
        when=NOW - timedelta(hours=20),
    )
    consent_task = InvestigationTask.objects.get(consent_record=refusal)
    resolve(
        consent_task, officer=officer_qc, resolution="escalated", note="Refuses to report at all.", when=NOW - timedelta(days=2)
    )
    Escalation.objects.create(
        task=consent_task,
        client=qc,
        kind="case_review",
        reason="Three refusals to report in person",
        status="approved",
        proposed_by=officer_qc,
        proposed_at=NOW - timedelta(days=2),
        decided_by=supervisor,
        decided_at=NOW - timedelta(days=1),
        decision_note="Agreed: review the case.",
    )
    open_task, _ = task_open(client=gta, reason="missed_report", window=gta.windows.first(), now=NOW)
    from enforcement.models import TaskNote

    TaskNote.objects.create(task=open_task, author=officer, text="Left a message.", created_at=NOW)
    AccessRecord.objects.create(
        viewer=officer,
        client=gta,
        object_type="selfie",
        object_id=checkin.pk,
        task=face_task,
        ip_address="192.0.2.7",
        viewed_at=NOW - timedelta(hours=21),
    )
    AccessRecord.objects.create(
        viewer=officer,
        client=gta,
        object_type="reference_photo",
        object_id=photo.pk,
        task=face_task,
        ip_address="192.0.2.7",
        viewed_at=NOW - timedelta(hours=21),
    )
    # Staff sign-in: a failed attempt (throttle rows), an authenticator app and a security key.
    backoffice_services.staff_login_attempt(username="officer-gta", password="wrong", address="192.0.2.8")
    factories.staff_login(Client(), officer)
    key_holder, key_session = factories.staff("officer-with-key", region_code="quebec"), {}
    options = backoffice_services.webauthn_registration_options(user=key_holder, session=key_session, rp_id="testserver")
    backoffice_services.webauthn_register(
        user=key_holder, session=key_session, credential=SoftKey().register(options), rp_id="testserver", origin="http://testserver"
    )
    return {
        "officer": officer,
        "officer_qc": officer_qc,
        "supervisor": supervisor,
        "auditor": auditor,
        "gta": gta,
        "qc": qc,
        "checkin": checkin,
        "match": match,
        "face_task": face_task,
        "consent_task": consent_task,
        "open_task": open_task,
    }


def _plain(value):
    return bytes(value) if isinstance(value, memoryview) else value


def snapshot() -> dict:
    """Every row of every table, except sessions and what an auditor's own exports write (their
    export jobs and the `export.*` audit events: reading is audited, by design)."""
    state = {}
    for model in apps.get_models():
        if model._meta.proxy or model._meta.label in {"sessions.Session", "enforcement.ExportJob"}:
            continue
        queryset = model._default_manager.order_by("pk")
        if model is AuditEvent:
            queryset = queryset.exclude(action__startswith="export.")
        state[model._meta.label] = [tuple(_plain(v) for v in row) for row in queryset.values_list()]
    return state


def _route(pattern, pk) -> str:
    return re.sub(r"<(?:\w+:)?\w+>", str(pk), str(pattern.pattern))


def test_an_auditor_can_change_nothing_through_any_admin_page(world, client):
    auditor = world["auditor"]
    factories.staff_login(client, auditor)
    request = RequestFactory().get("/admin/")
    request.user = auditor
    before = snapshot()
    tried = 0
    for model, model_admin in admin.site._registry.items():
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        obj = model_admin.get_queryset(request).order_by("pk").first()
        assert obj is not None, f"the data set has no {model._meta.label} to try"
        if model_admin.has_view_permission(request):
            assert client.get(base).status_code == 200, base
            page = client.get(f"{base}{obj.pk}/change/")
            assert page.status_code == 200, f"{base}{obj.pk}/change/"
            assert b'name="_save"' not in page.content and b'name="_continue"' not in page.content, base
        else:
            assert model._meta.app_label == "auth", base  # only the role groups are not theirs to read
            assert client.get(base).status_code == 403, base
        for url in (f"{base}add/", f"{base}{obj.pk}/change/", f"{base}{obj.pk}/delete/"):
            if not url.endswith("change/"):
                assert client.get(url).status_code == 403, url
            assert client.post(url, {"post": "yes"}).status_code == 403, url
            tried += 1
        # Every admin action on the list, confirmed, including "delete selected".
        for action in {"delete_selected", *(a if isinstance(a, str) else a.__name__ for a in model_admin.actions or [])}:
            response = client.post(
                base, {"action": action, "_selected_action": [obj.pk], "post": "yes", "apply": "1", "reason": "x"}
            )
            assert response.status_code in (200, 302, 403), (base, action)
            tried += 1
        # Every other URL of the model admin (custom views included), posted to.
        for pattern in model_admin.get_urls():
            url = base + _route(pattern, obj.pk)
            response = client.post(url, {"post": "yes", "apply": "1", "reason": "x", "resolution": "false_alarm"})
            assert response.status_code < 500, url
            tried += 1
    assert tried > 100
    assert snapshot() == before


def rows_of(response) -> list[dict]:
    content = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(content)))


def listed(response) -> list:
    assert response.status_code == 200, response.content[:2000]
    return list(response.context["cl"].result_list)


def test_consent_history_per_client_shows_text_version_hash_channel_who_and_when(world, client):
    factories.staff_login(client, world["auditor"])
    url = "/admin/enforcement/consentrecord/"
    gta, qc = world["gta"], world["qc"]
    assert {r.client_id for r in listed(client.get(url))} == {gta.pk, qc.pk}
    history = listed(client.get(url, {"client__uci": qc.uci}))
    assert [(r.kind, r.decision, r.channel, r.recorded_by) for r in history] == [
        ("biometric", "refused", "in_person", world["officer_qc"]),
        ("app_use", "granted", "in_person", world["officer_qc"]),
    ]
    page = client.get(url, {"client__uci": gta.uci}).content.decode()
    record = ConsentRecord.objects.filter(client=gta).first()
    assert record.text_version in page and record.text_sha256[:12] in page and "the client, in the app" in page
    # Filters: date range, region, officer, outcome.
    day = (NOW - timedelta(days=3)).date().isoformat()
    assert {r.client_id for r in listed(client.get(url, {"recorded_at__date__gte": day, "recorded_at__date__lte": day}))} == {
        qc.pk
    }
    assert {r.client_id for r in listed(client.get(url, {"client__region__id__exact": gta.region_id}))} == {gta.pk}
    assert len(listed(client.get(url, {"recorded_by__id__exact": world["officer_qc"].pk}))) == 2
    assert [r.decision for r in listed(client.get(url, {"decision__exact": "refused"}))] == ["refused"]
    # The date form keeps the list's other filters.
    page = client.get(url, {"decision__exact": "granted"}).content.decode()
    assert 'name="recorded_at__date__gte"' in page and '<input type="hidden" name="decision__exact" value="granted">' in page


def test_the_match_log_lists_every_figure_and_filters_by_outcome_region_officer_and_date(world, client):
    factories.staff_login(client, world["auditor"])
    url = "/admin/reportin/facematch/"
    match = world["match"]
    page = client.get(url)
    assert listed(page) == [match]
    text = page.content.decode()
    assert match.model_version in text and match.pipeline_version in text and str(match.best_distance) in text
    assert listed(client.get(url, {"decision__exact": "match"})) == []
    assert listed(client.get(url, {"checkin__client__region__id__exact": world["qc"].region_id})) == []
    assert listed(client.get(url, {"checkin__client__case_officer__id__exact": world["officer"].pk})) == [match]
    day = match.scored_at.date()
    assert listed(client.get(url, {"scored_at__date__gte": day.isoformat(), "scored_at__date__lte": day.isoformat()})) == [match]
    assert listed(client.get(url, {"scored_at__date__gte": (day + timedelta(days=1)).isoformat()})) == []
    detail = client.get(f"{url}{match.pk}/change/").content.decode()
    for figure in ("distances", "quality", "faces_found", "threshold", "duration_ms"):
        assert figure.replace("_", " ") in detail.lower() or figure in detail


def test_the_access_log_says_who_viewed_which_image_when_and_from_which_task(world, client):
    factories.staff_login(client, world["auditor"])
    url = "/admin/enforcement/accessrecord/"
    records = listed(client.get(url, {"viewer__id__exact": world["officer"].pk, "object_type__exact": "selfie"}))
    assert [(r.client, r.object_id, r.task) for r in records] == [(world["gta"], world["checkin"].pk, world["face_task"])]
    assert (
        "face_non_match".replace("_", " ") in client.get(url).content.decode().lower()
        or "Face does not match" in client.get(url).content.decode()
    )
    assert listed(client.get(url, {"client__region__id__exact": world["qc"].region_id})) == []


def test_the_decision_log_has_resolutions_with_reasons_and_both_signoffs_of_escalations(world, client):
    factories.staff_login(client, world["auditor"])
    url = "/admin/enforcement/decision/"
    page = client.get(url)
    assert {t.pk for t in listed(page)} == {world["face_task"].pk, world["consent_task"].pk}  # not the open task
    text = page.content.decode()
    assert "Called the client; new glasses." in text
    assert "proposed by officer-qc" in text and "signed off by supervisor-1" in text and "Three refusals" in text
    assert [t.pk for t in listed(client.get(url, {"escalation": "approved"}))] == [world["consent_task"].pk]
    assert [t.pk for t in listed(client.get(url, {"resolution__exact": "identity_confirmed"}))] == [world["face_task"].pk]
    assert [t.pk for t in listed(client.get(url, {"resolved_by__id__exact": world["officer_qc"].pk}))] == [
        world["consent_task"].pk
    ]
    assert [t.pk for t in listed(client.get(url, {"client__region__id__exact": world["gta"].region_id}))] == [
        world["face_task"].pk
    ]
    day = world["face_task"].resolved_at.date().isoformat()
    assert [t.pk for t in listed(client.get(url, {"resolved_at__date__gte": day, "resolved_at__date__lte": day}))] == [
        world["face_task"].pk
    ]


def test_a_short_filtered_list_exports_as_a_streamed_csv_and_the_export_is_audited(world, client, settings):
    settings.REPORTIN_EXPORT_STREAM_MAX_ROWS = 100
    auditor = world["auditor"]
    factories.staff_login(client, auditor)
    page = client.get("/admin/enforcement/consentrecord/", {"client__uci": world["qc"].uci})
    assert "export/?client__uci=" in page.content.decode() and "Export CSV (2 rows)" in page.content.decode()
    response = client.get("/admin/enforcement/consentrecord/export/", {"client__uci": world["qc"].uci})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="enforcement-consentrecord-')
    rows = rows_of(response)
    assert [(r["UCI"], r["kind"], r["decision"], r["recorded by"]) for r in rows] == [
        (world["qc"].uci, "biometric", "refused", "officer-qc"),
        (world["qc"].uci, "app_use", "granted", "officer-qc"),
    ]
    assert all(len(r["text sha256"]) == 64 for r in rows)
    event = AuditEvent.objects.get(action="export.csv")
    assert event.actor == auditor and event.details == {
        "list": "enforcement.consentrecord",
        "filters": f"client__uci={world['qc'].uci}",
        "rows": 2,
    }

    matches = rows_of(client.get("/admin/reportin/facematch/export/"))
    assert (
        len(matches) == 1
        and matches[0]["decision"] == "non_match"
        and matches[0]["model version"] == world["match"].model_version
    )
    assert matches[0]["quality"].startswith("{") and matches[0]["distances"].startswith("{")
    decisions = rows_of(client.get("/admin/enforcement/decision/export/", {"escalation": "approved"}))
    assert len(decisions) == 1 and "signed off by supervisor-1" in decisions[0]["escalations"]
    assert len(rows_of(client.get("/admin/enforcement/accessrecord/export/"))) == 2
    assert (
        rows_of(client.get("/admin/enforcement/auditevent/export/", {"action__exact": "consent.record"}))[0]["action"]
        == "consent.record"
    )


def test_a_csv_cell_that_a_spreadsheet_would_run_is_quoted(world, client):
    from backoffice import exports

    assert exports.cell(type("Row", (), {"note": "=HYPERLINK(1)"})(), "note") == "'=HYPERLINK(1)"
    assert exports.cell(type("Row", (), {"value": -0.5})(), "value") == -0.5


def test_officers_see_their_own_region_in_the_logs_they_may_read_and_not_the_auditor_pages(world, client):
    factories.staff_login(client, world["officer"])
    assert {r.client_id for r in listed(client.get("/admin/enforcement/consentrecord/"))} == {world["gta"].pk}
    factories.staff_login(client, world["officer_qc"])
    assert listed(client.get("/admin/reportin/facematch/")) == []
    assert client.get("/admin/reportin/facematch/export/").status_code == 200  # their own (empty) list
    for url in (
        "/admin/enforcement/accessrecord/",
        "/admin/enforcement/auditevent/",
        "/admin/enforcement/decision/",
        "/admin/enforcement/accessrecord/export/",
        "/admin/accountability/",
    ):
        assert client.get(url).status_code == 403, url


def test_a_bad_filter_in_an_export_goes_back_to_the_list(world, client):
    factories.staff_login(client, world["auditor"])
    response = client.get("/admin/enforcement/consentrecord/export/", {"no_such_field": "1"})
    assert response.status_code == 302 and response["Location"].endswith("?e=1")


def test_auditor_pages_render_at_every_date_boundary(world, client):
    factories.staff_login(client, world["auditor"])
    start = datetime(2020, 1, 1, tzinfo=UTC).date().isoformat()
    for url, field in (("/admin/enforcement/auditevent/", "occurred_at"), ("/admin/enforcement/accessrecord/", "viewed_at")):
        assert client.get(url, {f"{field}__date__gte": start}).status_code == 200
        assert client.get(url, {f"{field}__date__gte": "not-a-date"}).status_code in (200, 302)


def test_a_long_list_counts_up_to_its_cap_and_says_more_than(world, client, monkeypatch):
    # Counting a region's non-matches among 15M face matches took 8 s: lists count at most CAP
    # rows (bench/accountability.py times the match log at that size).
    from backoffice.audit_lists import CappedPaginator
    from enforcement.services import audit_record

    for n in range(5):
        audit_record(actor=None, actor_label="test", action="test.capped", details={"n": n})
    monkeypatch.setattr(CappedPaginator, "CAP", 3)
    factories.staff_login(client, world["auditor"])
    url = "/admin/enforcement/auditevent/"
    text = client.get(url, {"action": "test.capped"}).content.decode()
    assert "More than 3 audit events" in text and "Export CSV (more than 3 rows)" in text
    monkeypatch.setattr(CappedPaginator, "CAP", 2000)
    text = client.get(url, {"action": "test.capped"}).content.decode()
    assert "More than" not in text and "Export CSV (5 rows)" in text and "5 audit events" in text
