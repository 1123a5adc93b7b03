"""The blind first look (issue 17.4): on a task of a reason in REPORTIN_BLIND_REVIEW_REASONS the
officer sees the photos and answers "same person?" before the face comparison's distance and
threshold are shown; the answer is kept (once per officer and task, audited), and the
accountability figures say how often first looks contradict the matcher and how often the
final decision differs from the first look."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from enforcement import roles
from enforcement import services as enforcement_services
from enforcement.errors import Conflict, DomainError
from enforcement.models import AuditEvent, BlindAnswer, InvestigationTask
from reportin import accountability
from reportin import services as reportin_services
from tests import factories
from tests.officer import face_task, text_of, window_task

pytestmark = pytest.mark.django_db

TASKS = "/admin/enforcement/investigationtask/"


def decide(client, task, op, **data):
    """POST to the task page's decision `op` (each decision has its own address)."""
    return client.post(f"{TASKS}{task.pk}/{op.replace('_', '-')}/", data)


def figures_words(match) -> str:
    return f"distance {match.best_distance:.2f} against threshold {match.threshold:.2f}"


def test_the_photos_come_first_and_the_figures_after_the_officers_answer(client, officer):
    case = face_task()
    task, match = case["task"], case["match"]
    page = client.get(f"{TASKS}{task.pk}/change/")
    body, text = page.content.decode(), text_of(page)
    # The photos and the question; neither the figures, nor the nearest reference, nor a decision.
    assert f'src="{TASKS}{task.pk}/selfie/?face=1"' in body and f'src="{TASKS}{task.pk}/reference/{case["photo"].pk}/?face=1"' in body
    assert "Same person?" in text and 'name="answer"' in body
    assert figures_words(match) not in text and "against threshold" not in text and "nearest" not in text
    assert '/resolve/' not in body and '/escalate/' not in body
    # A decision sent anyway (not from this page) is refused until the first look is given.
    response = decide(client, task, op="resolve", resolution="identity_confirmed", note="Looks like him")
    assert response.status_code == 302
    assert InvestigationTask.objects.get(pk=task.pk).status == "open"
    assert "Answer “Same person?” from the photos first." in text_of(client.get(response.url))

    # The answer is recorded (with an audit event), then the page shows the figures below the
    # photos, and the decision form.
    assert decide(client, task, op="blind", answer="no").status_code == 302
    row = BlindAnswer.objects.get(task=task)
    assert (row.officer, row.answer) == (officer, "no")
    event = AuditEvent.objects.get(action="task.blind_answer")
    assert (event.actor, event.details) == (officer, {"reason": "face_non_match", "answer": "no"})
    page = client.get(f"{TASKS}{task.pk}/change/")
    body, text = page.content.decode(), text_of(page)
    assert "Your first look, before the figures: No, not the same person" in text
    assert figures_words(match) in text and '/resolve/' in body and 'name="answer"' not in body
    assert body.index('id="selfie"') < body.index('id="decision-words"')
    # The final decision is recorded as before, and may differ from the first look.
    decide(client, task, op="resolve", resolution="identity_confirmed", note="Same man, new glasses.")
    task.refresh_from_db()
    assert (task.status, task.resolution) == ("resolved", "identity_confirmed")
    assert BlindAnswer.objects.get(task=task).answer == "no"


def test_one_first_look_per_officer_and_task_and_bad_answers_change_nothing(client, officer):
    task = face_task()["task"]
    response = decide(client, task, op="blind", answer="perhaps")
    assert response.status_code == 200 and b"Select a valid choice" in response.content
    assert not BlindAnswer.objects.exists()
    with pytest.raises(DomainError) as refused:
        enforcement_services.task_blind_answer(task=task, officer=officer, answer="")
    assert (refused.value.status, refused.value.code) == (400, "answer_required")

    decide(client, task, op="blind", answer="cant_tell")
    # A second answer would be given after seeing the score: refused, the first one stays.
    with pytest.raises(Conflict):
        enforcement_services.task_blind_answer(task=task, officer=officer, answer="yes")
    response = decide(client, task, op="blind", answer="yes")
    assert response.status_code == 302
    assert "You have already given your first look at this task." in text_of(client.get(response.url))
    assert list(BlindAnswer.objects.values_list("answer", flat=True)) == ["cant_tell"]
    assert AuditEvent.objects.filter(action="task.blind_answer").count() == 1
    # Another officer of the region gives their own first look; one of another region cannot.
    colleague = factories.staff("blind-colleague")
    enforcement_services.task_blind_answer(task=task, officer=colleague, answer="yes")
    with pytest.raises(DomainError):
        enforcement_services.task_blind_answer(task=task, officer=factories.staff("far", region_code="quebec"), answer="yes")
    assert BlindAnswer.objects.count() == 2


