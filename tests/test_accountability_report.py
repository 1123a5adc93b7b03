"""The accountability figures (reportin/accountability.py), the report command and the admin
dashboard, on a small seeded data set whose figures are counted by hand below.

The data set: three clients, week of Monday 2 March 2026 (UTC).
- A: GTA, Haiti. Check-ins: match (2 Mar), match (2 Mar), non_match (3 Mar), no_face (4 Mar);
  and a non_match on 10 Mar, outside the period.
- B: GTA, Mexico. Check-ins: match (5 Mar), low_quality (6 Mar), one not scored yet (8 Mar).
- C: Quebec, Haiti. Check-ins: non_match (6 Mar), match (7 Mar), match (8 Mar).
Tasks: A's non_match resolved "identity confirmed" (an override), C's "identity not confirmed",
the 10 Mar one "identity confirmed" (outside the period). Quality samples: one of A's matches
(confirmed), one of C's (not confirmed: a false match).
Windows with their deadline in the period: A satisfied + missed, B missed + excused + one still
open, C reported + satisfied + satisfied; and A missed on 12 Mar (outside).

The check-ins' FaceMatch rows are written directly with the decisions above (the face engine's
own outcomes are tested in tests/test_scoring.py), and tasks are resolved by setting their
resolution (the officer's decision service belongs to the officer workspace).
"""

import json
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import call_command
from PIL import Image

from backoffice import accountability_report
from enforcement.models import InvestigationTask, ReportingWindow, TaskStatus
from enforcement.services import task_open
from reportin import accountability
from reportin.models import CheckIn, FaceMatch
from tests import factories

pytestmark = pytest.mark.django_db

START, END = date(2026, 3, 2), date(2026, 3, 8)
# No blind first looks in this data set (their figures: tests/test_blind_review.py).
NO_FIRST_LOOKS = {"blind_disagree": (0, 0), "blind_changed": (0, 0)}


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 3, day, hour, 0, tzinfo=UTC)


def checkin(client, device, day: int, decision: str | None) -> CheckIn:
    received = at(day)
    row = CheckIn.objects.create(
        client=client,
        device=device,
        latitude=45.5,
        longitude=-73.6,
        accuracy_m=10,
        captured_at=received,
        received_at=received,
        idempotency_key=f"{client.pk}-{day}-{CheckIn.objects.count()}",
        request_fingerprint="x",
        status="received" if decision is None else ("verified" if decision == "match" else "needs_review"),
    )
    if decision is not None:
        FaceMatch.objects.create(
            checkin=row,
            decision=decision,
            best_distance=0.4 if decision == "match" else None,
            threshold=0.54,
            model_version="dlib-test",
            pipeline_version="1",
            duration_ms=100,
            scored_at=received + timedelta(seconds=5),
        )
    return row


def decided(client, row: CheckIn, reason: str, resolution: str, officer) -> InvestigationTask:
    task, _ = task_open(client=client, reason=reason, checkin_id=row.pk, now=row.received_at)
    InvestigationTask.objects.filter(pk=task.pk).update(
        status=TaskStatus.RESOLVED, resolution=resolution, resolved_by=officer, resolved_at=row.received_at + timedelta(hours=3)
    )
    return task


def window(client, day: int, status: str) -> ReportingWindow:
    opens = at(day, 9)
    extra = {}
    if status == "satisfied":
        extra = {"satisfied_at": opens + timedelta(hours=1)}
    if status == "excused":
        extra = {"excused_at": opens, "excused_reason": "hospital"}
    return ReportingWindow.objects.create(
        condition=client.conditions.get(active=True),
        client=client,
        opens_at=opens,
        closes_at=opens + timedelta(hours=2),
        deadline_at=opens + timedelta(hours=3),
        status=status,
        **extra,
    )


