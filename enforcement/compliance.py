"""Set-based SQL behind the compliance services (enforcement.services calls these).

`materialise` creates reporting windows (and their reminders) ahead; `sweep` turns windows
whose deadline has passed into missed windows with one `missed_report` task each. Both do
their work in a few statements whatever the number of clients, on PostgreSQL (production)
and SQLite (the embedded default) alike; where the two differ, PostgreSQL gets the faster
form and the SQLite form is the same logic in more statements.
"""

import time
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.db.models import F, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce, NullIf

from enforcement import schedule
from enforcement.models import (
    CaseStatus,
    Client,
    ContactChannel,
    InvestigationTask,
    Notice,
    NoticeKind,
    Notification,
    NotificationKind,
    NotificationStatus,
    NotifyChannel,
    ReportingCondition,
    ReportingMethod,
    ReportingWindow,
    SweepMark,
    TaskNote,
    TaskPriority,
    TaskReason,
    TaskStatus,
    WindowStatus,
)

WINDOW = connection.ops.quote_name(ReportingWindow._meta.db_table)
TASK = connection.ops.quote_name(InvestigationTask._meta.db_table)
CLIENT = connection.ops.quote_name(Client._meta.db_table)
NOTE = connection.ops.quote_name(TaskNote._meta.db_table)
NOTIFICATION = connection.ops.quote_name(Notification._meta.db_table)
CONTACT_CHANNEL = connection.ops.quote_name(ContactChannel._meta.db_table)
NOTICE = connection.ops.quote_name(Notice._meta.db_table)
MARK = connection.ops.quote_name(SweepMark._meta.db_table)
NEW_WINDOWS = "reportin_new_windows"  # a temporary table, one per materialisation chunk

OPEN_CASES = [status for status in CaseStatus.values if status not in (CaseStatus.REMOVED, CaseStatus.CLOSED)]
# A window counted as kept (not missed) ends a run of consecutive misses.
KEPT = (WindowStatus.REPORTED, WindowStatus.SATISFIED, WindowStatus.EXCUSED)
_EPOCH = datetime(1, 1, 1, tzinfo=UTC)


def _db(value: datetime | None):
    """A datetime as raw SQL needs it (SQLite stores naive UTC text; PostgreSQL takes it as is)."""
    return connection.ops.adapt_datetimefield_value(value)


def horizon_end(now: datetime, days: int) -> datetime:
    """The instant up to which windows are created: `days` ahead, rounded up to a UTC midnight,
    so that all the runs of one day share it and only the first of them has work to do."""
    end = now + timedelta(days=days)
    midnight = end.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight if midnight == end else midnight + timedelta(days=1)


# --- Materialisation ------------------------------------------------------------------------

_CONDITION_FIELDS = ("pk", "client_id", "tz", *schedule.RULE_FIELDS, "ends_on", "effective_from", "latest")
_JUST_AFTER = timedelta(microseconds=1)


def _conditions_to_materialise(*, after_id: int, condition_ids: list[int] | None):
    conditions = ReportingCondition.objects.filter(
        active=True, method=ReportingMethod.REMOTE, client__case_status__in=OPEN_CASES, pk__gt=after_id
    )
    if condition_ids is not None:
        conditions = conditions.filter(pk__in=condition_ids)
    return (
        # Claimed row by row: two runs at once share the work, and a condition being replaced
        # (condition_set holds its row) is left alone instead of getting windows after its
        # replacement removed them (the next run no longer finds it active).
        conditions.select_for_update(skip_locked=True, of=("self",))
        .annotate(
            tz=Coalesce(NullIf(F("client__time_zone"), Value("")), F("client__region__time_zone")),
            # The windows table is its own bookmark: windows are always created in order and
            # only the not-yet-open ones are ever removed, so a condition has every window up
            # to its latest and the next run starts after it (one index probe per condition).
            latest=Subquery(ReportingWindow.objects.filter(condition=OuterRef("pk")).order_by("-opens_at").values("opens_at")[:1]),
        )
        .order_by("pk")
        .values_list(*_CONDITION_FIELDS)
    )


