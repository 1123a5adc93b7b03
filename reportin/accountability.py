"""The accountability figures: what the face checks and the reporting rules did, by region and
by country of citizenship, with 95% confidence intervals.

One function computes them (`figures`); the back office draws them (backoffice.accountability_report:
the `accountability_report` command's HTML page with PNG charts, and the auditors' dashboard). Every
figure is a count the database gives directly (SQL aggregates, no sampling), so it can be
checked by hand:

- check-ins: received in the period (by day, or by week for periods over 92 days), by the face
  comparison's outcome (`not_scored` while not yet scored);
- non-match, no-face and low-quality rates: over the scored check-ins of the period;
- officer override rate: face non-match tasks of the period's check-ins resolved as "identity
  confirmed", over those resolved: the field estimate of false non-matches;
- false-match rate (sampled quality check): `quality_sample` tasks of the period's check-ins
  resolved as "identity not confirmed", over those resolved;
- missed-report rate: windows whose deadline fell in the period and that ended missed, over
  those that ended missed, reported or satisfied (excused windows and windows still open are
  left out);
- first look against the matcher: officers' blind answers ("same person?" before the figures,
  issue 17.4) on the period's check-ins that contradict the face comparison ("yes" to a
  non-match, "no" to a match), over the yes/no answers to a match or a non-match ("can't tell"
  and other outcomes are left out);
- decision changed after the score: resolved tasks whose resolving officer had answered yes or
  no blind and then decided the other way (identity confirmed after "no", not confirmed after
  "yes"), over those resolved with an identity decision.

A rate over fewer than REPORTIN_REPORT_MIN_GROUP cases is marked too small to judge: its
interval is shown, but no conclusion should be drawn from it.
"""

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, OuterRef, Q, Subquery, Sum
from django.db.models.functions import TruncDate
from django.utils.translation import gettext_lazy

from biometrics.evaluation import wilson
from enforcement.models import (
    BlindAnswer,
    InvestigationTask,
    Region,
    ReportingWindow,
    SamePerson,
    TaskReason,
    TaskResolution,
    TaskStatus,
    WindowStatus,
)
from reportin.models import CheckIn, FaceDecision, FaceMatch, FigureRollup, FigureSource, RollupDay

NOT_SCORED = "not_scored"
OUTCOMES = [*FaceDecision.values, NOT_SCORED]
# The outcomes in words (the codes stay in figures.json and the CSV exports).
OUTCOME_LABELS = {**dict(FaceDecision.choices), NOT_SCORED: gettext_lazy("Not scored yet")}
SETTLED_WINDOWS = [WindowStatus.SATISFIED, WindowStatus.REPORTED, WindowStatus.MISSED]
DIMENSIONS = {
    "region": ("client__region__name", gettext_lazy("Region")),
    "country": ("client__country_of_citizenship", gettext_lazy("Country of citizenship")),
}
RATES = [
    ("non_match", gettext_lazy("Non-match rate"), gettext_lazy("scored check-ins")),
    ("no_face", gettext_lazy("No-face rate"), gettext_lazy("scored check-ins")),
    ("low_quality", gettext_lazy("Low-quality rate"), gettext_lazy("scored check-ins")),
    ("override", gettext_lazy("Officer override of non-matches"), gettext_lazy("resolved non-match tasks")),
    ("false_match", gettext_lazy("False matches in the quality sample"), gettext_lazy("resolved sample reviews")),
    ("missed", gettext_lazy("Missed-report rate"), gettext_lazy("settled windows")),
    (
        "blind_disagree",
        gettext_lazy("Officers' first look against the matcher"),
        gettext_lazy("yes/no first looks at a match or non-match"),
    ),
    (
        "blind_changed",
        gettext_lazy("Decision changed after seeing the score"),
        gettext_lazy("identity decisions after a yes/no first look"),
    ),
]
# A first look and what agrees with it: the matcher's decision, then the final resolution.
_AGREES = {
    SamePerson.YES: (FaceDecision.MATCH, TaskResolution.IDENTITY_CONFIRMED),
    SamePerson.NO: (FaceDecision.NON_MATCH, TaskResolution.IDENTITY_NOT_CONFIRMED),
}


@dataclass
class Rate:
    count: int
    of: int
    rate: float | None
    low: float
    high: float
    too_small: bool

    @property
    def percent(self) -> str:
        return "—" if self.rate is None else f"{100 * self.rate:.1f}%"

    @property
    def interval(self) -> str:
        return "" if self.rate is None else f"{100 * self.low:.1f}–{100 * self.high:.1f}%"

    @classmethod
    def of_counts(cls, count: int, of: int, *, min_group: int) -> "Rate":
        low, high = wilson(count, of)
        return cls(count, of, count / of if of else None, low, high, of < min_group)


