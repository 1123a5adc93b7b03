"""A person contests an officer's decision about their check-in (issue 18.4: "Say this is wrong"
on the notice of the outcome). Their words open a task; the officer's decision on that task
decides the contest: upheld, the earlier outcome is reversed through the settlement table
(reportin.services.SETTLEMENTS, applied by checkin_contest_decide), audited, and the person
told; rejected, the earlier outcome stays, and the person is told that too. A contest never
makes an outcome worse, and a missed window is satisfied only this way."""

from datetime import timedelta

import pytest
from django.utils import timezone

from enforcement import notifications
from enforcement import services as enforcement_services
from enforcement.models import AuditEvent, InvestigationTask, Message, Notice, ReportingWindow, WindowStatus
from reportin import services as reportin_services
from reportin.models import CheckIn, CheckInStatus
from tests import factories
from tests.conftest import Reporter
from tests.officer import face_task

pytestmark = pytest.mark.django_db


def decided(resolution: str = "identity_not_confirmed"):
    """A check-in an officer decided (by default: not the client, so refused and its window
    missed), the person's phone, and the officer."""
    case = face_task()
    officer = factories.staff("first-officer")
    reportin_services.task_decide(task=case["task"], resolution=resolution, note="Looked at the photos.", officer=officer)
    case["reporter"] = Reporter(case["client"], *factories.device(case["client"]))
    case["officer"] = officer
    return case


def contest(case, words="That was me, I had just shaved my beard.") -> InvestigationTask:
    """The person says the outcome is wrong, from its notice (as the app's "Say this is wrong" does)."""
    notice = Notice.objects.get(checkin_id=case["checkin"].pk, kind="review_outcome")
    answer = case["reporter"].api.post("/api/v1/messages", {"body": words, "about": f"notice:{notice.pk}"}, format="multipart")
    assert answer.status_code == 201, answer.json()
    task = Message.objects.get(pk=answer.json()["id"]).task
    assert task.reason == "person_answer" and task.checkin_id == case["checkin"].pk and task.status == "open"
    return task


def states(case) -> tuple[str, str]:
    window = ReportingWindow.objects.get(pk=case["window"].pk)
    return CheckIn.objects.get(pk=case["checkin"].pk).status, window.status


def contest_notice(case) -> dict:
    [notice] = [n for n in case["reporter"].api.get("/api/v1/notices").json()["notices"] if n["kind"] == "contest_outcome"]
    return notice


def test_upholding_a_contest_reverses_the_refusal_audited_and_the_person_is_told():
    case = decided()
    assert states(case) == (CheckInStatus.REJECTED, WindowStatus.MISSED)
    task = contest(case)
    second = factories.staff("second-officer")
    reportin_services.task_decide(task=task, resolution="identity_confirmed", note="Same person; the beard misled us.", officer=second)

    assert states(case) == (CheckInStatus.VERIFIED, WindowStatus.SATISFIED)
    window = ReportingWindow.objects.get(pk=case["window"].pk)
    assert window.satisfied_by_checkin_id == case["checkin"].pk and window.satisfied_at is not None
    [event] = AuditEvent.objects.filter(action="checkin.contest", object_id=str(case["checkin"].pk))
    assert event.actor == second
    assert event.details == {
        "task": task.pk, "resolution": "identity_confirmed", "upheld": True, "previous_status": "rejected", "status": "verified",
        "window": window.pk, "previous_window_status": "missed", "window_status": "satisfied",
    }
    # The phone: the check-in accepted, and a notice in plain words on the home screen.
    body = case["reporter"].api.get(f"/api/v1/check-ins/{case['checkin'].pk}").json()
    assert body["status"] == "verified"
    notice = contest_notice(case)
    assert notice["title"] == "You were right: your check-in is accepted"
    assert "accepted it. It counts for your reporting window." in notice["body"]
    assert notice["outcome"] == "accepted" and notice["check_in"] == case["checkin"].pk
    # The earlier outcome's notice stays as it was: history is not rewritten.
    assert Notice.objects.get(checkin_id=case["checkin"].pk, kind="review_outcome").details["confirmed"] is False


def test_the_task_page_can_tell_which_check_in_a_task_contests(client):
    case = decided()
    assert reportin_services.contested_checkins(case["task"]) == []  # the face task itself: not a contest
    task = contest(case)
    assert reportin_services.contested_checkins(task) == [
        {"checkin_id": case["checkin"].pk, "status": "rejected", "window_id": case["window"].pk, "window_status": "missed"}
    ]
    # The officer reads, beside the decision, what each choice does to the contested check-in.
    factories.staff_login(client, case["officer"])
    page = " ".join(client.get(f"/admin/enforcement/investigationtask/{task.pk}/change/").content.decode().split())
    assert f"The person contests check-in {case['checkin'].pk} (now: Rejected; its window: Missed)." in page, page[page.find("Decision"):][:1500]
    assert "Any other choice: the earlier decision stands, and the person is told so." in page
    reportin_services.task_decide(task=task, resolution="identity_confirmed", note="It was her.", officer=case["officer"])
    assert reportin_services.contested_checkins(task) == []  # accepted now: nothing left to contest