@pytest.fixture
def seeded():
    officer = factories.staff("officer-report")
    clients = {}
    for name, region, country in (("A", "gta", "HT"), ("B", "gta", "MX"), ("C", "quebec", "HT")):
        person = factories.client(region_code=region, country_of_citizenship=country, family_name=name)
        factories.condition(person, starts_on=factories.LATER)
        _, device = factories.device(person)
        clients[name] = (person, device)
    a, b, c = clients["A"], clients["B"], clients["C"]

    a_match_1 = checkin(*a, 2, "match")
    checkin(*a, 2, "match")
    a_non_match = checkin(*a, 3, "non_match")
    checkin(*a, 4, "no_face")
    later_non_match = checkin(*a, 10, "non_match")
    checkin(*b, 5, "match")
    checkin(*b, 6, "low_quality")
    checkin(*b, 8, None)
    c_non_match = checkin(*c, 6, "non_match")
    c_match = checkin(*c, 7, "match")
    checkin(*c, 8, "match")

    decided(a[0], a_non_match, "face_non_match", "identity_confirmed", officer)
    decided(c[0], c_non_match, "face_non_match", "identity_not_confirmed", officer)
    decided(a[0], later_non_match, "face_non_match", "identity_confirmed", officer)
    decided(a[0], a_match_1, "quality_sample", "identity_confirmed", officer)
    decided(c[0], c_match, "quality_sample", "identity_not_confirmed", officer)

    for person, day, status in (
        (a[0], 2, "satisfied"),
        (a[0], 3, "missed"),
        (a[0], 12, "missed"),
        (b[0], 4, "missed"),
        (b[0], 5, "excused"),
        (b[0], 8, "open"),
        (c[0], 2, "reported"),
        (c[0], 3, "satisfied"),
        (c[0], 4, "satisfied"),
    ):
        window(person, day, status)
    return clients


def counts(rate) -> tuple:
    return (rate.count, rate.of)


def by_name(groups) -> dict:
    return {group.name: group for group in groups}


def test_the_figures_match_the_hand_counts(seeded):
    report = accountability.figures(start=START, end=END, min_group=5)

    total = report.total
    assert (total.checkins, total.scored) == (10, 9)
    assert total.outcomes == {
        "match": 5,
        "non_match": 2,
        "no_face": 1,
        "multiple_faces": 0,
        "low_quality": 1,
        "unreadable": 0,
        "not_scored": 1,
    }
    assert {key: counts(rate) for key, rate in total.rates.items()} == {
        "non_match": (2, 9),
        "no_face": (1, 9),
        "low_quality": (1, 9),
        "override": (1, 2),
        "false_match": (1, 2),
        "missed": (2, 6),
        **NO_FIRST_LOOKS,
    }
    # 2 of 9 by hand: Wilson 95% interval 6.32% to 54.74%.
    assert total.rates["non_match"].rate == pytest.approx(2 / 9)
    assert (total.rates["non_match"].low, total.rates["non_match"].high) == (
        pytest.approx(0.0632, abs=1e-4),
        pytest.approx(0.5474, abs=1e-4),
    )
    assert total.rates["non_match"].too_small is False and total.rates["override"].too_small is True

    regions = by_name(report.groups["region"])
    assert set(regions) == {"Greater Toronto Area", "Quebec"}
    gta, quebec = regions["Greater Toronto Area"], regions["Quebec"]
    assert (gta.checkins, gta.scored, quebec.checkins, quebec.scored) == (7, 6, 3, 3)
    assert {key: counts(rate) for key, rate in gta.rates.items()} == {
        "non_match": (1, 6),
        "no_face": (1, 6),
        "low_quality": (1, 6),
        "override": (1, 1),
        "false_match": (0, 1),
        "missed": (2, 3),
        **NO_FIRST_LOOKS,
    }
    assert {key: counts(rate) for key, rate in quebec.rates.items()} == {
        "non_match": (1, 3),
        "no_face": (0, 3),
        "low_quality": (0, 3),
        "override": (0, 1),
        "false_match": (1, 1),
        "missed": (0, 3),
        **NO_FIRST_LOOKS,
    }
    assert gta.rates["non_match"].too_small is False  # 6 scored check-ins >= 5
    assert quebec.rates["non_match"].too_small is True  # 3 < 5: too small to judge

    countries = by_name(report.groups["country"])
    assert set(countries) == {"HT", "MX"}
    assert {key: counts(rate) for key, rate in countries["HT"].rates.items()} == {
        "non_match": (2, 7),
        "no_face": (1, 7),
        "low_quality": (0, 7),
        "override": (1, 2),
        "false_match": (1, 2),
        "missed": (1, 5),
        **NO_FIRST_LOOKS,
    }
    mexico = countries["MX"]
    assert (mexico.checkins, mexico.scored) == (3, 2)
    assert {key: counts(rate) for key, rate in mexico.rates.items()} == {
        "non_match": (0, 2),
        "no_face": (0, 2),
        "low_quality": (1, 2),
        "override": (0, 0),
        "false_match": (0, 0),
        "missed": (1, 1),
        **NO_FIRST_LOOKS,
    }
    assert mexico.rates["override"].rate is None and mexico.rates["override"].too_small

    assert report.period == "day"
    timeline = {day: {k: v for k, v in row.items() if v} for day, row in report.timeline}
    assert timeline == {
        date(2026, 3, 2): {"match": 2},
        date(2026, 3, 3): {"non_match": 1},
        date(2026, 3, 4): {"no_face": 1},
        date(2026, 3, 5): {"match": 1},
        date(2026, 3, 6): {"low_quality": 1, "non_match": 1},
        date(2026, 3, 7): {"match": 1},
        date(2026, 3, 8): {"not_scored": 1, "match": 1},
    }