class _Windows:
    """The windows of each (time zone, rule, first instant) up to the horizon, computed once
    per run and shared by every condition with the same three. In a daily run the conditions
    of a rule share their first instant (just after the previous horizon's last window), so
    the work is per rule, not per client."""

    def __init__(self, now: datetime, until: datetime):
        self.now, self.until = now, until
        self._cache: dict[tuple, list[schedule.Window]] = {}

    def of(self, time_zone: str, fields: tuple, start: datetime) -> list[schedule.Window]:
        schedule_kind, *_, interval_days, _, starts_on = fields
        # Only every-N-days rules depend on the first day, and only through its phase.
        phase = starts_on.toordinal() % interval_days if schedule_kind == schedule.EVERY_N_DAYS else 0
        key = (time_zone, fields[:-1], phase, start)
        if key not in self._cache:
            if len(self._cache) >= 100_000:  # a bound on memory; a rule computed again costs microseconds
                self._cache.clear()
            rule = schedule.Rule.build(**dict(zip(schedule.RULE_FIELDS, fields, strict=True)))
            self._cache[key] = schedule.windows_opening(rule, schedule.zone(time_zone), start, self.until)
        return self._cache[key]


def _new_windows(conditions: list[tuple], shared: _Windows, closing_reminder: timedelta | None) -> list[tuple]:
    """The windows to create: after each condition's latest window (or from when it takes
    effect) up to the horizon, not closed yet (nobody is held to a window that was never
    announced), on a day between the condition's first and last."""
    rows = []
    floor = schedule.not_closed_since(shared.now)
    for condition in conditions:
        pk, client_id, time_zone = condition[:3]
        fields, (ends_on, effective_from, latest) = condition[3:-3], condition[-3:]
        start = max(floor, effective_from or floor, latest + _JUST_AFTER if latest else floor)
        for window in shared.of(time_zone, fields, start):
            if window.closes_at <= shared.now or not schedule.in_force(window, fields[-1], ends_on):
                continue
            closing_at = None
            if closing_reminder and window.closes_at - closing_reminder > window.opens_at:
                closing_at = window.closes_at - closing_reminder
            rows.append((pk, client_id, window.opens_at, window.closes_at, window.deadline_at, closing_at))
    return rows


def _insert(rows: list[tuple], *, now: datetime) -> int:
    """Insert windows and their reminders; what exists already is left alone (the unique
    (condition, opens_at) and (window, kind) constraints decide). Returns windows created."""
    if not rows:
        return 0
    dt, bigint = connection.data_types["DateTimeField"], connection.data_types["BigIntegerField"]
    columns = "condition_id, client_id, opens_at, closes_at, deadline_at, closing_at"
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE {NEW_WINDOWS} (condition_id {bigint}, client_id {bigint}, "
            f"opens_at {dt}, closes_at {dt}, deadline_at {dt}, closing_at {dt})"
        )
        if connection.vendor == "postgresql":
            # COPY: many times faster than INSERT for a national run.
            with cursor.cursor.copy(f"COPY {NEW_WINDOWS} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.executemany(
                f"INSERT INTO {NEW_WINDOWS} ({columns}) VALUES (%s, %s, %s, %s, %s, %s)",
                [(c, cl, _db(o), _db(cs), _db(d), _db(r)) for c, cl, o, cs, d, r in rows],
            )
        # "WHERE true" keeps SQLite from reading ON CONFLICT as part of the SELECT.
        cursor.execute(
            f"INSERT INTO {WINDOW} (condition_id, client_id, opens_at, closes_at, deadline_at, status, excused_reason, created_at) "
            f"SELECT condition_id, client_id, opens_at, closes_at, deadline_at, %s, '', %s FROM {NEW_WINDOWS} WHERE true "
            "ON CONFLICT DO NOTHING",
            [WindowStatus.OPEN, _db(now)],
        )
        created = cursor.rowcount
        # One reminder per channel the person chose (enforcement_contactchannel), or by email
        # when they chose none: what everyone got before channels could be chosen.
        chosen = (
            f"SELECT cc.channel FROM {CONTACT_CHANNEL} cc WHERE cc.client_id = w.client_id AND cc.ended_at IS NULL"
        )
        channel_sources = (
            (f"JOIN {CONTACT_CHANNEL} ch ON ch.client_id = w.client_id AND ch.ended_at IS NULL", "ch.channel", ""),
            ("", f"'{NotifyChannel.EMAIL}'", f"AND NOT EXISTS ({chosen})"),
        )
        for kind, send_after in ((NotificationKind.WINDOW_OPENED, "n.opens_at"), (NotificationKind.WINDOW_CLOSING, "n.closing_at")):
            for join, channel, only in channel_sources:
                cursor.execute(
                    f"INSERT INTO {NOTIFICATION} (client_id, window_id, kind, channel, status, send_after, attempts, "
                    "provider_reference, last_error, created_at) "
                    f"SELECT w.client_id, w.id, %s, {channel}, %s, {send_after}, 0, '', '', %s FROM {NEW_WINDOWS} n "
                    f"JOIN {WINDOW} w ON w.condition_id = n.condition_id AND w.opens_at = n.opens_at {join} "
                    f"WHERE w.status = %s AND {send_after} IS NOT NULL {only} ON CONFLICT DO NOTHING",
                    [kind, NotificationStatus.PENDING, _db(now), WindowStatus.OPEN],
                )
        cursor.execute(f"DROP TABLE {NEW_WINDOWS}")
    return created


