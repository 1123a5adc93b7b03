"""Reporting schedules: on which local days a condition is due, and each window's UTC times.

Plain Python (no Django), so the rules can be read and tested on their own.

A window opens at the condition's local start time in the client's time zone and stays open
for `window_minutes` of real time; its deadline is `grace_minutes` after it closes. Daylight
saving follows RFC 5545 (iCalendar), the rules calendar software uses:

- a local start time that happens twice (the fall-back hour) means its first occurrence, so a
  01:30 window on that day still exists once;
- a local start time that does not exist (the spring-forward gap) is read with the offset in
  force before the change, which moves it forward by the gap: 02:30 becomes 03:30, once;
- a length in minutes is elapsed time (RFC 5545 3.3.6: hours and minutes are exact), so a
  window is always as long as the officer set, even across a change of offset.

Newfoundland's half-hour offset needs nothing special: zoneinfo knows every offset.
"""

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo

WEEKLY = "weekly"
EVERY_N_DAYS = "every_n_days"
MONTHLY = "monthly"

# The longest window a condition allows (enforcement.models: 7 days), plus a day for offsets:
# a window that opened this many days before a given moment has closed by then.
LONGEST_WINDOW_DAYS = 8


# The fields of a ReportingCondition a Rule is made from.
RULE_FIELDS = (
    "schedule", "window_start", "window_minutes", "grace_minutes", "weekdays", "interval_days", "day_of_month", "starts_on",
)


@cache
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@dataclass(frozen=True)
class Rule:
    """Everything that fixes a window's times, except the condition's first and last day.
    Conditions with equal rules in the same time zone share their windows' times, which is
    what lets the scheduler compute them once for thousands of clients."""

    schedule: str
    window_start: time
    window_minutes: int
    grace_minutes: int
    weekdays: int = 0  # weekly: bit 0 = Monday ... bit 6 = Sunday
    interval_days: int = 0  # every N days ...
    phase: int = 0  # ... on the days whose ordinal % N equals this (counted from starts_on)
    day_of_month: int = 0  # monthly: the last day of a shorter month instead

    @classmethod
    def build(cls, *, schedule, window_start, window_minutes, grace_minutes, weekdays, interval_days, day_of_month, starts_on) -> "Rule":
        """The rule of a condition's schedule fields (only those its schedule uses count)."""
        common = {"window_start": window_start, "window_minutes": window_minutes, "grace_minutes": grace_minutes}
        if schedule == WEEKLY:
            return cls(WEEKLY, weekdays=weekdays, **common)
        if schedule == EVERY_N_DAYS:
            return cls(EVERY_N_DAYS, interval_days=interval_days, phase=starts_on.toordinal() % interval_days, **common)
        if schedule == MONTHLY:
            return cls(MONTHLY, day_of_month=day_of_month, **common)
        raise ValueError(f"unknown schedule {schedule!r}")

    @classmethod
    def of(cls, condition) -> "Rule":
        """The rule of a ReportingCondition (or anything with its schedule fields)."""
        return cls.build(**{name: getattr(condition, name) for name in RULE_FIELDS})

    def due_days(self, first: date, last: date) -> Iterator[date]:
        """The local days first..last (inclusive) on which a window opens, in order. Each
        schedule steps straight from one due day to the next."""
        if self.schedule == WEEKLY:
            for offset in range((last - first).days + 1):
                day = first + timedelta(days=offset)
                if self.weekdays >> day.weekday() & 1:
                    yield day
        elif self.schedule == EVERY_N_DAYS:
            ordinal = first.toordinal() + (self.phase - first.toordinal()) % self.interval_days
            while ordinal <= last.toordinal():
                yield date.fromordinal(ordinal)
                ordinal += self.interval_days
        else:
            year, month = first.year, first.month
            while (day := date(year, month, min(self.day_of_month, calendar.monthrange(year, month)[1]))) <= last:
                if day >= first:
                    yield day
                year, month = (year + 1, 1) if month == 12 else (year, month + 1)


class Window(NamedTuple):
    local_date: date
    opens_at: datetime  # UTC
    closes_at: datetime
    deadline_at: datetime  # closes_at + grace


# Bounded: a scheduling run asks for the same few days, zones and start times over and over.
@lru_cache(maxsize=100_000)
def local_to_utc(day: date, at: time, tz: ZoneInfo) -> datetime:
    # fold=0 (the default): the first of two occurrences; in a gap, the offset before the
    # change (see the module's docstring).
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def window_on(rule: Rule, tz: ZoneInfo, day: date) -> Window:
    opens_at = local_to_utc(day, rule.window_start, tz)
    closes_at = opens_at + timedelta(minutes=rule.window_minutes)
    return Window(day, opens_at, closes_at, closes_at + timedelta(minutes=rule.grace_minutes))


def windows(rule: Rule, tz: ZoneInfo, first: date, last: date) -> list[Window]:
    """The rule's windows on the local days first..last (inclusive), in order."""
    return [window_on(rule, tz, day) for day in rule.due_days(first, last)]


def windows_opening(rule: Rule, tz: ZoneInfo, start: datetime, end: datetime) -> list[Window]:
    """The rule's windows that open in [start, end) (UTC), in order. A window's local day is
    the day of its local opening time, so the local days of start and end bound the search."""
    found = windows(rule, tz, start.astimezone(tz).date(), end.astimezone(tz).date())
    return [w for w in found if start <= w.opens_at < end]


def not_closed_since(now: datetime) -> datetime:
    """The earliest opening of a window that may still be open at `now`."""
    return now - timedelta(days=LONGEST_WINDOW_DAYS)


def in_force(window: Window, starts_on: date, ends_on: date | None) -> bool:
    return window.local_date >= starts_on and (ends_on is None or window.local_date <= ends_on)


def upcoming(condition, time_zone: str, now: datetime, count: int, *, search_days: int = 400) -> list[Window]:
    """The next `count` windows of a condition that have not closed at `now` (the one under
    way first, if any): for previews, before anything is stored."""
    tz = zone(time_zone)
    rule = Rule.of(condition)
    first = max(condition.starts_on, now.astimezone(tz).date() - timedelta(days=LONGEST_WINDOW_DAYS))
    last = first + timedelta(days=search_days)
    if condition.ends_on is not None:
        last = min(last, condition.ends_on)
    found = [w for w in windows(rule, tz, first, last) if w.closes_at > now] if first <= last else []
    return found[:count]