def test_a_period_without_data_has_no_rates(seeded):
    report = accountability.figures(start=date(2025, 1, 1), end=date(2025, 1, 31), min_group=5)
    assert report.total.checkins == 0 and report.groups == {"region": [], "country": []}
    assert all(rate.rate is None and rate.too_small for rate in report.total.rates.values())


def figures_section(html: str) -> str:
    return re.search(r'<section class="figures">.*?</section>', html, re.S).group(0)


def test_the_command_writes_html_charts_and_json_and_the_dashboard_shows_the_same_figures(
    seeded, tmp_path, client, settings, capsys
):
    settings.REPORTIN_REPORT_MIN_GROUP = 5
    out = tmp_path / "report"
    call_command("accountability_report", "--from", "2026-03-02", "--to", "2026-03-08", "--out", str(out))
    printed = capsys.readouterr().out
    assert "10 check-ins (9 scored) from 2026-03-02 to 2026-03-08" in printed
    assert "Non-match rate: 22.2% (2/9 scored check-ins) [6.3–54.7%]" in printed
    assert "Officer override of non-matches: 50.0% (1/2 resolved non-match tasks)" in printed and "too small to judge" in printed

    html = (out / "index.html").read_text()
    for name in ("checkins_over_time.png", "rates_by_region.png", "rates_by_country.png"):
        assert f'src="{name}"' in html
        with Image.open(out / name) as chart:
            assert chart.format == "PNG" and chart.width >= 800 and chart.height >= 300
    assert "<strong>22.2%</strong> (2/9)" in html and "too small to judge" in html
    data = json.loads((out / "figures.json").read_text())
    assert data["total"]["rates"]["missed"]["count"] == 2 and data["total"]["rates"]["missed"]["of"] == 6
    assert [g["name"] for g in data["groups"]["country"]] == ["HT", "MX"]

    factories.staff_login(client, factories.staff("auditor-dash", role="Auditor", region_code=None))
    page = client.get("/admin/accountability/", {"start": "2026-03-02", "end": "2026-03-08"})
    assert page.status_code == 200
    assert figures_section(page.content.decode()) == figures_section(html)


def test_the_dashboard_is_for_auditors_and_supervisors_not_officers(seeded, client):
    factories.staff_login(client, factories.staff("officer-dash"))
    assert client.get("/admin/accountability/").status_code == 403
    factories.staff_login(client, factories.staff("supervisor-dash", role="Supervisor", region_code=None))
    page = client.get("/admin/accountability/")
    assert page.status_code == 200 and page.context["report"].end == date.today()
    bad = client.get("/admin/accountability/", {"start": "2026-03-08", "end": "2026-03-02"})
    assert bad.status_code == 200 and bad.context["report"] is None and b"ends before it starts" in bad.content
    client.logout()
    assert client.get("/admin/accountability/").status_code == 302  # to the login page


def test_the_command_refuses_a_reversed_period(tmp_path):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("accountability_report", "--from", "2026-03-08", "--to", "2026-03-02", "--out", str(tmp_path))


# --- The rollup table (issue 16.3) -----------------------------------------------------------