def materialise(
    *, now: datetime, until: datetime, closing_reminder: timedelta | None, condition_ids: list[int] | None = None, chunk_size: int = 20_000
) -> int:
    """Create the windows of active remote conditions (of open cases) that open before
    `until`, with their reminders, one transaction per chunk of conditions. Returns the
    number of windows created."""
    created, _ = materialise_from(
        now=now, until=until, closing_reminder=closing_reminder, condition_ids=condition_ids, chunk_size=chunk_size
    )
    return created


def materialise_from(
    *, now: datetime, until: datetime, closing_reminder: timedelta | None, condition_ids: list[int] | None = None,
    chunk_size: int = 20_000, after_id: int = 0, deadline: float | None = None,
) -> tuple[int, int | None]:
    """materialise() for the conditions after `after_id`, stopping after the chunk that ends
    past `deadline` (time.monotonic()). Returns (windows created, the condition id to resume
    after, or None when every condition is done). Each chunk commits on its own, so a run cut
    anywhere is resumed by the next one with nothing done twice (ON CONFLICT DO NOTHING)."""
    shared = _Windows(now, until)
    created = 0
    # A chunk of a run of its own is safe to lose in a crash (the next run redoes it), so its
    # commit need not wait for the disk. Inside a caller's transaction (condition_set) the
    # setting would cover the caller's own work too, so it is left alone there.
    relaxed = connection.vendor == "postgresql" and not connection.in_atomic_block
    while True:
        with transaction.atomic():
            if relaxed:
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit = off")
            conditions = list(_conditions_to_materialise(after_id=after_id, condition_ids=condition_ids)[:chunk_size])
            if not conditions:
                return created, None
            after_id = conditions[-1][0]
            created += _insert(_new_windows(conditions, shared, closing_reminder), now=now)
        if deadline is not None and time.monotonic() > deadline:
            return created, after_id


# --- The sweep ------------------------------------------------------------------------------

# How far before the last completed sweep the next one looks again. A window is created only
# before its deadline, but the run that creates it may commit a few minutes after a sweep has
# passed that deadline (a long materialisation chunk, clocks a little apart between hosts);
# the margin catches those, and costs only the index entries of its own stretch of deadlines.
SWEEP_MARGIN = timedelta(minutes=15)


def sweep_since(swept_to: datetime | None, now: datetime) -> datetime:
    """The earliest deadline the sweep at `now` looks at, given the last completed sweep's
    `now` (None: no sweep yet, look at everything)."""
    if swept_to is None:
        return _EPOCH
    return min(swept_to, now) - SWEEP_MARGIN


# The mark moves forward only: a sweep for an earlier instant (a late message, a test) must not
# move it back, nor may the slower of two concurrent sweeps (ON CONFLICT DO UPDATE checks the
# condition again on the row once the other's lock is released). "WHERE true": see _insert.
_MOVE_MARK = f"""
INSERT INTO {MARK} (id, swept_to) SELECT 1, %(now)s WHERE {{when}}
ON CONFLICT (id) DO UPDATE SET swept_to = excluded.swept_to WHERE {MARK}.swept_to < excluded.swept_to"""

