"""The task page and the decisions made on it: what the officer sees (selfie beside the
references, the decision in plain words, the GPS fix, timeline, consent, changes), and assign,
reassign, resolve and escalate, each through a service that writes an audit event."""

import html
import re
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from backoffice.triage import face_decision_words
from enforcement import services
from enforcement.errors import Forbidden
from enforcement.models import AccessRecord, AuditEvent, Escalation, InvestigationTask, ReportingWindow
from reportin import services as reportin_services
from reportin.models import CheckIn
from tests import factories
from tests.officer import face_task, text_of, window_task

pytestmark = pytest.mark.django_db

TASKS = "/admin/enforcement/investigationtask/"


@pytest.fixture
def case():
    return face_task()


def decide(client, task, op, **data):
    """POST to the task page's decision `op` (each decision has its own address)."""
    follow = data.pop("follow", False)
    return client.post(f"{TASKS}{task.pk}/{op.replace('_', '-')}/", data, follow=follow)


def first_look(client, task, answer="yes"):
    """The blind first look the face task's page asks for before its figures and decisions."""
    assert decide(client, task, op="blind", answer=answer).status_code == 302


def test_the_task_page_shows_what_the_officer_needs_to_decide(client, officer, case):
    # The blind first look comes first (tests/test_blind_review.py), then the figures.
    first_look(client, case["task"])
    response = client.get(f"{TASKS}{case['task'].pk}/change/")
    assert response.status_code == 200
    text = text_of(response)
    match = case["match"]
    # The decision in plain words, with the figures that led to it.
    words = f"distance {match.best_distance:.2f} against threshold {match.threshold:.2f}: not a match; face {match.quality['face_px']} px"
    assert words in text, text
    assert re.search(r"face \d+ px, (sharp|blurred), (well lit|too dark|overexposed)", text)
    # The selfie beside the reference photo, through the permission-checked views.
    body = response.content.decode()
    # Faces cropped on the server, each a link to its whole picture.
    assert f'<a href="{TASKS}{case["task"].pk}/selfie/"' in body and f'src="{TASKS}{case["task"].pk}/selfie/?face=1"' in body
    assert f'src="{TASKS}{case["task"].pk}/reference/{case["photo"].pk}/?face=1"' in body
    # The fix: accuracy, distance to the permitted area, a map link.
    assert "accurate to 25 m; 0.0 km inside the edge of the permitted area" not in text  # not a made-up figure
    assert re.search(r"accurate to 25 m; [\d.]+ km inside the edge of the permitted area", text)
    # No map link unless a map site is configured (issue 14.14): it would send the position there.
    assert "openstreetmap" not in body and "Map links are off" in text
    # Timeline in local time, consent, circumstance changes since the last report.
    assert f"Check-in {case['checkin'].pk}: An officer will review it" in text
    assert "Window " in text and "Reported, being checked" in text
    assert "America/Toronto" in text
    assert "Use of the app: Granted (App" in text and "Use of my likeness (face comparison): Granted (App" in text
    assert "Address: “—” → “12 Queen St W, Toronto”" in text
    # Decisions offered to an officer of the region.
    assert '/assign-me/' in body and '/resolve/' in body and '/reassign/' not in body


def test_the_faces_are_cropped_on_the_server_around_the_stored_face_box(client, officer, case):
    from io import BytesIO

    from PIL import Image

    task, match, photo = case["task"], case["match"], case["photo"]
    for url, box in ((f"{TASKS}{task.pk}/selfie/", match.face_box), (f"{TASKS}{task.pk}/reference/{photo.pk}/", photo.face_box)):
        whole, face = client.get(url), client.get(url, {"face": "1"})
        assert whole.status_code == face.status_code == 200
        assert face["Content-Type"] == "image/jpeg" and face["Cache-Control"].startswith("no-store, private")
        full, crop = Image.open(BytesIO(whole.content)), Image.open(BytesIO(face.content))
        # The face with half its size around it (clipped at the edges), scaled to 480 px at most.
        top, right, bottom, left = box
        pad = round(max(bottom - top, right - left) * 0.5)
        width = min(full.width, right + pad) - max(0, left - pad)
        height = min(full.height, bottom + pad) - max(0, top - pad)
        scale = min(1.0, 480 / max(width, height))
        assert crop.size != full.size
        assert crop.size == (pytest.approx(width * scale, abs=1), pytest.approx(height * scale, abs=1)), (crop.size, width, height)
    # One record per image per visit (issue 17.7): the whole picture and its crop are one visit.
    assert AccessRecord.objects.filter(task=task, viewer=officer).count() == 2


