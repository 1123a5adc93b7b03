"""What the back office's landing page ("My work") and the supervisors' pages show. Each is read
in a fixed number of queries, whatever the number of tasks, through the task indexes:
`task_assignee_idx` (assignee, status) for one person's tasks, `task_region_queue_idx` and
`task_queue_idx` (unresolved tasks only) for a region's or every region's overdue count."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, Q

from enforcement import roles
from enforcement.models import Escalation, EscalationStatus, InvestigationTask, Region, TaskStatus, User

MY_TASKS_SHOWN = 15
SIGNOFFS_SHOWN = 10


def _unresolved():
    # Written as the partial indexes' condition (NOT status = 'resolved') so that they are used.
    return InvestigationTask.objects.exclude(status=TaskStatus.RESOLVED)


def takes_tasks(user) -> bool:
    """Whether tasks can be assigned to `user` (enforcement.services.task_assign's rule)."""
    return user.is_active and user.is_staff and not roles.is_auditor(user)


def signs_off(user) -> bool:
    return roles.is_supervisor(user) and user.has_perm("enforcement.approve_escalation")


def user_time_zone(user) -> str:
    """The zone a staff member's own figures are told in: their region's (UTC without one)."""
    return user.region.time_zone if user.region_id else settings.TIME_ZONE


def task_time_zone(task: InvestigationTask) -> str:
    """A task is a client matter: its times are the client's local time."""
    return task.client.time_zone or task.region.time_zone


def signoffs_waiting(*, user):
    """Escalations proposed by someone else that wait for a sign-off, oldest first, in the
    regions `user` sees; nothing for those who do not sign off. Proposed escalations are few
    (the unique index `escalation_one_pending_per_task` holds exactly them)."""
    if not signs_off(user):
        return Escalation.objects.none()
    waiting = Escalation.objects.filter(status=EscalationStatus.PROPOSED).exclude(proposed_by=user)
    return (
        roles.scope(waiting, user, "task__region")
        .select_related("task__client", "task__region", "client", "proposed_by")
        .order_by("proposed_at", "id")
    )


@dataclass
class MyWork:
    now: datetime
    takes_tasks: bool
    tasks: list = field(default_factory=list)  # my open tasks, soonest due first
    open_count: int = 0
    overdue_mine: int = 0
    region: Region | None = None
    overdue_region: int = 0
    sees_all_regions: bool = False
    overdue_all: int = 0
    signs_off: bool = False
    signoffs: list = field(default_factory=list)
    signoffs_count: int = 0


def my_work(*, user: User, now: datetime) -> MyWork:
    """The landing page's figures: at most 6 queries."""
    work = MyWork(now=now, takes_tasks=takes_tasks(user), region=user.region if user.region_id else None, sees_all_regions=roles.sees_all_regions(user))
    if work.takes_tasks:
        mine = _unresolved().filter(assignee=user)
        work.tasks = list(mine.select_related("client", "region").order_by("due_by", "id")[:MY_TASKS_SHOWN])
        counts = mine.aggregate(open=Count("id"), overdue=Count("id", filter=Q(due_by__lt=now)))
        work.open_count, work.overdue_mine = counts["open"], counts["overdue"]
    # One pass over the overdue tasks the user sees: their region's, and every region's for those
    # who see them all.
    overdue = roles.scope(_unresolved().filter(due_by__lt=now), user, "region")
    counts = overdue.aggregate(total=Count("id"), region=Count("id", filter=Q(region_id=user.region_id)))
    work.overdue_region, work.overdue_all = counts["region"] or 0, counts["total"] or 0
    if signs_off(user):
        waiting = signoffs_waiting(user=user)
        work.signs_off = True
        work.signoffs = list(waiting[:SIGNOFFS_SHOWN])
        work.signoffs_count = waiting.count()
    return work


def week_start(now: datetime, time_zone: str) -> datetime:
    """Monday 00:00 of `now`'s week in `time_zone` (aware)."""
    local = now.astimezone(ZoneInfo(time_zone))
    return (local - timedelta(days=local.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass
class WorkloadRow:
    officer: User
    open: int
    overdue: int
    resolved_this_week: int


def workload(*, region: Region | None, now: datetime, since: datetime) -> list[WorkloadRow]:
    """Per officer of `region` (every region: None), by region then name: their unresolved
    tasks, how many of them are overdue, and how many tasks they resolved since `since`.
    Three queries whatever the number of officers and tasks."""
    officers = User.objects.filter(is_active=True, is_staff=True, groups__name=roles.OFFICER).select_related("region")
    if region is not None:
        officers = officers.filter(region=region)
    officers = list(officers.order_by("region__name", "username"))
    ids = [officer.pk for officer in officers]
    held = {
        row["assignee_id"]: row
        for row in _unresolved().filter(assignee_id__in=ids).order_by().values("assignee_id")
        .annotate(open=Count("id"), overdue=Count("id", filter=Q(due_by__lt=now)))
    }
    resolved = dict(
        InvestigationTask.objects.filter(status=TaskStatus.RESOLVED, resolved_by_id__in=ids, resolved_at__gte=since)
        .order_by().values("resolved_by_id").annotate(n=Count("id")).values_list("resolved_by_id", "n")
    )
    return [
        WorkloadRow(
            officer=officer, open=held.get(officer.pk, {}).get("open", 0), overdue=held.get(officer.pk, {}).get("overdue", 0),
            resolved_this_week=resolved.get(officer.pk, 0),
        )
        for officer in officers
    ]


def reassign_candidates(*, region_ids: set[int]):
    """Who a set of tasks may go to at once: supervisors (they work every region), and the
    officers of the tasks' region when the tasks are all of one region (task_assign's rule)."""
    eligible = Q(groups__name=roles.SUPERVISOR)
    if len(region_ids) == 1:
        eligible |= Q(groups__name=roles.OFFICER, region_id=next(iter(region_ids)))
    return User.objects.filter(is_active=True, is_staff=True).filter(eligible).distinct().select_related("region").order_by("username")