@dataclass
class Group:
    name: str
    checkins: int = 0
    outcomes: dict = field(default_factory=dict)
    rates: dict = field(default_factory=dict)

    @property
    def scored(self) -> int:
        return self.checkins - self.outcomes.get(NOT_SCORED, 0)

    @property
    def rate_list(self) -> list:
        """The rates in the order of RATES (for templates)."""
        return [self.rates[key] for key, _, _ in RATES]

    @property
    def outcome_list(self) -> list:
        return [self.outcomes.get(outcome, 0) for outcome in OUTCOMES]


@dataclass
class Figures:
    start: date
    end: date
    min_group: int
    period: str  # "day" or "week"
    timeline: list  # [(date, {outcome: n})]
    total: Group
    groups: dict  # {"region": [Group], "country": [Group]}

    @property
    def timeline_rows(self) -> list:
        return [(day, [counts[outcome] for outcome in OUTCOMES], sum(counts.values())) for day, counts in self.timeline]

    @property
    def outcome_labels(self) -> list:
        return [OUTCOME_LABELS[outcome] for outcome in OUTCOMES]

    @property
    def dimension_list(self) -> list:
        return [(DIMENSIONS[dim][1], groups) for dim, groups in self.groups.items()]

    def as_dict(self) -> dict:
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "min_group": self.min_group,
            "period": self.period,
            "timeline": [{"start": day.isoformat(), **counts} for day, counts in self.timeline],
            "total": _group_dict(self.total),
            "groups": {dim: [_group_dict(g) for g in groups] for dim, groups in self.groups.items()},
        }


def _group_dict(group: Group) -> dict:
    return {
        "name": group.name,
        "checkins": group.checkins,
        "scored": group.scored,
        "outcomes": group.outcomes,
        "rates": {key: asdict(rate) for key, rate in group.rates.items()},
    }


def bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """The period as UTC instants: from the start of `start` to the end of `end` (included)."""
    return datetime.combine(start, time.min, UTC), datetime.combine(end + timedelta(days=1), time.min, UTC)


@dataclass(frozen=True)
class FigureCount:
    """One count of the figures: a FigureRollup row, or the same counted from the source tables."""

    source: str
    day: date
    region_id: int | None
    country: str
    outcome: str
    model_version: str
    n: int


REVIEWED = [TaskReason.FACE_NON_MATCH, TaskReason.QUALITY_SAMPLE]


def counted(*, start: date, end: date) -> list[FigureCount]:
    """The counts of the days `start` to `end`, from the check-ins, tasks and windows
    themselves: a few grouped queries, whose cost grows with the rows of those days."""
    since, until = bounds(start, end)
    client = ("client__region_id", "client__country_of_citizenship")
    checkins = CheckIn.objects.filter(received_at__gte=since, received_at__lt=until)
    rows = [
        FigureCount(
            FigureSource.CHECKIN,
            r["day"],
            r["client__region_id"],
            r["client__country_of_citizenship"],
            r["face_match__decision"] or NOT_SCORED,
            r["face_match__model_version"] or "",
            r["n"],
        )
        for r in checkins.annotate(day=TruncDate("received_at", tzinfo=UTC))
        .values("day", *client, "face_match__decision", "face_match__model_version")
        .annotate(n=Count("pk"))
    ]
    # A review counts on the day its check-in was received (tasks know their check-in by id).
    received = Subquery(CheckIn.objects.filter(pk=OuterRef("checkin_id")).values("received_at")[:1])
    reviews = InvestigationTask.objects.filter(
        checkin_id__in=checkins.values("pk"), status=TaskStatus.RESOLVED, reason__in=REVIEWED
    ).annotate(day=TruncDate(received, tzinfo=UTC))
    rows += [
        FigureCount(
            FigureSource.REVIEW,
            r["day"],
            r["client__region_id"],
            r["client__country_of_citizenship"],
            f"{r['reason']}:{r['resolution']}",
            "",
            r["n"],
        )
        for r in reviews.values("day", *client, "reason", "resolution").annotate(n=Count("pk"))
    ]
    rows += _first_looks(checkins)
    windows = ReportingWindow.objects.filter(deadline_at__gte=since, deadline_at__lt=until, status__in=SETTLED_WINDOWS)
    rows += [
        FigureCount(
            FigureSource.WINDOW, r["day"], r["client__region_id"], r["client__country_of_citizenship"], r["status"], "", r["n"]
        )
        for r in windows.annotate(day=TruncDate("deadline_at", tzinfo=UTC))
        .values("day", *client, "status")
        .annotate(n=Count("pk"))
    ]
    return rows