# The no-op sweep of most minutes, in one statement and one round trip, outside any
# transaction: is any window still open whose deadline is in the range the sweep would read?
# When none is, the mark moves to `now` in the same statement (a write only when the mark is
# behind, so a re-run in the same minute writes nothing and commits nothing to disk). The
# EXISTS stops at the first open window: it reads only the index entries of the range.
_DUE_POSTGRESQL = f"""
WITH mark AS (
    SELECT swept_to FROM {MARK} WHERE id = 1
), due AS (
    SELECT EXISTS (
        SELECT 1 FROM {WINDOW} w WHERE w.status = %(open)s AND w.deadline_at < %(now)s
          AND w.deadline_at >= COALESCE((SELECT LEAST(swept_to, %(now)s) FROM mark) - %(margin)s, %(epoch)s)
    ) AS found
), moved AS ({_MOVE_MARK.format(when="NOT (SELECT found FROM due) AND COALESCE((SELECT swept_to < %(now)s FROM mark), true)")}
)
SELECT (SELECT swept_to FROM mark), (SELECT found FROM due)"""


def sweep_due(now: datetime) -> datetime | None:
    """The earliest deadline the full sweep at `now` must read (see sweep_since), or None when
    no open window has its deadline in that range: then the mark has moved to `now` (forward
    only) and there is nothing else to do. Cheap whatever the table's history: one index range
    of the deadlines since the last sweep, less the margin."""
    params = {"now": _db(now), "open": WindowStatus.OPEN, "margin": SWEEP_MARGIN, "epoch": _db(_EPOCH)}
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_DUE_POSTGRESQL, params)
            mark, due = cursor.fetchone()
            return sweep_since(mark, now) if due else None
        # SQLite: the same in three statements (no time arithmetic in SQL, no round trips).
        mark = SweepMark.objects.filter(pk=1).values_list("swept_to", flat=True).first()
        since = sweep_since(mark, now)
        cursor.execute(
            f"SELECT 1 FROM {WINDOW} WHERE status = %s AND deadline_at >= %s AND deadline_at < %s LIMIT 1",
            [WindowStatus.OPEN, _db(since), _db(now)],
        )
        if cursor.fetchone():
            return since
        if mark is None or mark < now:
            cursor.execute(_MOVE_MARK.format(when="true"), {"now": _db(now)})
        return None


# How many windows in a row, up to and including m, the client has missed: those missed
# before this sweep since the last window kept (reported, satisfied or excused), plus m's
# rank among the client's windows missed by this same sweep (which the statement's snapshot
# still shows as open). Both subqueries walk the (client, opens_at) index of one client: the
# first backwards from m to the last window kept (ORDER BY ... LIMIT 1, not max(): max() read
# every earlier window of the client, a read that grows with the person's history), the
# second over the few windows between that one and m.
_STREAK = f"""
    row_number() OVER (PARTITION BY m.client_id ORDER BY m.opens_at) + (
        SELECT count(*) FROM {WINDOW} p
        WHERE p.client_id = m.client_id AND p.status = %(missed)s AND p.opens_at < m.opens_at
          AND p.opens_at > COALESCE((
              SELECT g.opens_at FROM {WINDOW} g
              WHERE g.client_id = m.client_id AND g.opens_at < m.opens_at
                AND g.status IN (%(reported)s, %(satisfied)s, %(excused)s)
              ORDER BY g.opens_at DESC LIMIT 1
          ), %(epoch)s)
    )"""

# The same for a window w already marked missed (by an earlier statement), itself included.
_STREAK_OF_MISSED = f"""(
    SELECT count(*) FROM {WINDOW} p
    WHERE p.client_id = w.client_id AND p.status = %(missed)s AND p.opens_at <= w.opens_at
      AND p.opens_at > COALESCE((
          SELECT g.opens_at FROM {WINDOW} g
          WHERE g.client_id = w.client_id AND g.opens_at < w.opens_at
            AND g.status IN (%(reported)s, %(satisfied)s, %(excused)s)
          ORDER BY g.opens_at DESC LIMIT 1
      ), %(epoch)s)
)"""

# The priority rises with each consecutive miss: normal, high, then urgent.
_NEW_TASKS = f"""
INSERT INTO {TASK} (client_id, region_id, reason, window_id, priority, status, due_by, resolution, resolution_note, evidence, created_at, updated_at)
SELECT r.client_id, {{region}}, %(reason)s, r.id,
    CASE WHEN r.streak >= 3 THEN %(urgent)s WHEN r.streak = 2 THEN %(high)s ELSE %(normal)s END,
    %(task_open)s, %(due_by)s, '', '', {{evidence}}, %(now)s, %(now)s
FROM {{ranked}} r WHERE true
ORDER BY r.client_id, r.opens_at
ON CONFLICT DO NOTHING"""

