"""A check-in settles on every resolution of its tasks: one table maps each officer's outcome
to a final check-in state and window state (reportin.services.SETTLEMENTS, applied by
`settlement`), and every path resolves through reportin.services.task_decide (or an approved
escalation, reportin.services.escalation_decide)."""

import pathlib
import re

import pytest

from enforcement import services as enforcement_services
from enforcement.models import TaskResolution, WindowStatus
from reportin import services as reportin_services
from reportin.models import CHECKIN_STATUS_TRANSITIONS, CheckIn, CheckInStatus
from tests import factories
from tests.officer import face_task

pytestmark = pytest.mark.django_db

ROOT = pathlib.Path(__file__).resolve().parent.parent
OFFICER_OUTCOMES = set(TaskResolution.values) - {TaskResolution.MERGED}
FINAL_WINDOW = {WindowStatus.SATISFIED, WindowStatus.REPORTED, WindowStatus.MISSED, WindowStatus.EXCUSED}


def test_the_table_maps_every_outcome_to_a_final_checkin_and_window_state():
    assert set(reportin_services.SETTLEMENTS) == OFFICER_OUTCOMES
    assert set(reportin_services.GRAVITY) == OFFICER_OUTCOMES
    for resolution, (checkin_status, window_status) in reportin_services.SETTLEMENTS.items():
        assert checkin_status in CHECKIN_STATUS_TRANSITIONS[CheckInStatus.NEEDS_REVIEW], resolution
        # Final, but for a contest an officer upholds (test_contest.py): only towards a better
        # outcome, and only to what an upholding decision's row says.
        upheld_to = {reportin_services.SETTLEMENTS[r][0] for r in reportin_services.CONTEST_UPHOLDING}
        favour = [CheckInStatus.REJECTED, CheckInStatus.REVIEWED, CheckInStatus.VERIFIED]
        for later in CHECKIN_STATUS_TRANSITIONS[checkin_status]:
            assert later in upheld_to and favour.index(later) > favour.index(checkin_status), f"{resolution}: {checkin_status} -> {later}"
        assert window_status in FINAL_WINDOW, resolution
    # A merged task decided nothing; the task it joined decides.
    assert reportin_services.settlement({TaskResolution.MERGED, TaskResolution.FALSE_ALARM}) == reportin_services.SETTLEMENTS["false_alarm"]


@pytest.mark.parametrize("resolution", sorted(OFFICER_OUTCOMES - {TaskResolution.ESCALATED}))
def test_every_decision_settles_the_checkin_and_its_window(resolution):
    case = face_task()
    officer = factories.staff("decider")
    assert CheckIn.objects.get(pk=case["checkin"].pk).status == CheckInStatus.NEEDS_REVIEW
    reportin_services.task_decide(task=case["task"], resolution=resolution, note="Looked at it.", officer=officer)
    checkin = CheckIn.objects.get(pk=case["checkin"].pk)
    case["window"].refresh_from_db()
    assert (checkin.status, case["window"].status) == reportin_services.SETTLEMENTS[resolution]


def test_an_approved_escalation_settles_the_checkin_too():
    case = face_task()
    officer = factories.staff("proposer")
    supervisor = factories.staff("signer", role="Supervisor")
    escalation = enforcement_services.escalation_propose(task=case["task"], kind="case_review", reason="Not her.", by=officer)
    reportin_services.escalation_decide(escalation=escalation, approve=True, note="Agreed.", by=supervisor)
    case["window"].refresh_from_db()
    assert (CheckIn.objects.get(pk=case["checkin"].pk).status, case["window"].status) == (CheckInStatus.REVIEWED, WindowStatus.REPORTED)


def test_a_checkin_with_two_tasks_settles_when_the_last_is_decided_by_the_gravest():
    case = face_task(where=(45.5017, -73.5673))  # Montreal: outside the Toronto area, and not her face
    officer = factories.staff("two-tasks")
    tasks = {task.reason: task for task in case["client"].tasks.all()}
    assert set(tasks) == {"face_non_match", "location_outside_area"}
    reportin_services.task_decide(task=tasks["location_outside_area"], resolution="false_alarm", note="She was visiting.", officer=officer)
    assert CheckIn.objects.get(pk=case["checkin"].pk).status == CheckInStatus.NEEDS_REVIEW
    reportin_services.task_decide(task=tasks["face_non_match"], resolution="identity_not_confirmed", note="Someone else.", officer=officer)
    case["window"].refresh_from_db()
    assert (CheckIn.objects.get(pk=case["checkin"].pk).status, case["window"].status) == (CheckInStatus.REJECTED, WindowStatus.MISSED)


def test_a_reviewed_checkin_tells_the_phone_it_was_reviewed(client):
    case = face_task()
    token, _device = factories.device(case["client"])
    reportin_services.task_decide(task=case["task"], resolution="contact_made", note="Called her.", officer=factories.staff("caller"))
    body = client.get(f"/api/v1/check-ins/{case['checkin'].pk}", HTTP_AUTHORIZATION=f"Token {token}").json()
    assert body["status"] == "reviewed"
    assert "officer will look" not in str(body)


def test_there_is_one_public_way_to_resolve_a_task():
    """Only reportin.services calls enforcement's task_close and escalation_sign_off (which
    cannot settle check-ins: enforcement does not import reportin)."""
    callers = [
        str(path.relative_to(ROOT))
        for package in ("enforcement", "reportin", "backoffice", "config", "tests")
        for path in (ROOT / package).rglob("*.py")
        if re.search(r"\b(task_close|escalation_sign_off|task_resolve)\(", path.read_text())
        and path.relative_to(ROOT).as_posix() not in ("reportin/services.py", "enforcement/services.py", "tests/test_settlement.py")
    ]
    assert callers == []