def test_the_task_page_reads_a_fixed_number_of_queries(client, officer, case):
    def count():
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"{TASKS}{case['task'].pk}/change/").status_code == 200
        return len(queries)

    before = count()
    for n in range(5):  # more history: windows and check-ins
        factories.window(case["client"], opens_at=timezone.now() - timedelta(days=n + 2), minutes=60)
    assert count() == before


@pytest.mark.parametrize(
    ("match_fields", "expected"),
    [
        ({"decision": "non_match", "best_distance": 0.62, "threshold": 0.55, "faces_found": 1,
          "quality": {"face_px": 180, "sharpness": 0.3, "brightness": 120}},
         "distance 0.62 against threshold 0.55: not a match; face 180 px, sharp, well lit"),
        ({"decision": "match", "best_distance": 0.31, "threshold": 0.54, "faces_found": 1,
          "quality": {"face_px": 60, "sharpness": 0.04, "brightness": 30}},
         "distance 0.31 against threshold 0.54: a match; face 60 px, blurred, too dark"),
        ({"decision": "no_face", "best_distance": None, "threshold": 0.54, "faces_found": 0, "quality": {},
          "detail": {"message": "No face was found."}},
         "No face found (No face was found.)"),
    ],
)
def test_the_decision_in_plain_words(match_fields, expected):
    from reportin.models import FaceMatch

    assert face_decision_words(FaceMatch(**{"detail": {}, **match_fields})) == expected


def test_assign_to_me_then_resolve_identity_confirmed_verifies_the_checkin_and_satisfies_its_window(client, officer, case):
    task = case["task"]
    first_look(client, task)
    assert decide(client, task, op="assign_me").status_code == 302
    task.refresh_from_db()
    assert (task.status, task.assignee) == ("in_progress", officer)
    # Both a resolution and a note are required.
    for missing in ({"resolution": "identity_confirmed"}, {"note": "Looks like her"}, {"resolution": "", "note": "x"}):
        response = decide(client, task, op="resolve", **missing)
        assert response.status_code == 200 and b"This field is required" in response.content
    assert InvestigationTask.objects.get(pk=task.pk).status == "in_progress"
    response = decide(client, task, op="resolve", resolution="identity_confirmed", note="Compared in person: same person, new haircut.")
    assert response.status_code == 302 and response.url == TASKS
    task.refresh_from_db()
    assert (task.status, task.resolution, task.resolved_by) == ("resolved", "identity_confirmed", officer)
    assert task.resolution_note == "Compared in person: same person, new haircut."
    assert CheckIn.objects.get(pk=case["checkin"].pk).status == "verified"
    window = ReportingWindow.objects.get(pk=case["window"].pk)
    assert (window.status, window.satisfied_by_checkin_id) == ("satisfied", case["checkin"].pk)
    # (Sign-in events, "staff.*", are the officer's too.)
    actions = list(AuditEvent.objects.filter(actor=officer).exclude(action__startswith="staff.").order_by("seq").values_list("action", flat=True))
    # The confirmed selfie (new haircut) joins the client's recent references (issue 15.4).
    assert actions == ["task.blind_answer", "task.assign", "task.resolve", "checkin.review", "recent_reference.add"]
    resolve = AuditEvent.objects.get(action="task.resolve")
    assert resolve.details == {"reason": "face_non_match", "resolution": "identity_confirmed", "note": task.resolution_note}
    # It has left the open queue.
    assert f"/{task.pk}/change/" not in client.get(TASKS).content.decode()