# The person is told of each missed window (a notice, shown in the app), with one message per
# channel they chose, or by email when they chose none (and there is an address).
_MESSAGE_COLUMNS = "client_id, notice_id, kind, channel, status, send_after, attempts, provider_reference, last_error, created_at"
_MESSAGE_VALUES = "n.client_id, n.id, %(notice)s, {channel}, %(pending)s, %(now)s, 0, '', '', %(now)s"
_CHOSEN = f"SELECT c.channel FROM {CONTACT_CHANNEL} c WHERE c.client_id = n.client_id AND c.ended_at IS NULL"

# One statement for the windows, the tasks, the flags, the notices and their messages (and the
# mark of a full sweep): one round trip, and one read of the range of the open-deadline index.
# Two sweeps at once: the UPDATE's row locks make the second wait for the first, then find
# those windows no longer open, so it returns (and inserts) nothing for them. The unique
# (reason, window) constraint with ON CONFLICT DO NOTHING is the backstop: one task per
# window, whatever the path; the unique (window, kind) of notices, one notice per window.
# The client's row and chosen channels are read per missed window (LATERAL ... OFFSET 0, a
# probe of their index each): as joins, the planner, which over-estimates the missed windows,
# would read the whole client table for a few thousand rows.
_POSTGRESQL = f"""
WITH missed AS (
    UPDATE {WINDOW} SET status = %(missed)s, missed_at = %(now)s
    WHERE status = %(open)s AND deadline_at >= %(since)s AND deadline_at < %(now)s {{only_client}}
    RETURNING id, client_id, opens_at
), ranked AS (
    SELECT m.id, m.client_id, m.opens_at, cl.region_id, cl.email, {_STREAK} AS streak
    FROM missed m CROSS JOIN LATERAL (SELECT cl.region_id, cl.email FROM {CLIENT} cl WHERE cl.id = m.client_id OFFSET 0) cl
), flagged AS (
    UPDATE {CLIENT} SET supervisor_attention = true
    WHERE id IN (SELECT client_id FROM ranked WHERE streak >= %(flag_at)s) AND NOT supervisor_attention
), opened AS ({_NEW_TASKS.format(
    ranked="ranked", region="r.region_id",
    evidence="jsonb_build_object('consecutive_misses', r.streak, 'supervisor_attention', r.streak >= %(flag_at)s)",
)}
    RETURNING 1
), told AS (
    INSERT INTO {NOTICE} (client_id, kind, window_id, details, created_at)
    SELECT r.client_id, %(notice)s, r.id, %(empty)s, %(now)s FROM ranked r
    ON CONFLICT DO NOTHING
    RETURNING id, client_id, window_id
), by_channel AS (
    INSERT INTO {NOTIFICATION} ({_MESSAGE_COLUMNS})
    SELECT {_MESSAGE_VALUES.format(channel="c.channel")}
    FROM told n CROSS JOIN LATERAL ({_CHOSEN} OFFSET 0) c
    ON CONFLICT DO NOTHING
), by_email AS (
    INSERT INTO {NOTIFICATION} ({_MESSAGE_COLUMNS})
    SELECT {_MESSAGE_VALUES.format(channel="%(email)s")}
    FROM told n JOIN ranked r ON r.id = n.window_id
    WHERE r.email <> '' AND NOT EXISTS ({_CHOSEN} OFFSET 0)
    ON CONFLICT DO NOTHING
){{mark}}
SELECT (SELECT count(*) FROM opened), (SELECT count(*) FROM missed)"""

_SQLITE = [
    # A subquery, not WITH: Python's sqlite3 reports no row count for a statement that
    # starts with WITH.
    _NEW_TASKS.format(
        region=f"(SELECT c.region_id FROM {CLIENT} c WHERE c.id = r.client_id)",
        ranked=f"""(
    SELECT m.id, m.client_id, m.opens_at, {_STREAK} AS streak FROM {WINDOW} m
    WHERE m.status = %(open)s AND m.deadline_at >= %(since)s AND m.deadline_at < %(now)s {{only_client}}
)""",
        evidence="json_object('consecutive_misses', r.streak, 'supervisor_attention', "
        "json(CASE WHEN r.streak >= %(flag_at)s THEN 'true' ELSE 'false' END))",
    ),
    # From the streaks themselves, not from the tasks just opened: a miss that joins the
    # client's open task as a note opens no task, and still counts.
    f"""
UPDATE {CLIENT} SET supervisor_attention = true
WHERE NOT supervisor_attention AND id IN (
    SELECT r.client_id FROM (
        SELECT m.id, m.client_id, {_STREAK} AS streak FROM {WINDOW} m
        WHERE m.status = %(open)s AND m.deadline_at >= %(since)s AND m.deadline_at < %(now)s {{only_client}}
    ) r WHERE r.streak >= %(flag_at)s
)""",
    f"""
UPDATE {WINDOW} AS m SET status = %(missed)s, missed_at = %(now)s
WHERE m.status = %(open)s AND m.deadline_at >= %(since)s AND m.deadline_at < %(now)s {{only_client}}""",
]