def test_the_setting_chooses_the_reasons_and_window_tasks_have_no_first_look(client, officer, settings):
    case = face_task()
    settings.REPORTIN_BLIND_REVIEW_REASONS = []
    page = client.get(f"{TASKS}{case['task'].pk}/change/")
    body, text = page.content.decode(), text_of(page)
    assert figures_words(case["match"]) in text and '/resolve/' in body and 'name="answer"' not in body
    # The score is below the photos all the same.
    assert body.index('id="selfie"') < body.index('id="decision-words"')
    settings.REPORTIN_BLIND_REVIEW_REASONS = ["face_non_match", "missed_report"]
    body = client.get(f"{TASKS}{window_task().pk}/change/").content.decode()
    assert 'name="answer"' not in body and '/resolve/' in body
    with pytest.raises(DomainError):
        enforcement_services.task_blind_answer(task=window_task(family_name="Other"), officer=officer, answer="yes")


def test_the_accountability_figures_compare_first_looks_with_the_matcher_and_the_decision(client, officer):
    # Three non-matches of the matcher: the officer says "yes" to the first (contradicting the
    # matcher) and confirms; "no" to the second (agreeing) and then confirms all the same (the
    # decision changed after the score); "can't tell" to the third (left out of both figures).
    now = timezone.now()
    first, second, third = (face_task(family_name=name, now=now)["task"] for name in ("Alpha", "Bravo", "Charlie"))
    for task, answer in ((first, "yes"), (second, "no"), (third, "cant_tell")):
        enforcement_services.task_blind_answer(task=task, officer=officer, answer=answer)
        reportin_services.task_decide(task=task, resolution="identity_confirmed", note="Seen in person.", officer=officer)
    # A supervisor's own first look on a fourth, which another officer decides: counted against
    # the matcher, not as a changed decision (the supervisor did not decide).
    fourth = face_task(family_name="Delta", now=now)["task"]
    supervisor = factories.staff("blind-supervisor", role=roles.SUPERVISOR)
    enforcement_services.task_blind_answer(task=fourth, officer=supervisor, answer="no")
    reportin_services.task_decide(task=fourth, resolution="identity_not_confirmed", note="Not him.", officer=officer)

    today = now.date()
    report = accountability.figures(start=today - timedelta(days=1), end=today + timedelta(days=1), min_group=1)
    rates = report.total.rates
    assert (rates["blind_disagree"].count, rates["blind_disagree"].of) == (1, 3)
    assert (rates["blind_changed"].count, rates["blind_changed"].of) == (1, 2)
    gta = {g.name: g for g in report.groups["region"]}["Greater Toronto Area"]
    assert (gta.rates["blind_changed"].count, gta.rates["blind_changed"].of) == (1, 2)

    # The dashboard shows them.
    factories.staff_login(client, factories.staff("blind-auditor", role=roles.AUDITOR, region_code=None))
    page = text_of(client.get("/admin/accountability/", {"start": str(today - timedelta(days=1)), "end": str(today + timedelta(days=1))}))
    assert "Officers' first look against the matcher" in page and "Decision changed after seeing the score" in page
    assert "33.3% (1/3)" in page and "50.0% (1/2)" in page


def test_a_period_without_first_looks_has_no_cases():
    report = accountability.figures(start=date(2026, 3, 2), end=date(2026, 3, 8))
    assert report.total.rates["blind_disagree"].rate is None and report.total.rates["blind_changed"].rate is None


def test_the_question_speaks_french_to_a_french_browser(client, officer):
    task = face_task()["task"]
    response = client.get(f"{TASKS}{task.pk}/change/", HTTP_ACCEPT_LANGUAGE="fr")
    page = text_of(response)
    assert "Même personne ?" in page and "Oui, la même personne" in page and "Je ne peux pas le dire" in page
    assert 'value="Enregistrer ma réponse et afficher la comparaison"' in response.content.decode()


def test_a_misspelt_reason_in_the_setting_fails_the_system_check(settings):
    from reportin.apps import check_blind_review_reasons

    assert check_blind_review_reasons() == []
    settings.REPORTIN_BLIND_REVIEW_REASONS = ["face_non_match", "face_nonmatch"]
    (error,) = check_blind_review_reasons()
    assert error.id == "reportin.E001" and "face_nonmatch" in error.msg