def test_each_decision_has_its_own_address_and_takes_posts_only(client, officer, case):
    """One small POST view per decision (issue 17.1): a GET of a decision's address or a POST to
    the task page itself changes nothing and is refused."""
    task = case["task"]
    page = client.get(f"{TASKS}{task.pk}/change/").content.decode()
    assert f'action="{TASKS}{task.pk}/blind/"' in page
    for name in ("assign-me", "reassign", "blind", "resolve", "escalate", "sign-off"):
        assert client.get(f"{TASKS}{task.pk}/{name}/").status_code == 405, name
    assert client.post(f"{TASKS}{task.pk}/change/", {"op": "assign_me"}).status_code == 405
    # Resolving before the blind first look is refused with a message; the task stays open.
    answer = decide(client, task, op="resolve", resolution="identity_confirmed", note="Guessing.", follow=True)
    assert "Same person?" in text_of(answer)
    task.refresh_from_db()
    assert (task.status, task.assignee) == ("open", None)
    first_look(client, task)
    assert decide(client, task, op="assign_me").status_code == 302
    task.refresh_from_db()
    assert task.assignee == officer


def test_identity_not_confirmed_rejects_the_checkin_and_the_window_is_missed(client, officer, case):
    first_look(client, case["task"], "no")
    decide(client, case["task"], op="resolve", resolution="identity_not_confirmed", note="Not the client: different person.")
    assert CheckIn.objects.get(pk=case["checkin"].pk).status == "rejected"
    assert ReportingWindow.objects.get(pk=case["window"].pk).status == "missed"


def test_identity_resolutions_are_not_offered_without_a_checkin(client, officer):
    task = window_task()
    body = client.get(f"{TASKS}{task.pk}/change/").content.decode()
    assert "identity_confirmed" not in body and "contact_made" in body
    response = decide(client, task, op="resolve", resolution="identity_confirmed", note="x")
    assert response.status_code == 200
    assert InvestigationTask.objects.get(pk=task.pk).status == "open"


def test_only_a_supervisor_reassigns(client, officer, case):
    task = case["task"]
    colleague = factories.staff("colleague")
    supervisor = factories.staff("boss", role="Supervisor")
    assert decide(client, task, op="reassign", assignee=colleague.pk).status_code == 403
    services.task_assign(task=task, assignee=colleague, by=supervisor)
    # An officer cannot take a task assigned to someone else, nor resolve it.
    with pytest.raises(Forbidden):
        services.task_assign(task=task, assignee=officer, by=officer)
    decide(client, task, op="resolve", resolution="false_alarm", note="mine now")
    assert InvestigationTask.objects.get(pk=task.pk).status == "in_progress"
    factories.staff_login(client, supervisor)
    first_look(client, task)
    page = client.get(f"{TASKS}{task.pk}/change/").content.decode()
    assert '/reassign/' in page
    assert decide(client, task, op="reassign", assignee=officer.pk).status_code == 302
    task.refresh_from_db()
    assert task.assignee == officer
    event = AuditEvent.objects.filter(action="task.reassign").order_by("-seq").first()
    assert (event.actor, event.details) == (supervisor, {"from": "colleague", "to": officer.username})
    # Not to an officer of another region.
    quebec = factories.staff("quebec-colleague", region_code="quebec")
    response = decide(client, task, op="reassign", assignee=quebec.pk)
    assert response.status_code == 200 and b"Select a valid choice" in response.content