# SQLite's notices: the windows this sweep has just missed are found again by missed_at.
_SQLITE_JUST_MISSED = f"{WINDOW} w WHERE w.status = %(missed)s AND w.missed_at = %(now)s {{only_client}}"
_SQLITE_NOTICES = [
    f"INSERT INTO {NOTICE} (client_id, kind, window_id, details, created_at) "
    f"SELECT w.client_id, %(notice)s, w.id, %(empty)s, %(now)s FROM {_SQLITE_JUST_MISSED} ON CONFLICT DO NOTHING",
    *(
        f"INSERT INTO {NOTIFICATION} ({_MESSAGE_COLUMNS}) SELECT {_MESSAGE_VALUES.format(channel=channel)} "
        f"FROM {NOTICE} n {join} WHERE {where} AND n.kind = %(notice)s AND n.window_id IN (SELECT w.id FROM {_SQLITE_JUST_MISSED}) "
        "ON CONFLICT DO NOTHING"
        for join, channel, where in (
            (f"JOIN {CONTACT_CHANNEL} c ON c.client_id = n.client_id AND c.ended_at IS NULL", "c.channel", "true"),
            (f"JOIN {CLIENT} p ON p.id = n.client_id AND p.email <> ''", "%(email)s", f"NOT EXISTS ({_CHOSEN})"),
        )
    ),
]


def sweep(
    *, now: datetime, due_by: datetime, flag_at: int, client_id: int | None = None, since: datetime = _EPOCH,
    move_mark: bool = False,
) -> int:
    """Mark every open window whose deadline is in [since, now) as missed and open one
    missed_report task for each (or add it to the client's open one); flag clients with
    `flag_at` misses in a row for supervisor attention (a flag for a person to look at,
    nothing more); tell the person of each missed window (a notice and its messages). With
    `move_mark`, also move the sweep's mark to `now` (forward only), in the same transaction:
    a sweep that fails records nothing. Returns the number of tasks opened. `since` bounds
    the index range read (see sweep_since); the default reads all."""
    params = {
        "now": _db(now),
        "since": _db(since),
        "due_by": _db(due_by),
        "epoch": _db(_EPOCH),
        "open": WindowStatus.OPEN,
        "missed": WindowStatus.MISSED,
        "reported": WindowStatus.REPORTED,
        "satisfied": WindowStatus.SATISFIED,
        "excused": WindowStatus.EXCUSED,
        "reason": TaskReason.MISSED_REPORT,
        "task_open": TaskStatus.OPEN,
        "in_progress": TaskStatus.IN_PROGRESS,
        "normal": TaskPriority.NORMAL,
        "high": TaskPriority.HIGH,
        "urgent": TaskPriority.URGENT,
        "flag_at": flag_at,
        "client_id": client_id,
        "notice": NoticeKind.MISSED_WINDOW,
        "pending": NotificationStatus.PENDING,
        "email": NotifyChannel.EMAIL,
        "event": TaskNote.Kind.EVENT,
        "miss_text": "Another reporting window was missed while this task was open.",
        "empty": "{}",
    }
    # No savepoint when nested (a check-in): every caller gives up its whole transaction on an
    # error, and a savepoint is two more round trips.
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            only_client = "" if client_id is None else "AND client_id = %(client_id)s"
            mark = f", marked AS ({_MOVE_MARK.format(when='true')}\n)" if move_mark else ""
            # The planner cannot know that few windows past their deadline are still open; its
            # estimate, hundreds of times too high, would make it JIT-compile the statement:
            # tens of milliseconds of compiling for a few of work.
            cursor.execute("SET LOCAL jit = off")
            cursor.execute(_POSTGRESQL.format(only_client=only_client, mark=mark), params)
            created, missed = cursor.fetchone()
        else:
            # SQLite runs one writer at a time (transactions begin IMMEDIATE, config/settings.py),
            # so these statements cannot interleave with another sweep's, and a re-run finds no
            # open window past its deadline; the same unique constraints back this up.
            only_client = "" if client_id is None else "AND m.client_id = %(client_id)s"
            new_tasks, flag, miss = (statement.format(only_client=only_client) for statement in _SQLITE)
            cursor.execute(new_tasks, params)
            created = cursor.rowcount
            cursor.execute(flag, params)
            cursor.execute(miss, params)
            missed = cursor.rowcount
            if move_mark:
                cursor.execute(_MOVE_MARK.format(when="true"), params)
            if missed:
                only_window = "" if client_id is None else "AND w.client_id = %(client_id)s"
                for statement in _SQLITE_NOTICES:
                    cursor.execute(statement.format(only_client=only_window), params)
        # Only a miss that opened no task of its own joins an open one (most sweeps: none).
        if missed > created:
            _misses_join_open_tasks(cursor, params, only_client="" if client_id is None else "AND w.client_id = %(client_id)s")
        return created