@pytest.mark.parametrize("resolution", ["identity_not_confirmed", "contact_made", "no_action"])
def test_a_decision_rejecting_the_contest_leaves_the_refusal_and_says_so(resolution):
    case = decided()
    task = contest(case)
    reportin_services.task_decide(task=task, resolution=resolution, note="Not the client; called her to explain.", officer=case["officer"])
    assert states(case) == (CheckInStatus.REJECTED, WindowStatus.MISSED)
    [event] = AuditEvent.objects.filter(action="checkin.contest", object_id=str(case["checkin"].pk))
    assert event.details["upheld"] is False and event.details["status"] == event.details["previous_status"] == "rejected"
    notice = contest_notice(case)
    assert notice["title"] == "The decision about your check-in stands" and notice["outcome"] == "not_accepted"
    assert notice["actions"] == []


def test_excused_on_a_contest_excuses_the_window_with_the_officers_note():
    case = decided()
    task = contest(case)
    reportin_services.task_decide(task=task, resolution="excused", note="Cannot tell from the photo; excused this once.", officer=case["officer"])
    assert states(case) == (CheckInStatus.REVIEWED, WindowStatus.EXCUSED)
    window = ReportingWindow.objects.get(pk=case["window"].pk)
    assert window.excused_reason == "Cannot tell from the photo; excused this once." and window.excused_by == case["officer"]
    notice = contest_notice(case)
    assert notice["title"] == "Your reporting window is excused" and "does not count as missed" in notice["body"]


def test_a_contest_never_makes_an_outcome_worse():
    # Reviewed (contact made: the window held as reported); contested; the officer now says "not
    # the client": the contest is rejected, and the check-in does not become refused.
    case = decided("contact_made")
    assert states(case) == (CheckInStatus.REVIEWED, WindowStatus.REPORTED)
    answer = case["reporter"].api.post(
        "/api/v1/messages", {"body": "It was me.", "about": f"check_in:{case['checkin'].pk}"}, format="multipart"
    )
    task = Message.objects.get(pk=answer.json()["id"]).task
    reportin_services.task_decide(task=task, resolution="identity_not_confirmed", note="Still cannot tell.", officer=case["officer"])
    assert states(case) == (CheckInStatus.REVIEWED, WindowStatus.REPORTED)


def test_upholding_a_contest_of_a_reviewed_check_in_accepts_it():
    case = decided("contact_made")
    answer = case["reporter"].api.post(
        "/api/v1/messages", {"body": "It was me.", "about": f"check_in:{case['checkin'].pk}"}, format="multipart"
    )
    task = Message.objects.get(pk=answer.json()["id"]).task
    reportin_services.task_decide(task=task, resolution="false_alarm", note="It was her.", officer=case["officer"])
    assert states(case) == (CheckInStatus.VERIFIED, WindowStatus.SATISFIED)


def test_a_person_answer_about_an_accepted_check_in_changes_nothing():
    case = decided("identity_confirmed")
    assert states(case) == (CheckInStatus.VERIFIED, WindowStatus.SATISFIED)
    answer = case["reporter"].api.post(
        "/api/v1/messages", {"body": "Thanks.", "about": f"check_in:{case['checkin'].pk}"}, format="multipart"
    )
    task = Message.objects.get(pk=answer.json()["id"]).task
    reportin_services.task_decide(task=task, resolution="no_action", note="Nothing to do.", officer=case["officer"])
    assert states(case) == (CheckInStatus.VERIFIED, WindowStatus.SATISFIED)
    assert not AuditEvent.objects.filter(action="checkin.contest").exists()
    assert not Notice.objects.filter(kind="contest_outcome").exists()


def test_a_missed_window_is_satisfied_only_by_a_contest_upheld():
    case = decided()
    window = ReportingWindow.objects.get(pk=case["window"].pk)
    assert window.status == WindowStatus.MISSED
    # Another check-in verified later (or the sweep's window missed for lack of any): never satisfies it.
    assert enforcement_services.window_satisfy(window=window, checkin_id=case["checkin"].pk + 1) is False
    client = case["client"]
    other = factories.window(client, opens_at=timezone.now() - timedelta(days=2), minutes=60, grace_minutes=0)
    enforcement_services.windows_sweep(now=timezone.now(), client=client)
    other.refresh_from_db()
    assert other.status == WindowStatus.MISSED
    assert enforcement_services.window_satisfy(window=other, checkin_id=case["checkin"].pk) is False
    assert ReportingWindow.objects.get(pk=window.pk).status == WindowStatus.MISSED


def test_the_contest_outcome_is_told_in_the_persons_language():
    case = decided()
    assert case["reporter"].api.put("/api/v1/language", {"language": "fr"}, format="json").status_code == 200
    task = contest(case)
    reportin_services.task_decide(task=task, resolution="identity_confirmed", note="C'est elle.", officer=case["officer"])
    notice = Notice.objects.select_related("client").get(kind="contest_outcome")
    words = notifications.notice_text(notice, notice.client.preferred_language)
    assert words.subject == "Vous aviez raison : votre présentation est acceptée"
    assert "Un agent a réexaminé votre présentation du" in words.body and "Elle compte pour votre période de présentation." in words.body
