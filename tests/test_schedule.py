"""The pure schedule rules: due days and each window's UTC times, across daylight saving."""

from datetime import UTC, date, datetime, time, timedelta
from types import SimpleNamespace

import pytest

from enforcement import schedule

SPRING_FORWARD = date(2026, 3, 8)  # second Sunday of March: 02:00 -> 03:00 in every zone below that changes
FALL_BACK = date(2026, 11, 1)  # first Sunday of November: 02:00 -> 01:00


def daily(at: time, minutes: int = 60, grace: int = 30) -> schedule.Rule:
    return schedule.Rule.build(
        schedule="every_n_days", window_start=at, window_minutes=minutes, grace_minutes=grace,
        weekdays=0, interval_days=1, day_of_month=None, starts_on=date(2026, 1, 1),
    )


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def windows_around(rule, zone_name, day):
    return schedule.windows(rule, schedule.zone(zone_name), day - timedelta(days=1), day + timedelta(days=1))


# 02:30 does not exist on the spring-forward day (except in Regina, which keeps standard time
# all year): the window opens once, at 03:30 daylight time, i.e. 02:30 read with the offset
# in force before the change.
@pytest.mark.parametrize(
    ("zone_name", "before", "on_the_day", "after"),
    [
        ("America/Toronto", utc(2026, 3, 7, 7, 30), utc(2026, 3, 8, 7, 30), utc(2026, 3, 9, 6, 30)),
        ("America/Halifax", utc(2026, 3, 7, 6, 30), utc(2026, 3, 8, 6, 30), utc(2026, 3, 9, 5, 30)),
        ("America/St_Johns", utc(2026, 3, 7, 6, 0), utc(2026, 3, 8, 6, 0), utc(2026, 3, 9, 5, 0)),
        ("America/Vancouver", utc(2026, 3, 7, 10, 30), utc(2026, 3, 8, 10, 30), utc(2026, 3, 9, 9, 30)),
        ("America/Regina", utc(2026, 3, 7, 8, 30), utc(2026, 3, 8, 8, 30), utc(2026, 3, 9, 8, 30)),
    ],
)
def test_a_window_in_the_spring_forward_gap_exists_once(zone_name, before, on_the_day, after):
    found = windows_around(daily(time(2, 30)), zone_name, SPRING_FORWARD)
    assert [w.opens_at for w in found] == [before, on_the_day, after]
    assert [w.local_date for w in found] == [SPRING_FORWARD - timedelta(days=1), SPRING_FORWARD, SPRING_FORWARD + timedelta(days=1)]
    gap_day = found[1].opens_at.astimezone(schedule.zone(zone_name))
    assert gap_day.time() == (time(2, 30) if zone_name == "America/Regina" else time(3, 30))


# 01:30 happens twice on the fall-back day: the window is the first occurrence, once.
@pytest.mark.parametrize(
    ("zone_name", "before", "on_the_day", "after"),
    [
        ("America/Toronto", utc(2026, 10, 31, 5, 30), utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)),
        ("America/Halifax", utc(2026, 10, 31, 4, 30), utc(2026, 11, 1, 4, 30), utc(2026, 11, 2, 5, 30)),
        ("America/St_Johns", utc(2026, 10, 31, 4, 0), utc(2026, 11, 1, 4, 0), utc(2026, 11, 2, 5, 0)),
        # IANA 2026f (the pinned tzdata): British Columbia stays on UTC-7 from November 2026, so
        # Vancouver no longer falls back; like Regina, its window keeps one UTC time.
        ("America/Vancouver", utc(2026, 10, 31, 8, 30), utc(2026, 11, 1, 8, 30), utc(2026, 11, 2, 8, 30)),
        ("America/Regina", utc(2026, 10, 31, 7, 30), utc(2026, 11, 1, 7, 30), utc(2026, 11, 2, 7, 30)),
    ],
)
def test_a_window_in_the_repeated_fall_back_hour_exists_once(zone_name, before, on_the_day, after):
    found = windows_around(daily(time(1, 30)), zone_name, FALL_BACK)
    assert [w.opens_at for w in found] == [before, on_the_day, after]
    assert all(w.opens_at.astimezone(schedule.zone(zone_name)).time() == time(1, 30) for w in found)


@pytest.mark.parametrize("zone_name", ["America/Toronto", "America/Halifax", "America/St_Johns", "America/Vancouver", "America/Regina"])
@pytest.mark.parametrize("change", [SPRING_FORWARD, FALL_BACK])
def test_daily_windows_keep_their_local_start_and_exact_length_across_a_change(zone_name, change):
    tz = schedule.zone(zone_name)
    found = schedule.windows(daily(time(9, 0), minutes=480, grace=60), tz, change - timedelta(days=3), change + timedelta(days=3))
    assert len(found) == 7
    for window in found:
        assert window.opens_at.astimezone(tz).time() == time(9, 0)
        assert window.closes_at - window.opens_at == timedelta(hours=8)
        assert window.deadline_at - window.closes_at == timedelta(hours=1)


def test_newfoundland_windows_have_the_half_hour_offset():
    found = schedule.windows(daily(time(9, 0)), schedule.zone("America/St_Johns"), date(2026, 1, 15), date(2026, 1, 15))
    assert found[0].opens_at == utc(2026, 1, 15, 12, 30)  # NST, UTC-3:30
    found = schedule.windows(daily(time(9, 0)), schedule.zone("America/St_Johns"), date(2026, 7, 15), date(2026, 7, 15))
    assert found[0].opens_at == utc(2026, 7, 15, 11, 30)  # NDT, UTC-2:30