# One open task per problem (the task_one_open_per_client_reason constraint): a window missed
# while the client's missed-report task is still open opened no task of its own (ON CONFLICT
# DO NOTHING above). It joins that task as a "further event" note, once (a unique constraint
# on the note), and the task's priority rises with the misses it gathers. A statement of its
# own, after the sweep's: it must see the task that the sweep (or, an instant before, another
# transaction such as a check-in's sweep of the same client) has just opened, which a part of
# the sweep's own statement, reading that statement's snapshot, would not.
_MISS_NOTES = f"""
INSERT INTO {NOTE} (task_id, kind, text, data, window_id, created_at)
SELECT t.id, %(event)s, %(miss_text)s, %(empty)s, w.id, %(now)s
FROM {WINDOW} w JOIN {TASK} t ON t.client_id = w.client_id AND t.reason = %(reason)s AND t.status IN (%(task_open)s, %(in_progress)s)
WHERE w.status = %(missed)s AND w.missed_at = %(now)s {{only_client}}
  AND NOT EXISTS (SELECT 1 FROM {TASK} x WHERE x.window_id = w.id AND x.reason = %(reason)s)
ON CONFLICT DO NOTHING"""

# The priority follows the run of consecutive misses, as for a task of its own (two misses in
# a row: high; three or more: urgent), from the notes just added (PostgreSQL: one statement).
_MISS_NOTES_POSTGRESQL = f"""
WITH noted AS ({_MISS_NOTES}
    RETURNING task_id, window_id
), streaks AS (
    SELECT n.task_id, max({_STREAK_OF_MISSED}) AS streak FROM noted n JOIN {WINDOW} w ON w.id = n.window_id GROUP BY n.task_id
)
UPDATE {TASK} t SET priority = CASE WHEN s.streak >= 3 THEN %(urgent)s ELSE %(high)s END, updated_at = %(now)s
FROM streaks s WHERE t.id = s.task_id AND s.streak >= 2 AND t.priority < CASE WHEN s.streak >= 3 THEN %(urgent)s ELSE %(high)s END"""

# SQLite (no RETURNING inside WITH): the tasks with a note added at `now`, once per priority.
_MISS_PRIORITY = f"""
UPDATE {TASK} SET priority = %(priority)s, updated_at = %(now)s
WHERE reason = %(reason)s AND status IN (%(task_open)s, %(in_progress)s) AND priority < %(priority)s
  AND EXISTS (
    SELECT 1 FROM {NOTE} n JOIN {WINDOW} w ON w.id = n.window_id
    WHERE n.task_id = {TASK}.id AND n.kind = %(event)s AND n.created_at = %(now)s AND {_STREAK_OF_MISSED} >= %(streak)s
  )"""


def _misses_join_open_tasks(cursor, params: dict, *, only_client: str) -> None:
    if connection.vendor == "postgresql":
        cursor.execute(_MISS_NOTES_POSTGRESQL.format(only_client=only_client), params)
        return
    cursor.execute(_MISS_NOTES.format(only_client=only_client), params)
    if cursor.rowcount:
        for priority, streak in ((TaskPriority.HIGH, 2), (TaskPriority.URGENT, 3)):
            cursor.execute(_MISS_PRIORITY, {**params, "priority": priority, "streak": streak})