def _first_looks(checkins) -> list[FigureCount]:
    """Officers' blind answers on these check-ins, as counts of `look:agree`/`look:disagree`
    (the answer against the matcher's match or non-match) and `decided:same`/`decided:changed`
    (the answering officer's own final identity decision against their answer)."""
    received = Subquery(CheckIn.objects.filter(pk=OuterRef("task__checkin_id")).values("received_at")[:1])
    answers = (
        BlindAnswer.objects.filter(task__checkin_id__in=checkins.values("pk"), answer__in=list(_AGREES))
        .annotate(
            day=TruncDate(received, tzinfo=UTC),
            decision=Subquery(FaceMatch.objects.filter(checkin_id=OuterRef("task__checkin_id")).values("decision")[:1]),
            # The final decision counts when the officer who answered blind made it.
            final=Subquery(
                InvestigationTask.objects.filter(
                    pk=OuterRef("task_id"), status=TaskStatus.RESOLVED, resolved_by_id=OuterRef("officer_id")
                )
                .filter(Q(resolution__in=[r for _, r in _AGREES.values()]))
                .values("resolution")[:1]
            ),
        )
        .values("day", "task__client__region_id", "task__client__country_of_citizenship", "answer", "decision", "final")
        .annotate(n=Count("pk"))
    )
    rows = []
    for r in answers:
        decision, resolution = _AGREES[r["answer"]]
        where = (r["day"], r["task__client__region_id"], r["task__client__country_of_citizenship"])
        if r["decision"] in (FaceDecision.MATCH, FaceDecision.NON_MATCH):
            outcome = "look:agree" if r["decision"] == decision else "look:disagree"
            rows.append(FigureCount(FigureSource.BLIND, *where, outcome, "", r["n"]))
        if r["final"]:
            outcome = "decided:same" if r["final"] == resolution else "decided:changed"
            rows.append(FigureCount(FigureSource.BLIND, *where, outcome, "", r["n"]))
    return rows


def rolled_up(*, start: date, end: date) -> tuple[list[FigureCount], list[FigureCount], set[date]]:
    """What FigureRollup holds for the days `start` to `end`, summed in the database: the
    check-ins per day and outcome (the timeline; no region or country), the counts per region,
    country and outcome over the whole period (no day); and which days it covers (a day's rows
    are written in the same transaction as its mark)."""
    days = set(RollupDay.objects.filter(day__range=(start, end), rolled_at__isnull=False).values_list("day", flat=True))
    kept = FigureRollup.objects.filter(day__range=(start, end))
    timeline = [
        FigureCount(FigureSource.CHECKIN, day, None, "", outcome, "", n)
        for day, outcome, n in kept.filter(source=FigureSource.CHECKIN).values_list("day", "outcome").annotate(Sum("n"))
    ]
    groups = [
        FigureCount(source, None, region_id, country, outcome, "", n)
        for source, region_id, country, outcome, n in kept.values_list("source", "region_id", "country", "outcome").annotate(
            Sum("n")
        )
    ]
    return timeline, groups, days


def day_runs(days: list[date]) -> list[tuple[date, date]]:
    """Sorted days as runs of consecutive days: [(first, last), ...]."""
    runs: list[list[date]] = []
    for day in sorted(days):
        if runs and day == runs[-1][1] + timedelta(days=1):
            runs[-1][1] = day
        else:
            runs.append([day, day])
    return [(first, last) for first, last in runs]