def test_a_day_long_window_is_24_hours_of_real_time_on_the_fall_back_day():
    tz = schedule.zone("America/Toronto")
    window = schedule.windows(daily(time(0, 0), minutes=1440), tz, FALL_BACK, FALL_BACK)[0]
    assert window.closes_at - window.opens_at == timedelta(hours=24)
    assert window.closes_at.astimezone(tz) == datetime(2026, 11, 1, 23, 0, tzinfo=tz)


def monthly(day: int) -> schedule.Rule:
    return schedule.Rule.build(
        schedule="monthly", window_start=time(10, 0), window_minutes=60, grace_minutes=0,
        weekdays=0, interval_days=None, day_of_month=day, starts_on=date(2026, 1, 1),
    )


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (31, [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30), date(2026, 5, 31), date(2026, 6, 30)]),
        (30, [date(2026, 1, 30), date(2026, 2, 28), date(2026, 3, 30), date(2026, 4, 30), date(2026, 5, 30), date(2026, 6, 30)]),
        (29, [date(2026, 1, 29), date(2026, 2, 28), date(2026, 3, 29), date(2026, 4, 29), date(2026, 5, 29), date(2026, 6, 29)]),
        (15, [date(2026, m, 15) for m in range(1, 7)]),
    ],
)
def test_monthly_day_d_falls_on_the_last_day_of_shorter_months(day, expected):
    found = schedule.windows(monthly(day), schedule.zone("America/Toronto"), date(2026, 1, 1), date(2026, 6, 30))
    assert [w.local_date for w in found] == expected


def test_monthly_on_the_29th_uses_february_29_in_a_leap_year():
    found = schedule.windows(monthly(29), schedule.zone("America/Toronto"), date(2028, 2, 1), date(2028, 3, 31))
    assert [w.local_date for w in found] == [date(2028, 2, 29), date(2028, 3, 29)]


def test_every_n_days_counts_from_the_start_date():
    def rule(starts_on):
        return schedule.Rule.build(
            schedule="every_n_days", window_start=time(12, 0), window_minutes=60, grace_minutes=0,
            weekdays=0, interval_days=3, day_of_month=None, starts_on=starts_on,
        )

    tz = schedule.zone("America/Regina")
    first = schedule.windows(rule(date(2026, 1, 2)), tz, date(2026, 1, 1), date(2026, 1, 12))
    assert [w.local_date.day for w in first] == [2, 5, 8, 11]
    second = schedule.windows(rule(date(2026, 1, 3)), tz, date(2026, 1, 1), date(2026, 1, 12))
    assert [w.local_date.day for w in second] == [3, 6, 9, 12]
    # Conditions with the same phase share a rule (and so their windows' computation).
    assert rule(date(2026, 1, 2)) == rule(date(2026, 1, 5)) != rule(date(2026, 1, 3))


def test_weekly_on_chosen_weekdays():
    rule = schedule.Rule.build(
        schedule="weekly", window_start=time(9, 0), window_minutes=60, grace_minutes=0,
        weekdays=0b0001001, interval_days=None, day_of_month=None, starts_on=date(2026, 1, 1),
    )  # Monday and Thursday
    found = schedule.windows(rule, schedule.zone("America/Vancouver"), date(2026, 3, 2), date(2026, 3, 15))
    assert [w.local_date for w in found] == [date(2026, 3, 2), date(2026, 3, 5), date(2026, 3, 9), date(2026, 3, 12)]


def test_upcoming_starts_with_the_window_under_way_and_respects_the_last_day():
    condition = SimpleNamespace(
        schedule="every_n_days", window_start=time(9, 0), window_minutes=480, grace_minutes=60, weekdays=0,
        interval_days=1, day_of_month=None, starts_on=date(2026, 3, 1), ends_on=date(2026, 3, 12),
    )
    now = utc(2026, 3, 10, 15, 0)  # 11:00 in Toronto: the 10 March window is under way
    found = schedule.upcoming(condition, "America/Toronto", now, 5)
    assert [w.local_date for w in found] == [date(2026, 3, 10), date(2026, 3, 11), date(2026, 3, 12)]


def naively_due(rule: schedule.Rule, day: date) -> bool:
    """The definition, one day at a time."""
    import calendar

    if rule.schedule == "weekly":
        return bool(rule.weekdays & (1 << day.weekday()))
    if rule.schedule == "every_n_days":
        return (day.toordinal() - rule.phase) % rule.interval_days == 0
    return day.day == min(rule.day_of_month, calendar.monthrange(day.year, day.month)[1])


def test_stepping_from_due_day_to_due_day_finds_exactly_the_due_days():
    import random

    rng = random.Random(5)
    for _ in range(2000):
        kind = rng.choice(["weekly", "every_n_days", "monthly"])
        rule = schedule.Rule.build(
            schedule=kind, window_start=time(9, 0), window_minutes=60, grace_minutes=0,
            weekdays=rng.randint(1, 127), interval_days=rng.randint(1, 30), day_of_month=rng.randint(1, 31),
            starts_on=date(2025, 1, 1) + timedelta(days=rng.randint(0, 400)),
        )
        first = date(2026, 1, 1) + timedelta(days=rng.randint(0, 800))
        last = first + timedelta(days=rng.randint(0, 70))
        expected = [first + timedelta(days=i) for i in range((last - first).days + 1) if naively_due(rule, first + timedelta(days=i))]
        assert list(rule.due_days(first, last)) == expected, (rule, first, last)
