"""The auditors' dashboard (issue 17.7): outcomes in words in English and French, the report's
charts in the page, audit-chain verification from the page, detail pages as fields, and one
access record per image per visit of a task page."""

import base64
import re
from datetime import timedelta
from io import BytesIO

import pytest
from PIL import Image

from enforcement import services, tasks
from enforcement.models import AccessRecord, AuditEvent, AuditVerification
from enforcement.services import audit_record
from reportin import services as reportin_services
from reportin.models import FaceMatch
from tests import factories
from tests.test_accountability_report import checkin, seeded  # noqa: F401  (seeded: the fixture)
from tests.test_audit_chain import _tamper

pytestmark = pytest.mark.django_db

DASHBOARD = "/admin/accountability/"
PERIOD = {"start": "2026-03-02", "end": "2026-03-08"}


@pytest.fixture
def auditor(client):
    user = factories.staff("auditor-17", role="Auditor", region_code=None)
    factories.staff_login(client, user)
    return user


def test_the_dashboard_names_the_outcomes_in_words_in_english_and_french(seeded, auditor, client):  # noqa: F811
    english = client.get(DASHBOARD, PERIOD).content.decode()
    totals = english[english.index('id="totals"'):english.index("</table>", english.index('id="totals"'))]
    for words in ("Match", "Not a match", "No face found", "Quality too low to compare", "Not scored yet"):
        assert f"<th>{words}</th>" in totals
    assert "non_match" not in totals and "not_scored" not in totals

    french = client.get(DASHBOARD, PERIOD, HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "<th>Aucune correspondance</th>" in french and "<th>Pas encore comparée</th>" in french
    assert "Taux de non-correspondance" in french and "Taux par région" in french and "trop petit pour conclure" in french
    assert "Non-match rate" not in french


def _policy(response) -> dict[str, str]:
    return {part.split()[0]: part.strip() for part in response["Content-Security-Policy"].split(";") if part.strip()}


def test_the_charts_are_drawn_in_the_page_only_when_asked_for(seeded, auditor, client):  # noqa: F811
    page = client.get(DASHBOARD, PERIOD)
    html = page.content.decode()
    assert "<img" not in html  # drawing them takes seconds: the figures come first
    link = re.search(r'<a href="(\?[^"]*charts=1[^"]*)">Show charts</a>', html).group(1)
    assert "start=2026-03-02" in link and "end=2026-03-08" in link

    page = client.get(DASHBOARD + link.replace("&amp;", "&"), HTTP_ACCEPT_LANGUAGE="fr")
    images = re.findall(r'<img src="data:image/png;base64,([^"]+)" alt="([^"]+)">', page.content.decode())
    assert [alt for _, alt in images] == [
        "Graphique : Présentations par jour selon le résultat (les mêmes chiffres figurent dans les tableaux ci-dessous)",
        "Graphique : Taux par région (les mêmes chiffres figurent dans les tableaux ci-dessous)",
        "Graphique : Taux par pays de citoyenneté (les mêmes chiffres figurent dans les tableaux ci-dessous)",
    ]
    for data, _alt in images:
        with Image.open(BytesIO(base64.b64decode(data))) as chart:
            assert chart.format == "PNG" and chart.width >= 800 and chart.height >= 300
    # The staff pages' policy lets the page show data: images, and nothing else from elsewhere.
    assert _policy(page)["img-src"] == "img-src 'self' data:"


# --- Verifying the audit chain from the page ----------------------------------------------------


def test_an_auditor_verifies_the_chain_from_the_dashboard_and_the_result_is_kept(auditor, client):
    for i in range(3):
        audit_record(actor=None, action="test.event", details={"i": i})
    page = client.get(DASHBOARD, PERIOD).content.decode()
    assert 'action="/admin/accountability/verify/"' in page and "never run yet" in page

    answer = client.post("/admin/accountability/verify/", PERIOD, HTTP_ACCEPT_LANGUAGE="fr")
    assert answer.status_code == 302 and answer["Location"] == DASHBOARD + "?start=2026-03-02&end=2026-03-08"
    kept = AuditVerification.objects.get()
    # The request is itself an event of the chain, verified with the others.
    assert kept.ok and kept.events_checked == 4 and kept.problem == ""
    request_event = AuditEvent.objects.get(action="audit.verify_request")
    assert request_event.actor == auditor and request_event.details == {"events": 3, "on_worker": False}
    page = client.get(answer["Location"], HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Piste d’audit intacte : 4 événements vérifiés." in page
    assert re.search(r'id="audit-verification">.*intacte.*4 événements', page, re.S)


def test_a_broken_chain_is_reported_on_the_page(auditor, client):
    events = [audit_record(actor=None, action="test.event") for _ in range(4)]
    _tamper(f'UPDATE "{AuditEvent._meta.db_table}" SET actor_label = %s WHERE id = %s', ["someone else", events[1].pk])
    page = client.post("/admin/accountability/verify/", follow=True).content.decode()
    assert f"Audit trail broken at event #{events[1].seq}: its contents do not match its hash (altered)" in page
    kept = AuditVerification.objects.get()
    assert not kept.ok and kept.broken_seq == events[1].seq
    assert "FAILED" in page


def test_a_long_chain_is_verified_on_the_worker(auditor, client, settings, django_capture_on_commit_callbacks):
    settings.REPORTIN_AUDIT_VERIFY_IN_PAGE_MAX = 2
    for _ in range(3):
        audit_record(actor=None, action="test.event")
    with django_capture_on_commit_callbacks() as queued:
        page = client.post("/admin/accountability/verify/", follow=True).content.decode()
    assert "Verification started on the worker" in page and not AuditVerification.objects.exists()
    assert [callback.__name__ for callback in queued] == ["_audit_verify_enqueue"]
    assert AuditEvent.objects.get(action="audit.verify_request").details == {"events": 3, "on_worker": True}
    # What the worker runs, as it runs it.
    assert tasks.audit_verify() is True
    assert AuditVerification.objects.get().events_checked == 4


def test_only_auditors_and_supervisors_verify_and_only_by_post(client):
    factories.staff_login(client, factories.staff("officer-17"))
    assert client.post("/admin/accountability/verify/").status_code == 403
    factories.staff_login(client, factories.staff("supervisor-17", role="Supervisor", region_code=None))
    assert client.get("/admin/accountability/verify/").status_code == 405
    assert not AuditVerification.objects.exists()
    assert client.post("/admin/accountability/verify/").status_code == 302
    assert AuditVerification.objects.get().ok


# --- Detail pages as fields ---------------------------------------------------------------------


def test_detail_pages_show_json_as_fields_in_words(auditor, client):
    event = audit_record(
        actor=None, action="test.event", details={"object_type": "selfie", "reasons": ["a", "b"], "face": {"top_left": 3}, "ok": True}
    )
    page = client.get(f"/admin/enforcement/auditevent/{event.pk}/change/").content.decode()
    fields = page[page.index('<dl class="fields">'):]
    assert "<dt>Object type</dt><dd>selfie</dd>" in fields and "<dt>Reasons</dt><dd>a, b</dd>" in fields
    assert '<dt>Face</dt><dd><dl class="fields"><dt>Top left</dt><dd>3</dd></dl></dd>' in fields
    assert "<dt>Ok</dt><dd>yes</dd>" in fields
    assert '{"' not in page and "&quot;object_type&quot;" not in page  # no JSON blob

    person = factories.client()
    row = checkin(person, factories.device(person)[1], 3, "non_match")
    task, _ = services.task_open(client=person, reason="face_non_match", checkin_id=row.pk, evidence={"best_distance": 0.61, "threshold": 0.54})
    officer = factories.staff("officer-17-fields")
    reportin_services.task_decide(task=task, resolution="identity_confirmed", note="Same person, new glasses.", officer=officer)
    page = client.get(f"/admin/enforcement/decision/{task.pk}/change/").content.decode()
    assert "<dt>Best distance</dt><dd>0.61</dd>" in page and "<dt>Threshold</dt><dd>0.54</dd>" in page
    match = FaceMatch.objects.get(checkin=row)
    assert client.get(f"/admin/reportin/facematch/{match.pk}/change/").status_code == 200


# --- One access record per image per visit ------------------------------------------------------


def test_a_visit_writes_one_access_record_per_image_and_a_later_visit_another(settings):
    settings.REPORTIN_ACCESS_VISIT_MINUTES = 10
    person, officer, other = factories.client(), factories.staff("officer-17-a"), factories.staff("officer-17-b")
    task, _ = services.task_open(client=person, reason="face_non_match", checkin_id=checkin(person, factories.device(person)[1], 3, "non_match").pk)
    start = factories.toronto(2026, 3, 3, 9, 0)

    def seen(viewer, *, minutes, image=1, task=task, address="10.0.0.1"):
        return services.biometric_access_record(
            viewer=viewer, client=person, object_type="selfie", object_id=image, task=task, ip_address=address,
            now=start + timedelta(minutes=minutes),
        )

    first = seen(officer, minutes=0)
    # Reloads, the crop and the whole picture within ten minutes of the record: the same visit.
    assert seen(officer, minutes=1) == first and seen(officer, minutes=10) == first
    # Another image, person, task or address is another record.
    assert seen(officer, minutes=2, image=2) != first
    assert seen(other, minutes=2) != first
    assert seen(officer, minutes=2, task=None) != first
    assert seen(officer, minutes=2, address="10.0.0.2") != first
    # Past the ten minutes, a view is a new visit; the one after it counts from that one.
    later = seen(officer, minutes=11)
    assert later != first and seen(officer, minutes=20) == later
    assert AccessRecord.objects.filter(viewer=officer, object_id=1, task=task, ip_address="10.0.0.1").count() == 2

    settings.REPORTIN_ACCESS_VISIT_MINUTES = 0  # a record for every image served
    assert seen(officer, minutes=21) != later