def figures(*, start: date, end: date, min_group: int | None = None) -> Figures:
    """The figures of the days `start` to `end`: the rolled-up days from FigureRollup (a few
    hundred rows a day whatever the volume), the other days (today, or a period never rolled
    up) counted from the source tables."""
    if end < start:
        raise ValueError("the period ends before it starts")
    min_group = settings.REPORTIN_REPORT_MIN_GROUP if min_group is None else min_group
    timeline_rows, rows, days = rolled_up(start=start, end=end)
    missing = [start + timedelta(days=k) for k in range((end - start).days + 1)]
    for first, last in day_runs([day for day in missing if day not in days]):
        live = counted(start=first, end=last)
        rows += live
        timeline_rows += [row for row in live if row.source == FigureSource.CHECKIN]

    period = "day" if (end - start).days < 92 else "week"
    regions = dict(Region.objects.values_list("pk", "name"))
    timeline = defaultdict(lambda: dict.fromkeys(OUTCOMES, 0))
    for row in timeline_rows:
        bucket = row.day if period == "day" else row.day - timedelta(days=row.day.weekday())
        timeline[bucket][row.outcome] += row.n

    def tally(key_of) -> dict:
        """Groups by `key_of(row)`."""
        groups: dict = {}
        reviews: dict = defaultdict(lambda: defaultdict(int))
        settled: dict = defaultdict(lambda: defaultdict(int))
        blind: dict = defaultdict(lambda: defaultdict(int))
        for row in rows:
            key = key_of(row)
            g = groups.get(key)
            if g is None:
                g = groups[key] = Group(key or "—", outcomes=dict.fromkeys(OUTCOMES, 0))
            if row.source == FigureSource.CHECKIN:
                g.checkins += row.n
                g.outcomes[row.outcome] += row.n
            elif row.source == FigureSource.REVIEW:
                reason, _, resolution = row.outcome.partition(":")
                reviews[key][(reason, resolution)] += row.n
            elif row.source == FigureSource.BLIND:
                blind[key][row.outcome] += row.n
            else:
                settled[key][row.outcome] += row.n
        for key, g in groups.items():
            review, window, looks = reviews[key], settled[key], blind[key]
            non_matches = sum(n for (reason, _), n in review.items() if reason == TaskReason.FACE_NON_MATCH)
            samples = sum(n for (reason, _), n in review.items() if reason == TaskReason.QUALITY_SAMPLE)
            counts = {
                "non_match": (g.outcomes[FaceDecision.NON_MATCH], g.scored),
                "no_face": (g.outcomes[FaceDecision.NO_FACE], g.scored),
                "low_quality": (g.outcomes[FaceDecision.LOW_QUALITY], g.scored),
                "override": (review[(TaskReason.FACE_NON_MATCH, TaskResolution.IDENTITY_CONFIRMED)], non_matches),
                "false_match": (review[(TaskReason.QUALITY_SAMPLE, TaskResolution.IDENTITY_NOT_CONFIRMED)], samples),
                "missed": (window[WindowStatus.MISSED], sum(window.values())),
                "blind_disagree": (looks["look:disagree"], looks["look:agree"] + looks["look:disagree"]),
                "blind_changed": (looks["decided:changed"], looks["decided:same"] + looks["decided:changed"]),
            }
            g.rates = {name: Rate.of_counts(k, n, min_group=min_group) for name, (k, n) in counts.items()}
        return groups

    total = tally(lambda row: "All").get("All") or _empty("All", min_group)
    key_of = {"region": lambda row: regions.get(row.region_id), "country": lambda row: row.country}
    groups = {dim: sorted(tally(key_of[dim]).values(), key=lambda g: g.name) for dim in DIMENSIONS}
    return Figures(start, end, min_group, period, sorted(timeline.items()), total, groups)


def rollup_day(*, day: date, now: datetime | None = None) -> RollupDay:
    """Count one finished day (UTC) into FigureRollup, replacing what was counted before; two
    runs for the same day wait for each other. Today and later days are refused: they are
    not over."""
    now = now or datetime.now(UTC)
    if day >= now.date():
        raise ValueError(f"{day} is not over yet (UTC): only past days are rolled up")
    RollupDay.objects.get_or_create(day=day)
    with transaction.atomic():
        mark = RollupDay.objects.select_for_update().get(day=day)
        rows = counted(start=day, end=day)
        FigureRollup.objects.filter(day=day).delete()
        FigureRollup.objects.bulk_create(
            FigureRollup(
                day=r.day,
                source=r.source,
                region_id=r.region_id,
                country=r.country or "",
                outcome=r.outcome,
                model_version=r.model_version,
                n=r.n,
            )
            for r in rows
        )
        mark.rolled_at = now
        mark.checkins = sum(r.n for r in rows if r.source == FigureSource.CHECKIN)
        mark.save(update_fields=["rolled_at", "checkins"])
    return mark


def _empty(name: str, min_group: int) -> Group:
    group = Group(name, outcomes=dict.fromkeys(OUTCOMES, 0))
    group.rates = {key: Rate.of_counts(0, 0, min_group=min_group) for key, _, _ in RATES}
    return group