def test_an_escalation_needs_a_second_supervisors_sign_off(client, officer, case):
    task = case["task"]
    supervisor, other_supervisor = factories.staff("sup-a", role="Supervisor"), factories.staff("sup-b", role="Supervisor")
    first_look(client, task)
    assert decide(client, task, op="escalate", kind="warrant_recommendation", reason="Three misses, not at the address.").status_code == 302
    escalation = Escalation.objects.get(task=task)
    assert (escalation.status, escalation.proposed_by) == ("proposed", officer)
    # The officer cannot sign off, and the page offers no sign-off to them.
    assert '/sign-off/' not in client.get(f"{TASKS}{task.pk}/change/").content.decode()
    decide(client, task, op="sign_off", escalation=escalation.pk, approve="yes", note="self-approved")
    assert Escalation.objects.get(pk=escalation.pk).status == "proposed"
    # A supervisor who proposes cannot approve their own proposal either (service and database).
    reportin_services.escalation_decide(escalation=escalation, approve=False, note="Call first.", by=supervisor)
    assert InvestigationTask.objects.get(pk=task.pk).status == "open"
    own = services.escalation_propose(task=task, kind="case_review", reason="Review", by=supervisor)
    with pytest.raises(Forbidden):
        reportin_services.escalation_decide(escalation=own, approve=True, note="mine", by=supervisor)
    with pytest.raises(IntegrityError), transaction.atomic():
        Escalation.objects.filter(pk=own.pk).update(status="approved", decided_by=supervisor, decided_at=timezone.now())
    # Another supervisor signs it off: the task is resolved as escalated, every step audited.
    factories.staff_login(client, other_supervisor)
    first_look(client, task)
    page = client.get(f"{TASKS}{task.pk}/change/").content.decode()
    assert '/sign-off/' in page
    assert decide(client, task, op="sign_off", escalation=own.pk, approve="yes", note="Agreed.").status_code == 302
    own.refresh_from_db()
    task.refresh_from_db()
    assert (own.status, own.decided_by) == ("approved", other_supervisor)
    assert (task.status, task.resolution, task.resolved_by) == ("resolved", "escalated", other_supervisor)
    assert list(AuditEvent.objects.filter(action__startswith="escalation.").order_by("seq").values_list("action", "actor__username")) == [
        ("escalation.propose", officer.username), ("escalation.reject", "sup-a"), ("escalation.propose", "sup-a"),
        ("escalation.approve", "sup-b"),
    ]


def test_every_image_on_the_page_is_served_and_recorded(client, officer, case):
    page = client.get(f"{TASKS}{case['task'].pk}/change/").content.decode()
    sources = re.findall(r'<img [^>]*src="([^"]+)"', page)
    assert len(sources) == 2
    for src in sources:
        response = client.get(src)
        assert response.status_code == 200 and response.content[:2] == b"\xff\xd8"
    assert AccessRecord.objects.filter(viewer=officer, task=case["task"]).count() == 2


def test_a_resolved_task_shows_its_decision_and_offers_no_more(client, officer, case):
    first_look(client, case["task"], "cant_tell")
    decide(client, case["task"], op="resolve", resolution="false_alarm", note="Twin brother, known.")
    text = text_of(client.get(f"{TASKS}{case['task'].pk}/change/"))
    assert "Resolved — False alarm" in text and "Twin brother, known." in text
    assert "Assign to me" not in text


def test_the_queue_and_the_task_page_speak_french_to_a_french_browser(client, officer, case):
    queue = text_of(client.get(TASKS, HTTP_ACCEPT_LANGUAGE="fr"))
    assert "File de tri — Région du grand Toronto" in queue and "1 tâche ouverte" in queue
    first_look(client, case["task"])
    page = text_of(client.get(f"{TASKS}{case['task'].pk}/change/", HTTP_ACCEPT_LANGUAGE="fr"))
    match = case["match"]
    assert f"distance {match.best_distance:.2f} pour un seuil de {match.threshold:.2f} : pas de correspondance" in page.replace(
        f"{match.best_distance:.2f}".replace(".", ","), f"{match.best_distance:.2f}"
    ).replace(f"{match.threshold:.2f}".replace(".", ","), f"{match.threshold:.2f}")
    for words in ("Comparaison des visages", "précise à 25 m"):  # (map links are off by default)
        assert words in page, words
    raw = html.unescape(client.get(f"{TASKS}{case['task'].pk}/change/", HTTP_ACCEPT_LANGUAGE="fr").content.decode())
    assert 'value="M\'attribuer"' in raw and 'value="Résoudre"' in raw


def test_the_map_link_goes_to_the_configured_site_and_says_so(client, officer, case, settings):
    settings.REPORTIN_MAP_URL = "https://maps.agency.example/view?lat={lat}&lon={lon}"
    response = client.get(f"{TASKS}{case['task'].pk}/change/")
    body = response.content.decode()
    assert 'href="https://maps.agency.example/view?lat=43.653200&amp;lon=-79.383200"' in body
    assert 'rel="noopener noreferrer"' in body
    assert "the position is sent to maps.agency.example, outside this system" in text_of(response)
