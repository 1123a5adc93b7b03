"""A reporting condition in words, for the people who set it and check it: the days and the
window in the client's local time ("Mondays, Wednesdays and Fridays, 09:00-17:00 Toronto
time"), and the permitted area. In the active language (English or French)."""

from datetime import datetime, timedelta

from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext

# date.weekday() order, as the condition's bitmask (bit 0 = Monday).
WEEKDAYS = [
    gettext_lazy("Monday"), gettext_lazy("Tuesday"), gettext_lazy("Wednesday"), gettext_lazy("Thursday"),
    gettext_lazy("Friday"), gettext_lazy("Saturday"), gettext_lazy("Sunday"),
]
WEEKDAYS_PLURAL = [
    gettext_lazy("Mondays"), gettext_lazy("Tuesdays"), gettext_lazy("Wednesdays"), gettext_lazy("Thursdays"),
    gettext_lazy("Fridays"), gettext_lazy("Saturdays"), gettext_lazy("Sundays"),
]


def weekdays_from_mask(mask: int | None) -> list[int]:
    """The days of a bitmask, Monday = 0."""
    return [day for day in range(7) if (mask or 0) & (1 << day)]


def weekdays_to_mask(days) -> int:
    mask = 0
    for day in days:
        mask |= 1 << int(day)
    return mask


def join_words(items: list[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    if len(items) < 2:
        return "".join(items)
    return _("%(list)s and %(last)s") % {"list": ", ".join(items[:-1]), "last": items[-1]}


def zone_words(time_zone: str) -> str:
    """"America/Toronto" -> "Toronto time"; "America/St_Johns" -> "St Johns time"."""
    city = time_zone.rsplit("/", 1)[-1].replace("_", " ")
    return _("%(city)s time") % {"city": city}


def days_words(condition) -> str:
    if condition.schedule == "weekly":
        days = weekdays_from_mask(condition.weekdays)
        if len(days) == 7:
            return _("every day")
        if not days:
            return _("no day chosen")
        # French says "les lundis, mercredis et vendredis".
        return pgettext("the days of a weekly schedule", "%(days)s") % {"days": join_words([str(WEEKDAYS_PLURAL[day]) for day in days])}
    if condition.schedule == "every_n_days":
        n = condition.interval_days or 0
        return ngettext("every day from %(date)s", "every %(n)d days from %(date)s", n) % {
            "n": n, "date": condition.starts_on.isoformat() if condition.starts_on else "?"
        }
    if condition.schedule == "monthly":
        return _("on day %(day)s of each month") % {"day": condition.day_of_month or "?"}
    return str(condition.schedule)


def hours_words(condition) -> str:
    """"09:00-17:00"; a window that ends on a later day says so."""
    start = condition.window_start
    if start is None or not condition.window_minutes:
        return ""
    opens = datetime(2000, 1, 1, start.hour, start.minute)
    closes = opens + timedelta(minutes=condition.window_minutes)
    later = (closes.date() - opens.date()).days
    end = closes.strftime("%H:%M")
    if later == 1:
        end = _("%(time)s the next day") % {"time": end}
    elif later > 1:
        end = ngettext("%(time)s %(days)d day later", "%(time)s %(days)d days later", later) % {"time": end, "days": later}
    return f"{opens:%H:%M}-{end}"


def condition_summary(condition, time_zone: str) -> str:
    """"Mondays, Wednesdays and Fridays, 09:00-17:00 Toronto time" (in person: said first)."""
    words = _("%(days)s, %(hours)s %(zone)s") % {"days": days_words(condition), "hours": hours_words(condition), "zone": zone_words(time_zone)}
    if condition.method == "in_person":
        return _("In person: %(summary)s") % {"summary": words}
    return capfirst(words)


def area_summary(condition, offices=()) -> str:
    """"Within 5 km of Toronto Downtown office (43.64530, -79.38060)", or "" without an area.
    `offices`: offices whose coordinates are matched to name the centre."""
    lat, lon, radius = condition.area_latitude, condition.area_longitude, condition.area_radius_km
    if lat is None or lon is None or radius is None:
        return ""
    place = f"{lat:.5f}, {lon:.5f}"
    for office in offices:
        if office.latitude is not None and abs(office.latitude - lat) < 1e-6 and abs(office.longitude - lon) < 1e-6:
            place = f"{office} ({place})"
            break
    return _("Within %(radius)s km of %(place)s") % {"radius": f"{radius:g}", "place": place}
