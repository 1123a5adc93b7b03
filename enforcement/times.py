"""Times as the back office shows them: always with their zone named.

A time about a client (a task's due time, a check-in, a window) is shown in the client's local
zone, the one their windows are computed in; any other time in the staff member's own zone
(their region's, or UTC for staff without a region), which `backoffice.middleware` activates
for each request. `shown` is the one function, `{{ value|zoned }}` / `{{ value|zoned:zone }}`
(enforcement/templatetags/zoned.py) its template filter.
"""

from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from django.utils import timezone

UTC_NAME = "UTC"


def staff_zone(user) -> str:
    """The IANA zone a staff member's own times are shown in: their region's, else UTC."""
    region = getattr(user, "region", None) if getattr(user, "region_id", None) else None
    return region.time_zone if region is not None else UTC_NAME


def client_zone(client) -> str:
    """The client's local zone (their override, else their region's)."""
    return client.local_time_zone


def _zone(zone: str | tzinfo | None) -> tzinfo:
    if zone is None or zone == "":
        return timezone.get_current_timezone()
    return ZoneInfo(zone) if isinstance(zone, str) else zone


def shown(value: datetime | None, zone: str | tzinfo | None = None, *, seconds: bool = False) -> str:
    """E.g. "2026-12-07 09:15 EST": `value` in `zone` (an IANA name; the active zone, the
    officer's, when None) with the zone's abbreviation for that instant (EST or EDT), or its
    name where the zone has no letters for it ("-03" is shown as "America/Sao_Paulo")."""
    if value is None:
        return ""
    tz = _zone(zone)
    local = value.astimezone(tz)
    label = local.tzname() or ""
    if not label or label[0] in "+-":
        label = getattr(tz, "key", None) or str(tz)
    return f"{local:%Y-%m-%d %H:%M{':%S' if seconds else ''}} {label}"