def test_rolled_up_days_give_the_same_figures_as_counting_the_source_tables(seeded):
    live = accountability.figures(start=START, end=END, min_group=5).as_dict()
    wide_live = accountability.figures(start=date(2026, 1, 1), end=date(2026, 4, 30), min_group=5).as_dict()
    # Part of the period rolled up (a gap in the middle): those days come from the table, the
    # others are counted from the source tables, and the figures are the same.
    for day in (2, 3, 6):
        accountability.rollup_day(day=date(2026, 3, day))
    assert accountability.figures(start=START, end=END, min_group=5).as_dict() == live
    call_command("figures_rollup", "--from", "2026-03-01", "--to", "2026-03-14")
    assert accountability.figures(start=START, end=END, min_group=5).as_dict() == live
    # A four-month view (by week) reaching past the rolled-up days agrees too.
    wide = accountability.figures(start=date(2026, 1, 1), end=date(2026, 4, 30), min_group=5)
    assert wide.as_dict() == wide_live
    assert wide.total.checkins == 11 and wide.period == "week"
    assert [(day.isoformat(), sum(c.values())) for day, c in wide.timeline] == [("2026-03-02", 10), ("2026-03-09", 1)]


def test_the_figures_of_a_rolled_up_day_are_read_from_the_table_until_it_is_counted_again(seeded):
    from reportin.models import FigureRollup, RollupDay

    mark = accountability.rollup_day(day=date(2026, 3, 4))
    assert mark.checkins == 1 and mark.rolled_at is not None
    rows = {(r.source, r.outcome, r.country, r.n) for r in FigureRollup.objects.filter(day=date(2026, 3, 4))}
    # (excused windows are not settled ones: they count in no rate)
    assert rows == {("checkin", "no_face", "HT", 1), ("window", "missed", "MX", 1), ("window", "satisfied", "HT", 1)}
    person, device = seeded["B"]
    checkin(person, device, 4, "non_match")  # arrives in the source tables after the rollup
    assert accountability.figures(start=date(2026, 3, 4), end=date(2026, 3, 4)).total.checkins == 1
    again = accountability.rollup_day(day=date(2026, 3, 4))
    assert again.checkins == 2 and RollupDay.objects.count() == 1
    assert accountability.figures(start=date(2026, 3, 4), end=date(2026, 3, 4)).total.outcomes["non_match"] == 1


def test_today_is_never_rolled_up_and_the_command_says_why(seeded):
    from django.core.management.base import CommandError

    with pytest.raises(ValueError, match="not over yet"):
        accountability.rollup_day(day=date(2026, 3, 5), now=at(5, 23))
    with pytest.raises(CommandError, match="today is counted live"):
        call_command("figures_rollup", "--from", "2026-03-01", "--to", (date.today()).isoformat())
    with pytest.raises(CommandError, match="before"):
        call_command("figures_rollup", "--from", "2026-03-08", "--to", "2026-03-02")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_nightly_job_counts_the_recent_days_through_the_worker(settings, celery_worker):
    from reportin.models import RollupDay
    from reportin.tasks import figures_rollup_recent

    settings.REPORTIN_ROLLUP_DAYS = 3
    days = figures_rollup_recent.apply().get()
    assert len(days) == 3 and days[0] == (date.today() - timedelta(days=1)).isoformat()
    from tests.conftest import wait_for

    wait_for(
        lambda: RollupDay.objects.filter(rolled_at__isnull=False).count() == 3,
        timeout=60,
        message="three days rolled up by the worker",
    )


def test_a_rate_of_one_whose_interval_ends_a_rounding_error_below_it_is_drawn(seeded, tmp_path):
    # wilson(4, 4) ends at 0.9999999999999999: matplotlib refused the negative error bar and the
    # whole report failed for a small group where every case went one way.
    report = accountability.figures(start=START, end=END, min_group=5)
    everything = accountability.Rate.of_counts(4, 4, min_group=5)
    assert everything.high < everything.rate
    report.groups["region"][0].rates["override"] = everything
    accountability_report.chart_rates(report, "region", tmp_path / "rates.png")
    with Image.open(tmp_path / "rates.png") as chart:
        assert chart.format == "PNG"
